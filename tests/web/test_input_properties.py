"""Property-based tests (hypothesis) of the web app's input parsing helpers: JSON bodies,
text cleaning, conversation ids, messages, patches, origins, client addresses and the
token bucket.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.privacy.signing import issue_id
from bot.web.api import check_message, patch_fields
from bot.web.cors import normalise_origin, parse_origins
from bot.web.html import markdown_lite
from bot.web.jsonio import BadRequest, clean_text, parse_json_object, shorten, string_field
from bot.web.member import ID_PURPOSE, chat_message, verified_conversation
from bot.web.ratelimit import RateLimiter, client_ip, parse_networks
from tests.web.helpers import SESSION_SECRET

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@hsettings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_body_is_an_object_or_a_clean_400(body: bytes):
    try:
        data = parse_json_object(body)
    except BadRequest as exc:
        assert exc.status == 400 and exc.code in {"empty_body", "malformed_json", "not_an_object"}
    else:
        assert isinstance(data, dict)


@hsettings(max_examples=120, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_json_objects_round_trip(value: dict[str, Any]):
    assert parse_json_object(json.dumps(value).encode("utf-8")) == value


@hsettings(max_examples=200, deadline=None)
@given(json_values)
def test_json_that_is_not_an_object_is_refused(value: Any):
    if isinstance(value, dict):
        return
    with pytest.raises(BadRequest) as refused:
        parse_json_object(json.dumps(value).encode("utf-8"))
    assert refused.value.code == "not_an_object"


@hsettings(max_examples=400, deadline=None)
@given(st.text())
def test_clean_text_leaves_only_text_people_type(text: str):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned  # idempotent
    cleaned.encode("utf-8")  # no lone surrogates left
    assert cleaned == cleaned.strip()
    assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in cleaned)
    assert "\r" not in cleaned


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), min_size=1))
def test_clean_text_keeps_every_letter_emoji_and_script(text: str):
    assert clean_text(text) == unicodedata.normalize("NFC", text).strip()


@hsettings(max_examples=300, deadline=None)
@given(st.text())
def test_a_conversation_cookie_the_server_did_not_issue_is_no_conversation(value: str):
    assert verified_conversation(SESSION_SECRET, value) is None


@hsettings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=64), st.sampled_from(["\n", " ", "\x00", "é", "0", "f", "."]))
def test_an_issued_conversation_id_with_anything_changed_is_refused(position: int, char: str):
    issued = issue_id(SESSION_SECRET, ID_PURPOSE)
    assert verified_conversation(SESSION_SECRET, issued) == issued
    for altered in (issued + char, char + issued, issued[:position] + char + issued[position + 1 :]):
        if altered != issued:
            assert verified_conversation(SESSION_SECRET, altered) is None


@hsettings(max_examples=120, deadline=None)
@given(st.one_of(st.text(), st.text(min_size=1990, max_size=2100)))
def test_chat_and_agent_messages_are_checked_the_same_way(text: str):
    for check in (chat_message, check_message):
        try:
            message = check(text)
        except BadRequest as exc:
            assert (exc.status, exc.code) in {(400, "empty_message"), (413, "message_too_long")}
            assert exc.status == 400 or "2,000 characters" in exc.message
        else:
            assert 1 <= len(message) <= MAX_MESSAGE_CHARS and message == clean_text(text)
            message.encode("utf-8")


@hsettings(max_examples=120, deadline=None)
@given(st.dictionaries(st.text(max_size=8) | st.sampled_from(["status", "note"]), json_values, max_size=3))
def test_patch_bodies_are_accepted_or_refused_with_a_4xx(data: dict[str, Any]):
    try:
        status, note = patch_fields(data)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and len(exc.message) < 300
    else:
        assert status in (None, "new", "in_progress", "done")
        assert note is None or (note and note == clean_text(note))


@hsettings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b"]), json_values, max_size=2), st.booleans())
def test_string_field_returns_a_string_or_refuses(data: dict[str, Any], required: bool):
    try:
        value = string_field(data, "a", required=required)
    except BadRequest as exc:
        assert exc.status == 400
    else:
        assert isinstance(value, str) or (value is None and not required)


@hsettings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.lists(st.text()), st.integers()))
def test_shorten_never_echoes_much(value: Any):
    assert len(shorten(value)) <= 40


@hsettings(max_examples=300, deadline=None)
@given(st.text())
def test_markdown_lite_output_has_no_markup_but_ours(text: str):
    html = markdown_lite(text)
    ours = re.sub(r'<strong>|</strong>|<a href="(?:https?://|/)[^"<>]*" rel="noopener noreferrer">|</a>', "", html)
    assert "<" not in ours and ">" not in ours


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_origin_parsing_never_crashes_and_is_stable(value: str):
    origin = normalise_origin(value)
    if origin is not None:
        assert normalise_origin(origin) == origin
        assert parse_origins(value) == {origin}


addresses = st.one_of(st.ip_addresses().map(str), st.text(max_size=20), st.just("::ffff:10.0.0.1"), st.just("[::1]"))


@hsettings(max_examples=300, deadline=None)
@given(addresses | st.none(), st.lists(addresses, max_size=4).map(", ".join) | st.none())
def test_client_address_never_crashes_and_ignores_headers_from_untrusted_peers(peer: str | None, forwarded: str | None):
    trusted = parse_networks("10.0.0.0/8, ::1")
    key = client_ip(peer, forwarded, trusted)
    assert isinstance(key, str) and key
    assert client_ip(peer, forwarded, ()) == client_ip(peer, None, ())
    if peer is not None:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return
        if not any(address in net for net in trusted if net.version == address.version):
            mapped = getattr(address, "ipv4_mapped", None)
            if mapped is None or not any(mapped in net for net in trusted if net.version == 4):
                assert key == client_ip(peer, None, trusted)


@hsettings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=600),
    st.integers(min_value=1, max_value=50),
    st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=200),
)
def test_a_client_never_gets_more_than_burst_plus_refill(per_minute: int, burst: int, gaps: list[float]):
    now = [0.0]
    limiter = RateLimiter(per_minute, burst, max_keys=10, clock=lambda: now[0])
    allowed = 0
    for gap in gaps:
        now[0] += gap
        wait = limiter.hit("client")
        assert wait >= 0
        allowed += wait == 0
    assert allowed <= burst + per_minute / 60 * now[0] + 1e-6
