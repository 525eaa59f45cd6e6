"""Agent accounts, passwords, server-side sessions, CSRF tokens and login rate limiting.

Accounts come from configuration as ``name:salt:hash[:role]`` entries (``BOT_AGENT_ACCOUNTS``,
comma-separated, and/or the file ``var/agents.txt``, one per line). The hash is the
standard library's scrypt (N=2^14, r=8, p=1, 32 bytes) over the password, salt and hash
in hex. The role is one of :data:`ROLES` (an entry without one is an agent).
``python -m bot.web.accounts NAME`` writes such an entry.

Sessions live in this process's memory, keyed by the SHA-256 of a 256-bit random token
that only the agent's browser holds (in an HttpOnly, SameSite=Strict cookie). Each
session has its own CSRF token, required on every state-changing agent request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16
#: Account names: what an agent types, and what the audit trail records.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: Passwords longer than this are refused before hashing (scrypt cost is per byte too).
MAX_PASSWORD_CHARS = 1024
MIN_PASSWORD_CHARS = 8
#: Account roles, each allowed what the ones before it are: an agent works the console and
#: the request inbox, a reviewer also reviews the bot's answers, an admin also manages accounts.
ROLES = ("agent", "reviewer", "admin")
DEFAULT_ROLE = "agent"


class AccountError(ValueError):
    """An account entry or name is malformed; the message says which and why."""


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN, maxmem=64 << 20
    )


def make_entry(name: str, password: str, salt: bytes | None = None, role: str = DEFAULT_ROLE) -> str:
    """The ``name:salt:hash`` line for an account (a fresh random salt unless given), with
    ``:role`` appended for any role but the default."""
    if role not in ROLES:
        raise AccountError(f"a role is one of {', '.join(ROLES)}")
    if not NAME_PATTERN.match(name or ""):
        raise AccountError(
            "an account name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_CHARS} characters")
    if "\x00" in password:
        raise AccountError("a password may not contain NUL characters")
    salt = salt or secrets.token_bytes(SALT_BYTES)
    entry = f"{name}:{salt.hex()}:{_scrypt(password, salt).hex()}"
    return entry if role == DEFAULT_ROLE else f"{entry}:{role}"


@dataclass(frozen=True)
class Account:
    """One agent account: name, salt, password hash and role."""

    name: str
    salt: bytes
    hash: bytes
    role: str = DEFAULT_ROLE

    def has_role(self, role: str) -> bool:
        """True when this account may do what ``role`` may (roles include the ones before them)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def parse_accounts(text: str) -> dict[str, Account]:
    """Accounts from entries separated by commas or new lines (``#`` starts a comment line).

    Raises AccountError naming the first malformed entry (without echoing its hash).
    """
    accounts: dict[str, Account] = {}
    for number, raw in enumerate(re.split(r"[,\n]", text or ""), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":")
        if len(parts) not in (3, 4) or not NAME_PATTERN.match(parts[0]):
            raise AccountError(f"agent account entry {number} is not 'name:salt:hash[:role]'")
        role = parts[3] if len(parts) == 4 else DEFAULT_ROLE
        if role not in ROLES:
            raise AccountError(f"agent account entry {number} ({parts[0]}): role must be one of {', '.join(ROLES)}")
        try:
            salt, digest = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError as exc:
            raise AccountError(f"agent account entry {number} ({parts[0]}): salt and hash must be hex") from exc
        if len(digest) != SCRYPT_DKLEN or not salt:
            raise AccountError(f"agent account entry {number} ({parts[0]}): hash must be {SCRYPT_DKLEN} bytes")
        accounts[parts[0]] = Account(parts[0], salt, digest, role)
    return accounts


def load_accounts(entries: str, path: Path | None) -> dict[str, Account]:
    """Accounts from the configured entries plus the accounts file, if it exists."""
    accounts = parse_accounts(entries)
    if path is not None and path.is_file():
        accounts.update(parse_accounts(path.read_text(encoding="utf-8")))
    return accounts


# A fixed account used to spend the same time on unknown names as on known ones.
_DUMMY = Account("-", b"\x00" * SALT_BYTES, b"\x00" * SCRYPT_DKLEN)


