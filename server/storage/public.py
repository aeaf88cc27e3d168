"""Public accounts in the store, backend-neutral: the rows the reads return, the reads every
backend provides (:class:`PublicAccountReads`, part of the ``Store`` protocol), and loading the
accounts into memory at start (called by :func:`server.storage.loading.load_state`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from governance.public_accounts import name_readings
from protocol.errors import ContractError
from server.state import Account
from server.storage import changes as c

if TYPE_CHECKING:
    from server.state import State
    from server.storage.loading import Fetch


class PostRow(NamedTuple):
    post_id: int
    account_id: str
    author_id: str
    title: str
    body: str
    attachments: str  # a JSON array of attachment objects (no url)
    comments_mode: str
    ts: int
    held: int
    reads: int
    gone: bool  # deleted by the account or removed by an operator
    comment_count: int  # visible comments


class CommentRow(NamedTuple):
    comment_id: int
    post_id: int
    user_id: str
    text: str
    reply_to: int | None
    ts: int
    status: str  # visible | held | hidden | deleted | rejected (by the platform's review)
    review: str | None  # the filter's category while the platform has yet to review it


# The columns the backends select for the rows above (the same order as the fields).
POST_SELECT = (
    "SELECT p.post_id, p.account_id, p.author_id, p.title, p.body, p.attachments, p.comments_mode, p.ts,"
    " p.held, p.reads, (p.deleted_at IS NOT NULL OR p.removed_at IS NOT NULL),"
    " p.visible_comments FROM posts p"  # (kept by triggers on comments: SQLite 45, PostgreSQL 42)
)
COMMENT_SELECT = "SELECT comment_id, post_id, user_id, text, reply_to, ts, status, review FROM comments"
# The comment a reply names, still one its author sees (as ``comment`` checked it from memory): a
# visible one, or their own held one. Parameters: the parent's id, the post's, the replier's.
REPLY_PARENT = ("SELECT 1 FROM comments WHERE comment_id = ? AND post_id = ?"
                " AND (status = 'visible' OR (status = 'held' AND user_id = ?))")
# Whether the store holds a user as an account's owner or one of its editors (changes.ManagesAccount).
MANAGER = ("SELECT 1 FROM accounts WHERE account_id = ? AND owner_id = ?"
           " UNION ALL SELECT 1 FROM account_editors WHERE account_id = ? AND user_id = ? LIMIT 1")


def not_a_manager(m: c.ManagesAccount) -> ContractError:
    return ContractError("forbidden", f"you are neither the owner nor an editor of public account {m.account_id}")
GONE_COMMENT = ("deleted", "rejected")  # the statuses of a comment nobody sees or acts on any more
REJECTED_PREFIX = "rejected in content review: "  # a rejected post's removed_reason starts so
# Lifting the platform's hold on comment $1: visible, or still held for the account's approval on a
# post in review mode, or as hidden or deleted as the account's managers left it meanwhile.
RELEASE_COMMENT = (
    "UPDATE comments SET review = NULL, status = CASE WHEN status <> 'held' THEN status"
    " WHEN (SELECT p.comments_mode FROM posts p WHERE p.post_id = comments.post_id) = 'review' THEN 'held'"
    " WHEN (SELECT q.status FROM comments q WHERE q.comment_id = comments.reply_to) <> 'visible' THEN 'held'"
    " ELSE 'visible' END WHERE comment_id = $1 AND review IS NOT NULL RETURNING status"
)

# A held post's account deletes it ($1: when, $2: the post): its open review item is settled with it.
# (Only a held post has one: a post the word lists flag is published and recorded, never queued.)
WITHDRAW_POST_REVIEW = (
    "UPDATE review_queue SET status = 'decided', decision = 'withdrawn', note = 'deleted by its account',"
    " decided_at = $1 WHERE status = 'open' AND kind = 'post' AND post_id = $2"
    " AND EXISTS (SELECT 1 FROM posts WHERE post_id = $2 AND held = 1 AND deleted_at IS NULL AND removed_at IS NULL)"
)


def comments_query(post_id: int, before: int | None, limit: int, viewer_id: str,
                   manager: bool) -> tuple[str, list[Any]]:
    """The comments of a post its viewer may see, newest first: ``?`` placeholders, both backends.

    Managers see held and hidden ones too; anyone else the visible ones and their own held ones."""
    seen = "status IN ('visible', 'held', 'hidden')" if manager else \
        "(status = 'visible' OR (status = 'held' AND user_id = ?))"
    sql = COMMENT_SELECT + f" WHERE post_id = ? AND {seen}"
    params: list[Any] = [post_id] if manager else [post_id, viewer_id]
    if before is not None:
        sql += " AND comment_id < ?"
        params.append(before)
    return sql + " ORDER BY comment_id DESC LIMIT ?", [*params, limit]


# Which count reached ``public_accounts.max_per_subject`` (see cap_counts below).
CAP_REASONS = {
    "organisation": "one organisation may run at most {cap} public accounts",
    "person": "one person may run at most {cap} public accounts of their own",
    "opener": "one person may open at most {cap} organisation accounts",
}


def cap_counts(key: str, person: str, ph: str = "?") -> list[tuple[str, str, str]]:
    """The counts ``max_per_subject`` caps for a new account of subject ``key`` opened by
    ``person`` (both keyed hashes): (which, SQL condition with placeholder ``ph``, its parameter).

    The contract's cap is per subject: an organisation's open accounts, or a person's own. An
    organisation's code is checked for form only, so the accounts of organisations one person
    opens are capped too, apart from their own: typing new codes opens no more than the cap."""
    if key == person:
        return [("person", f"subject_key = {ph}", person)]
    return [("organisation", f"subject_key = {ph}", key),
            ("opener", f"opener_key = {ph} AND subject_key <> opener_key", person)]


def cap_refusal(cap: int, which: str) -> ContractError:
    return ContractError("create_cap_reached", CAP_REASONS[which].format(cap=cap)
                         + " (an account closed while the platform suspends it counts until the suspension ends)")


def counted(now_ph: str = "?") -> str:
    """The accounts ``max_per_subject`` counts: open ones, and closed ones the platform still suspends
    for themselves (P13): a ``suspend_account`` sanction on the account, neither lifted nor ended.
    Without those, an owner could close a suspended account, which frees its slot, and open a fresh
    one with new credit at once: the suspension would end the moment they wanted.

    Not the suspension a category's freeze gave it (``cause`` ``freeze``; the stored
    ``suspended_until`` is the later of both ends, so it cannot tell them apart): the freeze is no
    measure on the account, a new one of its category is refused until the freeze ends, and one in
    another category carries no freeze (``InsertAccount.STANDING_SUSPENSIONS``). Counted, an account
    its owner closed during a freeze held its subject's place until the freeze ended, for nothing."""
    return ("(closed_at IS NULL OR EXISTS (SELECT 1 FROM sanctions s WHERE s.target_type = 'account'"
            " AND s.target_id = accounts.account_id AND s.kind = 'suspend_account' AND s.lifted_at IS NULL"
            f" AND s.cause IS NULL AND s.expires_at > {now_ph}))")


