"""The orphan sweep of the media cleanup: a finished file no media row names goes once it is older
than its grace, and nothing else does.

A failed upload write leaves its file (the undo cannot know whether a row on another node names
the same content-addressed file); the sweep asks the database which files rows name, so it knows
every node's rows, and leaves a file placed within ``ORPHAN_GRACE_S`` (a row on its way)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from server.app import App
from server.media import binding, cleanup, uploads
from server.media.index import MediaEntry, MediaIndex
from server.metrics import METRICS
from server.storage import changes as ch
from tests import pgtools
from tests.server.test_group_ids import config

# (when a database was made decides which folder's files are its own: a new one, not a template's copy)
pytestmark = pytest.mark.fresh_database
GRACE = uploads.ORPHAN_GRACE_S


def _file(root: Path, seed: str, age_s: float) -> tuple[str, Path]:
    data = seed.encode()
    digest = hashlib.sha256(data).hexdigest()
    path = uploads.media_file(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return digest, path


def _row(media_id: str, digest: str) -> ch.InsertMedia:
    return ch.InsertMedia(media_id, digest, "u1", "application/pdf", "file", 1, None, None, None, 1)


async def test_the_store_says_which_files_rows_name(open_store) -> None:
    store = await open_store()
    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    await store.apply(_row("m1", a), _row("m2", a), _row("m3", b))
    assert await store.referenced_media_files([a, b, c]) == {a, b}
    assert await store.referenced_media_files([c]) == set()
    assert await store.referenced_media_files([]) == set()


async def test_only_an_old_file_no_row_names_is_swept(open_store, tmp_path) -> None:
    store = await open_store()
    root = tmp_path / "media"
    index = MediaIndex()
    ctx: Any = SimpleNamespace(store=store, cfg=SimpleNamespace(media=SimpleNamespace(path=root)),
                               state=SimpleNamespace(media=index))
    orphan, orphan_path = _file(root, "no row, old", GRACE + 60)
    fresh, fresh_path = _file(root, "no row, placed just now", 60)
    named, named_path = _file(root, "another node's row, old", GRACE + 60)
    await store.apply(_row("m-other", named))  # written by another node: not in this node's index
    indexed, indexed_path = _file(root, "this node's row on its way, old", GRACE + 60)
    index.add(MediaEntry("m-here", indexed, "u1", "application/pdf", "file", 1, None, None, None, 1))
    placing, placing_path = _file(root, "being placed, old", GRACE + 60)
    index.claim_placing(placing)
    stranger = root / orphan[:2] / orphan[2:4] / "notes.txt"
    stranger.write_text("not a digest: not ours to remove")
    os.utime(stranger, (0, 0))

    assert await cleanup.sweep_orphans(ctx) == 1
    assert not orphan_path.exists()
    assert fresh_path.exists() and named_path.exists() and indexed_path.exists() and placing_path.exists()
    assert stranger.exists()

    # A home the fence refused (another node serves the database) removes nothing.
    _, again = _file(root, "no row, old, on a fenced-out home", GRACE + 60)
    store.fenced_out = True
    assert await cleanup.sweep_orphans(ctx) == 0 and again.exists()
    store.fenced_out = False


async def test_placing_the_same_bytes_again_makes_an_orphan_new(tmp_path) -> None:
    """An upload of content whose orphan is on disk keeps that file: ``place`` makes it new, so
    the sweep leaves it while the upload's row is on its way."""
    root = tmp_path / "media"
    digest, path = _file(root, "same bytes", GRACE + 60)
    tmp = tmp_path / "upload.part"
    tmp.write_bytes(b"same bytes")
    assert uploads.place(tmp, path) is False
    assert uploads.orphans_in(root, digest[:2], GRACE) == []
    assert uploads.remove_if_old(root, digest, GRACE) is False and path.exists()


async def test_the_cleanup_sweeps_orphans_once_per_grace(tmp_path) -> None:
    app = App(config(tmp_path))
    await app.start()
    try:
        root = app.cfg.media.path
        _, first = _file(root, "orphan one", GRACE + 60)
        await cleanup.tidy(app)
        assert not first.exists()
        ran = await app.store.job_last_run(cleanup.ORPHANS_JOB)
        assert ran is not None
        _, second = _file(root, "orphan two", GRACE + 60)
        await cleanup.tidy(app)  # within the grace of the last sweep: not due yet
        assert second.exists()
        assert await app.store.job_last_run(cleanup.ORPHANS_JOB) == ran
    finally:
        await app.stop()


async def test_a_sweep_stamped_by_a_clock_a_day_ahead_does_not_stop_the_next_ones(tmp_path) -> None:
    """The record of job runs keeps the latest time: one sweep while the clock ran a day ahead
    stopped every sweep until real time caught up with it (a reviewer's case)."""
    app = App(config(tmp_path))
    await app.start()
    try:
        await app.store.apply(ch.JobRan(cleanup.ORPHANS_JOB, app.now_ms() + 86_400_000))
        _, orphan = _file(app.cfg.media.path, "orphan of the day", GRACE + 60)
        await cleanup.tidy(app)
        assert not orphan.exists()
        _, next_one = _file(app.cfg.media.path, "orphan of the next cleanup", GRACE + 60)
        await cleanup.tidy(app)  # still once per grace meanwhile, not at every cleanup
        assert next_one.exists()
    finally:
        await app.stop()


