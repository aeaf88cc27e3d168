"""A claim of docs/retention.md this session's change made untrue (rv-cluster2): it said the network-log
writes are "never awaited, so no connection or login waits for its log line", while since 03508bde a
login keeps its ``login_ok`` row before it answers, and the rows of what an answer says was done
(netlog.ANSWERED) hold the answer until they are stored (tests/e2e/test_durable_records.py shows a
login unanswered while its row's insert is held)."""

from __future__ import annotations

from pathlib import Path

from server import netlog

ROOT = Path(__file__).resolve().parents[1]


def test_retention_md_does_not_say_that_no_login_waits_for_its_log_line() -> None:
    text = " ".join((ROOT / "docs" / "retention.md").read_text(encoding="utf-8").split())
    assert "no connection or login waits for its log line" not in text
    for kind in sorted(netlog.ANSWERED | {"login_ok", "auth_ok"}):
        assert f"`{kind}`" in text, kind
