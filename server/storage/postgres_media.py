"""Media on PostgreSQL: the mirror of ``sqlite_media.py`` (SQL in :mod:`server.storage.media`).

``DeleteMedia`` re-checks in its statement that nothing carries a row. Messages and
posts are written by the same writer connection as this delete, so a message that
names the media is either committed before it (and the row stays) or after it,
and the handlers never attach a media row a cleanup has chosen (server/media/cleanup.py).
"""

from __future__ import annotations

import asyncpg

from protocol.errors import ContractError
from server.media.index import MediaEntry
from server.storage import changes as c
from server.storage import media as m
from server.storage.postgres_changes import Conn, applies
from server.storage.postgres_reads import PostgresReads

_INSERT = m.numbered(m.INSERT_MEDIA)
_NUMBERED = {q: m.numbered(q) for q in (m.LIVE, m.LIVE_IN_GROUP, m.LIVE_IN_POST)}
_IN_MESSAGE = m.numbered(m.IN_MESSAGE)
_UNCARRIED = m.numbered(m.UNCARRIED)
_ONE = m.numbered(m.ONE_MEDIA)
_BIND_STORE_ID = m.numbered(m.BIND_STORE_ID)
_QUOTA_USE = m.numbered(m.QUOTA_USE)
_MESSAGE_FILES = m.numbered(m.MESSAGE_FILES)
_POST_FILES = m.numbered(m.POST_FILES)
_STORED_FILE = m.numbered(m.STORED_FILE)
_RELEASE_FILE = m.numbered(m.RELEASE_FILE)
_TAKE_DOWN_FILE = m.numbered(m.TAKE_DOWN_FILE)
_TAKEN_DOWN = m.numbered(m.TAKEN_DOWN)
# Advisory-lock namespace: (LOCK_MEDIA_QUOTA, hashtext(uploader)), one uploader's storage quota.
LOCK_MEDIA_QUOTA = 0x5147_00B1


@applies(c.InsertMedia)
async def _insert_media(db: Conn, r: c.InsertMedia) -> None:
    if r.quota is not None:
        # Writers inserting this uploader's media queue here until the end of their transaction,
        # so each counts what the one before it committed (READ COMMITTED reads the latest rows).
        await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_MEDIA_QUOTA, r.uploader)
        stored, counted = await db.fetchrow(_QUOTA_USE, r.sha256, r.uploader)
        r.quota.refuse(int(stored), 0 if counted else r.size)  # content they keep already adds nothing
    try:
        await db.execute(_INSERT, r.media_id, r.sha256, r.uploader, r.mime, r.kind, r.size, r.name,
                         r.width, r.height, r.created_at, r.received_sha256)
    except asyncpg.UniqueViolationError:
        raise ContractError("conflict", f"media {r.media_id} exists already") from None


@applies(c.DeleteMedia)
async def _delete_media(db: Conn, d: c.DeleteMedia) -> list[str]:
    if not d.media_ids:
        return []
    rows = await db.fetch(m.DELETE_UNCARRIED_PG, list(d.media_ids))
    return [r[0] for r in rows]


@applies(c.TakeDownFiles)
async def _take_down_files(db: Conn, t: c.TakeDownFiles) -> None:
    await db.executemany(_TAKE_DOWN_FILE, [(d, t.taken_at, t.actor, t.cause) for d in t.digests])


@applies(c.ReleaseFile)
async def _release_file(db: Conn, r: c.ReleaseFile) -> bool:
    return await db.fetchval(_RELEASE_FILE, r.sha256) is not None


@applies(c.BindStoreId)
async def _bind_store_id(db: Conn, b: c.BindStoreId) -> str:
    await db.execute(_BIND_STORE_ID, b.candidate.encode())
    return bytes(await db.fetchval(m.STORE_ID)).decode()


class PostgresMediaReads(PostgresReads):
    async def media_live(self, media_id: str, carrier: str | None = None) -> bool:
        if await self._fetchone(_TAKEN_DOWN, media_id) is not None:  # (a gateway has no list in memory)
            return False
        query, params = m.live_query(media_id, carrier)
        return await self._fetchone(_NUMBERED[query], *params) is not None

    async def media_quota_use(self, uploader: str, sha256: str | None = None) -> tuple[int, bool]:
        row = await self._fetchone(_QUOTA_USE, sha256, uploader)
        return (0, False) if row is None else (int(row[0]), bool(row[1]))

    async def media_entry(self, media_id: str) -> MediaEntry | None:
        row = await self._fetchone(_ONE, media_id)
        return None if row is None else m.media_row(row)

    async def media_in_message(self, group_id: str, seq: int, media_id: str) -> bool:
        return await self._fetchone(_IN_MESSAGE, group_id, seq, media_id) is not None

    async def files_of(self, group_id: str | None, seq: int | None, post_id: int | None) -> list[str]:
        if post_id is not None:
            return [r[0] for r in await self._fetchall(_POST_FILES, post_id)]
        return [r[0] for r in await self._fetchall(_MESSAGE_FILES, group_id, seq)]

    async def file_stored(self, sha256: str) -> bool:
        return await self._fetchone(_STORED_FILE, sha256, sha256) is not None

    async def uncarried_media(self, created_before: int, after: str, limit: int) -> list[str]:
        return [r[0] for r in await self._fetchall(_UNCARRIED, created_before, after, limit)]

    async def referenced_media_files(self, sha256s: list[str]) -> set[str]:
        if not sha256s:
            return set()
        return {r[0] for r in await self._fetchall(m.REFERENCED_PG, sha256s)}

    async def store_created_at(self) -> int | None:
        row = await self._fetchone(m.STORE_CREATED)
        return None if row is None or row[0] is None else int(row[0])
