"""A report's id and a review item's id are never given to another. On SQLite both were INTEGER
PRIMARY KEYs without AUTOINCREMENT: once the newest report (or item) was purged, the next one took
its id, and what names the old one for good (a sanction's ``report_id``, the enforcement record's
``report_id`` and ``item_id``) named the new one (schema 33 rebuilds both tables with AUTOINCREMENT;
PostgreSQL's ids come from identity sequences)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.storage import changes as ch
from tests.server.test_store_public_accounts import _people
from tests.server.upgrade_backend import Backend, backend

OLD, YOUNG = 10, 10**12  # created and decided at OLD: the purge below (cutoff 13) takes them


def _report(ts: int) -> ch.InsertReport:
    return ch.InsertReport("u0", "user", None, None, "u1", "spam", "", ts)


async def _queued(store: Any, ts: int) -> int:
    """A review item (a display name the word lists flagged) queued at ``ts``: its id."""
    [item_id] = await store.apply(ch.QueueShownText("display_name", None, "u1", "flag", "porn", "v", "vpn girl",
                                                    "vpn girl", ts))
    return int(item_id)


async def _purged_newest(store: Any) -> tuple[int, int]:
    """A report and a review item, each the newest, decided and purged: their ids."""
    [(report_id, _)] = await store.apply(_report(OLD))
    await store.apply(ch.ResolveReport(report_id, "rejected", "x", 12, "op"))
    item_id = await _queued(store, OLD)
    await store.apply(ch.DecideReview(item_id, "keep", "x", 12))
    assert await store.apply(ch.Purge("reports", 14, 13, 1000)) == [1]
    assert await store.apply(ch.Purge("review_queue", 14, 13, 1000)) == [1]
    return int(report_id), int(item_id)


async def test_a_purged_newest_reports_and_review_items_id_is_not_given_again(open_store: Any) -> None:
    store = await open_store()
    await _people(store, 2)
    report_id, item_id = await _purged_newest(store)
    [(fresh_report, duplicate)] = await store.apply(_report(YOUNG))
    fresh_item = await _queued(store, YOUNG)
    assert not duplicate and fresh_report > report_id and fresh_item > item_id


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> AsyncIterator[Backend]:
    """SQLite before schema 33 (PostgreSQL has nothing to upgrade: its ids were never reused)."""

    class Param:
        param = "sqlite"

    async for opened in backend(Param(), tmp_path, (33, 10**9)):  # type: ignore[arg-type]
        yield opened


async def test_the_upgrade_keeps_every_row_and_never_gives_an_id_purged_before_it(sqlite_db: Backend) -> None:
    """Schema 33 keeps each report and item with its id and indexes, and starts new ids above every id
    a row still names: the purged newest ones, and those only the record or a sanction names."""
    store = await sqlite_db.open(upgraded=False)
    await _people(store, 2)
    [(kept_report, _)] = await store.apply(_report(YOUNG))
    kept_item = await _queued(store, YOUNG)
    report_id, item_id = await _purged_newest(store)
    # Ids above those only the record and a sanction name (rows purged long ago, their entries kept).
    await store.apply(ch.AddRecord(ch.Audit(12, "operator", "op", "resolve_report", None, "u1", "x",
                                            {"report_id": str(report_id + 5)})),
                      ch.AddRecord(ch.Audit(12, "operator", "op", "review_keep", None, "u1", "x",
                                            {"item_id": item_id + 7})))
    await store.close()
    sqlite_db.stores.remove(store)
    before = (sqlite_db.sql("SELECT * FROM reports ORDER BY report_id"),
              sqlite_db.sql("SELECT * FROM review_queue ORDER BY item_id"))
    store = await sqlite_db.open(upgraded=True)
    assert (sqlite_db.sql("SELECT * FROM reports ORDER BY report_id"),
            sqlite_db.sql("SELECT * FROM review_queue ORDER BY item_id")) == before
    for table, indexes in (("reports", {"reports_status", "reports_reporter"}),
                           ("review_queue", {"review_queue_status", "review_queue_released", "review_queue_message",
                                            "review_queue_open", "review_queue_held"})):
        [(sql,)] = sqlite_db.sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table)
        assert "AUTOINCREMENT" in sql
        assert {r[0] for r in sqlite_db.sql("SELECT name FROM sqlite_master WHERE tbl_name = ? AND type = 'index'",
                                             table)} == indexes
    [(fresh_report, _)] = await store.apply(_report(YOUNG + 1))
    fresh_item = await _queued(store, YOUNG + 1)
    assert fresh_report > report_id + 5 > kept_report and fresh_item > item_id + 7 > kept_item
    assert json.loads(sqlite_db.sql("SELECT detail FROM audit WHERE action = 'review_keep'")[0][0]) == {
        "item_id": item_id + 7}
