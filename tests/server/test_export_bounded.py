"""A user's export, a group's, an address's and a public account's read their rows a page at a time and
write each page before reading the next: no read of the export returns more than a page of rows, and the
export's memory stays far below that of the rows it writes. Read whole, a user's million messages (or a
large group's record and membership log, the network log behind a carrier's shared address, a popular
account's comments) grew the server's memory without bound. Both backends; the rows are written straight
into the store (20,000 messages), not sent through the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from server.app import App
from server.config import parse_config
from server.operator import export
from server.storage import changes as ch
from tests import pgtools

MESSAGES = 20_000  # (a tenth of them another user's, in the same groups and times)
PER_PAGE = 1_000
LOGS = 2_500  # the user's network-log rows; the group's membership-log rows
AUDITS = 300  # record entries about the user, in the group
SHARED = 600  # network-log rows from the user's address spelled inside IPv6, half of them bob's, half no one's
COMMENTS = 2_500  # comments on the public account's posts, by alice and by a user not in memory
POSTS = 1_500  # the public account's posts, by alice
REACTIONS = 2_500  # alice's reactions (left and taken back)
REPORTS = 2_500  # complaints by bob about alice in the group (resolved)
APPEALS = 1_500  # alice's appeals (decided)
ACCOUNT_AUDITS = 150  # record entries about the public account
TS = 1_700_000_000_000
GID = "900000001"
AID = "700000001"
GROUPS = (GID, "900000002", "900000003")
TEXT = "这是一条很长的消息，" * 20  # (200 characters)

_SERIES = {  # the numbers 1..n, as each backend writes them
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) ",
    "postgresql": "WITH n AS (SELECT generate_series(1, {n}) AS i) ",
}
_FILL = [
    # Messages of u1 (and every tenth of u2) in three groups, seven to a millisecond: pages end inside
    # a millisecond's messages, and between groups within it.
    (("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
     " SELECT CASE i % 3 WHEN 0 THEN '900000001' WHEN 1 THEN '900000002' ELSE '900000003' END, i, {ts} + i / 7,"
     " CASE WHEN i % 10 = 0 THEN 'u2' ELSE 'u1' END, 'member', '{text}' || i FROM n"), MESSAGES),
    (("INSERT INTO netlog (ts, kind, user_id, ip, detail) SELECT {ts} + i, 'connect', 'u1', '10.0.0.1', 'port 1'"
     " FROM n"), LOGS),
    (("INSERT INTO membership_log (group_id, user_id, action, ts, actor_id)"
     " SELECT '900000001', 'm' || i, 'join', {ts} + i, NULL FROM n"), LOGS),
    # The address 10.0.0.1 (u1's above) spelled as a listener on both IP versions gives it, and another
    # address: none of the latter's rows in its export.
    (("INSERT INTO netlog (ts, kind, user_id, ip, detail) SELECT {ts} + i,"
      " CASE WHEN i % 2 = 0 THEN 'login' ELSE 'unauthenticated' END, CASE WHEN i % 2 = 0 THEN 'u2' END,"
      " CASE WHEN i % 7 = 0 THEN '10.0.0.2' ELSE '::ffff:10.0.0.1' END, '{{\"n\": ' || i || '}}' FROM n"),
     SHARED * 7 // 6),
    # A public account of u1's: three posts, their comments (every fifth hidden by the account's editor).
    (("INSERT INTO accounts (account_id, name, name_key, category, subject_type, subject_key, owner_id,"
      " credit_score, created_at) SELECT '700000001', 'a', 'a', 'culture', 'individual', 'k', 'u1', 100, {ts}"
      " FROM n"), 1),
    (("INSERT INTO posts (post_id, account_id, author_id, title, body, comments_mode, ts)"
      " SELECT i, '700000001', 'u1', 't' || i, 'b', 'open', {ts} + i FROM n"), POSTS),
    (("INSERT INTO comments (post_id, user_id, text, ts, status, moderated_by, moderated_at)"
      " SELECT 1 + i % 3, CASE WHEN i % 2 = 0 THEN 'u1' ELSE 'u3' END, '{text}' || i, {ts} + i,"
      " CASE WHEN i % 5 = 0 THEN 'hidden' ELSE 'visible' END, CASE WHEN i % 5 = 0 THEN 'u1' END,"
      " CASE WHEN i % 5 = 0 THEN {ts} + i + 1 END FROM n"), COMMENTS),
    # What an export held whole before: alice's reactions (in a group of none of the messages exported, whose
    # page they would weigh), the complaints about her in the group, her appeals.
    (("INSERT INTO reaction_log (group_id, seq, user_id, emoji, added, ts)"
      " SELECT '900000009', i, 'u1', '👍', i % 2 = 0, {ts} + i FROM n"), REACTIONS),  # (not on messages exported)
    (("INSERT INTO reports (reporter_id, target_type, group_id, user_id, reason, detail, created_at, status,"
      " outcome, resolved_at, resolved_by) SELECT 'u2', 'user', '900000001', 'u1', 'spam', 'r' || i, {ts} + i,"
      " 'resolved', 'dismissed', {ts} + i + 1, 'op' FROM n"), REPORTS),
    (("INSERT INTO appeals (sanction_id, user_id, text, created_at, status, outcome, decided_at, decided_by)"
      " SELECT i, 'u1', 'a' || i, {ts} + i, 'decided', 'rejected', {ts} + i + 1, 'op' FROM n"), APPEALS),
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def filled(request: Any, tmp_path: Path) -> AsyncIterator[App]:
    """A server (started in this process) whose store holds the rows above, read into memory by its start."""
    settings: dict[str, Any] = {"server": {"port": 0},
                                "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024}}
    name = None
    if request.param == "postgresql":
        if pgtools.unavailable() is not None:
            pytest.skip(str(pgtools.unavailable()))
        name, url = await asyncio.to_thread(pgtools.create_migrated_db)
        settings["storage"] = {"url": url}
    first = App(parse_config(settings, tmp_path))
    await first.start()
    try:
        for n, (uid, username) in enumerate((("u1", "alice"), ("u2", "bob"))):
            phone = f"1390000000{n}"
            await first.store.apply(ch.InsertUser(uid, username, username, "h", username,
                                                  first.vault.lookup("phone", phone), first.vault.seal(phone), 100, TS))

        async def fill(db: Any) -> None:
            for gid in GROUPS:
                await db.execute(f"INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at,"
                                 f" last_seq) VALUES ('{gid}', 'g', 'work', 'open', 'u1', {TS}, {MESSAGES})")
            for sql, n in _FILL:
                await db.execute(_SERIES[request.param].format(n=n) + sql.format(ts=TS, text=TEXT))

        store: Any = first.store  # (run_in_batch: each backend's own, not the Store protocol's)
        await store.run_in_batch(fill)
        await asyncio.gather(*(first.store.apply(audit=ch.Audit(
            TS + i, "operator", "op", "warn", GID, "u1", "a warning", {"n": i})) for i in range(AUDITS)))
        await asyncio.gather(*(first.store.apply(audit=ch.Audit(
            TS + i, "operator", "op", "account_warn", None, AID, "a warning", {"n": i}))
            for i in range(ACCOUNT_AUDITS)))
    finally:
        await first.stop()
    app = App(parse_config(settings, tmp_path))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
        if name is not None:
            await asyncio.to_thread(pgtools.release_db, name)


def _rows(result: Any) -> int:
    """How many rows a read of the export returned at once: its list of rows, or its largest one."""
    if isinstance(result, list):
        return len(result) if result and isinstance(result[0], dict) else 0
    if isinstance(result, dict):
        return max((_rows(v) for v in result.values()), default=0)
    return 0


class _Spy:
    """An export's reads, each counted: the most rows any one of them (or any page of one) returned."""

    def __init__(self, reads: Any) -> None:
        self._reads = reads
        self.most: dict[str, int] = {}

    def _saw(self, name: str, result: Any) -> None:
        self.most[name] = max(self.most.get(name, 0), _rows(result))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._reads, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            got = attr(*args, **kwargs)
            if hasattr(got, "__aiter__"):
                async def pages() -> AsyncIterator[Any]:
                    async for page in got:
                        self._saw(name, page)
                        yield page
                return pages()

            async def awaited() -> Any:
                result = await got
                self._saw(name, result)
                return result
            return awaited()
        return call


