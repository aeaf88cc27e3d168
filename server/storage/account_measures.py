"""The platform's side of public accounts in the store, backend-neutral: the reads operator
commands, exports and the filing report need (:class:`AccountMeasureReads`, part of the ``Store``
protocol) and the column lists of the rows they return.

Each backend implements the reads (``sqlite_account_measures.py``, ``postgres_account_measures.py``)
and the changes ``RemovePost`` and ``UnbarSubjects``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from server.storage.public import COMMENT_SELECT, CommentRow, PostRow

ACCOUNT_ROW_COLS = ("account_id", "name", "category", "intro", "subject_type", "subject_key", "org_name",
                    "org_code", "owner_id", "labels", "credit_score", "comments_restricted", "suspended_until",
                    "created_at", "closed_at", "closed_reason", "carried")
POST_COLS = ("post_id", "account_id", "author_id", "title", "body", "attachments", "comments_mode", "ts", "held",
             "reads", "deleted_at", "deleted_by", "removed_at", "removed_reason")
COMMENT_COLS = ("comment_id", "post_id", "user_id", "text", "reply_to", "ts", "status", "review", "moderated_by",
                "moderated_at")
# What an account's export holds of its posts and comments in a range (``?`` pairs: since, until): those
# made in it, and, as a group's export holds a message edited or deleted in it, those deleted, removed
# or moderated in it (a post published before the range and removed in it came without the post).
EXPORTED_POST = ("((ts >= ? AND ts < ?) OR (deleted_at >= ? AND deleted_at < ?)"
                 " OR (removed_at >= ? AND removed_at < ?))")
EXPORTED_COMMENT = "((c.ts >= ? AND c.ts < ?) OR (c.moderated_at >= ? AND c.moderated_at < ?))"
# The comments an account's export holds (``?``: the account, then since, until twice), by id: read
# whole by ``export_account``, or by a cursor of the export's snapshot a page at a time
# (``ExportReads.export_account_comments``).
ACCOUNT_EXPORT_COMMENTS = ("SELECT " + ", ".join("c." + col for col in COMMENT_COLS) +
                           " FROM comments c JOIN posts p ON p.post_id = c.post_id"
                           " WHERE p.account_id = ? AND " + EXPORTED_COMMENT + " ORDER BY c.comment_id")
# The posts an account's export holds (``?``: the account, then since, until three times), by id: read
# whole by ``export_account``, or a page at a time (``ExportReads.export_posts``).
ACCOUNT_EXPORT_POSTS = ("SELECT " + ", ".join(POST_COLS) + " FROM posts WHERE account_id = ? AND " + EXPORTED_POST
                        + " ORDER BY post_id")
# The posts a user wrote in a range (``?``: the user, since, until), as author (owner or editor), by id.
USER_EXPORT_POSTS = ("SELECT " + ", ".join(POST_COLS) + " FROM posts WHERE author_id = ? AND ts >= ? AND ts < ?"
                     " ORDER BY post_id")
# The comments a user wrote in a range (``?``: the user, since, until), each with its post's account, by id.
USER_EXPORT_COMMENTS = ("SELECT " + ", ".join("c." + col for col in COMMENT_COLS) + ", p.account_id"
                        " FROM comments c JOIN posts p ON p.post_id = c.post_id"
                        " WHERE c.user_id = ? AND c.ts >= ? AND c.ts < ? ORDER BY c.comment_id")


# The pages ``remove-term`` scans (``?`` placeholders, both backends): shown posts (neither held, deleted
# nor removed; ``comment_count`` is not counted, 0) and comments neither deleted, rejected nor waiting for
# the platform's review, each in id order after the one given.
SHOWN_POSTS_PAGE = (
    "SELECT post_id, account_id, author_id, title, body, attachments, comments_mode, ts, held, reads, 0, 0"
    " FROM posts WHERE post_id > ? AND held = 0 AND deleted_at IS NULL AND removed_at IS NULL"
    " ORDER BY post_id LIMIT ?"
)
LIVE_COMMENTS_PAGE = (
    COMMENT_SELECT + " WHERE comment_id > ? AND status IN ('visible', 'held', 'hidden') AND review IS NULL"
    " ORDER BY comment_id LIMIT ?"
)


class AccountFigures(NamedTuple):
    """What the classification of one account is computed from (P7)."""

    posts: int  # published, neither deleted nor removed
    reads: int  # all reads of its posts
    recent_reads: int  # reads made since the start of the window asked for


# The accounts whose person the retention purge erased: their keys replaced (sqlite_records.UNLINK_ACCOUNTS).
ERASED_ACCOUNT_KEYS = ("SELECT account_id, subject_key, opener_key FROM accounts"
                       " WHERE subject_key LIKE 'erased:%' OR opener_key LIKE 'erased:%'")


class AccountMeasureReads(Protocol):
    async def account_row(self, account_id: str) -> dict[str, Any] | None:
        """The stored row of an account (keys: ``ACCOUNT_ROW_COLS``; ``labels`` a JSON array), or None."""
        ...

    async def account_figures(self, since: int) -> dict[str, AccountFigures]:
        """Posts and reads of every account that has a post, by account id; ``recent_reads``: reads
        with ``ts >= since``."""
        ...

    async def org_codes(self) -> dict[str, str]:
        """The unified social credit code of every organisation account, by account id."""
        ...

    async def erased_account_keys(self) -> dict[str, tuple[str, str | None]]:
        """The subject and opener keys of the accounts whose person was erased (retention, P9), by
        account id: the keys that replaced their ID number's keyed hash (``sqlite_records.UNLINK_ACCOUNTS``)."""
        ...

    async def person_key(self, user_id: str) -> str | None:
        """The subject key of a user's verified person (their ID number's keyed hash, hex), or None."""
        ...

    async def sealed_legal_names(self, user_ids: list[str]) -> list[bytes]:
        """The legal names of those of ``user_ids`` who verified one, sealed (``IdentityVault.open`` reads
        them), in one read (a group's members: an operator's reason masks them all)."""
        ...

    async def logins_of_person(self, person: str) -> list[str]:
        """The user ids verified with the ID number whose subject key is ``person`` (:meth:`person_key`),
        cancelled accounts included, by user id."""
        ...

    async def shown_posts_page(self, after: int, limit: int) -> list[PostRow]:
        """Up to ``limit`` posts readers are shown (neither held, deleted nor removed), by ``post_id``
        after ``after``; ``comment_count`` is 0 (not counted)."""
        ...

    async def live_comments_page(self, after: int, limit: int) -> list[CommentRow]:
        """Up to ``limit`` comments neither deleted, rejected nor waiting for the platform's review (the
        ones ``remove-comment`` takes), by ``comment_id`` after ``after``."""
        ...

    async def export_account(self, account_id: str, since: int, until: int, paged: bool = False
                             ) -> dict[str, Any]:
        """An account's records with ``since <= ts < until``: ``posts`` (deleted, removed and held ones
        included; ``POST_COLS``), ``comments`` on them (``COMMENT_COLS``), ``editors`` (user_id,
        added_at), ``sanctions`` on the account (the keys of ``sanctions``), ``audit`` entries naming
        it (as ``target_id``, or as ``account_id`` in their detail: the content filter's hits on its
        posts and comments, recorded against their author), and ``account`` (its row, or None).
        ``paged``: ``posts``, ``comments`` and ``audit`` are empty, the caller reading them a page at a
        time (``ExportReads.export_posts``, ``export_account_comments``, ``export_account_audit``)."""
        ...
