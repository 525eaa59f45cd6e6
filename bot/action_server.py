"""The action server: rasa-sdk's own, bound to loopback and closed to callers without the secret.

rasa-sdk's server runs any action with any slots for whoever can reach ``/webhook``: a
caller could store a request that never went through the forms' validation. So every
call except ``/health`` must carry ``Authorization: Bearer <BOT_ACTION_SERVER_TOKEN>``,
which Rasa sends from ``endpoints.yml`` (``action_endpoint.headers``); a call without it
gets 401. The server listens on ``BOT_ACTION_SERVER_HOST`` (127.0.0.1 unless a
scaled-out set-up puts Rasa on other hosts).

Run it as ``python -m bot.action_server --actions actions --port 5055`` (rasa-sdk's own
arguments).
"""

from __future__ import annotations

import hmac
import logging
import sys
from functools import partial

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME, DEFAULT_KEEP_ALIVE_TIMEOUT
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser
from rasa_sdk.executor import ActionExecutor
from sanic import Request, Sanic, response
from sanic.worker.loader import AppLoader

from bot.settings import Settings

#: Paths anyone may call: the health check says nothing about members.
OPEN_PATHS = frozenset({"/health"})


def guarded_app(executor: ActionExecutor, cors_origins: list[str] | None, endpoints: str, token: str) -> Sanic:
    """rasa-sdk's app with the shared-secret check in front of every path but /health.

    Module-level, since Sanic's AppLoader builds the app again in each worker.
    """
    app = create_app_for_serve(
        executor, cors_origins=cors_origins or [], endpoints=endpoints, keep_alive_timeout=DEFAULT_KEEP_ALIVE_TIMEOUT
    )
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def require_secret(request: Request) -> response.HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return None
        return response.json(
            {"error": "unauthorized", "message": "This server only answers the assistant's Rasa server."}, status=401
        )

    return app


def main(argv: list[str] | None = None) -> int:
    """Start the action server (rasa-sdk's arguments), refusing to start without a secret."""
    args = create_argument_parser().parse_args(argv)
    settings = Settings.from_env()
    if not settings.action_server_token:
        print("action server not started: set BOT_ACTION_SERVER_TOKEN (make run writes one)", file=sys.stderr)
        return 2
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    loader = AppLoader(
        factory=partial(guarded_app, executor, args.cors, args.endpoints, settings.action_server_token)
    )
    app = loader.load()
    app.prepare(host=settings.action_server_host, port=args.port, workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
