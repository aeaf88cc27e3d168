"""Settings for the whole test session (loaded before any test module, in every xdist worker)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

PYCACHE = Path(tempfile.gettempdir()) / "qunguan-test-pycache"


def _bytecode_for_child_processes() -> None:
    """The tests start well over a thousand Python processes (``python -m server serve`` and ``admin``,
    the terminal client, the benchmark). Where ``PYTHONDONTWRITEBYTECODE`` is set, as on this project's
    shared machines, each of them compiled the project's hundred-odd modules from source again: a third
    of a server's start-up. The children inherit this environment: they now write and reuse their
    bytecode in a cache directory outside the source tree (``PYTHONPYCACHEPREFIX``), so the tree stays
    as clean as that setting keeps it. A prefix already chosen is kept."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", ""):
        os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))


_bytecode_for_child_processes()


def _hypothesis_without_deadlines() -> None:
    """Hypothesis fails an example that takes over 200 ms as "flaky" when it passes on its rerun. The
    suite runs CPU-bound on two cores beside server processes and a browser, where a parser's example
    is sometimes that slow for no fault of the parser: the property tests here check what a parser
    answers, not how fast (the benchmark measures speed)."""
    from hypothesis import settings

    settings.register_profile("qunguan", deadline=None)
    settings.load_profile("qunguan")


_hypothesis_without_deadlines()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a test that does not use the browser, close the one the browser tests before it left open
    (tests/web/browser.py: shared_browser): Playwright's sync API holds this thread's event loop as
    running, and the asyncio tests and ``asyncio.run`` need the thread's loop for their own."""
    web = sys.modules.get("tests.web.browser")
    if web is not None and not set(web.BROWSER_FIXTURES) & set(getattr(item, "fixturenames", ())):
        web.close_shared_browser()


def pytest_sessionfinish(session: pytest.Session) -> None:
    web = sys.modules.get("tests.web.browser")
    if web is not None:
        web.close_shared_browser()
