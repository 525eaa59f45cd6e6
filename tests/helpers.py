"""Helpers the test modules share that are not fixtures (those are in conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.scaleout import Postgres
from bot.devtools.stack import MODEL, Stack, StackError
from bot.settings import Settings


def port(base: int) -> int:
    """A test's fixed port moved by ``TEST_PORT_OFFSET``, so that two checkouts on one
    machine can run their server tests at the same time."""
    return base + int(os.environ.get("TEST_PORT_OFFSET", "0"))


@contextmanager
def started_stack(
    var_dir: Path,
    env: Mapping[str, str],
    rasa_port: int,
    action_port: int,
    web_port: int | None = None,
    stack_class: type[Stack] = Stack,
) -> Iterator[Stack]:
    """The real stack (Rasa, action server and, with ``web_port``, the web app) on the
    given ports moved by :func:`port`, stopped on exit. Fails the test, rather than
    erroring, when there is no trained model or a server does not come up."""
    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make test does)")
    stack = stack_class(
        rasa_port=port(rasa_port),
        action_port=port(action_port),
        web_port=None if web_port is None else port(web_port),
        var_dir=var_dir,
        env=dict(env),
    )
    try:
        stack.start()
    except StackError as exc:  # start() has stopped what it started
        pytest.fail(f"the stack did not start: {exc}")
    try:
        yield stack
    finally:
        stack.stop()


def postgres_server() -> Postgres:
    """The local PostgreSQL server the tests create their databases on
    (``BOT_SCALEOUT_POSTGRES_URL``, by default postgres@127.0.0.1:5432)."""
    return Postgres.from_url(Settings.from_env().scaleout_postgres_url)


def postgres_admin() -> Any:
    """An autocommit psycopg2 connection to that server, for CREATE and DROP DATABASE;
    skips the calling test when the server is unreachable."""
    import psycopg2

    server = postgres_server()
    try:
        return server.connect()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL server at {server.host}:{server.port} is unreachable: {exc}")
