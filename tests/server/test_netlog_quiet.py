"""Connections that close without logging in are counted per address, one network-log row each per flush."""

from __future__ import annotations

import json
from typing import Any

from server import netlog
from server.storage.base import NetlogRow


class FakeStore:
    def __init__(self) -> None:
        self.rows: list[NetlogRow] = []

    def log_network(self, row: NetlogRow, done: Any) -> None:
        self.rows.append(row)


class App:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.quiet_connections = netlog.QuietConnections()

    def now_ms(self) -> int:
        return 99_000


def test_counted_per_address_and_written_once_per_flush() -> None:
    app = App()
    quiet = app.quiet_connections
    counted = [(10, 20, "192.0.2.1"), (5, 30, "192.0.2.1"), (12, 15, "192.0.2.2"), (40, 41, "192.0.2.1")]
    for opened, closed, ip in counted:
        quiet.add(ip, opened, closed)
    quiet.flush(app)  # type: ignore[arg-type]
    got = {r.ip: (r.kind, r.ts, r.user_id, json.loads(r.detail)) for r in app.store.rows}
    assert got == {
        "192.0.2.1": ("unauthenticated", 41, None, {"connections": 3, "first_opened": 5, "last_closed": 41}),
        "192.0.2.2": ("unauthenticated", 15, None, {"connections": 1, "first_opened": 12, "last_closed": 15}),
    }
    quiet.flush(app)  # type: ignore[arg-type]
    assert len(app.store.rows) == 2  # nothing new counted: nothing written
    quiet.add("192.0.2.2", 50, 60)
    quiet.flush(app)  # type: ignore[arg-type]
    assert [(r.ip, json.loads(r.detail)["connections"]) for r in app.store.rows[2:]] == [("192.0.2.2", 1)]
