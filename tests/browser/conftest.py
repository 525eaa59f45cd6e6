"""The one Chromium every browser test module shares.

Playwright's sync API runs an event loop in the main thread from its start to its stop,
so a pytest run may start it once: a session fixture here, not one per module (a
fixture imported into several modules is registered, and started, once per module).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()