def _ctx(store: Any, root: Path, index: MediaIndex, now_ms: int) -> Any:
    media = SimpleNamespace(path=root, unattached_ttl_seconds=60)
    return SimpleNamespace(store=store, cfg=SimpleNamespace(media=media), state=SimpleNamespace(media=index),
                           now_ms=lambda: now_ms)


@pytest.mark.parametrize("everything", [False, True], ids=["unattached", "retention"])
async def test_removing_a_row_leaves_its_file_to_the_sweep(open_store, tmp_path, everything) -> None:
    """A former home (lost its lease, not noticed yet) removes its own row of a file while the new
    home stores the same bytes again: the new home's row is in the database, not in the old home's
    memory. The cleanup (frequent pass and retention's) removes rows only; the file stays while any
    row names it, and the orphan sweep removes it once none does."""
    old_home = await open_store()
    new_home = await open_store()  # another node's writer on the same database
    root = tmp_path / "media"
    index = MediaIndex()
    digest, path = _file(root, "stored on the old home, stored again on the new one", GRACE + 60)
    await old_home.apply(_row("m-old", digest))
    index.add(MediaEntry("m-old", digest, "u1", "application/pdf", "file", 1, None, None, None, 1))
    now = 10 * 86_400_000
    # The new home's row, just written: unknown to the old home's index.
    await new_home.apply(dataclasses.replace(_row("m-new", digest), created_at=now - 1000))
    ctx = _ctx(old_home, root, index, now_ms=now)

    assert await cleanup.sweep(ctx, everything=everything) == 1
    assert index.get("m-old") is None and await old_home.referenced_media_files([digest]) == {digest}
    assert path.exists(), "the old home's cleanup removed a file the new home's row names"
    assert await cleanup.sweep_orphans(ctx) == 0 and path.exists()

    # Once no row names it, the orphan sweep removes it (the grace counts from its last placing).
    (gone,) = await new_home.apply(ch.DeleteMedia(("m-new",)))
    assert gone == ["m-new"] and path.exists()
    assert await cleanup.sweep_orphans(ctx) == 1 and not path.exists()


async def _other_database(open_store, tmp_path: Path) -> tuple[Any, str | None]:
    """A store on a database of its own (the backend of ``open_store``); the PostgreSQL database's
    name, to drop."""
    from server.storage.sqlite import SqliteStore

    probe = await open_store()
    if isinstance(probe, SqliteStore):
        other: Any = SqliteStore(tmp_path / "other.db")
        name = None
    else:
        from server.storage.postgres import PostgresStore

        name, url = await asyncio.to_thread(pgtools.create_db)
        other = PostgresStore(url)
    await other.open()
    other.set_record_key(b"k" * 32)
    return other, name


async def test_a_folder_bound_to_another_database_is_never_swept(open_store, tmp_path, caplog) -> None:
    """The first sweep binds ``[media] path`` to its database (a marker holding the database's id,
    which the database keeps); a server on another (here: new, empty) database with the same
    folder removes nothing from it and says why in its log."""
    store = await open_store()
    root = tmp_path / "media"
    _, first = _file(root, "an orphan of this database", GRACE + 60)
    assert await cleanup.sweep_orphans(_ctx(store, root, MediaIndex(), 0)) == 1 and not first.exists()

    other, name = await _other_database(open_store, tmp_path)
    try:
        _, kept = _file(root, "a file of the first database (its row aside)", GRACE + 60)
        with caplog.at_level(logging.ERROR, logger="qunguan.media"):
            assert await cleanup.sweep_orphans(_ctx(other, root, MediaIndex(), 0)) == 0
        assert kept.exists(), "a server on another database swept the folder"
        assert refused() == 1, "the refusal shows in the log only"
        assert binding.MARKER in caplog.text and "not removed" in caplog.text
        marker = binding.read_marker(root)
        assert marker, "the first sweep left the folder unbound"
        (again,) = await (await open_store()).apply(ch.BindStoreId("a-later-node-s-guess"))
        assert again == marker, "the database's id changed once set"
        # Its own database still sweeps it.
        assert await cleanup.sweep_orphans(_ctx(store, root, MediaIndex(), 0)) == 1 and not kept.exists()
        assert refused() == 0
    finally:
        await other.close()
        if name is not None:
            await asyncio.to_thread(pgtools.drop_db, name)


def refused() -> float:
    """The gauge ``qunguan_media_sweep_refused`` of this process."""
    return float(METRICS.media_sweep_refused._value.get())


DAYS_BEFORE = binding.BEFORE_STORE_S + 3600  # placed well before a database made just now


