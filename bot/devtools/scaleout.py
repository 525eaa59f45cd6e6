"""Run the scaled-out set-up on loopback: 2 Rasa servers, 2 action servers, nginx in front.

This is the production layout of deploy/ (docker-compose.yml) with processes instead of
containers, so the test (tests/test_scaleout.py) and the benchmark exercise what we ship:

* the Rasa servers read deploy/endpoints.scaled.yml itself, its ``${VAR}`` placeholders
  filled from the environment: a PostgreSQL tracker store and a Redis lock store shared
  by both servers, and the action endpoint through nginx;
* nginx (Debian's package, started in the foreground with a generated configuration in
  the run directory) balances the Rasa servers round robin on ``proxy_port`` and the
  action servers under ``/actions/`` on the same port, and names the server that
  answered in an ``X-Upstream`` header;
* the action servers keep members' requests in a PostgreSQL request store.

Each run gets fresh databases (dropped on stop) and its own Redis key prefix, so runs
on the same PostgreSQL and Redis never see each other's data. Process spawning, health
polling and stopping are :class:`bot.devtools.stack.Stack`'s.

`python -m bot.devtools.scaleout` runs it in the foreground for a person (Ctrl-C stops).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from bot.devtools.stack import (
    PYTHON,
    Stack,
    StackError,
    action_server_command,
    ensure_secrets,
    rasa_command,
    run_until_stopped,
)
from bot.rasa_plugins.server import api_url
from bot.settings import ROOT, Settings

DEPLOY = ROOT / "deploy"
ENDPOINTS = DEPLOY / "endpoints.scaled.yml"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")
NGINX_HINT = "install Debian's nginx: apt-get install -y --no-install-recommends nginx-light"


def find_nginx() -> str | None:
    """Path of the nginx binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None)


@dataclass(frozen=True)
class Postgres:
    """Where to create the run's databases: host, port, credentials and a database to log in to."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    login_db: str = "postgres"

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        """Parse ``postgresql://user:password@host:port/login_db``."""
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            login_db=parts.path.lstrip("/") or "postgres",
        )

    def connect(self, dbname: str | None = None):  # noqa: ANN201 - a psycopg2 connection
        """An autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""
        import psycopg2

        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password or None,
            dbname=dbname or self.login_db, connect_timeout=5,
        )
        conn.autocommit = True
        return conn

    def sqlalchemy_url(self, dbname: str) -> str:
        """The request store's URL of one database on this server."""
        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        return f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{dbname}"


@dataclass(frozen=True)
class Redis:
    """The Redis of Rasa's lock store: host, port, database number and password."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 1
    password: str = ""

    @classmethod
    def from_url(cls, url: str) -> Redis:
        """Parse ``redis://[:password@]host:port/db``."""
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(parts.path.lstrip("/") or 1),
            password=unquote(parts.password or ""),
        )

    def command(self, *args: str) -> bytes:
        """Run one command (after AUTH and SELECT) and return its raw reply line.

        A few lines of RESP instead of a client library: .venv has no redis package and
        we only need PING and one EVAL, whose replies are single lines.
        """
        commands = ([("AUTH", self.password)] if self.password else []) + [("SELECT", str(self.db)), args]
        payload = b"".join(
            b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in cmd)
            for cmd in commands
        )
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(payload)
            stream = sock.makefile("rb")
            replies = [stream.readline().rstrip(b"\r\n") for _ in commands]
        for reply in replies:
            if reply.startswith(b"-"):
                raise OSError(f"redis: {reply[1:].decode(errors='replace')}")
        return replies[-1]

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (locks a killed server left behind)."""
        script = (
            "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end "
            "return n"
        )
        reply = self.command("EVAL", script, "0", prefix + "*")
        return int(reply[1:]) if reply.startswith(b":") else 0


def render_web_server(listen: str, web: list[str]) -> str:
    """deploy/nginx.conf's public server for loopback: the web apps round robin, the live
    chat's WebSockets upgraded."""
    servers = "\n".join(f"        server {addr};" for addr in web)
    forwarded = """proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;"""
    return f"""
    upstream web {{
{servers}
    }}

    server {{
        listen {listen};

        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {forwarded}
            client_max_body_size 1m;
            proxy_pass http://web;
        }}

        location ~ ^/(api|agent)/live/ws$ {{
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            {forwarded}
            proxy_read_timeout 1h;
            proxy_pass http://web;
        }}
    }}
"""


