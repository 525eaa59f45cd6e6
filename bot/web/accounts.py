"""``python -m bot.web.accounts NAME``: make an agent account entry; the admins' account command.

Prompts for the password twice (or reads it from the first line of standard input when
that is not a terminal), prints the ``name:salt:hash[:role]`` entry (``--role agent``,
``reviewer`` or ``admin``; agent by default), and with ``--append`` also writes it to
``var/agents.txt`` (replacing an earlier entry for the same name). Put entries in
``BOT_AGENT_ACCOUNTS`` (comma-separated) or that file.

On the accounts file: ``--list`` shows every account's name and role, ``NAME --set-role
ROLE`` changes a role without touching the password, ``NAME --remove`` deletes the
account. Every change to the file is written to the audit log (bot/review/store.py) as
done by ``admin:<the operating-system user>``. The web app reads accounts at start-up:
restart it after a change.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from bot.settings import Settings
from bot.web.auth import ROLES, AccountError, make_entry, parse_accounts


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password again: ")
    if first != second:
        raise AccountError("the passwords do not match")
    return first


def append_entry(path: Path, entry: str) -> None:
    """Add ``entry`` to the accounts file, dropping earlier entries for the same name."""
    name = entry.split(":", 1)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept = [line for line in lines if line.strip().split(":", 1)[0] != name]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join([*kept, entry]) + "\n")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in lines))


def set_role(path: Path, name: str, role: str) -> None:
    """Give the account ``name`` in the accounts file ``role`` (AccountError if there is none)."""
    if role not in ROLES:
        raise AccountError(f"a role is one of {', '.join(ROLES)}")
    lines, found = [], False
    for line in _lines(path):
        parts = line.strip().split(":")
        if parts[0] == name and len(parts) in (3, 4):
            line, found = ":".join(parts[:3] + ([role] if role != "agent" else [])), True
        lines.append(line)
    if not found:
        raise AccountError(f"no account {name!r} in {path}")
    _write(path, lines)


def remove(path: Path, name: str) -> None:
    """Delete the account ``name`` from the accounts file (AccountError if there is none)."""
    lines = _lines(path)
    kept = [line for line in lines if line.strip().split(":", 1)[0] != name]
    if len(kept) == len(lines):
        raise AccountError(f"no account {name!r} in {path}")
    _write(path, kept)


def audit(settings: Settings, action: str, name: str, detail: str = "") -> None:
    """Record an account change in the audit log; a warning, not a failure, when the
    request store cannot be reached (the file change stands)."""
    from bot.requests import RequestStore, RequestStoreError
    from bot.review.store import ReviewStore

    try:
        actor = f"admin:{getpass.getuser()}"
    except (KeyError, OSError):
        actor = "admin:unknown"
    try:
        with RequestStore.from_settings(settings) as store:
            store.create_schema()
            ReviewStore(store).audit(actor, action, f"account {name}", detail)
    except RequestStoreError as exc:
        print(f"accounts: the audit log could not be written ({exc})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot.web.accounts", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="the account's login name")
    parser.add_argument("--role", choices=ROLES, default="agent", help="the new account's role (default agent)")
    parser.add_argument("--append", action="store_true", help="also write the entry to var/agents.txt")
    parser.add_argument("--file", type=Path, help="accounts file to change (default: var/agents.txt)")
    parser.add_argument("--list", action="store_true", help="list the accounts file's names and roles")
    parser.add_argument("--set-role", choices=ROLES, help="change the role of NAME in the accounts file")
    parser.add_argument("--remove", action="store_true", help="delete NAME from the accounts file")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    path = args.file or settings.accounts_file
    try:
        if args.list:
            for account in parse_accounts("\n".join(_lines(path))).values():
                print(f"{account.name}\t{account.role}")
            return 0
        if not args.name:
            parser.error("give the account's NAME (or --list)")
        if args.set_role:
            set_role(path, args.name, args.set_role)
            audit(settings, "account.role", args.name, args.set_role)
            print(f"{args.name} is now {args.set_role} in {path}", file=sys.stderr)
            return 0
        if args.remove:
            remove(path, args.name)
            audit(settings, "account.remove", args.name)
            print(f"{args.name} removed from {path}", file=sys.stderr)
            return 0
        entry = make_entry(args.name, _read_password(), role=args.role)
    except AccountError as exc:
        print(f"accounts: {exc}", file=sys.stderr)
        return 2
    print(entry)
    if args.append:
        append_entry(path, entry)
        audit(settings, "account.write", args.name, args.role)
        print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
