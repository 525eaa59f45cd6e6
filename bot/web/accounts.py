"""``python -m bot.web.accounts NAME``: make an agent account entry.

Prompts for the password twice (or reads it from the first line of standard input when
that is not a terminal), prints the ``name:salt:hash`` entry, and with ``--append``
also writes it to ``var/agents.txt`` (replacing an earlier entry for the same name).
Put entries in ``BOT_AGENT_ACCOUNTS`` (comma-separated) or that file.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from bot.settings import Settings
from bot.web.auth import AccountError, make_entry


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


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot.web.accounts", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the agent's login name")
    parser.add_argument("--append", action="store_true", help="also write the entry to var/agents.txt")
    parser.add_argument("--file", type=Path, help="accounts file to append to (default: var/agents.txt)")
    args = parser.parse_args(argv)
    try:
        entry = make_entry(args.name, _read_password())
    except AccountError as exc:
        print(f"accounts: {exc}", file=sys.stderr)
        return 2
    print(entry)
    if args.append:
        path = args.file or Settings.from_env().accounts_file
        append_entry(path, entry)
        print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