def render_nginx_conf(
    run_dir: Path,
    listen: str,
    rasa: list[str],
    actions: list[str],
    web_listen: str | None = None,
    web: list[str] | None = None,
) -> str:
    """The loopback nginx configuration: deploy/nginx.conf's routing with local paths
    (and, with ``web_listen``, its public server in front of the ``web`` apps).

    Everything nginx writes (pid, logs, temporary files) goes under ``run_dir``, so it
    runs without root and next to other instances. As root, the workers run as the
    same user, because they must write temporary files into the private run directory.
    """
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    servers = {name: "\n".join(f"        server {addr};" for addr in addrs) for name, addrs in
               (("rasa", rasa), ("actions", actions))}
    web_server = render_web_server(web_listen, web or []) if web_listen else ""
    return f"""# Generated by bot/devtools/scaleout.py for one loopback run; production: deploy/nginx.conf.
daemon off;
worker_processes 1;
{user}
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    log_format upstream '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                        'upstream=$upstream_addr rt=$request_time urt=$upstream_response_time';
    access_log {run_dir}/nginx-access.log upstream;
    server_tokens off;
    client_body_temp_path {run_dir}/nginx-tmp/body;
    proxy_temp_path {run_dir}/nginx-tmp/proxy;
    fastcgi_temp_path {run_dir}/nginx-tmp/fastcgi;
    uwsgi_temp_path {run_dir}/nginx-tmp/uwsgi;
    scgi_temp_path {run_dir}/nginx-tmp/scgi;

    upstream rasa {{
{servers["rasa"]}
        keepalive 32;
        keepalive_timeout 4s;
    }}

    upstream actions {{
{servers["actions"]}
        keepalive 32;
        keepalive_timeout 4s;
    }}

    server {{
        listen {listen};

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_read_timeout 60s;
        proxy_next_upstream error timeout;
        add_header X-Upstream $upstream_addr always;

        location = /nginx-health {{
            access_log off;
            return 200 "ok\\n";
        }}

        location /actions/ {{
            client_max_body_size 16m;
            client_body_buffer_size 1m;
            proxy_pass http://actions/;
        }}

        # Rasa: its channels, and the API calls the web app makes (reading a
        # conversation's transcript, the intent of a message, resuming a conversation
        # after a live chat), which Rasa answers only with its token. The rest of Rasa's
        # HTTP API (other tracker writes, /execute, model replacement) is not reachable
        # through the balancer.
        location /webhooks/ {{
            client_max_body_size 1m;
            proxy_pass http://rasa;
        }}

        location ~ ^/conversations/[^/]+/tracker$ {{
            limit_except GET {{ deny all; }}
            proxy_pass http://rasa;
        }}

        location ~ ^/conversations/[^/]+/tracker/events$ {{
            limit_except POST {{ deny all; }}
            client_max_body_size 64k;
            proxy_pass http://rasa;
        }}

        location = /model/parse {{
            client_max_body_size 1m;
            proxy_pass http://rasa;
        }}

        location / {{
            return 404;
        }}
    }}
{web_server}}}
"""