def post_row(r: Sequence[Any]) -> PostRow:
    return PostRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]), int(r[11]))


# A comment's post as the comment's moderation finds it in its transaction (changes.Moderated).
MODERATED_POST = ("SELECT p.held, (p.deleted_at IS NOT NULL OR p.removed_at IS NOT NULL)"
                  " FROM posts p JOIN comments c ON c.post_id = p.post_id WHERE c.comment_id = ?")


# A comment's status and review, and the status of the comment it replies to (NULL: none), as its
# moderation reads them in its transaction (moderation_refusal).
MODERATED_COMMENT = ("SELECT c.status, c.review, q.status FROM comments c"
                     " LEFT JOIN comments q ON q.comment_id = c.reply_to WHERE c.comment_id = ?")


def moderation_refusal(m: c.ModerateComment, row: Any) -> ContractError | None:
    """Why a moderation cannot apply to a comment whose (status, review, status of the comment it
    replies to) is ``row`` (None: it can). A reply is shown only with what it replies to: shown alone,
    it would point every reader at a comment they cannot see."""
    if row is None or row[0] in GONE_COMMENT:
        return ContractError("not_found", f"no comment {m.comment_id}")
    if m.status == "visible" and row[1] is not None:
        return ContractError("forbidden", "this comment waits for the platform's review")
    if m.status == "visible" and row[2] is not None and row[2] != "visible":
        return ContractError("forbidden", "this comment replies to one that is not shown: approve that one first")
    return None


class PublicAccountReads(Protocol):
    async def account_posts(self, account_id: str, before: int | None, limit: int,
                            include_held: bool) -> list[PostRow]:
        """Posts neither deleted nor removed, newest first, with ``post_id < before``; held ones
        only when ``include_held`` (for the account's managers)."""
        ...

    async def post(self, post_id: int) -> PostRow | None:
        """One post, whatever its state, or None."""
        ...

    async def post_comments(self, post_id: int, before: int | None, limit: int, viewer_id: str,
                            manager: bool) -> list[CommentRow]:
        """The comments ``viewer_id`` may see, newest first, with ``comment_id < before``: visible
        ones, their own held ones; a manager also sees every held and hidden one."""
        ...

    async def comment(self, comment_id: int) -> CommentRow | None:
        """One comment, whatever its status, or None."""
        ...


