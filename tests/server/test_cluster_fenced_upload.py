"""A home that lost its lease (paused, then back) finishes an upload whose file another node's row
names: its write is fenced (or fails otherwise) and is undone, and the undo must not remove the
shared file (the undo removes no file at all: the media cleanup's orphan sweep does, from the database).

The old home's media index knows only the rows of its own time. After a takeover the new home
may store an upload of the same bytes (the client retried it there): ``place`` finds the file
already there and keeps it, the new home's row names it. When the old home's own row is then
refused by the fence, its undo saw no other entry for that content in its index and removed the
file: the new home's media answered 404 for good ("its file is missing").

The old home runs in this process on the machine's PostgreSQL (a lone node's App, fenced by
hand as ClusterNode does); the new home is a second store on the same database."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from server.app import App
from server.media.uploads import media_file
from server.storage import changes as ch
from tests import pgtools
from tests.e2e.test_media import pdf, sha
from tests.server.test_group_ids import config, registered

pytestmark = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))


async def test_an_old_homes_fenced_upload_leaves_the_file_a_new_homes_row_names(tmp_path) -> None:
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    cfg = config(tmp_path)
    cfg = dataclasses.replace(cfg, storage=dataclasses.replace(cfg.storage, url=url, sqlite_file=None))
    app = App(cfg)
    new_home = PostgresStore(url)
    try:
        await app.start()
        await new_home.open()
        new_home.set_record_key(b"k" * 32)
        c = await registered(app, tmp_path)
        doc = pdf(4000)
        begin = await c.request("upload_begin", mime="application/pdf", size=len(doc))
        await c.request("upload_chunk", upload_id=begin["upload_id"], offset=0, data=doc)

        # This node is the home at epoch 1; it stalls past its lease and another node takes over.
        epoch = await app.store.take_lease("home", "old", 0.3)
        assert epoch is not None
        app.store.set_fence("home", epoch)
        await asyncio.sleep(0.5)
        assert await new_home.take_lease("home", "new", 60) == epoch + 1
        # The new home stores the same bytes (a retry of the upload there): file in place, its row.
        path = media_file(cfg.media.path, sha(doc))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc)
        new_home.set_fence("home", epoch + 1)
        await new_home.apply(ch.InsertMedia("m-new", sha(doc), c.user_id or "", "application/pdf", "file",
                                            len(doc), None, None, None, 1))

        # The old home, back, finishes its own upload of those bytes: refused by the fence.
        reply = await c.call("upload_end", upload_id=begin["upload_id"], sha256=sha(doc))
        assert not reply["ok"] and reply["code"] == "internal", reply
        await asyncio.sleep(0.1)
        assert path.exists(), "the fenced old home removed a file the new home's media row names"
        await c.close()
    finally:
        await new_home.close()
        await app.stop()
        await asyncio.to_thread(pgtools.drop_db, name)


async def test_an_old_home_that_lost_the_database_keeps_the_file_when_its_write_fails(tmp_path) -> None:
    """The write fails for another reason than the fence (here the database refuses the row, as
    a home cut off from PostgreSQL fails it): the node is not fenced out, yet another node's row
    may name the file. The undo removes no file; the orphan sweep decides later, from the database."""
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    cfg = config(tmp_path)
    cfg = dataclasses.replace(cfg, storage=dataclasses.replace(cfg.storage, url=url, sqlite_file=None))
    app = App(cfg)
    new_home = PostgresStore(url)
    try:
        await app.start()
        await new_home.open()
        new_home.set_record_key(b"k" * 32)
        c = await registered(app, tmp_path)
        doc = pdf(4000)
        begin = await c.request("upload_begin", mime="application/pdf", size=len(doc))
        await c.request("upload_chunk", upload_id=begin["upload_id"], offset=0, data=doc)
        # Another node stored the same bytes (its row, its file); this node's index never saw it.
        path = media_file(cfg.media.path, sha(doc))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc)
        await new_home.apply(ch.InsertMedia("m-new", sha(doc), c.user_id or "", "application/pdf", "file",
                                            len(doc), None, None, None, 1))
        # This node's own row fails to be written, and not by the fence.
        await asyncio.to_thread(pgtools.query, url, (
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'the database is out of reach'; END $$"))
        await asyncio.to_thread(pgtools.query, url, (
            "CREATE TRIGGER refuse BEFORE INSERT ON media FOR EACH ROW EXECUTE FUNCTION refuse()"))
        reply = await c.call("upload_end", upload_id=begin["upload_id"], sha256=sha(doc))
        assert not reply["ok"] and reply["code"] == "internal", reply
        assert not app.store.fenced_out
        await asyncio.sleep(0.1)
        assert path.exists(), "a failed write's undo removed a file another node's media row names"
        await c.close()
    finally:
        await new_home.close()
        await app.stop()
        await asyncio.to_thread(pgtools.drop_db, name)
