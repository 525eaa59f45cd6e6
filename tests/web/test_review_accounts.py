"""Roles on agent accounts and the admins' account command (bot/web/auth.py, accounts.py)."""

from __future__ import annotations

import io

import pytest

from bot.requests import RequestStore
from bot.review.store import ReviewStore
from bot.web.accounts import main as accounts_main
from bot.web.auth import AccountError, make_entry, parse_accounts, verify_password


def test_an_entry_without_a_role_is_an_agent_and_roles_include_the_ones_before() -> None:
    old = make_entry("alice", "a long password")
    assert old.count(":") == 2
    accounts = parse_accounts(",".join([old, make_entry("rita", "a long password", role="reviewer"),
                                        make_entry("adam", "a long password", role="admin")]))
    assert {a.name: a.role for a in accounts.values()} == {"alice": "agent", "rita": "reviewer", "adam": "admin"}
    assert not accounts["alice"].has_role("reviewer") and accounts["alice"].has_role("agent")
    assert accounts["rita"].has_role("reviewer") and not accounts["rita"].has_role("admin")
    assert accounts["adam"].has_role("reviewer") and accounts["adam"].has_role("admin")
    assert verify_password(accounts, "rita", "a long password")
    with pytest.raises(AccountError, match="role"):
        parse_accounts(old + ":superuser")
    with pytest.raises(AccountError, match="role"):
        make_entry("bob", "a long password", role="root")


def test_admins_manage_accounts_from_the_command_and_every_change_is_audited(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "agents.txt"
    database = f"sqlite:///{tmp_path}/audit.db"
    monkeypatch.setenv("BOT_DATABASE_URL", database)
    monkeypatch.setenv("USER", "ops")
    monkeypatch.setattr("sys.stdin", io.StringIO("first password\n"))
    assert accounts_main(["rita", "--role", "reviewer", "--append", "--file", str(path)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second password\n"))
    assert accounts_main(["alice", "--append", "--file", str(path)]) == 0
    assert accounts_main(["alice", "--set-role", "admin", "--file", str(path)]) == 0
    capsys.readouterr()
    assert accounts_main(["--list", "--file", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["rita\treviewer", "alice\tadmin"]
    assert verify_password(parse_accounts(path.read_text()), "alice", "second password")
    assert accounts_main(["rita", "--remove", "--file", str(path)]) == 0
    assert list(parse_accounts(path.read_text())) == ["alice"]
    assert accounts_main(["nobody", "--remove", "--file", str(path)]) == 2
    assert accounts_main(["alice", "--set-role", "agent", "--file", str(path)]) == 0
    assert path.read_text().strip().count(":") == 2  # the default role is written as an old-style entry
    with RequestStore(database) as store:
        entries = ReviewStore(store).audit_entries()
    assert [(e.actor, e.action, e.target, e.detail) for e in reversed(entries)] == [
        ("admin:ops", "account.write", "account rita", "reviewer"),
        ("admin:ops", "account.write", "account alice", "agent"),
        ("admin:ops", "account.role", "account alice", "admin"),
        ("admin:ops", "account.remove", "account rita", ""),
        ("admin:ops", "account.role", "account alice", "agent"),
    ]
