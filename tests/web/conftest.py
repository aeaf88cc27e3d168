"""Browser tests: one headless Debian Chromium per test process, shared by the browser tests that
run one after another, a fresh context (own storage) per user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ServerProcess
from tests.web.browser import CHROMIUM, FULL_CHROMIUM, Background, give_back_pages, launch_full_browser, shared_browser
from tests.web.pool import track_changes

playwright_api = pytest.importorskip("playwright.sync_api")
track_changes()


@pytest.fixture
def browser() -> object:
    """The process's shared browser (tests/web/browser.py: shared_browser), launched if none is open."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium and chromium-headless-shell)")
    return shared_browser()


@pytest.fixture
def full_browser() -> Iterator[object]:
    """Debian's full Chromium (/usr/bin/chromium), for the tests that run in the browser people use."""
    if not Path(FULL_CHROMIUM).exists():
        pytest.skip(f"{FULL_CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    b = launch_full_browser()
    yield b
    b.close()


@pytest.fixture(autouse=True)
def _pages_closed_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every page a test opened is closed when it ends, or given back to the pool (tests/web/pool.py)
    for the next test, at ``about:blank``. They stayed open, for the module's whole run, beside the
    next tests' pages, each still running its timers and retrying the connection to its stopped
    server: about a tenth of a core for 16 of them (measured on 2026-12-05)."""
    yield
    if "browser" in request.fixturenames:
        give_back_pages()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path).start()
    yield srv
    srv.stop()
    print("".join(srv.output))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on each storage backend (``[sqlite]``, ``[postgresql]``), for the browser tests whose
    outcome rests on what the server stored (read state, bans); the PostgreSQL variant skips, with the
    reason, when the machine's PostgreSQL is unreachable."""
    if request.param == "postgresql":
        from tests import pgtools

        reason = pgtools.unavailable()
        if reason is not None:
            pytest.skip(reason)
    srv = ServerProcess(tmp_path, backend=str(request.param)).start()
    yield srv
    srv.cleanup()
    print("".join(srv.output))


REVIEW_CONFIG = '[[content.lists]]\ncategory = "rumour"\npath = "review.txt"\naction = "review"\n'


@pytest.fixture
def review_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose word lists hold 集会 for the platform's review."""
    (tmp_path / "review.txt").write_text("集会\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, REVIEW_CONFIG).start()
    yield srv
    srv.stop()
    print("".join(srv.output))


@pytest.fixture
def bg() -> Iterator[Background]:
    """A loop for Python clients that act beside the pages for the whole test."""
    b = Background()
    yield b
    b.close()
