"""The agent console against a hostile member or outsider: member text shown as plain text
(no links an agent could be lured into following), login throttling that a stranger
cannot turn into a lock-out, origin checks on scheme, host and port, X-Forwarded-*
believed only from trusted proxies, and unknown Host headers refused.
"""

from __future__ import annotations

import pytest

from bot.web.auth import AgentAuth, LoginLimiter, SessionStore
from bot.web.cors import host_allowed, parse_allowed_hosts, same_origin
from bot.web.html import markdown_lite
from bot.web.keys import DOCUMENTS, SERVICES
from tests.web.helpers import AGENT, PASSWORD, SENDER, error_json, login, no_traceback, parse, sign_in, submit

#: A phishing link as a member would type it: protocol-relative, so no scheme to catch.
PHISHING = "[re-verify your console login](//evil.example/agent/login)"
PROXY = {"trusted_proxies": "127.0.0.1, ::1"}
ADDRESS_A = "203.0.113.7"
ADDRESS_B = "198.51.100.9"


def links(html: str) -> list[str]:
    """Every href of an <a> element in ``html``."""
    return [value or "" for tag, name, value in parse(html).attributes if tag == "a" and name == "href"]


def transcript_of(html: str) -> str:
    """The transcript list of a request page."""
    start = html.index('<ol class="transcript"')
    return html[start : html.index("</ol>", start)]


# --------------------------------------------------------------------------- plain-text member text


async def test_member_links_in_the_transcript_are_plain_text(make_client, fake_rasa):
    client = await make_client()
    document_url = next(
        (d.url for d in client.app[DOCUMENTS].documents.values() if d.url.startswith("https://")), None
    )
    assert document_url, "the test documents have an https source"
    fake_rasa.events = [
        {"event": "user", "text": PHISHING, "timestamp": 1.0},
        {"event": "user", "text": "**urgent** [a](https://evil.example/x) [b](/agent/logout)", "timestamp": 2.0},
        {"event": "bot", "text": f"You said: {PHISHING}", "timestamp": 3.0},
        {
            "event": "bot",
            "text": "**Claims** [c](https://evil.example/) [d](/agent/logout) [e](/documents/../agent)\n"
            f"Source: [FAQ › Claims](/documents/faq#claims-1), [original]({document_url}#part)",
            "timestamp": 4.0,
        },
    ]
    await login(client)
    record = client.app[SERVICES].store.submit("handoff", {"reason": "talk to a person"}, conversation_id=SENDER)
    response = await client.get(f"/agent/requests/{record.reference}")
    html = await response.text()
    assert response.status == 200
    transcript = transcript_of(html)
    assert links(transcript) == ["/documents/faq#claims-1", f"{document_url}#part"]
    assert PHISHING in transcript  # shown as the member typed it
    assert "**urgent**" in transcript and "<strong>urgent</strong>" not in transcript
    assert "<strong>Claims</strong>" in transcript  # the bot's own formatting stays


async def test_form_data_and_notes_are_plain_text(agent_session):
    client, csrf, _ = agent_session
    typed = f'{PHISHING} **bold** <a href="//evil.example">x</a>'
    record = submit(client.app[SERVICES], details=typed, full_name=PHISHING)
    await client.patch(f"/api/requests/{record.reference}", json={"note": typed}, headers={"X-CSRF-Token": csrf})
    html = await (await client.get(f"/agent/requests/{record.reference}")).text()
    assert not [href for href in links(html) if "evil" in href]
    assert html.count(PHISHING) >= 3 and "<strong>bold</strong>" not in html
    inbox = await (await client.get("/agent/requests")).text()
    assert not [href for href in links(inbox) if "evil" in href]


def test_bot_text_links_only_to_our_documents():
    original = "https://www.example.org/privacy"
    html = markdown_lite(
        f"{PHISHING} [a](https://evil.example) [b](/agent/login) [c](http://{original[8:]}) "
        f"[d](/documents/faq#a-1) [e]({original}#s2) [f](/documents//evil.example)",
        {original},
    )
    assert links(html) == ["/documents/faq#a-1", f"{original}#s2"]
    assert PHISHING in html and "[a](https://evil.example)" in html
    assert links(markdown_lite(f"[e]({original})")) == []  # not a document of ours


# --------------------------------------------------------------------------- login throttling


