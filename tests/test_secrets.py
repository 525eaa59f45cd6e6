"""No secrets in the repository: they come from the environment or git-ignored files.

Scans every tracked file (what a clone gets) for private keys, filled-in secret settings
and agent password hashes, and checks that the places where `make run` and the deploy
set-up keep secrets are ignored by git.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from bot.settings import ROOT

#: Patterns of a secret written into a file. Placeholders (``${VAR}``, empty values,
#: ``$(...)`` generators) do not match.
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "member key secret": re.compile(r"BOT_MEMBER_KEY_SECRET\s*[=:]\s*['\"]?[0-9a-fA-F]{16,}"),
    "agent account entry": re.compile(r"BOT_AGENT_ACCOUNTS\s*[=:]\s*['\"]?\w+:[0-9a-f]{16,}:[0-9a-f]{32,}"),
    "password in a URL": re.compile(r"://[\w.-]+:(?!\$\{|password@)[^@\s/'\"]{6,}@"),
    "password setting": re.compile(r"(?i)\b[A-Z_]*PASSWORD\s*[=:]\s*['\"]?(?!\$\{)[A-Za-z0-9+/_-]{12,}"),
}


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [name for name in out.decode().split("\0") if name]


def test_no_secret_is_tracked() -> None:
    found = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".faiss", ".npy", ".gz"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for kind, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                found.append(f"{name}: {kind}: {match.group(0)[:40]}")
    assert not found, "secrets in tracked files:\n" + "\n".join(found)


def test_the_detector_catches_what_it_looks_for() -> None:
    # Built from pieces, so this file holds none of them whole (it is scanned too).
    samples = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "member key secret": "BOT_MEMBER_KEY_SECRET=" + "ab12" * 16,
        "agent account entry": "BOT_AGENT_ACCOUNTS=agent:" + "0f" * 16 + ":" + "a1" * 32,
        "password in a URL": "postgresql://assistant:" + "hunter2hunter2" + "@db:5432/requests",
        "password setting": "POSTGRES_PASSWORD=" + "Sup3rS3cretValue99",
    }
    for kind, sample in samples.items():
        assert SECRET_PATTERNS[kind].search(sample), kind
    placeholders = (
        "DB_PASSWORD: ${POSTGRES_PASSWORD:?set it}",
        "postgresql://a:${POSTGRES_PASSWORD}@db/x",
        "postgresql://user:password@host:port/db",
    )
    for placeholder in placeholders:
        assert not any(p.search(placeholder) for p in SECRET_PATTERNS.values()), placeholder


@pytest.mark.parametrize("path", ["var/secrets.env", "var/agents.txt", "var/dev-agent-password.txt", "deploy/.env"])
def test_secret_files_are_ignored_by_git(path: str) -> None:
    result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert result.returncode == 0, f"{path} would be committed"