def _spied(app: App) -> _Spy:
    """Every export of ``app`` from now on reads through one spy (returned)."""
    store = app.store
    real = store.export_snapshot
    spy = _Spy(None)

    @contextlib.asynccontextmanager
    async def snapshot() -> AsyncIterator[Any]:
        async with real() as reads:
            spy._reads = reads
            yield spy

    store.export_snapshot = snapshot  # type: ignore[method-assign]
    return spy


async def _export(app: App, out: Path, **target: str) -> dict[str, Any]:
    await export.export(app, {**target, "out": str(out)})
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


async def _peak(run: Callable[[], Awaitable[Any]]) -> int:
    """The most memory ``run`` held at once beyond what was held when it began (bytes)."""
    tracemalloc.start()
    try:
        await asyncio.sleep(0)
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's files but the record's: each export is recorded, so the next one has one more entry."""
    return [f for f in manifest["files"] if f["name"] != "audit.jsonl"]


async def test_a_users_export_reads_its_messages_and_logs_a_page_at_a_time(
        filled: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled
    whole = await _export(app, tmp_path / "whole", username="alice")  # (one page: as read whole before)
    spy = _spied(app)
    monkeypatch.setattr(export, "MESSAGES_PER_READ", PER_PAGE)
    out = tmp_path / "paged"
    paged = await _export(app, out, username="alice")
    assert _files(paged) == _files(whole)  # the same files, byte for byte, in the same order
    lines = {f["name"]: f["lines"] for f in paged["files"]}
    assert lines["messages.jsonl"] == MESSAGES * 9 // 10 and lines["netlog.jsonl"] == LOGS, lines
    assert lines["audit.jsonl"] == AUDITS + 1, lines  # (and the first export's own entry)
    keys = [(m["ts"], m["group_id"], m["seq"]) for m in map(json.loads, (out / "messages.jsonl").open())]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # (every one of them, each once, in order)
    assert 0 < max(spy.most.values()) <= PER_PAGE, spy.most
    assert spy.most["user_export_messages"] == PER_PAGE and spy.most["export_log"] == PER_PAGE, spy.most
    # What was read whole before: her reactions, the complaints by and about her, her appeals, her posts
    # and comments on public accounts. Each file holds every row, in order, each once.
    assert (lines["reactions.jsonl"], lines["reports.jsonl"], lines["appeals.jsonl"], lines["posts.jsonl"],
            lines["comments.jsonl"]) == (REACTIONS, REPORTS, APPEALS, POSTS, COMMENTS // 2), lines
    for read in ("export_reactions", "export_reports", "export_appeals", "export_posts", "export_user_comments"):
        assert spy.most[read] == PER_PAGE, (read, spy.most)
    for name, key in (("reports.jsonl", "report_id"), ("appeals.jsonl", "appeal_id"), ("posts.jsonl", "post_id"),
                      ("comments.jsonl", "comment_id")):
        ids = [int(row[key]) for row in map(json.loads, (out / name).open())]
        assert ids == sorted(set(ids)), name
    reported = [json.loads(line) for line in (out / "reports.jsonl").open()]
    assert {(r["reporter_username"], r["username"]) for r in reported} == {("bob", "alice")}  # (named on each page)
    media = json.loads((out / "manifest.json").read_text())["media"]
    assert media == whole["media"]


async def test_a_users_export_holds_a_page_of_its_messages_not_all_of_them(
        filled: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory an export of some 7,200 messages holds at once, traced (a third of the messages: traced,
    the export takes four times as long): far below the rows' own size, read whole."""
    app = filled
    rng = {"since": TS, "until": TS + MESSAGES * 2 // 5 // 7}
    async with app.store.export_snapshot() as reads:
        read = await reads.export_user("u1", rng["since"], rng["until"])
        assert len(read["messages"]) > 7_000, len(read["messages"])
        del read
        all_rows = await _peak(lambda: reads.export_user("u1", rng["since"], rng["until"]))  # (as dicts)
    monkeypatch.setattr(export, "MESSAGES_PER_READ", PER_PAGE // 2)

    async def run() -> None:
        await export.export(app, {"username": "alice", "out": str(tmp_path / "out"), **rng})

    peak = await _peak(run)
    # Read whole, the export held every message at once, and more: its peak passed the rows' own size.
    assert peak < all_rows / 3, (peak, all_rows)


async def test_a_groups_export_reads_its_membership_log_and_record_a_page_at_a_time(
        filled: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 10**6)
    whole = await _export(app, tmp_path / "whole", group_id=GID)
    spy = _spied(app)
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 100)
    paged = await _export(app, tmp_path / "paged", group_id=GID)
    assert _files(paged) == _files(whole)
    lines = {f["name"]: f["lines"] for f in paged["files"]}
    assert lines["membership.jsonl"] == LOGS and lines["audit.jsonl"] == AUDITS + 1, lines
    assert lines["reports.jsonl"] == REPORTS and spy.most["export_reports"] == 100, (lines, spy.most)
    assert 0 < max(spy.most.values()) <= 100, spy.most


async def test_an_address_export_reads_its_network_log_a_page_at_a_time(
        filled: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 10**6)
    whole = await _export(app, tmp_path / "whole", address="10.0.0.1")  # (one page: as read whole before)
    spy = _spied(app)
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 100)
    out = tmp_path / "paged"
    paged = await _export(app, out, address="10.0.0.1")
    assert paged["files"] == whole["files"]  # the same files, byte for byte (an address's has no audit.jsonl)
    lines = {f["name"]: f["lines"] for f in paged["files"]}
    assert lines == {"netlog.jsonl": LOGS + SHARED, "users.jsonl": 2}, lines
    ids = [row["id"] for row in map(json.loads, (out / "netlog.jsonl").open())]
    assert ids == sorted(set(ids))  # (every row once, in order)
    users = [json.loads(line) for line in (out / "users.jsonl").open()]
    assert [(u["username"], u["rows"], u["first_ts"]) for u in users] == [
        ("alice", LOGS, TS + 1), ("bob", SHARED // 2, TS + 2)], users  # (counted across pages, in first-seen order)
    assert spy.most == {"export_address": 100}, spy.most


async def test_an_accounts_export_reads_its_comments_a_page_at_a_time(
        filled: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 10**6)
    whole = await _export(app, tmp_path / "whole", account_id=AID)
    spy = _spied(app)
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 100)
    out = tmp_path / "paged"
    paged = await _export(app, out, account_id=AID)
    assert _files(paged) == _files(whole)  # the same files, byte for byte, in the same order
    lines = {f["name"]: f["lines"] for f in paged["files"]}
    assert lines["comments.jsonl"] == COMMENTS and lines["posts.jsonl"] == POSTS, lines
    assert lines["audit.jsonl"] == ACCOUNT_AUDITS + 1, lines  # (and the first export's own entry)
    comments = [json.loads(line) for line in (out / "comments.jsonl").open()]
    assert [c["comment_id"] for c in comments] == sorted({c["comment_id"] for c in comments})
    assert {(c["user_id"], c["username"]) for c in comments} == {("u1", "alice"), ("u3", None)}
    assert 0 < max(spy.most.values()) <= 100, spy.most
    assert spy.most["export_account_comments"] == 100, spy.most
    assert spy.most["export_posts"] == 100 and spy.most["export_account_audit"] == 100, spy.most
    posts = [json.loads(line) for line in (out / "posts.jsonl").open()]
    assert [p["post_id"] for p in posts] == list(range(1, POSTS + 1))
    assert {p["author_username"] for p in posts} == {"alice"}