async def test_failed_logins_elsewhere_do_not_lock_an_agent_out(make_client):
    client = await make_client(**PROXY)
    for _ in range(5):
        assert (await login(client, password="wrong password", **{"X-Forwarded-For": ADDRESS_A})).status == 401
    assert (await login(client, **{"X-Forwarded-For": ADDRESS_A})).status == 429  # the guesser is stopped
    assert (await login(client, **{"X-Forwarded-For": ADDRESS_B})).status == 303  # the agent is not
    client.session.cookie_jar.clear()  # the guesser's browser
    response = await login(client, **{"X-Forwarded-For": ADDRESS_A})
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0


async def test_one_address_guessing_many_names_is_stopped(make_client):
    client = await make_client(**PROXY)
    guesser = {"X-Forwarded-For": ADDRESS_A}
    for name in ("bob", "carol", "dave", "erin"):
        for _ in range(4):
            assert (await login(client, name=name, password="wrong password", **guesser)).status == 401
    for _ in range(4):
        assert (await login(client, name=AGENT, password="wrong password", **guesser)).status == 401
    assert (await login(client, name="frank", password="wrong password", **guesser)).status == 429
    assert (await login(client, **guesser)).status == 429
    assert (await login(client, **{"X-Forwarded-For": ADDRESS_B})).status == 303


def test_login_throttle_counts_name_and_address_together():
    now = [0.0]
    auth = AgentAuth(
        accounts={},
        sessions=SessionStore(60, 60),
        limiter=LoginLimiter(2, 60, clock=lambda: now[0]),
        address_limiter=LoginLimiter(3, 60, clock=lambda: now[0]),
    )
    auth.failed("Alice", "ip:a")
    auth.failed("alice", "ip:a")
    assert auth.retry_after("alice", "ip:a") > 0  # names compare without case
    assert auth.retry_after("alice", "ip:b") == 0 and auth.retry_after("bob", "ip:a") == 0
    auth.failed("bob", "ip:a")
    assert auth.retry_after("carol", "ip:a") > 0  # the address has used its allowance
    auth.succeeded("alice", "ip:b")
    assert auth.retry_after("alice", "ip:a") > 0
    now[0] = 61
    assert auth.retry_after("alice", "ip:a") == 0


# --------------------------------------------------------------------------- origin: scheme, host and port


async def test_origin_check_compares_scheme_host_and_port(agent_session):
    client, csrf, reference = agent_session
    ours = str(client.make_url("")).rstrip("/")
    port = client.make_url("").port
    form = f"/agent/requests/{reference}/status"
    for origin in (f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}", "http://127.0.0.1", "null"):
        response = await client.post(
            form, data={"csrf_token": csrf, "status": "done"}, headers={"Origin": origin}, allow_redirects=False
        )
        html = await response.text()
        assert response.status == 403 and "did not come from this site" in html, origin
        response = await client.patch(
            f"/api/requests/{reference}", json={"status": "done"}, headers={"X-CSRF-Token": csrf, "Origin": origin}
        )
        await error_json(response, 403, "origin_not_allowed")
    referer = {"Referer": f"http://127.0.0.1:{port + 1}/agent/requests/{reference}"}
    response = await client.post(form, data={"csrf_token": csrf, "status": "done"}, headers=referer)
    assert response.status == 403
    assert client.app[SERVICES].store.get(reference).status == "new"
    for headers in ({"Origin": ours}, {"Referer": f"{ours}/agent/requests/{reference}"}, {}):
        response = await client.post(
            form, data={"csrf_token": csrf, "status": "in_progress"}, headers=headers, allow_redirects=False
        )
        assert response.status == 303, headers


def test_same_origin_needs_scheme_host_and_port():
    assert same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080")
    assert same_origin("https://Help.Example.org:443", "https://help.example.org")
    assert not same_origin("http://127.0.0.1:8081", "http://127.0.0.1:8080")
    assert not same_origin("https://127.0.0.1:8080", "http://127.0.0.1:8080")
    assert not same_origin("https://help.example.org.evil.net", "https://help.example.org")
    assert not same_origin("null", "http://x") and not same_origin("http://x", None)


# --------------------------------------------------------------------------- X-Forwarded-* from trusted proxies only


async def test_forwarded_headers_from_anyone_are_ignored(client):
    spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": ADDRESS_A}
    response = await login(client, **spoofed)
    assert response.status == 303
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "Secure" not in cookie
    assert "Strict-Transport-Security" not in response.headers
    # The origin is still the one the connection shows: plain HTTP, the real Host.
    ours = str(client.make_url("")).rstrip("/")
    csrf = parse(await (await client.get("/agent")).text()).meta["csrf-token"]
    post = {"X-CSRF-Token": csrf, **spoofed}
    for origin in ("http://evil.example", "https://evil.example", ours.replace("http:", "https:")):
        response = await client.post("/api/suggest", json={"message": ""}, headers={**post, "Origin": origin})
        await error_json(response, 403, "origin_not_allowed")
    response = await client.post("/api/suggest", json={"message": ""}, headers={**post, "Origin": ours})
    await error_json(response, 400, "empty_message")  # past the origin check


