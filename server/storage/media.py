"""Media in the store, backend-neutral: the reads every backend provides (:class:`MediaReads`,
part of the ``Store`` protocol), their SQL (``?`` placeholders; the PostgreSQL backend numbers
them), and loading the media index at start (called by :func:`server.storage.loading.load_state`).

A media row is *carried* by a message while a ``message_media`` row names it and by a
post while a ``post_media`` row does; those rows go with the message or post when
retention purges it. A row nothing carries is what the media cleanup removes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from server.media.index import MediaEntry

if TYPE_CHECKING:
    from server.state import State
    from server.storage.loading import Fetch

MEDIA_COLS = ("media_id", "sha256", "uploader", "mime", "kind", "size", "name", "width", "height", "created_at",
              "received_sha256")
LOAD_MEDIA = f"SELECT {', '.join(MEDIA_COLS)} FROM media"
ONE_MEDIA = LOAD_MEDIA + " WHERE media_id = ?"
LOAD_CARRIED = "SELECT media_id FROM message_media UNION SELECT media_id FROM post_media"

INSERT_MEDIA = (f"INSERT INTO media ({', '.join(MEDIA_COLS)})"
                f" VALUES ({', '.join('?' for _ in MEDIA_COLS)})")

_NOT_CARRIED = (
    "NOT EXISTS (SELECT 1 FROM message_media mm WHERE mm.media_id = media.media_id)"
    " AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = media.media_id)"
)
# The ids of a batch go in as one JSON array (SQLite: json_each) or one text array (PostgreSQL: ANY).
DELETE_UNCARRIED_SQLITE = (
    f"DELETE FROM media WHERE media_id IN (SELECT value FROM json_each(?)) AND {_NOT_CARRIED} RETURNING media_id"
)
DELETE_UNCARRIED_PG = f"DELETE FROM media WHERE media_id = ANY($1::text[]) AND {_NOT_CARRIED} RETURNING media_id"

# Media rows made before a time that nothing carries, in media_id order, after a given id.
UNCARRIED = (f"SELECT media_id FROM media WHERE created_at < ? AND media_id > ? AND {_NOT_CARRIED}"
             " ORDER BY media_id LIMIT ?")

# What counts against an uploader's storage quota (media.max_bytes_per_user): each distinct file
# (sha256) among their media rows that count, once however many rows name it. A row counts while
# nothing has carried it yet (a fresh upload: it goes by itself after media.unattached_ttl_seconds,
# or at once by delete_upload), or while something that carries it is still shown: a message
# neither deleted nor rejected by review, in a group neither dissolved nor closed; a post neither
# deleted, removed nor rejected, on an account not closed (held ones count: they may be released).
# A row carried only by what was deleted, rejected or closed stays for the record (retention keeps
# it with what carries it) but no longer counts. Answers the bytes, and whether the content ``?``
# (a sha256, or NULL) is one of the files counted. The rows are found by media_uploader.
_SHOWN_IN_MESSAGE = (
    "EXISTS (SELECT 1 FROM message_media mm"
    " JOIN messages m ON m.group_id = mm.group_id AND m.seq = mm.seq"
    " JOIN groups g ON g.group_id = m.group_id"
    " WHERE mm.media_id = media.media_id AND m.deleted_at IS NULL AND m.held <> 2"
    " AND g.dissolved_at IS NULL AND g.closed_at IS NULL)"
)
_SHOWN_IN_POST = (
    "EXISTS (SELECT 1 FROM post_media pm JOIN posts p ON p.post_id = pm.post_id"
    " JOIN accounts a ON a.account_id = p.account_id"
    " WHERE pm.media_id = media.media_id AND p.deleted_at IS NULL AND p.removed_at IS NULL"
    " AND a.closed_at IS NULL)"
)
QUOTA_USE = (
    "SELECT COALESCE(SUM(size), 0), COALESCE(MAX(CASE WHEN sha256 = ? THEN 1 ELSE 0 END), 0) FROM"
    " (SELECT sha256, MAX(size) AS size FROM media"
    f" WHERE uploader = ? AND (({_NOT_CARRIED}) OR {_SHOWN_IN_MESSAGE} OR {_SHOWN_IN_POST})"
    " GROUP BY sha256) AS counted"
)

# The files the platform took down (TakeDownFiles): the digests of those a message or a post carries
# (read by a removal before its write, for its record entry); one taken down; one the media row named by
# ``?`` has (served nowhere: media_live); all of them (at a load).
_MESSAGE_CARRIES = "SELECT media_id FROM message_media WHERE group_id = ? AND seq = ?"
_POST_CARRIES = "SELECT media_id FROM post_media WHERE post_id = ?"
MESSAGE_FILES = f"SELECT DISTINCT sha256 FROM media WHERE media_id IN ({_MESSAGE_CARRIES}) ORDER BY sha256"
POST_FILES = f"SELECT DISTINCT sha256 FROM media WHERE media_id IN ({_POST_CARRIES}) ORDER BY sha256"
# (stored as it is, or as the bytes sent before its metadata was removed: received_sha256, not indexed,
# read only when no file has the digest itself: an operator's take-down-file)
STORED_FILE = ("SELECT 1 FROM media WHERE sha256 = ? UNION ALL SELECT 1 FROM media WHERE received_sha256 = ?"
               " LIMIT 1")
TAKE_DOWN_FILE = ("INSERT INTO taken_down_files (sha256, taken_at, actor, cause) VALUES (?, ?, ?, ?)"
                  " ON CONFLICT (sha256) DO NOTHING")
RELEASE_FILE = "DELETE FROM taken_down_files WHERE sha256 = ? RETURNING sha256"
TAKEN_DOWN = ("SELECT 1 FROM media md JOIN taken_down_files t ON t.sha256 = md.sha256"
              " OR t.sha256 = md.received_sha256 WHERE md.media_id = ?")
LOAD_TAKEN_DOWN = "SELECT sha256 FROM taken_down_files"

# Which of a batch of content digests some media row names (the orphan sweep of server/media/cleanup.py).
REFERENCED_SQLITE = "SELECT DISTINCT sha256 FROM media WHERE sha256 IN (SELECT value FROM json_each(?))"
REFERENCED_PG = "SELECT DISTINCT sha256 FROM media WHERE sha256 = ANY($1::text[])"

# The database's identifier (server/media/binding.py), kept in the name/value table of the identity
# key store; set once, never changed: the first node to write it wins.
BIND_STORE_ID = "INSERT INTO vault_secrets (name, value) VALUES ('store_id', ?) ON CONFLICT (name) DO NOTHING"
STORE_ID = "SELECT value FROM vault_secrets WHERE name = 'store_id'"
# When the database was made: its first schema migration (a backup restores it with the rest).
STORE_CREATED = "SELECT min(applied_at) FROM schema_migrations"

# Is the media carried by a message nobody deleted and that was delivered, in a group neither
# dissolved nor closed, or by a post neither deleted by its account nor removed by an operator,
# shown to everyone (not held for the platform's review, nor rejected by it), on an account not
# closed? A signed URL is a capability: whoever holds one may use it, and the request names
# nobody, so a file is served only while everyone may see what carries it (a closed group's
# history and a closed account's posts are read by nobody). A held post's managers get URLs
# with it; those work once the post is released.
_LIVE_IN_MESSAGES = (
    "SELECT 1 FROM message_media mm JOIN messages m ON m.group_id = mm.group_id AND m.seq = mm.seq"
    " JOIN groups g ON g.group_id = mm.group_id"
    " WHERE mm.media_id = ? AND m.deleted_at IS NULL AND m.held = 0"
    " AND g.dissolved_at IS NULL AND g.closed_at IS NULL"
)
_LIVE_IN_POSTS = (
    "SELECT 1 FROM post_media pm JOIN posts p ON p.post_id = pm.post_id"
    " JOIN accounts a ON a.account_id = p.account_id"
    " WHERE pm.media_id = ? AND p.deleted_at IS NULL AND p.removed_at IS NULL AND p.held = 0"
    " AND a.closed_at IS NULL"
)
LIVE = f"{_LIVE_IN_MESSAGES} UNION ALL {_LIVE_IN_POSTS} LIMIT 1"  # (a URL that names no carrier: older ones)
# The same, for a URL handed out with one group's messages, or with one post: served only while that
# group (another group's copy of the file does not count) or that post shows it.
LIVE_IN_GROUP = f"{_LIVE_IN_MESSAGES} AND mm.group_id = ? LIMIT 1"
LIVE_IN_POST = f"{_LIVE_IN_POSTS} AND pm.post_id = ? LIMIT 1"


def live_query(media_id: str, carrier: str | None) -> tuple[str, tuple[str | int, ...]]:
    """The query (``?`` placeholders) and its parameters for :meth:`MediaReads.media_live`."""
    if carrier is None:
        return LIVE, (media_id, media_id)
    if carrier.startswith("g"):
        return LIVE_IN_GROUP, (media_id, carrier[1:])
    return LIVE_IN_POST, (media_id, int(carrier[1:]))
# Does this delivered, undeleted message carry this media?
IN_MESSAGE = (
    "SELECT 1 FROM message_media mm JOIN messages m ON m.group_id = mm.group_id AND m.seq = mm.seq"
    " WHERE mm.group_id = ? AND mm.seq = ? AND mm.media_id = ? AND m.deleted_at IS NULL AND m.held = 0"
)


class MediaReads(Protocol):
    async def media_live(self, media_id: str, carrier: str | None = None) -> bool:
        """Is the media carried by a delivered message nobody deleted, or by a post still up and
        not held or rejected by the platform's review? With ``carrier`` (``g<group id>``,
        ``p<post id>``, what its URL was handed out with): by a message of that group, by that post."""
        ...

    async def media_quota_use(self, uploader: str, sha256: str | None = None) -> tuple[int, bool]:
        """What counts against ``uploader``'s ``media.max_bytes_per_user`` (:data:`QUOTA_USE`): the
        bytes of the distinct files they keep in use, and whether the content ``sha256`` is one of
        them (a new upload of it then adds nothing)."""
        ...

    async def media_entry(self, media_id: str) -> MediaEntry | None:
        """One stored upload (a cluster's gateway, which keeps no media index, serves files with it)."""
        ...

    async def media_in_message(self, group_id: str, seq: int, media_id: str) -> bool:
        """Does that delivered, undeleted message carry this media?"""
        ...

    async def files_of(self, group_id: str | None, seq: int | None, post_id: int | None) -> list[str]:
        """The SHA-256s of the files a message (``group_id``, ``seq``) or a post carries, sorted."""
        ...

    async def file_stored(self, sha256: str) -> bool:
        """Does some media row hold a file of this digest (stored so, or sent so and stored without
        its metadata)?"""
        ...

    async def uncarried_media(self, created_before: int, after: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of media rows made before ``created_before`` that no message and no
        post carries, in id order, after the id ``after``."""
        ...

    async def referenced_media_files(self, sha256s: list[str]) -> set[str]:
        """Those of the content digests ``sha256s`` that some media row names (whatever carries
        it): the files on disk that must stay. Read from the database, not from a node's memory,
        so it also knows the rows another node wrote."""
        ...

    async def store_created_at(self) -> int | None:
        """When the database was made (ms since the epoch: its first schema migration, restored
        with it from a backup). The media folder's binding (server/media/binding.py) refuses a
        folder holding files placed long before its database existed."""
        ...


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1))


def media_row(r: Any) -> MediaEntry:
    return MediaEntry(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], int(r[9]), received=r[10])


async def load_media(fetch: Fetch, state: State) -> None:
    """The media index: every stored row, and which of them something carries; the files taken down."""
    state.taken_down.update(str(r[0]) for r in await fetch(LOAD_TAKEN_DOWN))
    index = state.media
    for r in await fetch(LOAD_MEDIA):
        index.add(media_row(r))
    for (media_id,) in await fetch(LOAD_CARRIED):
        e = index.get(media_id)
        if e is not None:
            e.attached = True
