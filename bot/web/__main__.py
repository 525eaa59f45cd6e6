"""``python -m bot.web [--host 127.0.0.1] [--port 8080]``: run the web app."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from bot.knowledge.index import IndexMismatchError
from bot.privacy.masking import install_log_masking
from bot.services import check_index
from bot.settings import Settings
from bot.web.app import AccessLog, create_app
from bot.web.auth import AccountError


def main(argv: list[str] | None = None) -> int:
    """Parse the options, check the index, serve until interrupted."""
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m bot.web", description=__doc__)
    parser.add_argument("--host", default=settings.web_host, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.web_port, help="port (default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking(["aiohttp.access", "aiohttp.server", "aiohttp.web", "bot"])
    try:
        check_index(settings)
        app = create_app(settings)
    except (IndexMismatchError, AccountError) as exc:
        print(f"web: {exc}", file=sys.stderr)
        return 1
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        shutdown_timeout=5,
        access_log_class=AccessLog,
        print=lambda line: print(line, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
