"""What the operator command modules share: argument checks, targets, the record entry, writes."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, TypeVar

from governance.identity import username_key
from governance.moderation import mask_name, redact
from protocol.errors import ContractError
from server.claims import Settles
from server.handlers.common import commit, give_back_credit, known_group, penalize
from server.handlers.common import tell_credit as handlers_tell_credit
from server.operator.channel import INTERNAL_EXIT, LINES_PER_TURN, OperatorError, Result, current_operator
from server.storage.changes import AddCredit, AddSanction, Audit, Change, with_detail

T = TypeVar("T")

if TYPE_CHECKING:
    from server.context import Context
    from server.state import Group, User

log = logging.getLogger("qunguan.operator")

OPERATOR = "operator"  # the actor type of every operator entry; the actor id is the operator's name


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``ordered`` (sorted, not empty), interpolated between the two values
    around it (the median of 1..10 is 5.5, its 90th percentile 9.1; picking ``ordered[int(n * q)]``
    gave 6 and the maximum, 10)."""
    at = q * (len(ordered) - 1)
    below = int(at)
    if below + 1 >= len(ordered):
        return ordered[-1]
    return ordered[below] + (ordered[below + 1] - ordered[below]) * (at - below)


def operator_name() -> str:
    """The name of the operator running the current command (``operator`` in single-operator mode)."""
    return current_operator().name


# A reason is told to people (a notice, an event) and kept in the record: long enough for a paragraph,
# short enough for a notice on a phone's screen.
MAX_REASON_CHARS = 1000