def verify_password(accounts: dict[str, Account], name: str, password: str) -> bool:
    """True when ``name`` is an account and ``password`` its password.

    Unknown names and over-long passwords take the same scrypt time as a wrong password,
    so response times do not reveal which account names exist. A password with a NUL
    character is wrong: scrypt's HMAC pads the password with NULs, so "secret\\0" would
    otherwise be accepted for "secret".
    """
    account = accounts.get(name)
    usable = isinstance(password, str) and len(password) <= MAX_PASSWORD_CHARS and "\x00" not in password
    candidate = password if usable else ""
    digest = _scrypt(candidate, (account or _DUMMY).salt)
    return account is not None and bool(candidate) and hmac.compare_digest(digest, account.hash)


# --------------------------------------------------------------------------- sessions


@dataclass
class AgentSession:
    """A logged-in agent."""

    name: str
    csrf_token: str
    created: float
    last_seen: float


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass
class SessionStore:
    """Server-side agent sessions in memory, with absolute and idle expiry."""

    lifetime_seconds: float
    idle_seconds: float
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, AgentSession] = field(default_factory=dict)

    def create(self, name: str) -> tuple[str, AgentSession]:
        """A new session for ``name``: (the cookie token, the session)."""
        self.purge()
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = AgentSession(name=name, csrf_token=secrets.token_urlsafe(32), created=now, last_seen=now)
        self._sessions[_token_key(token)] = session
        return token, session

    def get(self, token: str | None) -> AgentSession | None:
        """The live session for a cookie token (and mark it used), or None."""
        if not token or len(token) > 256:
            return None
        key = _token_key(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.created > self.lifetime_seconds or now - session.last_seen > self.idle_seconds:
            del self._sessions[key]
            return None
        session.last_seen = now
        return session

    def delete(self, token: str | None) -> None:
        """End a session (logout); unknown tokens are ignored."""
        if token:
            self._sessions.pop(_token_key(token), None)

    def purge(self) -> None:
        """Drop expired sessions."""
        now = self.clock()
        for key, session in list(self._sessions.items()):
            if now - session.created > self.lifetime_seconds or now - session.last_seen > self.idle_seconds:
                del self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_matches(expected: str, given: object) -> bool:
    """Constant-time comparison of a CSRF token from a header or form field."""
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "replace"), given.encode("utf-8", "replace"))


# --------------------------------------------------------------------------- login throttling


@dataclass
class LoginLimiter:
    """Failed logins per key (a client address, or an account name with an address) in a sliding window."""

    max_failures: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, keys: Iterable[str]) -> int:
        """Seconds until a login may be tried again for any of ``keys`` (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, self.window_seconds - (now - times[0]))
        return int(wait) + 1 if wait > 0 else 0

    def fail(self, keys: Iterable[str]) -> None:
        """Record one failed login for each key."""
        now = self.clock()
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            for key in list(self._failures):
                self._recent(key, now)
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def reset(self, keys: Iterable[str]) -> None:
        """Forget failures after a successful login."""
        for key in keys:
            self._failures.pop(key, None)


#: A client address may fail this many times more than one account name from it: many
#: agents can share an address (an office, a reverse proxy), and one of them mistyping
#: must not lock the others out, while one address trying passwords across many names
#: is still stopped.
ADDRESS_FACTOR = 4


@dataclass
class AgentAuth:
    """Everything the app needs to authenticate agents.

    Failed logins are counted per account name *and* client address together, and per
    client address: a stranger guessing an agent's password from elsewhere locks only
    their own address out, never the agent, while one address guessing one account (or
    spraying many) is stopped after ``limiter.max_failures`` (or
    ``address_limiter.max_failures``) failures in the window.
    """

    accounts: dict[str, Account]
    sessions: SessionStore
    limiter: LoginLimiter  # failed logins per (account name, client address)
    address_limiter: LoginLimiter  # failed logins per client address, whatever the names

    @staticmethod
    def _pair(name: str, address: str) -> str:
        return f"name:{name.lower()}|{address}"

    def retry_after(self, name: str, address: str) -> int:
        """Seconds before another login attempt for this name from this address (0: now)."""
        return max(
            self.limiter.retry_after([self._pair(name, address)]), self.address_limiter.retry_after([address])
        )

    def failed(self, name: str, address: str) -> None:
        """Count a failed login."""
        self.limiter.fail([self._pair(name, address)])
        self.address_limiter.fail([address])

    def has_role(self, name: str, role: str) -> bool:
        """True when the account ``name`` exists and may do what ``role`` may."""
        account = self.accounts.get(name)
        return account is not None and account.has_role(role)

    def succeeded(self, name: str, address: str) -> None:
        """Forget this name's failures from this address (the address keeps its count:
        others may share it)."""
        self.limiter.reset([self._pair(name, address)])
