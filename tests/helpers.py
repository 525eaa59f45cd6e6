"""Helpers the test modules share that are not fixtures (those are in conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devtools.scaleout import Postgres
from bot.settings import Settings


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