@dataclass
class ScaledStack(Stack):
    """2 (or more) Rasa servers and action servers behind nginx, on fresh PostgreSQL databases.

    Like :class:`Stack`: ``start()``/``stop()`` or a ``with`` block, ``rasa_url`` (here
    the load balancer), ``processes`` (name -> Popen: ``rasa-1``, ``actions-1``,
    ``nginx``, ... for per-process measurements) and logs in ``var_dir``, which
    ``start()`` sets to ``run_dir`` or a new temporary directory (removed on stop
    unless ``keep_logs`` or start-up failed).
    """

    rasa_ports: tuple[int, ...] = (5805, 5806)
    action_ports: tuple[int, ...] = (5855, 5856)
    proxy_port: int = 5880
    #: The web app talks to Rasa through nginx; None leaves it out.
    web_port: int | None = None
    #: Several web apps behind nginx's public port ``web_proxy_port`` (instead of ``web_port``).
    web_ports: tuple[int, ...] = ()
    web_proxy_port: int = 5881
    run_dir: Path | None = None
    keep_logs: bool = False
    settings: Settings = field(default_factory=Settings.from_env)
    #: Set by start(): this run's database names and Redis key prefix.
    tracker_db: str = field(default="", init=False)
    request_db: str = field(default="", init=False)
    redis_key_prefix: str = field(default="", init=False)
    postgres: Postgres = field(init=False, repr=False)
    redis: Redis = field(init=False, repr=False)
    #: Set by start(): seconds from the start until each stage was healthy (for reports).
    timings: dict[str, float] = field(default_factory=dict, init=False)
    _owns_dir: bool = field(default=False, init=False, repr=False)
    _started: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.rasa_ports) < 1 or len(self.action_ports) < 1:
            raise ValueError("need at least one Rasa server and one action server")
        # Stack's single-server fields point at the load balancer, so code written for a
        # Stack (stack.rasa_port, stack.rasa_url) talks to the whole scaled set-up.
        self.rasa_port = self.proxy_port
        self.action_port = self.proxy_port
        self.postgres = Postgres.from_url(self.settings.scaleout_postgres_url)
        self.redis = Redis.from_url(self.settings.scaleout_redis_url)

    # ------------------------------------------------------------------ addresses

    @property
    def rasa_url(self) -> str:
        """The load balancer in front of the Rasa servers."""
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def action_url(self) -> str:
        """The load balancer's route to the action servers (Rasa appends /webhook)."""
        return f"http://127.0.0.1:{self.proxy_port}/actions"

    @property
    def web_url(self) -> str | None:
        """The web app: nginx in front of ``web_ports``, or the one on ``web_port``."""
        if self.web_ports:
            return f"http://127.0.0.1:{self.web_proxy_port}"
        return super().web_url

    @property
    def rasa_urls(self) -> list[str]:
        """Each Rasa server directly, bypassing nginx."""
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    @property
    def action_urls(self) -> list[str]:
        """Each action server directly."""
        return [f"http://127.0.0.1:{port}" for port in self.action_ports]

    @property
    def request_db_url(self) -> str:
        """The request store's SQLAlchemy URL (what the action servers get as BOT_DATABASE_URL)."""
        return self.postgres.sqlalchemy_url(self.request_db)

    @property
    def nginx_access_log(self) -> Path:
        """nginx's access log: one line per request with ``upstream=<address>``."""
        return self.var_dir / "nginx-access.log"

    def health_urls(self) -> dict[str, str]:
        """Every Rasa and action server directly, nginx, and the web app if started.

        Only the running ones: start() waits for each stage before starting the next.
        """
        urls = {f"actions-{i}": f"{url}/health" for i, url in enumerate(self.action_urls, 1)}
        token = self._env().get("BOT_RASA_TOKEN", "")
        urls.update({f"rasa-{i}": api_url(url, "/status", token) for i, url in enumerate(self.rasa_urls, 1)})
        urls["nginx"] = f"{self.rasa_url}/nginx-health"
        urls.update({f"web-{i}": f"http://127.0.0.1:{port}/healthz" for i, port in enumerate(self.web_ports, 1)})
        if self.web_port:
            urls["web"] = f"{self.web_url}/healthz"
        return {name: url for name, url in urls.items() if name in self.processes}

    def _wait_healthy_by(self, deadline: float, stage: str) -> None:
        """Wait until every component started so far is healthy (the ones already up answer at once)."""
        self.wait_healthy(max(1.0, deadline - time.monotonic()))
        self.timings[stage] = round(time.monotonic() - self._started, 1)

    # ------------------------------------------------------------------ lifecycle

    def _endpoint_env(self) -> dict[str, str]:
        """The values of deploy/endpoints.scaled.yml's placeholders for this run."""
        pg, redis = self.postgres, self.redis
        return {
            "DB_HOST": pg.host, "DB_PORT": str(pg.port), "DB_NAME": self.tracker_db,
            "DB_USER": pg.user, "DB_PASSWORD": pg.password,
            "REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_DB": str(redis.db),
            "REDIS_PASSWORD": redis.password, "REDIS_KEY_PREFIX": self.redis_key_prefix,
            "ACTION_SERVER_URL": self.action_url,
            "BOT_ACTION_SERVER_TOKEN": os.environ.get("BOT_ACTION_SERVER_TOKEN", ""),
        }

    def _prepare(self) -> None:
        """Check the prerequisites, create the databases and the nginx configuration."""
        if not self.model.is_file():
            raise StackError(f"no trained Rasa model at {self.model}: run `make train`")
        nginx = find_nginx()
        if not nginx:
            raise StackError(f"nginx not found: {NGINX_HINT}")
        # A port someone else holds would answer our health checks for a server that
        # never started; refuse to start instead.
        ports = [*self.rasa_ports, *self.action_ports, self.proxy_port, *([self.web_port] if self.web_port else [])]
        ports += [*self.web_ports, self.web_proxy_port] if self.web_ports else []
        busy = [port for port in ports if not _port_free(port)]
        if busy:
            raise StackError(f"ports already in use on 127.0.0.1: {busy}")
        try:
            self.redis.command("PING")
        except OSError as exc:
            raise StackError(f"Redis at {self.redis.host}:{self.redis.port} is unreachable: {exc}") from exc
        run_id = uuid.uuid4().hex[:10]
        try:
            admin = self.postgres.connect()
        except Exception as exc:  # psycopg2.OperationalError, imported lazily
            raise StackError(f"PostgreSQL at {self.postgres.host}:{self.postgres.port} is unreachable: {exc}") from exc
        # (no `with admin`: psycopg2 would open a transaction, where CREATE DATABASE fails)
        try:
            with admin.cursor() as cursor:
                for attr, kind in (("tracker_db", "tracker"), ("request_db", "requests")):
                    name = f"scaleout_{kind}_{run_id}"
                    cursor.execute(f'CREATE DATABASE "{name}"')
                    setattr(self, attr, name)
        finally:
            admin.close()
        # The request store's tables (with the live chats' and agent sessions') exist before
        # the servers start, so two of them starting at once do not race to create them.
        from bot.live import LiveStore
        from bot.requests import RequestStore
        from bot.web.agent_sessions import metadata as agent_session_tables

        store = RequestStore(self.request_db_url)
        try:
            store.create_schema()
            LiveStore(store.engine).create_schema()  # the web apps' tables too
            agent_session_tables.create_all(store.engine)
        finally:
            store.close()
        self.redis_key_prefix = f"scaleout{run_id}"
        self.env = {
            **self.env,
            **self._endpoint_env(),
            "BOT_DATABASE_URL": self.request_db_url,
            "RASA_TELEMETRY_ENABLED": "false",
            # The web app's admission gate: as many calls at once per Rasa server as on one.
            "BOT_RASA_MAX_IN_FLIGHT": str(Settings.rasa_max_in_flight * len(self.rasa_ports)),
        }
        if self.web_ports:  # behind nginx: believe its X-Forwarded-For, as deploy/ does
            self.env.setdefault("BOT_TRUSTED_PROXIES", "127.0.0.1")
        self.endpoints = ENDPOINTS
        (self.var_dir / "nginx-tmp").mkdir(exist_ok=True)
        conf = self.var_dir / "nginx.conf"
        conf.write_text(
            render_nginx_conf(
                self.var_dir,
                listen=f"127.0.0.1:{self.proxy_port}",
                rasa=[f"127.0.0.1:{p}" for p in self.rasa_ports],
                actions=[f"127.0.0.1:{p}" for p in self.action_ports],
                web_listen=f"127.0.0.1:{self.web_proxy_port}" if self.web_ports else None,
                web=[f"127.0.0.1:{p}" for p in self.web_ports],
            )
        )
        self.commands["nginx"] = [nginx, "-p", str(self.var_dir), "-c", str(conf)]

    def start(self, timeout: float = 480.0) -> ScaledStack:
        """Create the databases, start every process and wait until all are healthy.

        Two Rasa servers loading their model at once on two busy cores took 90-240 s here.
        """
        if self.run_dir:
            self.var_dir = self.run_dir
            self.var_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.var_dir = Path(tempfile.mkdtemp(prefix="scaleout-"))
            self._owns_dir = True
        self._started = time.monotonic()
        deadline = self._started + timeout
        self.timings = {}
        ensure_secrets()
        try:
            self._prepare()
            # One action server at a time: rasa_sdk's Sanic kills a worker that has not
            # loaded (model and index) within a fixed 30 s, which several servers
            # loading at once on two cores can exceed. The Rasa servers have no such
            # limit and load together afterwards.
            for i, port in enumerate(self.action_ports, 1):
                self._spawn(f"actions-{i}", action_server_command(port))
                self._wait_healthy_by(deadline, f"actions-{i}")
            for i, port in enumerate(self.rasa_ports, 1):
                self._spawn(f"rasa-{i}", rasa_command(port, self.model, self.endpoints))
            self._spawn("nginx", self.commands["nginx"])
            if self.web_port:
                self._spawn("web", [str(PYTHON), "-m", "bot.web", "--port", str(self.web_port)])
            for i, port in enumerate(self.web_ports, 1):
                self._spawn(f"web-{i}", [str(PYTHON), "-m", "bot.web", "--port", str(port)])
            self._wait_healthy_by(deadline, "all")
        except BaseException:
            self.keep_logs = True  # the error message points at them
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process, drop this run's databases, delete its Redis keys."""
        super().stop()
        if self.tracker_db or self.request_db:
            try:
                admin = self.postgres.connect()
                with admin.cursor() as cursor:
                    for name in (self.tracker_db, self.request_db):
                        if name:
                            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
            except Exception as exc:  # noqa: BLE001 - stopping must go on; say what is left
                print(f"scaleout: could not drop {self.tracker_db}, {self.request_db}: {exc}", file=sys.stderr)
            self.tracker_db = self.request_db = ""
        if self.redis_key_prefix:
            try:
                self.redis.delete_prefix(self.redis_key_prefix)
            except OSError:
                pass  # locks are deleted after every turn; only a killed server leaves one
            self.redis_key_prefix = ""
        if self._owns_dir and not self.keep_logs:
            shutil.rmtree(self.var_dir, ignore_errors=True)
            self._owns_dir = False

    def __enter__(self) -> ScaledStack:
        return self.start()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the servers do: only a listening socket, not old connections, blocks the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_scaled(**kwargs: object) -> ScaledStack:
    """Start a scaled-out stack (for the benchmark); call ``.stop()`` on it when done.

    Keyword arguments are :class:`ScaledStack` fields, e.g. other ports.
    """
    return ScaledStack(**kwargs).start()  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.devtools.scaleout`: run the scaled-out set-up in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--web-port", type=int, default=None, help="also start the web app on this port")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run directory after stopping")
    args = parser.parse_args(argv)
    stack = ScaledStack(web_port=args.web_port, keep_logs=args.keep_logs)
    print(f"starting {len(stack.action_ports)} action servers {stack.action_ports}, "
          f"{len(stack.rasa_ports)} Rasa servers {stack.rasa_ports} and nginx ({stack.proxy_port})")
    started = time.monotonic()
    try:
        stack.start()
    except StackError as exc:
        print(f"scaleout: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # start() has stopped what it started
        return 130
    print(f"ready after {time.monotonic() - started:.0f} s:")
    print(f"  Rasa REST (balanced)  {stack.rasa_url}/webhooks/rest/webhook")
    print(f"  action servers        {stack.action_url}/webhook")
    if stack.web_url:
        print(f"  web app               {stack.web_url}")
    print(f"  tracker store         postgresql {stack.tracker_db}; requests {stack.request_db}")
    print(f"  lock store            redis db {stack.redis.db}, key prefix {stack.redis_key_prefix}")
    print(f"logs in {stack.var_dir}; Ctrl-C stops everything and drops the databases")
    return run_until_stopped(stack, "scaleout")


if __name__ == "__main__":
    sys.exit(main())
