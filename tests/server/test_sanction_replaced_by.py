"""Which sanction replaced another is a column of its own (``replaced_by``; SQLite migration 25,
PostgreSQL 23), on both backends: the upgrade fills it for the rows a shorter suspension cut short
before the column existed, from their lift, and leaves NULL an operator's lift whose free-text reason
merely begins with the same words; and a new sanction that replaces others lifts them and names
itself in their row in its own transaction, or writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch
from tests.server.upgrade_backend import Backend, backend

# (id, kind, target_type, target_id, reason, actor, starts_at, lifted_at, lifted_by, lift_reason)
ROWS = [
    # a suspend-admin cut short by a shorter one (sanction 2)
    (1, "suspend_admin", "user", "u1", "abuse", "张执法", 1_000, 5_000, "张执法",
     "replaced by a shorter suspend-admin: shorter"),
    (2, "suspend_admin", "user", "u1", "shorter", "张执法", 5_000, None, None, None),
    # an operator's lift whose reason begins like a replacement's: no sanction started then
    (3, "suspend_group", "group", "800000001", "刷屏", "张执法", 1_000, 6_000, "张执法",
     "replaced by a shorter suspend-group: 我的话"),
    (4, "suspend_group", "group", "800000001", "我的话", "张执法", 7_000, None, None, None),
    # the same words, and a sanction of the group started that moment, but with another reason
    (5, "suspend_group", "group", "800000002", "刷屏", "张执法", 1_000, 8_000, "张执法",
     "replaced by a shorter suspend-group: 已整改"),
    (6, "suspend_group", "group", "800000002", "另一个理由", "张执法", 8_000, None, None, None),
    # a suspend-group cut short by a shorter one (sanction 8)
    (7, "suspend_group", "group", "800000003", "刷屏", "李执法", 1_000, 9_000, "李执法",
     "replaced by a shorter suspend-group: 已整改，缩短"),
    (8, "suspend_group", "group", "800000003", "已整改，缩短", "李执法", 9_000, None, None, None),
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Backend]:
    """Not upgraded: the schema before ``replaced_by`` (SQLite 25, PostgreSQL 23)."""
    async for opened in backend(request, tmp_path, (25, 23)):
        yield opened


async def test_the_upgrade_names_the_replacing_sanction_only_where_one_replaced_it(db: Backend) -> None:
    store = await db.open(upgraded=False)
    for row in ROWS:
        db.sql("INSERT INTO sanctions (id, kind, target_type, target_id, reason, actor, starts_at, lifted_at,"
               " lifted_by, lift_reason) VALUES (?,?,?,?,?,?,?,?,?,?)", *row)
    await store.close()
    db.stores.remove(store)
    store = await db.open()
    rows = await store.sanctions()
    assert {r["id"]: r["replaced_by"] for r in rows} == {1: 2, 2: None, 3: None, 4: None, 5: None, 6: None,
                                                         7: 8, 8: None}
    # The readable reason stays as it was written.
    assert [r["lift_reason"] for r in rows if r["id"] in (1, 3)] == [ROWS[0][9], ROWS[2][9]]


async def test_a_replacing_sanction_lifts_what_it_replaces_and_names_itself_in_one_transaction(db: Backend) -> None:
    store = await db.open()
    [longer] = await store.apply(ch.AddSanction("suspend_admin", "user", "u1", "abuse", "op", 1_000, 900_000))
    [other] = await store.apply(ch.AddSanction("suspend_admin", "user", "u1", "abuse", "op", 2_000, 800_000))
    await store.apply(ch.LiftSanction(other, 3_000, "op", "已整改"))
    # One of those it would replace was lifted meanwhile: nothing is written, not even the new row.
    with pytest.raises(ContractError) as refused:
        await store.apply(ch.AddSanction("suspend_admin", "user", "u1", "shorter", "op", 4_000, 5_000,
                                         replaces=(longer, other), lift_reason="replaced by a shorter x: shorter"))
    assert refused.value.code == "conflict"
    assert [(r["id"], r["lifted_at"]) for r in await store.sanctions("user", "u1")] == [(longer, None),
                                                                                       (other, 3_000)]
    [shorter] = await store.apply(ch.AddSanction("suspend_admin", "user", "u1", "shorter", "op", 4_000, 5_000,
                                                 replaces=(longer,), lift_reason="replaced by a shorter x: shorter"))
    cut = await store.sanction(longer)
    assert cut is not None
    assert (cut["lifted_at"], cut["lifted_by"], cut["lift_reason"], cut["replaced_by"]) == (
        4_000, "op", "replaced by a shorter x: shorter", shorter)
    # A plain lift names no replacement.
    assert [r["replaced_by"] for r in await store.sanctions("user", "u1")] == [shorter, None, None]