async def test_forwarded_headers_from_a_trusted_proxy_are_believed(make_client):
    client = await make_client(allowed_hosts="help.example.org, 127.0.0.1", **PROXY)
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "help.example.org", "X-Forwarded-For": ADDRESS_A}
    response = await login(client, **proxied)
    assert response.status == 303
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "Secure" in cookie and "Strict-Transport-Security" in response.headers
    client.session.cookie_jar.clear()
    # A value the client wrote before the proxy's own is not believed.
    response = await login(client, **{**proxied, "X-Forwarded-Proto": "https, http"})
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "Secure" not in cookie
    client.session.cookie_jar.clear()  # the test client is plain HTTP: it would not send a Secure cookie
    post = {"X-CSRF-Token": await sign_in(client), **proxied}
    response = await client.post(
        "/api/suggest", json={"message": ""}, headers={**post, "Origin": "https://help.example.org"}
    )
    await error_json(response, 400, "empty_message")  # past the origin check
    response = await client.post(
        "/api/suggest", json={"message": ""}, headers={**post, "Origin": "http://help.example.org"}
    )
    await error_json(response, 403, "origin_not_allowed")
    response = await client.get("/agent/login", headers={**proxied, "X-Forwarded-Host": "evil.example"})
    assert response.status == 400


# --------------------------------------------------------------------------- Host header


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example", "evil@127.0.0.1", "127.0.0.1:99999", "127.0.0.1/x", ""]
)
async def test_unknown_hosts_are_refused(client, host):
    response = await client.get("/agent/login", headers={"Host": host})
    html = await response.text()
    assert response.status == 400 and "not served under the address you used" in html
    no_traceback(html)
    assert "Content-Security-Policy" in response.headers
    data = await error_json(await client.get("/healthz", headers={"Host": host}), 400, "unknown_host")
    assert "host name" in data["message"]
    response = await client.post("/api/chat", json={"message": "hi"}, headers={"Host": host})
    await error_json(response, 400, "unknown_host")


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8080", "127.0.0.1:1", "[::1]:8080", "localhost."])
async def test_default_hosts_are_served_on_any_port(client, host):
    response = await client.get("/agent/login", headers={"Host": host})
    assert response.status == 200, host


async def test_allowed_hosts_with_a_port(make_client):
    client = await make_client(allowed_hosts="help.example.org:8443")
    assert (await client.get("/agent/login", headers={"Host": "help.example.org:8443"})).status == 200
    for host in ("help.example.org", "help.example.org:8080", "127.0.0.1"):
        assert (await client.get("/agent/login", headers={"Host": host})).status == 400, host
    csrf = await sign_in_at(client, "help.example.org:8443")
    response = await client.post(
        "/agent/logout",
        data={"csrf_token": csrf},
        headers={"Host": "help.example.org:8443", "Origin": "http://help.example.org:8443"},
        allow_redirects=False,
    )
    assert response.status == 303


async def sign_in_at(client, host: str) -> str:
    """Sign in with every request addressed to ``host``; the session's CSRF token."""
    headers = {"Host": host}
    token = parse(await (await client.get("/agent/login", headers=headers)).text()).inputs["csrf_token"]
    response = await client.post(
        "/agent/login",
        data={"name": AGENT, "password": PASSWORD, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )
    assert response.status == 303
    return parse(await (await client.get("/agent", headers=headers)).text()).meta["csrf-token"]


def test_allowed_hosts_setting_is_checked():
    allowed = parse_allowed_hosts(" Example.org , help.example.org:8443,[::1]\n10.0.0.5 ")
    assert allowed == {("example.org", None), ("help.example.org", 8443), ("::1", None), ("10.0.0.5", None)}
    assert host_allowed("EXAMPLE.ORG:8080", allowed) and host_allowed("help.example.org:8443", allowed)
    assert not host_allowed("help.example.org", allowed) and not host_allowed("::1", allowed)
    for bad in ("http://example.org", "exa mple.org", "example.org:0", "example.org:70000", "*", "user@example.org"):
        with pytest.raises(ValueError, match="allowed_hosts"):
            parse_allowed_hosts(bad)
