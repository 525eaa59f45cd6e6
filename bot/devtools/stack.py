"""Start and stop the running assistant: action server, Rasa server (and web app).

One implementation serves `make run` (foreground, Ctrl-C stops everything), the tests
and the story runner (a private stack on other ports with its own databases), and the
benchmarks. Each process is started from its own environment: Rasa from .venv-rasa,
the action server and web app from .venv.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.rasa_plugins.server import api_url
from bot.settings import ROOT


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600), or make it so.

    Rasa's SQLite tracker store holds members' messages and slots; it creates its file
    with the process umask (0644) unless the file already exists."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)

RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
#: The tracker store type endpoints.yml names (the embedded defaults: one Rasa server,
#: SQLite); the stacks started here use it too, with their own database file.
TRACKER_STORE_TYPE = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))["tracker_store"]["type"]
PYTHON = ROOT / ".venv" / "bin" / "python"
MODEL = ROOT / "models" / "assistant.tar.gz"
#: Rasa's logging config: masks personal data in every log line (bot/privacy/logmask.py, which
#: Rasa imports from the repository root, hence PYTHONPATH in :meth:`Stack._env`).
RASA_LOGGING = ROOT / "rasa-logging.yml"


#: The secrets the servers check (bot/settings.py says what each protects).
SECRETS = ("BOT_ACTION_SERVER_TOKEN", "BOT_RASA_TOKEN", "BOT_SESSION_SECRET", "BOT_MEMBER_KEY_SECRET")


def ensure_secrets(env: MutableMapping[str, str] | None = None) -> None:
    """Give every secret of :data:`SECRETS` that ``env`` (default: this process's
    environment) lacks a random value. The servers of a stack inherit them and the
    tools and tests in this process (story runner, benchmarks) read the same ones
    through Settings; `make run` keeps its own in var/secrets.env."""
    env = os.environ if env is None else env
    for name in SECRETS:
        if not env.get(name):
            env[name] = secrets.token_hex(32)


def rasa_command(port: int, model: Path, endpoints: Path, *extra: str) -> list[str]:
    """How a Rasa server of ours starts: with its API behind BOT_RASA_TOKEN
    (bot/rasa_plugins/server.py), on loopback unless ``extra`` says otherwise, our
    channels and masked logging."""
    return [
        str(RASA_PYTHON), "-m", "bot.rasa_plugins.server", "run", "--enable-api", "--port", str(port),
        "--model", str(model), "--endpoints", str(endpoints), "--credentials", str(ROOT / "credentials.yml"),
        "--logging-config-file", str(RASA_LOGGING), *(extra or ("--interface", "127.0.0.1")),
    ]


def action_server_command(port: int) -> list[str]:
    """How an action server of ours starts (bot/action_server.py: the secret is checked)."""
    return [str(PYTHON), "-m", "bot.action_server", "--actions", "actions", "--port", str(port)]


#: What Rasa sends the action server with every call (endpoints.yml does the same).
ACTION_SERVER_HEADERS = '  headers:\n    Authorization: Bearer ${BOT_ACTION_SERVER_TOKEN}\n'


class StackError(RuntimeError):
    """A component did not start; the message names it and its log file."""


@dataclass
class Stack:
    """A set of running processes with their ports and logs."""

    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int | None = 8080
    var_dir: Path = ROOT / "var"
    env: dict[str, str] = field(default_factory=dict)
    endpoints: Path | None = None
    model: Path = MODEL
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: The command line each component was started with (for :meth:`restart`).
    commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        """Base URL of the Rasa server."""
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        """Base URL of the action server."""
        return f"http://127.0.0.1:{self.action_port}"

    @property
    def web_url(self) -> str | None:
        """Base URL of the web app, if it is part of this stack."""
        return f"http://127.0.0.1:{self.web_port}" if self.web_port else None

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # One TensorFlow thread per Rasa server: a turn's tensors are tiny, and on a
            # small machine shared with the action server's torch, thread pools only
            # wait for each other (measured by `make bench`: p95 162 -> 129 ms).
            "TF_INTRA_OP_PARALLELISM_THREADS": "1",
            "TF_INTER_OP_PARALLELISM_THREADS": "1",
            # Largest request body Rasa's Sanic accepts (413 above it; its default is
            # 100 MB). Our bodies are a message of at most a few KB; see bot/rasa_plugins/channels.py.
            "SANIC_REQUEST_MAX_SIZE": str(1024 * 1024),
            "BOT_RASA_URL": self.rasa_url,
            "BOT_ACTION_SERVER_URL": self.action_url,
            "BOT_VAR_DIR": str(self.var_dir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
            **self.env,
        }
        return env

    def _endpoints_file(self) -> Path:
        if self.endpoints:
            return self.endpoints
        path = self.var_dir / "endpoints.yml"
        path.write_text(
            f'action_endpoint:\n  url: "{self.action_url}/webhook"\n{ACTION_SERVER_HEADERS}'
            f"tracker_store:\n  type: {TRACKER_STORE_TYPE}\n  dialect: sqlite\n  db: {self.var_dir / 'tracker.db'}\n"
        )
        return path

    def _spawn(self, name: str, cmd: list[str]) -> None:
        self.commands[name] = cmd
        log = open(self.var_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.processes[name] = subprocess.Popen(
            cmd, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, timeout: float = 240.0) -> Stack:
        """Start every component and wait until all answer their health checks."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.model.is_file():
            raise StackError(f"no trained Rasa model at {self.model}: run `make train`")
        ensure_secrets()
        private_file(self.var_dir / "tracker.db")
        self._spawn("actions", action_server_command(self.action_port))
        self._spawn("rasa", rasa_command(self.rasa_port, self.model, self._endpoints_file()))
        if self.web_port:
            self._spawn("web", [str(PYTHON), "-m", "bot.web", "--port", str(self.web_port)])
        try:
            self.wait_healthy(timeout)
        except StackError:
            self.stop()
            raise
        return self

    def health_urls(self) -> dict[str, str]:
        """The URL each component answers 200 on when it is ready."""
        token = self._env().get("BOT_RASA_TOKEN", "")
        urls = {"actions": f"{self.action_url}/health", "rasa": api_url(self.rasa_url, "/status", token)}
        if self.web_url:
            urls["web"] = f"{self.web_url}/healthz"
        return urls

    def wait_healthy(self, timeout: float, only: list[str] | None = None) -> None:
        """Poll the health URLs (of ``only`` these components); fail early if a process exits."""
        deadline = time.monotonic() + timeout
        pending = {k: v for k, v in self.health_urls().items() if only is None or k in only}
        while pending:
            for name, url in list(pending.items()):
                proc = self.processes[name]
                if proc.poll() is not None:
                    raise StackError(f"{name} exited with code {proc.returncode}; see {self.var_dir / (name + '.log')}")
                try:
                    # Longer than the web app's own health check of Rasa (3 s), so a
                    # web app in front of a slow Rasa still counts as up.
                    with urllib.request.urlopen(url, timeout=5) as response:
                        if response.status == 200:
                            pending.pop(name)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                names = ", ".join(pending)
                raise StackError(f"{names} not healthy after {timeout:.0f} s; see the logs in {self.var_dir}")
            if pending:
                time.sleep(0.5)

    def kill(self, name: str) -> None:
        """Stop one component abruptly (SIGKILL), as a crash would; for fault tests."""
        proc = self.processes[name]
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def restart(self, name: str, timeout: float = 240.0) -> None:
        """Start a stopped component again with its original command and wait until healthy."""
        self.kill(name)
        self._spawn(name, self.commands[name])
        self.wait_healthy(timeout, only=[name])

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL) and their children."""
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        self.processes.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_until_stopped(stack: Stack, name: str) -> int:
    """Keep a started stack running in the foreground until Ctrl-C (or SIGTERM) or until
    one of its processes exits; then stop everything. Returns the exit code (0)."""
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping:
            for component, proc in stack.processes.items():
                if proc.poll() is not None:
                    code = proc.returncode
                    print(f"{name}: {component} stopped unexpectedly (code {code}); stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping…")
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.devtools.stack`: run the assistant in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--no-web", action="store_true", help="do not start the web app")
    args = parser.parse_args(argv)
    stack = Stack(web_port=None if args.no_web else 8080)
    web = "" if args.no_web else " and the web app (8080)"
    print(f"starting the action server (5055), the Rasa server (5005){web}")
    try:
        stack.start()
    except StackError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    print("ready:")
    print(f"  member chat    {stack.web_url or '(web app not started)'}")
    print(f"  agent console  {stack.web_url}/agent" if stack.web_url else "")
    print(f"  Rasa REST      {stack.rasa_url}/webhooks/rest/webhook")
    print(f"logs in {stack.var_dir}; Ctrl-C stops everything")
    return run_until_stopped(stack, "run")


if __name__ == "__main__":
    sys.exit(main())
