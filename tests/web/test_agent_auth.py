"""Agents' sign-in: accounts, the login form and its CSRF token, session cookies, rate
limited failures, logout, and what anonymous visitors of the agent pages and API get.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from yarl import URL

from bot.web import create_app
from bot.web.accounts import main as accounts_main
from bot.web.auth import AccountError, LoginLimiter, SessionStore, make_entry, parse_accounts, verify_password
from tests.web.helpers import LONG, PASSWORD, SQL, login, login_form_token, no_traceback, parse, submit

# --------------------------------------------------------------------------- anonymous


@pytest.mark.parametrize("path", ["/agent", "/agent/requests", "/agent/requests/DR-0000-0000", "/agent/anything"])
async def test_anonymous_agent_pages_redirect_to_login(client, path):
    response = await client.get(path, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/agent/login?next=/agent")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/requests"),
        ("GET", "/api/requests/DR-0000-0000"),
        ("PATCH", "/api/requests/DR-0000-0000"),
        ("GET", "/api/requests/DR-0000-0000/transcript"),
        ("POST", "/api/suggest"),
    ],
)
async def test_anonymous_agent_api_is_401(client, method, path):
    response = await client.request(method, path, json={"message": "x", "status": "done"})
    assert response.status == 401
    assert (await response.json())["error"] == "unauthenticated"


async def test_anonymous_form_posts_do_nothing(client, services):
    record = submit(services)
    response = await client.post(
        f"/agent/requests/{record.reference}/status", data={"status": "done"}, allow_redirects=False
    )
    assert response.status == 302 and response.headers["Location"].startswith("/agent/login")
    assert services.store.get(record.reference).status == "new"


# --------------------------------------------------------------------------- login and logout


async def test_bad_password_is_refused(client):
    response = await login(client, password="wrong password")
    assert response.status == 401
    assert "wrong" in await response.text()
    assert "agent_session" not in response.cookies
    response = await login(client, name="mallory")
    assert response.status == 401
    assert (await client.get("/api/requests")).status == 401


async def test_login_form_needs_its_csrf_token(client):
    await client.get("/agent/login")
    response = await client.post(
        "/agent/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"}, allow_redirects=False
    )
    assert response.status == 403
    response = await client.post(
        "/agent/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "é"}, allow_redirects=False
    )
    assert response.status == 403
    assert (await client.get("/api/requests")).status == 401


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("", ""),
        ("   ", "   "),
        (LONG, LONG),
        ('"><script>alert(1)</script>', "x"),
        (SQL, "' OR '1'='1"),
        ("alice\x00\x07", PASSWORD + "\x00"),
        ("алиса😀", "пароль"),
    ],
)
async def test_login_form_refuses_bad_input_without_crashing(echo_client, name, password):
    token = await login_form_token(echo_client)
    response = await echo_client.post(
        "/agent/login", data={"name": name, "password": password, "csrf_token": token}, allow_redirects=False
    )
    html = await response.text()
    assert response.status == 401, html
    no_traceback(html)
    assert "<script>alert(1)" not in html  # the name is echoed into the form, escaped
    assert "Content-Security-Policy" in response.headers


async def test_login_form_with_invalid_utf8_or_oversized_body(echo_client):
    await login_form_token(echo_client)
    response = await echo_client.post(
        "/agent/login",
        data=b"name=\xff\xfe&password=x&csrf_token=y",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    html = await response.text()
    assert response.status == 400 and "not valid UTF-8" in html
    no_traceback(html)
    response = await echo_client.post(
        "/agent/login",
        data=b"name=" + b"a" * 300_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 413
    no_traceback(await response.text())


async def test_login_sets_a_strict_httponly_session_cookie(client):
    response = await login(client)
    assert response.status == 303 and response.headers["Location"] == "/agent"
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert (await client.get("/api/requests")).status == 200


async def test_session_cookie_is_secure_behind_https(make_client):
    client = await make_client(trusted_proxies="127.0.0.1, ::1")  # X-Forwarded-Proto from our proxy
    response = await login(client, **{"X-Forwarded-Proto": "https"})
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "Secure" in cookie
    assert "Strict-Transport-Security" in response.headers


async def test_login_redirects_only_to_agent_pages(client):
    form = parse(await (await client.get("/agent/login")).text()).inputs
    response = await client.post(
        "/agent/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": form["csrf_token"], "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/agent"


async def test_login_returns_to_the_page_asked_for(client):
    response = await client.get("/agent/requests?kind=callback", allow_redirects=False)
    location = URL(response.headers["Location"])
    assert location.path == "/agent/login" and location.query["next"] == "/agent/requests?kind=callback"
    form = parse(await (await client.get(response.headers["Location"])).text()).inputs
    assert form["next"] == "/agent/requests?kind=callback"
    response = await client.post(
        "/agent/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": form["csrf_token"], "next": form["next"]},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/agent/requests?kind=callback"


async def test_failed_logins_are_rate_limited(client):
    for _ in range(5):
        assert (await login(client, password="wrong password")).status == 401
    response = await login(client)  # even the right password, for a while
    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many" in await response.text()


async def test_other_accounts_failures_do_not_lock_an_agent_out(client):
    for _ in range(5):
        assert (await login(client, name="bob", password="wrong password")).status == 401
    assert (await login(client, name="bob")).status == 429  # bob's name is locked
    assert (await login(client)).status == 303  # alice, from the same address, is not


async def test_logout_needs_csrf_and_ends_the_session(client, agent):
    refused = await client.post("/agent/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    assert (await client.get("/api/requests")).status == 200
    response = await client.post("/agent/logout", data={"csrf_token": agent}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/agent/login"
    assert (await client.get("/api/requests")).status == 401
    assert (await client.get("/agent", allow_redirects=False)).status == 302


async def test_agent_pages_are_not_cached(client, agent):
    response = await client.get("/agent/requests")
    assert response.headers["Cache-Control"] == "no-store"


# --------------------------------------------------------------------------- accounts and sessions


def test_accounts_entries_and_passwords():
    entry = make_entry("bob", "a long password")
    name, salt, digest = entry.split(":")
    assert name == "bob" and len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    accounts = parse_accounts(f"# agents\n{entry}, {make_entry('carol', 'another password')}")
    assert set(accounts) == {"bob", "carol"}
    assert verify_password(accounts, "bob", "a long password")
    assert not verify_password(accounts, "bob", "a long passwore")
    assert not verify_password(accounts, "carol", "a long password")
    assert not verify_password(accounts, "nobody", "a long password")
    for bad in ("bob:zz:00", "bob:00", "bad name:00:" + "00" * 32, "bob:00:0011"):
        with pytest.raises(AccountError):
            parse_accounts(bad)
    with pytest.raises(AccountError):
        make_entry("bob", "short")


def test_accounts_command_appends_entry(tmp_path, monkeypatch, capsys):
    path = tmp_path / "agents.txt"
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{tmp_path}/audit.db")  # where the change is audited
    monkeypatch.setattr("sys.stdin", io.StringIO("first password\n"))
    assert accounts_main(["dave", "--append", "--file", str(path)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second password\n"))
    assert accounts_main(["dave", "--append", "--file", str(path)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    accounts = parse_accounts(path.read_text())
    assert list(accounts) == ["dave"] and path.read_text().strip() == printed
    assert verify_password(accounts, "dave", "second password")
    assert path.stat().st_mode & 0o077 == 0


async def test_accounts_file_is_read(aiohttp_client, settings, tmp_path, make_services):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "agents.txt").write_text(make_entry("erin", "erins password") + "\n")
    web_settings = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path}/r.db", var_dir=tmp_path / "var")
    client = await aiohttp_client(create_app(web_settings, services=make_services(web_settings)))
    assert (await login(client, name="erin", password="erins password")).status == 303


def test_sessions_expire():
    now = [0.0]
    store = SessionStore(lifetime_seconds=100, idle_seconds=30, clock=lambda: now[0])
    token, session = store.create("alice")
    assert store.get(token) is session
    now[0] = 25
    assert store.get(token) is session
    now[0] = 50  # used at 25, so idle only 25 s
    assert store.get(token) is session
    now[0] = 90
    assert store.get(token) is None  # idle for 40 s
    token, _ = store.create("alice")
    for t in (110, 130, 150, 170, 190):
        now[0] = t
        assert store.get(token) is not None
    now[0] = 195
    assert store.get(token) is None  # absolute lifetime (created at 90)
    assert store.get("not-a-token") is None and store.get(None) is None


def test_login_limiter_window():
    now = [0.0]
    limiter = LoginLimiter(max_failures=2, window_seconds=60, clock=lambda: now[0])
    limiter.fail(["ip:a"])
    assert limiter.retry_after(["ip:a"]) == 0
    limiter.fail(["ip:a"])
    assert limiter.retry_after(["ip:a", "name:x"]) > 0
    now[0] = 61
    assert limiter.retry_after(["ip:a"]) == 0
