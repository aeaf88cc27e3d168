"""Media on SQLite: the two changes and the reads (SQL in :mod:`server.storage.media`)."""

from __future__ import annotations

import json
import sqlite3

import aiosqlite

from protocol.errors import ContractError
from server.media.index import MediaEntry
from server.storage import changes as c
from server.storage import media as m
from server.storage.sqlite_changes import applies
from server.storage.sqlite_reads import SqliteReader


@applies(c.InsertMedia)
async def _insert_media(db: aiosqlite.Connection, r: c.InsertMedia) -> None:
    if r.quota is not None:  # one writer: the count and the insert are one step of its transaction
        [(stored, counted)] = list(await db.execute_fetchall(m.QUOTA_USE, (r.sha256, r.uploader)))
        r.quota.refuse(int(stored), 0 if counted else r.size)  # content they keep already adds nothing
    try:
        await db.execute(m.INSERT_MEDIA, (r.media_id, r.sha256, r.uploader, r.mime, r.kind, r.size, r.name,
                                          r.width, r.height, r.created_at, r.received_sha256))
    except sqlite3.IntegrityError:
        raise ContractError("conflict", f"media {r.media_id} exists already") from None


@applies(c.DeleteMedia)
async def _delete_media(db: aiosqlite.Connection, d: c.DeleteMedia) -> list[str]:
    if not d.media_ids:
        return []
    rows = await db.execute_fetchall(m.DELETE_UNCARRIED_SQLITE, (json.dumps(list(d.media_ids)),))
    return [r[0] for r in rows]


@applies(c.TakeDownFiles)
async def _take_down_files(db: aiosqlite.Connection, t: c.TakeDownFiles) -> None:
    await db.executemany(m.TAKE_DOWN_FILE, [(d, t.taken_at, t.actor, t.cause) for d in t.digests])


@applies(c.ReleaseFile)
async def _release_file(db: aiosqlite.Connection, r: c.ReleaseFile) -> bool:
    return bool(list(await db.execute_fetchall(m.RELEASE_FILE, (r.sha256,))))


@applies(c.BindStoreId)
async def _bind_store_id(db: aiosqlite.Connection, b: c.BindStoreId) -> str:
    await db.execute(m.BIND_STORE_ID, (b.candidate.encode(),))
    rows = list(await db.execute_fetchall(m.STORE_ID))
    return bytes(rows[0][0]).decode()


class SqliteMediaReads(SqliteReader):
    async def media_live(self, media_id: str, carrier: str | None = None) -> bool:
        if await self._fetchone(m.TAKEN_DOWN, (media_id,)) is not None:  # (a gateway has no list in memory)
            return False
        return await self._fetchone(*m.live_query(media_id, carrier)) is not None

    async def media_quota_use(self, uploader: str, sha256: str | None = None) -> tuple[int, bool]:
        row = await self._fetchone(m.QUOTA_USE, (sha256, uploader))
        return (0, False) if row is None else (int(row[0]), bool(row[1]))

    async def media_entry(self, media_id: str) -> MediaEntry | None:
        row = await self._fetchone(m.ONE_MEDIA, (media_id,))
        return None if row is None else m.media_row(row)

    async def media_in_message(self, group_id: str, seq: int, media_id: str) -> bool:
        return await self._fetchone(m.IN_MESSAGE, (group_id, seq, media_id)) is not None

    async def files_of(self, group_id: str | None, seq: int | None, post_id: int | None) -> list[str]:
        if post_id is not None:
            return [r[0] for r in await self._fetchall(m.POST_FILES, (post_id,))]
        return [r[0] for r in await self._fetchall(m.MESSAGE_FILES, (group_id, seq))]

    async def file_stored(self, sha256: str) -> bool:
        return await self._fetchone(m.STORED_FILE, (sha256, sha256)) is not None

    async def uncarried_media(self, created_before: int, after: str, limit: int) -> list[str]:
        return [r[0] for r in await self._fetchall(m.UNCARRIED, (created_before, after, limit))]

    async def referenced_media_files(self, sha256s: list[str]) -> set[str]:
        if not sha256s:
            return set()
        return {r[0] for r in await self._fetchall(m.REFERENCED_SQLITE, (json.dumps(sha256s),))}

    async def store_created_at(self) -> int | None:
        row = await self._fetchone(m.STORE_CREATED)
        return None if row is None or row[0] is None else int(row[0])
