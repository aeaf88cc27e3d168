from __future__ import annotations

import pytest

from tests.e2e.harness import ServerProcess


@pytest.fixture
def server(tmp_path):
    srv = ServerProcess(tmp_path).start()
    yield srv
    srv.stop()
    print("".join(srv.output))  # shown by pytest when the test failed


@pytest.fixture
def make_server(tmp_path):
    """Start a server with extra config text; stopped at teardown."""
    started: list[ServerProcess] = []

    def make(extra: str = "", subdir: str = "srv", **fmt) -> ServerProcess:
        d = tmp_path / subdir
        d.mkdir(exist_ok=True)
        srv = ServerProcess(d, extra, **fmt).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
        print("".join(srv.output))