def reason_of(args: dict[str, Any], key: str = "reason") -> str:
    """The non-empty ``args[key]``, stripped (refused as "--reason is required", or the key's name, otherwise), with
    phone numbers and ID numbers masked; at most MAX_REASON_CHARS characters, and no control
    character but a line break or a tab (an escape sequence would reach terminals' screens).

    An operator's reason is told to people (a group's members read a warning's or a closing's
    reason, a reporter the resolution note) and kept in the record that owners read through
    ``group_log``: a number typed into it would show a person's phone or ID number to others.
    Operators name people by user id or username instead; the masking happens here, once, so
    that no notice, event or record entry made from a reason can carry one.
    """
    value = args.get(key)
    if value is not None and not isinstance(value, str):  # (the channel refuses it first: arguments' kinds)
        raise OperatorError(f"--{key} must be text")
    reason = (value or "").strip()
    if not reason:
        raise OperatorError(f"--{key} is required")
    if len(reason) > MAX_REASON_CHARS:
        raise OperatorError(f"--{key} must be at most {MAX_REASON_CHARS} characters (it has {len(reason)})")
    control = next((c for c in reason if c not in "\n\t" and unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise OperatorError(f"--{key} must not hold a control character (it holds U+{ord(control):04X}): "
                            "line breaks and tabs are the only ones a notice shows")
    return redact(reason)


def optional_reason(args: dict[str, Any], default: str) -> str:
    """``reason_of(args)``, or ``default`` when ``--reason`` is left out or blank (for the commands whose
    reason is optional: one spelling of "no reason" for all of them)."""
    return reason_of(args) if str(args.get("reason") or "").strip() else default


MAX_SECONDS = 10 * 366 * 86400  # a timed measure lasts at most ten years (longer: close or blacklist)


def seconds_of(args: dict[str, Any]) -> int:
    seconds = args.get("seconds")
    if type(seconds) is not int or seconds <= 0:
        raise OperatorError("--seconds must be a positive whole number")
    if seconds > MAX_SECONDS:
        raise OperatorError(f"--seconds must be at most {MAX_SECONDS} (ten years)")
    return seconds


# The largest id a row can have in either store (SQLite INTEGER, PostgreSQL BIGINT). A larger number names
# nothing, and handed to the database it is no lookup but an error (SQLite: OverflowError), so it is refused here.
MAX_ID = (1 << 63) - 1


def is_id(value: object) -> TypeGuard[int]:
    """Whether ``value`` can be a stored row's id: a whole number from 1 to :data:`MAX_ID`."""
    return type(value) is int and 0 < value <= MAX_ID


def id_of(args: dict[str, Any], key: str, refusal: str) -> int:
    """``args[key]`` when :func:`is_id`; otherwise the command is refused with ``refusal``."""
    value = args.get(key)
    if not is_id(value):
        raise OperatorError(refusal)
    return value


# The times an operator may give (epoch milliseconds): from 1970-01-01 to the end of 9998 (UTC). Any
# of them can be written as a date in every time zone (platform time in exports, the operator's own
# in listings); a deadline past year 9999 was stored and then broke every export and listing showing it.
MIN_TIME_MS = 0
MAX_TIME_MS = 253_370_764_800_000 - 1  # 9999-01-01T00:00:00Z, less 1 ms
TIME_RANGE = "from 1970-01-01T00:00Z, 08:00 in UTC+8, to 9998-12-31"


def time_of(args: dict[str, Any], key: str, refusal: str) -> int | None:
    """``args[key]``, a time in epoch milliseconds, or None when absent; refused with ``refusal`` (and the
    range) unless a whole number from :data:`MIN_TIME_MS` to :data:`MAX_TIME_MS` (``qunguan admin``
    sends only those, a script on the socket could send anything)."""
    value = args.get(key)
    if value is None:
        return None
    if type(value) is not int or not MIN_TIME_MS <= value <= MAX_TIME_MS:
        raise OperatorError(f"{refusal} ({TIME_RANGE})")
    return value


async def report_of(app: Context, args: dict[str, Any]) -> int | None:
    """The report ``--report`` names, looked up (``unknown report R``: a mistyped id would tie the measure
    to another complaint, or to none, in the record and every export), or None when not given. Called
    first in each command that takes one, before it reads its target: its await opens no gap between a
    command's checks and its write."""
    if args.get("report_id") is None:
        return None
    report_id = id_of(args, "report_id", "--report must be a report id")
    if await app.store.report(report_id) is None:
        raise OperatorError(f"unknown report {report_id}")
    return report_id


async def group_of(app: Context, args: dict[str, Any]) -> Group:
    """The group ``args`` names, live or ended (an ended one as the store holds it: known_group).
    Awaits for an ended group: callers check again what they act on."""
    gid = str(args.get("group_id") or "")
    g = await known_group(app, gid)
    if g is None:
        raise OperatorError(f"unknown group {gid}")
    return g


async def without_legal_names(app: Context, reason: str, *user_ids: str) -> str:
    """``reason`` with the legal name of each of ``user_ids`` masked (:func:`mask_name`): the people a
    measure names, whose verified names an operator reads beside the case and may type into a reason
    that the group's members, or a group's new owner, are told. (:func:`reason_of` masks phone and ID
    numbers; a name needs the person's own, read here.) Awaits: callers check again after it."""
    for sealed in await app.store.sealed_legal_names(list(dict.fromkeys(user_ids))) if user_ids else ():
        name = app.vault.open(sealed)
        if name:
            reason = mask_name(reason, name)
    return reason


async def without_names_around(app: Context, reason: str, target_type: str | None, target_id: str | None,
                               *users: str | None) -> str:
    """``reason`` with the legal names masked of everyone around a measure's target: the person it
    names (the user, the group's or public account's owner: :func:`answerable`), those who read what is
    said about it (a live group's members: its notices, and its managers the record through
    ``group_log``; a public account's editors) and ``users`` (a message's sender, a post's author, an
    appellant...). The owner of a group when a sanction was taken may have handed it on since: as a
    member still, they are masked with the others. Awaits (one read of every name): callers check
    again after it what they act on."""
    named = [u for u in users if u]
    if target_type is not None:
        named += await answerable(app, target_type, target_id)
        if target_type == "group" and (g := app.state.groups.get(target_id or "")) is not None:
            named += g.members
        elif target_type == "account" and (a := app.state.accounts.get(target_id or "")) is not None:
            named += sorted(a.editors)
    return await without_legal_names(app, reason, *named)


def around_of(group_id: str | None, account_id: str | None) -> tuple[str | None, str | None]:
    """The target :func:`without_names_around` masks around for what is in a group or on a public
    account (a review item, a text of either): the group, else the account, else none."""
    return ("group", group_id) if group_id else ("account", account_id) if account_id else (None, None)


async def answerable(app: Context, target_type: str, target_id: str | None) -> list[str]:
    """The person a sanction or a report on ``target_type`` ``target_id`` names: the user, the group's
    owner (an ended group's too: known_group), or the public account's owner (none for a target no
    longer known)."""
    if target_id is None:
        return []
    if target_type == "user":
        return [target_id]
    holder = await known_group(app, target_id) if target_type == "group" else (
        app.state.accounts.get(target_id) if target_type == "account" else None)
    return [holder.owner_id] if holder is not None else []


def user_of(app: Context, args: dict[str, Any], key: str = "username") -> User:
    """The user ``args[key]`` names: by username (case-insensitive, as they log in) or by user id (as
    listings name people: ``reports``, ``review-queue``, ``sanctions``...). A text that is one user's
    username and another's id names neither: refused, saying what names each of them alone."""
    name = args.get(key)
    name = name.strip() if isinstance(name, str) else ""
    by_name = app.state.by_username.get(username_key(name)) if name else None
    by_id = name if name in app.state.users else None
    if by_name is not None and by_id is not None and by_name != by_id:
        named, other = app.state.users[by_name], app.state.users[by_id]
        raise OperatorError(f"{name} names two users: {user_label(app, by_name)}, whose username it is, and "
                            f"{user_label(app, by_id)}, whose user id it is; name the one meant by "
                            f"{named.user_id} or by {other.username}")
    uid = by_name or by_id
    if uid is None:
        raise OperatorError(f"unknown user {name} (give a username or a user id)")
    return app.state.users[uid]


def username_of(app: Context, user_id: str | None) -> str | None:
    """The username of the user ``user_id`` names (None for none, or a user the server does not know)."""
    user = app.state.users.get(user_id) if user_id else None
    return user.username if user is not None else None


def user_label(app: Context, user_id: str) -> str:
    """``zhangsan (u3f0...)``: a user as a one-line outcome names them, by username and id."""
    name = username_of(app, user_id)
    return f"{name} ({user_id})" if name is not None else user_id


def target_label(app: Context, target_type: str, target_id: str) -> str:
    """``group 4821093312``, ``account 730012845``, ``user zhangsan (u3f0...)``."""
    return f"user {user_label(app, target_id)}" if target_type == "user" else f"{target_type} {target_id}"


def with_usernames(app: Context, row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``row`` with, after each of its user-id keys in ``names``, that user's username under the key it
    maps to (null when the row names nobody there): listings name people both ways, so that an operator
    can act on the person at once. Only the username: never a phone, legal name or ID number."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key in names:
            out[names[key]] = username_of(app, value)
    return out


def audit(app: Context, action: str, reason: str, group_id: str | None = None, target_id: str | None = None,
          **detail: Any) -> Audit:
    """An enforcement-record entry made by the operator, now."""
    return Audit(app.now_ms(), OPERATOR, operator_name(), action, group_id, target_id, reason, detail or None)


def sanction(kind: str, target_type: str, target_id: str, reason: str, now: int,
             expires_at: int | None = None, report_id: int | None = None, credit_taken: int = 0,
             actor: str | None = None) -> AddSanction:
    """A sanction row by ``actor`` (``system`` for the server's own), by default the operator."""
    return AddSanction(kind, target_type, target_id, reason, actor or operator_name(), now, expires_at, report_id,
                       credit_taken)


def points_of(change: Change | None) -> int:
    """The points a :func:`penalty` took (0 for none), for its sanction's ``credit_taken``."""
    return -change.delta if isinstance(change, AddCredit) else 0


def changes(*items: Change | None) -> list[Change]:
    """The changes given, without the Nones (``penalize`` returns None for no penalty)."""
    return [c for c in items if c is not None]


async def apply(app: Context, *items: Change, audit: Audit | None = None,
                undo: Callable[[], None] | None = None, claim: Settles | None = None,
                conflict: str | None = None) -> list[Any]:
    """Apply ``items`` and ``audit`` in one transaction; returns each change's result.

    The write rule of the handlers (``server.handlers.common.commit``): when the store
    refuses (a re-check inside the transaction failed, or the write itself), ``undo``
    puts memory back first, and ``claim`` is settled by the write's outcome. A refused
    re-check (``ContractError`` "conflict") becomes an :class:`OperatorError` with
    ``conflict`` as its reason when one is given.

    A command that takes one sanction has its record entry written with it
    (``AddSanction.record``): the entry carries the new ``sanction_id`` and, when the sanction
    answers a complaint, its ``report_id``, so the record itself (and an export, which holds no
    sanctions table) says which row and which complaint a measure was.
    """
    new = [i for i, item in enumerate(items) if isinstance(item, AddSanction) and item.record is None]
    if audit is not None and len(new) == 1:
        [at] = new
        one = items[at]
        assert isinstance(one, AddSanction)
        entry = audit if one.report_id is None else with_detail(audit, report_id=one.report_id)
        items = (*items[:at], replace(one, record=entry), *items[at + 1:])
        audit = None
    try:
        return await commit(app, *items, audit=audit, undo=undo, claim=claim)
    except Exception as err:
        if conflict is not None and isinstance(err, ContractError) and err.code == "conflict":
            raise OperatorError(conflict) from None
        raise


def penalty(app: Context, user: User | None, points: int) -> tuple[Change | None, Callable[[], None]]:
    """Lower ``user``'s credit in memory now; (the change that stores it or None, the undo for a failed write)."""
    told = user.credit_told if user is not None else 0
    change = penalize(user, points) if user is not None else None

    def undo() -> None:
        if change is not None and user is not None:
            give_back_credit(app, user, points, told)

    return change, undo


class Scored(Protocol):
    """What holds a credit score: a user, a public account."""

    credit_score: int
    credit_told: int


def credit_delta(holder: Scored, delta: int, give_back: Callable[[int, int], None]
                 ) -> tuple[int, Callable[[], None], Callable[[], None]]:
    """An operator's change of ``holder``'s score by ``delta`` (``credit``, ``account-credit``), stored as
    a delta: a penalty or another change claimed while its write is in flight is not lost. A cut binds at
    once, claimed in memory before the write; a raise loosens what follows the level (caps, the publishing
    pace, comments), so it reaches memory only once stored: something decided on a raised level whose
    write the store then refused would outlive it. Returns (the score the record entry names, the undo
    for a refused write: ``give_back(points, told)`` for a cut, and what to call once it is stored)."""
    told = holder.credit_told
    if delta < 0:
        holder.credit_score += delta
    score = holder.credit_score + max(delta, 0)

    def undo() -> None:  # (points taken and not after all: told again if a notice counted them meanwhile)
        if delta < 0:
            give_back(-delta, told)

    def stored() -> None:  # (no await between the write and this)
        if delta > 0:
            holder.credit_score += delta

    return score, undo, stored


def tell_credit(app: Context, user: User, score: int, delta: int, why: str, **extra: Any) -> int:
    """The one credit notice (:func:`server.handlers.common.tell_credit`) of an operator's command: tell
    ``user`` their score changed by ``delta`` to ``score``, ``by`` the operator; returns the level."""
    return handlers_tell_credit(app, user, score, delta, why, by=operator_name(), **extra)


def tell_penalty(app: Context, user: User | None, pen: Change | None, why: str, **extra: Any) -> None:
    """After the write: tell ``user`` what the :func:`penalty` ``pen`` cost them (:func:`tell_credit`; nothing
    when it took no points). Every operator command that takes points from a user calls this, so their
    score and level on screen never go stale."""
    if user is not None and isinstance(pen, AddCredit):
        tell_credit(app, user, user.credit_score, pen.delta, why, **extra)


async def each_id(ids: Any, one: Callable[[Any], Awaitable[Result]], what: str) -> Result:
    """A command given one id or several (``decide 3 4 5``, ``resolve 7 8``): with one, that one's
    result, its refusal the command's as ever; with several, each done alone in the order given, a
    refused one said on its own line and the others still done, then how many were not (exit 2)."""
    if not isinstance(ids, list) or len(ids) == 1:
        return await one(ids[0] if isinstance(ids, list) else ids)
    lines: list[str] = []
    failed = 0
    for item in ids:
        try:
            lines += (await one(item)).lines
        except (OperatorError, ContractError) as err:  # (a refusal of this one: the others go on)
            failed += 1
            lines.append(f"{item}: {err.reason}" if isinstance(err, ContractError) else str(err))
        except Exception:  # (a fault nobody expected: what was done is said, the rest not tried)
            log.exception("operator command failed at %r", item)
            lines.append(f"{item}: internal error, see the server log; the ones after it were not tried")
            return Result(lines, exit=INTERNAL_EXIT)
    if failed:
        lines.append(f"{failed} of {len(ids)} {what}")
    return Result(lines, exit=2 if failed else 0)


async def in_turns(items: Iterable[T], per_turn: int) -> AsyncIterator[list[T]]:
    """``items`` (taken as they are now) ``per_turn`` at a time, a turn of the loop between: work over
    tens of thousands of rows or targets done in one step holds every connection up."""
    every = list(items)
    for start in range(0, len(every), per_turn):
        if start:
            await asyncio.sleep(0)
        yield every[start:start + per_turn]


async def lines_in_turns(rows: Sequence[Any], line: Callable[[Any], str | None]) -> list[str]:
    """``line(row)`` of each row, :data:`LINES_PER_TURN` a turn; a row whose line is None is left out."""
    lines: list[str] = []
    async for part in in_turns(rows, LINES_PER_TURN):
        lines += [made for r in part if (made := line(r)) is not None]
    return lines
