"""A server process for the terminal client's end-to-end tests, started without stalling the run."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.harness import ServerProcess


def start_or_fail(srv: ServerProcess, timeout: float = 30.0) -> ServerProcess:
    """``srv`` started, or the test failed with its output. ``start()`` blocks reading the server's
    output: bounded here, so a server that hangs before it listens fails the test instead."""
    failed: list[BaseException] = []

    def start() -> None:
        try:
            srv.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    starter.join(timeout)
    if starter.is_alive() or failed:
        srv.cleanup()
        pytest.fail(f"server did not start: {failed[0] if failed else 'timeout'}\n" + "".join(srv.output))
    return srv
