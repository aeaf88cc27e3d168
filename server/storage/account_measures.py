"""The platform's side of public accounts in the store, backend-neutral: the reads operator
commands, exports and the filing report need (:class:`AccountMeasureReads`, part of the ``Store``
protocol) and the column lists of the rows they return.

Each backend implements the reads (``sqlite_account_measures.py``, ``postgres_account_measures.py``)
and the changes ``RemovePost`` and ``UnbarSubjects``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

ACCOUNT_ROW_COLS = ("account_id", "name", "category", "intro", "subject_type", "subject_key", "org_name",
                    "org_code", "owner_id", "labels", "credit_score", "comments_restricted", "suspended_until",
                    "created_at", "closed_at", "closed_reason")
POST_COLS = ("post_id", "account_id", "author_id", "title", "body", "attachments", "comments_mode", "ts", "held",
             "reads", "deleted_at", "deleted_by", "removed_at", "removed_reason")
COMMENT_COLS = ("comment_id", "post_id", "user_id", "text", "reply_to", "ts", "status", "review", "moderated_by",
                "moderated_at")


class AccountFigures(NamedTuple):
    """What the classification of one account is computed from (P7)."""

    posts: int  # published, neither deleted nor removed
    reads: int  # all reads of its posts
    recent_reads: int  # reads made since the start of the window asked for


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

    async def person_key(self, user_id: str) -> str | None:
        """The subject key of a user's verified person (their ID number's keyed hash, hex), or None."""
        ...

    async def export_account(self, account_id: str, since: int, until: int) -> dict[str, Any]:
        """An account's records with ``since <= ts < until``: ``posts`` (deleted, removed and held ones
        included; ``POST_COLS``), ``comments`` on them (``COMMENT_COLS``), ``editors`` (user_id,
        added_at), ``sanctions`` on the account (the keys of ``sanctions``), ``audit`` entries naming
        it (as ``target_id``, or as ``account_id`` in their detail: the content filter's hits on its
        posts and comments, recorded against their author), and ``account`` (its row, or None)."""
        ...
