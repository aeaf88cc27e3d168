from __future__ import annotations

import pytest

from tests import pgtools
from tests.e2e.harness import ServerProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    """Every test that starts a server runs on both storage backends: ids ``[sqlite]``, ``[postgresql]``
    (a module whose tests no request takes to the store may say SQLite only, by a ``backend`` of its own).

    The PostgreSQL variant gets a fresh database on the machine's server (see tests/pgtools.py)
    and skips, with the reason, only when that server is unreachable.
    """
    if request.param == "postgresql":
        reason = pgtools.unavailable()
        if reason is not None:
            pytest.skip(reason)
    return str(request.param)


async def stop(srv: ServerProcess) -> None:
    """Stop the server while the test's event loop still runs: the clients the test left open
    answer its close frames at once. With the loop stopped, the server waited its whole
    ``close_timeout`` (2 s) for each of them, in every test."""
    await srv.cleaned_up()
    print("".join(srv.output))  # shown by pytest when the test failed


@pytest.fixture
async def server(tmp_path, backend):
    srv = ServerProcess(tmp_path, backend=backend).start()
    yield srv
    await stop(srv)


@pytest.fixture
async def make_server(tmp_path, backend):
    """Start a server with extra config text; stopped at teardown."""
    started: list[ServerProcess] = []

    def make(extra: str = "", subdir: str = "srv", **fmt) -> ServerProcess:
        d = tmp_path / subdir
        d.mkdir(exist_ok=True)
        srv = ServerProcess(d, extra, backend=backend, **fmt)
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        await stop(srv)


@pytest.fixture
async def started():
    """Start servers built by the test (``started(ServerProcess(...))``); stopped at teardown."""
    servers: list[ServerProcess] = []

    def start(srv: ServerProcess) -> ServerProcess:
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        await stop(srv)
