"""Start the Rasa server with its HTTP API closed by a token from the environment.

Rasa's HTTP API (``--enable-api``) reads and writes any conversation's tracker: a
member's slots (email, phone, member id) and, through ``/execute`` and
``/tracker/events``, requests that never went through the forms. Rasa protects it with
``--auth-token`` (every API call must carry ``?token=``), but a token on the command line
is visible to every user of the host in the process list. This launcher passes
``BOT_RASA_TOKEN`` to Rasa inside the process instead, and refuses to start the API
without one. The channels (``/webhooks/...``) are not covered by the token: they are how
members talk to the assistant.

Run with Rasa's own arguments: ``python -m bot.rasa_plugins.server run --enable-api ...``
(in ``.venv-rasa``, with the repository root on PYTHONPATH).
"""

from __future__ import annotations

import sys
from urllib.parse import urlencode

from bot.settings import Settings


def api_url(rasa_url: str, path: str, token: str, **params: str) -> str:
    """The URL of a Rasa HTTP API call (``path`` such as ``/conversations/<id>/tracker``),
    with the API token when one is set. The channels (``/webhooks/...``) need none."""
    query = {**params, **({"token": token} if token else {})}
    return rasa_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")


def rasa_arguments(argv: list[str], token: str) -> list[str]:
    """Rasa's command line with the API token added when the API is enabled."""
    return [*argv, "--auth-token", token] if "--enable-api" in argv else list(argv)


def main(argv: list[str] | None = None) -> int:
    """Run ``rasa`` with ``argv``; with ``--enable-api`` only when a token is configured."""
    argv = list(sys.argv[1:] if argv is None else argv)
    token = Settings.from_env().rasa_token
    if "--enable-api" in argv and not token:
        print("Rasa not started: --enable-api needs BOT_RASA_TOKEN (make run writes one)", file=sys.stderr)
        return 2
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *rasa_arguments(argv, token)]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