async def test_an_unmarked_folder_of_another_database_s_files_is_not_taken(open_store, tmp_path, caplog) -> None:
    """A folder without its marker (an upgrade, a copy without it) holding files placed long before
    a new, empty database was made is not bound to that database by its first sweep, which
    removes nothing, says what to do, and shows in the gauge; the folder's own database (a row
    names one of its files) binds it afterwards and sweeps it."""
    new_db = await open_store()
    root = tmp_path / "media"
    theirs, theirs_path = _file(root, "a file the other database's row names", DAYS_BEFORE)
    _, orphan_path = _file(root, "an old orphan of the other database", DAYS_BEFORE)
    _, own_path = _file(root, "an upload of the new database's, its row lost", GRACE + 60)
    with caplog.at_level(logging.ERROR, logger="qunguan.media"):
        assert await cleanup.sweep_orphans(_ctx(new_db, root, MediaIndex(), 0)) == 0
    assert theirs_path.exists() and orphan_path.exists() and own_path.exists(), \
        "a new database's first sweep took another database's unmarked folder"
    assert binding.read_marker(root) is None, "the folder was bound to the new database"
    (new_id,) = await new_db.apply(ch.BindStoreId("unused"))
    assert "not removed" in caplog.text and binding.MARKER in caplog.text and new_id in caplog.text
    assert refused() == 1
    # Every later sweep refuses as well (its own uploads, placed since, change nothing).
    assert await cleanup.sweep_orphans(_ctx(new_db, root, MediaIndex(), 0)) == 0 and orphan_path.exists()

    owner, name = await _other_database(open_store, tmp_path)
    try:
        await owner.apply(_row("m-theirs", theirs))
        assert await cleanup.sweep_orphans(_ctx(owner, root, MediaIndex(), 0)) == 2
        (owner_id,) = await owner.apply(ch.BindStoreId("unused"))
        assert binding.read_marker(root) == owner_id
        assert theirs_path.exists() and not orphan_path.exists() and not own_path.exists()
        assert refused() == 0
    finally:
        await owner.close()
        if name is not None:
            await asyncio.to_thread(pgtools.drop_db, name)


async def test_an_unmarked_folder_is_bound_when_nothing_says_otherwise(open_store, tmp_path) -> None:
    """A new service with an empty folder, and a service whose old rows were all purged (their
    files, placed since its database was made, wait for the sweep), bind their folder and sweep it."""
    store = await open_store()
    empty = tmp_path / "empty"
    assert await cleanup.sweep_orphans(_ctx(store, empty, MediaIndex(), 0)) == 0
    (store_id,) = await store.apply(ch.BindStoreId("unused"))
    assert binding.read_marker(empty) == store_id and refused() == 0

    purged = tmp_path / "purged"
    _, path = _file(purged, "its row purged by retention", GRACE + 60)
    assert await cleanup.sweep_orphans(_ctx(store, purged, MediaIndex(), 0)) == 1 and not path.exists()
    assert binding.read_marker(purged) == store_id and refused() == 0


async def test_a_file_placed_again_while_the_sweep_removes_it_stays(tmp_path, monkeypatch) -> None:
    """Another node (the folder is shared) places the same bytes again right after the sweep
    looked at the file's age: its ``place`` found the file and renewed it, so its row will name
    that file, which must stay. (The clock the sweep reads is where the other node steps in.)"""
    root = tmp_path / "media"
    digest, path = _file(root, "an old orphan, uploaded again on another node", GRACE + 60)
    placed: list[bool] = []

    def other_node_places_then_tells_the_time() -> float:
        if not placed:
            tmp = tmp_path / "upload.part"
            tmp.write_bytes(b"an old orphan, uploaded again on another node")
            placed.append(uploads.place(tmp, path))
        return time.time()

    monkeypatch.setattr(uploads, "time", SimpleNamespace(time=other_node_places_then_tells_the_time))
    assert uploads.remove_if_old(root, digest, GRACE) is False
    assert placed == [False], "place should have kept the file it found"
    assert path.read_bytes() == b"an old orphan, uploaded again on another node", \
        "the sweep removed a file a place() had just renewed for its row"
    assert not [p for p in (root / uploads.TEMP_DIR).iterdir()]


def test_a_file_placed_again_goes_back_without_hard_links(tmp_path, monkeypatch):
    """A file renewed by another node's ``place`` just before the sweep moved it aside goes back
    by a rename: on a file system without hard links (or out of them) it was deleted instead,
    though a row had been promised it."""
    sha = "ab" + "0" * 62
    path = uploads.media_file(tmp_path, sha)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"promised")
    then = time.time() - 7200
    os.utime(path, (then, then))
    real_rename = os.rename
    moves: list[str] = []

    def place_renews_then_move(src: Any, dst: Any) -> None:
        if not moves:  # the sweep's move aside: the other node's place renewed the file just before
            os.utime(src)
        moves.append(str(dst))
        real_rename(src, dst)

    def no_links(src: Any, dst: Any) -> None:
        raise OSError(1, "hard links are not supported here")

    monkeypatch.setattr(uploads.os, "rename", place_renews_then_move)
    monkeypatch.setattr(uploads.os, "link", no_links)
    assert uploads.remove_if_old(tmp_path, sha, 3600) is False
    assert path.read_bytes() == b"promised"