ACCOUNTS = ("SELECT account_id, name, name_key, category, intro, subject_type, subject_key, org_name, owner_id,"
            " created_at, labels, credit_score, comments_restricted, suspended_until, closed_at, opener_key,"
            " carried FROM accounts")
# The account suspensions not lifted (a lifted one is carried no more; see InsertAccount's own query
# for what a new account takes on).
UNLIFTED_ACCOUNT_SUSPENSIONS = ("SELECT id FROM sanctions WHERE target_type = 'account' AND kind = 'suspend_account'"
                        " AND lifted_at IS NULL")
LAST_POSTS = "SELECT account_id, MAX(ts) FROM posts GROUP BY account_id"
EDITORS = "SELECT account_id, user_id FROM account_editors"
SUBSCRIPTIONS = "SELECT account_id, user_id FROM subscriptions"
BARRED = "SELECT subject_key FROM barred_subjects"
READINGS = "SELECT reading, account_id FROM account_name_readings"

# Every account's lookalike readings of its name (``account_name_readings``: one account per reading,
# governance.public_accounts.name_readings) follow its name: each change that sets a name sets them
# (``InsertAccount``; ``SetAccountFields`` and ``SetShownText`` when the name changes, so restating it
# never meets a reading held by another), refused ``conflict`` with this reason when another account
# holds one. The plain key (``name_key``, unique too) is refused as ``that account name is taken``.
READING_TAKEN = "that account name reads as the name of another account"
DROP_READINGS = "DELETE FROM account_name_readings WHERE account_id = ?"
HOLD_READING = "INSERT INTO account_name_readings (reading, account_id) VALUES (?, ?)"
# The names already there when account_name_readings was made (SQLite 59, PostgreSQL 57), oldest first.
NAMES_OLDEST_FIRST = "SELECT account_id, name FROM accounts ORDER BY created_at, account_id"


def reading_rows(account_id: str, name: str) -> list[tuple[str, str]]:
    """The rows of ``account_name_readings`` that account ``account_id`` named ``name`` holds, in one
    order (two writers holding readings of the same names take their keys in the same order)."""
    return [(r, account_id) for r in sorted(name_readings(name))]


def first_readings(names: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    """The rows the upgrade that made ``account_name_readings`` fills it with, from the accounts already
    there (account id, name; oldest first): each reading goes to the first account whose name has it.
    Of two accounts whose names read alike before the rule existed, both keep their names, and the
    later does not hold the reading they share, so no third can take it while the older keeps its name,
    and the later cannot come back to it: a rename of its to another name holds the new name's readings,
    if free. Not yet: when the older is renamed, the reading is freed, not handed to the later, and a
    third account could then take a name that reads as the later's (docs/protocol.md, ``conflict``)."""
    held: dict[str, str] = {}
    for aid, name in names:
        for reading, _ in reading_rows(aid, name):
            held.setdefault(reading, aid)
    return list(held.items())


async def load_accounts(fetch: Fetch, state: State) -> None:
    """Accounts, their editors and subscribers, the barred subjects: what the handlers check
    from memory (names, roles, caps) and what fan-out needs (who follows which account)."""
    users = state.users
    carrying: list[tuple[Account, list[list[Any]]]] = []
    for row in await fetch(ACCOUNTS):
        a = Account(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
                    labels=tuple(json.loads(row[10])), credit_score=row[11], comments_restricted=bool(row[12]),
                    suspended_until=row[13], closed_at=row[14], opener_key=row[15])
        if row[16] != "[]":
            carrying.append((a, json.loads(row[16])))
        state.accounts[a.account_id] = a
        state.account_names[a.name_key] = a.account_id
        owner = users.get(a.owner_id)
        if owner is not None:
            owner.add_managed(a.account_id)
    if carrying:
        standing = {int(sid) for (sid,) in await fetch(UNLIFTED_ACCOUNT_SUSPENSIONS)}
        for a, carried in carrying:
            state.carry(a, ((int(sid), str(src), int(until)) for sid, src, until in carried if int(sid) in standing))
    for aid, ts in await fetch(LAST_POSTS):
        state.accounts[aid].last_post_at = int(ts)
    for aid, uid in await fetch(EDITORS):
        a = state.accounts[aid]
        a.editors.add(uid)
        if uid in users:
            users[uid].add_managed(aid)
    for aid, uid in await fetch(SUBSCRIPTIONS):
        state.accounts[aid].subscribers.add(uid)
        if uid in users:
            users[uid].add_subscription(aid)
    state.barred_subjects.update(key for (key,) in await fetch(BARRED))
    state.account_readings.update((str(r), str(aid)) for r, aid in await fetch(READINGS))
