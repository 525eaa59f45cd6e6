"""Form validators: accepted formats, polite rejections, and robustness on arbitrary input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.dialogue.forms import FORMS
from bot.dialogue.validation import (
    MAX_MESSAGE_CHARS,
    Cost,
    ValidationError,
    parse_date,
    validate_birth_date,
    validate_cost,
    validate_email,
    validate_free_text,
    validate_full_name,
    validate_future_date,
    validate_member_id,
    validate_phone,
    validate_preferred_time,
)

TODAY = date(2025, 6, 15)


def rejects(fn: Callable[[str], object], text: str) -> str:
    """The member-facing message of the ValidationError ``fn`` raises for ``text``."""
    with pytest.raises(ValidationError) as raised:
        fn(text)
    message = raised.value.message
    assert message and message == str(raised.value)
    return message


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Marie-Claire O'Neill", "Marie-Claire O'Neill"),
        ("  José   Álvarez ", "José Álvarez"),
        ("Zoë d’Arcy", "Zoë d’Arcy"),
        ("李小龙", "李小龙"),
        ("J. R. Tolkien", "J. R. Tolkien"),
        ("Jo", "Jo"),
        ("June Sunday", "June Sunday"),  # months and weekdays are names too
    ],
)
def test_full_name_accepted(typed: str, name: str) -> None:
    assert validate_full_name(typed) == name


@pytest.mark.parametrize(
    "typed",
    [
        "", "   ", "A", "J0hn Smith", "<b>John</b>", "John; DROP TABLE", "--", "x" * 101,
        # an answer to another question of the form
        "tomorrow morning", "access", "a copy of my data", "by email",
    ],
)
def test_full_name_rejected(typed: str) -> None:
    assert "name" in rejects(validate_full_name, typed).lower()


def test_full_name_digit_message_is_specific() -> None:
    assert "digits" in rejects(validate_full_name, "John Smith 2")


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("typed", "email"),
    [
        ("john.smith@example.com", "john.smith@example.com"),
        ("John.Smith@EXAMPLE.COM", "John.Smith@example.com"),
        (" o'neil+claims@mail.example.co.uk ", "o'neil+claims@mail.example.co.uk"),
        ("<anna@example.be>", "anna@example.be"),
        ("mailto:anna@example.be", "anna@example.be"),
        ("x@müller.de", "x@müller.de"),
    ],
)
def test_email_accepted(typed: str, email: str) -> None:
    assert validate_email(typed) == email


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "john",
        "john@",
        "@example.com",
        "john@example",
        "a@@b.com",
        "a b@c.com",
        "a..b@c.com",
        ".a@c.com",
        "a@-c.com",
        "a@c.1",
        "a@c..com",
        "a@c.c",
        "<script>@x.com",
        "a@" + "x" * 64 + ".com",
    ],
)
def test_email_rejected_with_example(typed: str) -> None:
    assert "name@example.com" in rejects(validate_email, typed)


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+32 3 217 68 68", "+3232176868"),
        ("+32 (0)3 217 68 68", "+3232176868"),
        ("+32-3-217.68.68", "+3232176868"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+971 4 123 4567", "+97141234567"),
        ("＋32 3 217 68 68".replace("＋", "+"), "+3232176868"),
        ("+３２ ３ ２１７ ６８ ６８", "+3232176868"),
    ],
)
def test_phone_accepted(typed: str, e164: str) -> None:
    assert validate_phone(typed) == e164


def test_phone_without_plus_asks_for_international_format() -> None:
    assert "international format" in rejects(validate_phone, "03 217 68 68")
    assert "+" in rejects(validate_phone, "0032 3 217 68 68")


@pytest.mark.parametrize(
    "typed", ["", "+32 12", "+1234567890123456", "+0 123 456 789", "+32 3 217 68 68 ext 2", "+32+3217", "call me"]
)
def test_phone_rejected(typed: str) -> None:
    assert "+32 3 217 68 68" in rejects(validate_phone, typed)


# --------------------------------------------------------------------------- member id


@pytest.mark.parametrize(
    ("typed", "member_id"),
    [
        ("AB123456", "AB123456"),
        ("ab 123 456", "AB123456"),
        ("123456", "123456"),
        ("x1y2z3w4", "X1Y2Z3W4"),
        ("AB-1234-5678", "AB12345678"),
        ("ABCDEFGH1234", "ABCDEFGH1234"),
    ],
)
def test_member_id_accepted(typed: str, member_id: str) -> None:
    assert validate_member_id(typed) == member_id


@pytest.mark.parametrize("typed", ["", "AB123", "ABCDEF12", "ABCDEFGHI12345", "AB12_3456", "ÄB123456", "12345"])
def test_member_id_rejected(typed: str) -> None:
    assert "AB123456" in rejects(validate_member_id, typed)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2025-03-01", date(2025, 3, 1)),
        ("01/03/2025", date(2025, 3, 1)),
        ("1/3/25", date(2025, 3, 1)),
        ("01.03.2025", date(2025, 3, 1)),
        ("1-3-2025", date(2025, 3, 1)),
        ("1 March 2025", date(2025, 3, 1)),
        ("1st of March 2025", date(2025, 3, 1)),
        ("1 mar. 2025", date(2025, 3, 1)),
        ("March 1, 2025", date(2025, 3, 1)),
        ("march 1st, 2025", date(2025, 3, 1)),
        ("1er mars 2025", date(2025, 3, 1)),
        ("1. März 2025", date(2025, 3, 1)),
        ("TODAY", TODAY),
        ("tomorrow", TODAY + timedelta(days=1)),
        ("yesterday", TODAY - timedelta(days=1)),
        ("next friday", date(2025, 6, 20)),  # TODAY is a Sunday
        ("on Monday", date(2025, 6, 16)),
        ("sunday", date(2025, 6, 22)),
        ("in 3 days", date(2025, 6, 18)),
        ("in two weeks", date(2025, 6, 29)),
        ("the day after tomorrow", date(2025, 6, 17)),
        ("1/3/44", date(2044, 3, 1)),
        ("1/3/46", date(1946, 3, 1)),
    ],
)
def test_parse_date(typed: str, expected: date) -> None:
    assert parse_date(typed, TODAY) == expected


def test_two_digit_years_go_to_the_past_for_birth_dates() -> None:
    assert parse_date("1/3/30", TODAY, prefer_past=True) == date(1930, 3, 1)
    assert parse_date("1/3/25", TODAY, prefer_past=True) == date(2025, 3, 1)
    assert validate_birth_date("14/7/85", TODAY) == date(1985, 7, 14)


@pytest.mark.parametrize(
    "typed", ["", "soon", "32/01/2025", "31/02/2025", "2025-13-01", "1 Smarch 2025", "03/2025", "1 March"]
)
def test_parse_date_rejected(typed: str) -> None:
    assert "01/03/2025" in rejects(lambda t: parse_date(t, TODAY), typed)


def test_birth_date_limits() -> None:
    assert validate_birth_date("today", TODAY) == TODAY  # a newborn is age 0
    assert validate_birth_date("16/06/1905", TODAY) == date(1905, 6, 16)  # 119 years old
    assert "future" in rejects(lambda t: validate_birth_date(t, TODAY), "tomorrow")
    assert "120" in rejects(lambda t: validate_birth_date(t, TODAY), "01/01/1900")


def test_future_date_limits() -> None:
    assert validate_future_date("tomorrow", TODAY) == TODAY + timedelta(days=1)
    assert validate_future_date("15/06/2027", TODAY) == date(2027, 6, 15)
    assert "after today" in rejects(lambda t: validate_future_date(t, TODAY), "today")
    assert "after today" in rejects(lambda t: validate_future_date(t, TODAY), "01/01/2020")
    assert "two years" in rejects(lambda t: validate_future_date(t, TODAY), "16/06/2027")


def test_future_date_on_29_february() -> None:
    leap = date(2024, 2, 29)
    assert validate_future_date("28/02/2026", leap) == date(2026, 2, 28)
    with pytest.raises(ValidationError):
        validate_future_date("01/03/2026", leap)


# --------------------------------------------------------------------------- cost


@pytest.mark.parametrize(
    ("typed", "cost"),
    [
        ("€ 2,500", Cost(Decimal("2500"), "EUR")),
        ("2500 EUR", Cost(Decimal("2500"), "EUR")),
        ("2.500,50", Cost(Decimal("2500.50"), None)),
        ("2,500.50 USD", Cost(Decimal("2500.50"), "USD")),
        ("EUR 1 200", Cost(Decimal("1200"), "EUR")),
        ("about 3000 euros", Cost(Decimal("3000"), "EUR")),
        ("CHF 1'200.50", Cost(Decimal("1200.50"), "CHF")),
        ("£99.99", Cost(Decimal("99.99"), "GBP")),
        ("12,50", Cost(Decimal("12.50"), None)),
        ("1.000.000", Cost(Decimal("1000000"), None)),
        ("2.5k", Cost(Decimal("2500"), None)),
        ("0", Cost(Decimal("0"), None)),
    ],
)
def test_cost_accepted(typed: str, cost: Cost) -> None:
    assert validate_cost(typed) == cost


@pytest.mark.parametrize("typed", ["skip", "no", "unknown", "don't know", "Don’t know", "not sure", "", "  "])
def test_cost_skipped(typed: str) -> None:
    assert validate_cost(typed) is None


@pytest.mark.parametrize("typed", ["-2500", "€ -2,500", "−300 EUR"])
def test_cost_negative_rejected(typed: str) -> None:
    assert "negative" in rejects(validate_cost, typed)


@pytest.mark.parametrize("typed", ["a lot", "2500 EUR USD", "2,50,0", "1.2345", "12 bananas", "999999999999", "1e6"])
def test_cost_rejected(typed: str) -> None:
    assert "2,500 EUR" in rejects(validate_cost, typed)


def test_cost_as_dict_keeps_decimal_exact() -> None:
    assert Cost(Decimal("2500.50"), "EUR").as_dict() == {"amount": "2500.50", "currency": "EUR"}


# --------------------------------------------------------------------------- free text


def test_free_text_cleans_control_characters() -> None:
    assert (
        validate_free_text("  Hello\x00 there\u202e\r\n\r\n\r\n\r\nsecond   line\x07 ") == "Hello there\n\nsecond line"
    )


def test_free_text_limits() -> None:
    assert "empty" in rejects(validate_free_text, "\x00\x01  \n")
    assert "at least 3" in rejects(validate_free_text, "hi")
    assert validate_free_text("hi", min_len=1) == "hi"
    assert validate_free_text("x" * MAX_MESSAGE_CHARS) == "x" * MAX_MESSAGE_CHARS
    assert "2000" in rejects(validate_free_text, "x" * (MAX_MESSAGE_CHARS + 1))
    assert "under 10" in rejects(lambda t: validate_free_text(t, max_len=10), "x" * 11)


def test_free_text_refuses_a_bare_yes_but_not_a_name_that_starts_like_one() -> None:
    """A free-text slot takes the message whatever the NLU reads in it, so the validator
    tells a plain yes from an answer."""
    for yes in ("yes", "Yes please!", "ok.", "sure"):
        assert "few words" in rejects(validate_free_text, yes), yes
    assert validate_free_text("AZ Klina") == "AZ Klina"
    assert validate_free_text("Yes Hospital Bangkok") == "Yes Hospital Bangkok"


def test_a_bare_yes_or_a_sentence_is_not_a_name() -> None:
    """Names are taken whatever the NLU reads in them ("Alice Martin" can read as a
    question), so the validator refuses a plain yes typed at the name question."""
    assert "full name" in rejects(validate_full_name, "yes")
    assert "full name" in rejects(validate_full_name, "please delete my personal data")
    for name in ("Will Smith", "Can Yilmaz", "Maria de los Angeles Garcia", "Seán O'Brien", "Do Van Minh"):
        assert validate_full_name(name) == name


def test_free_text_keeps_markup_as_text() -> None:
    # Descriptions are stored as typed; every view shows them as plain text (bot.web.html).
    assert validate_free_text("<b>x</b> [a](//evil.example)") == "<b>x</b> [a](//evil.example)"


# --------------------------------------------------------------------------- preferred time


@pytest.mark.parametrize(
    "typed",
    [
        "tomorrow morning",
        "Monday 14:00-16:00",
        "Mon 9:00-11:00 (CET)",
        "after 5pm",
        "after 5 p.m., GMT+2",
        "any time",
        "asap",
        "weekday mornings",
        "10.00 - 12.00 or 14.00 - 16.00",
        "1000-1200",
        "Montag 9–11 Uhr",
        "demain après-midi",
        "明天上午",
        "9",
    ],
)
def test_preferred_time_accepted(typed: str) -> None:
    assert validate_preferred_time(typed) == typed


def test_preferred_time_is_tidied() -> None:
    assert validate_preferred_time("  tomorrow \t morning\n") == "tomorrow morning"
    assert validate_preferred_time("after ١٧:٠٠") == "after ١٧:٠٠"


NUMBER = "phone or card number"
MARKUP = "letters, digits and punctuation"


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("4111 1111 1111 1111", NUMBER),
        ("4111-1111-1111-1111", NUMBER),
        ("4111111111111111", NUMBER),
        ("+32 470 12 34 56", NUMBER),
        ("call me on 0470123456 after 5", NUMBER),
        ("after 12345", NUMBER),
        ("<script>alert(1)</script>", MARKUP),
        ("<b>morning</b>", MARKUP),
        ("[morning](//evil.example/agent/login)", MARKUP),
        ("https://evil.example/morning", MARKUP),
        ("www.evil.example", MARKUP),
        ("morning; drop table", MARKUP),
        ("me@example.com", MARKUP),
        ("**morning**", MARKUP),
    ],
)
def test_preferred_time_refuses_numbers_and_markup(typed: str, says: str) -> None:
    message = rejects(validate_preferred_time, typed)
    assert says in message and "Monday 14:00-16:00" in message  # and what is expected


def test_preferred_time_limits() -> None:
    assert "at most 80 characters" in rejects(validate_preferred_time, "morning " * 11)
    assert validate_preferred_time("m" * 80) == "m" * 80
    for empty in ("", "   ", "\x00", "...", "-"):
        assert "when suits you" in rejects(validate_preferred_time, empty)


def test_callback_form_validates_preferred_time() -> None:
    field = FORMS["callback_form"].field("preferred_time")
    assert field is not None and field.validate is validate_preferred_time


# --------------------------------------------------------------------------- robustness (properties)

VALIDATORS: list[Callable[[str], object]] = [
    validate_full_name,
    validate_email,
    validate_phone,
    validate_member_id,
    lambda t: parse_date(t, TODAY),
    lambda t: validate_birth_date(t, TODAY),
    lambda t: validate_future_date(t, TODAY),
    validate_cost,
    validate_free_text,
    validate_preferred_time,
]
CONTROL = st.characters(categories=["Cc", "Cf", "Zl", "Zp"])
ARBITRARY = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.one_of(CONTROL, st.sampled_from("0123456789+-/.,€$ @abcXYZ'")), max_size=100),
    st.text(max_size=50).map(lambda s: (s or "x") * (20_000 // max(len(s), 1) + 1)),  # ~20,000 characters
    st.sampled_from(["x" * 20_000, "1" * 20_000, "+" + "3" * 19_999, "\x00" * 20_000, " " * 20_000]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ARBITRARY)
def test_validators_raise_only_validation_error(text: str) -> None:
    for validate in VALIDATORS:
        try:
            validate(text)
        except ValidationError as exc:
            assert exc.message.strip()


@pytest.mark.parametrize("value", [None, 42, 3.5, ["AB123456"], {"a": 1}, b"bytes"])
def test_validators_reject_non_strings_politely(value: object) -> None:
    for validate in VALIDATORS:
        with pytest.raises(ValidationError):
            validate(value)  # type: ignore[arg-type]


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(
        [
            "{d:%Y-%m-%d}",
            "{d:%d/%m/%Y}",
            "{d.day}/{d.month}/{d.year}",
            "{d.day} {d:%B %Y}",
            "{d:%B} {d.day}, {d.year}",
            "{d:%d.%m.%Y}",
            "{d.day} {d:%b %Y}",
        ]
    ),
)
def test_parse_date_round_trips(day: date, template: str) -> None:
    assert parse_date(template.format(d=day), TODAY) == day


@given(
    st.sampled_from(["1", "32", "44", "971", "852"]), st.integers(10**5, 10**11 - 1), st.sampled_from([" ", "-", ""])
)
def test_valid_phone_numbers_normalise_to_e164(code: str, national: int, sep: str) -> None:
    digits = code + str(national)
    assume(8 <= len(digits) <= 15)
    typed = f"+{code} " + sep.join(str(national)[i : i + 3] for i in range(0, len(str(national)), 3))
    assert validate_phone(typed) == "+" + digits


@given(st.text(alphabet="ABCDEFGHJKabcdefz", max_size=6), st.text(alphabet="0123456789", min_size=4, max_size=6))
def test_member_ids_normalise(letters: str, digits: str) -> None:
    raw = letters + digits
    assume(len(raw) >= 6)
    assert validate_member_id(" " + " ".join(raw[i : i + 3] for i in range(0, len(raw), 3))) == raw.upper()


@given(st.emails())
def test_generated_emails_are_accepted_with_lower_case_domain(email: str) -> None:
    local, _, domain = email.rpartition("@")
    assume(len(email) <= 254)
    assert validate_email(email) == f"{local}@{domain.lower()}"
