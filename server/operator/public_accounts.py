"""Operator measures on public accounts (P4, P7, P8, P10-P13), reached through :mod:`server.operator`.

Every command names a reason (``--reason``), writes its change, its sanction row
(for a measure) and its enforcement-record entry under the operator's name in
one transaction, and then tells the account's owner and editors with a
``notice`` carrying ``account_id``. The effect is in memory before the write
(claimed with no ``await`` since the check, undone if the store refuses), so the
next ``publish`` or ``comment`` sees it at once.

- ``warn-account AID --reason [--deadline ISO]``: a warning to rectify (sanction ``warning``).
- ``restrict-account AID --comments off|on --reason``: comments off (P12, sanction
  ``restrict_comments``; ``account_info.status`` is ``restricted``) or back on (the
  standing restrictions are lifted).
- ``suspend-account AID --seconds N --reason``: no publishing, and no change to the account's name or
  introduction, until then (``forbidden``).
- ``close-account AID --reason``: closed for good; online subscribers get a notice too.
- ``license-account AID --news|--government|--verified [--revoke] --reason``: the labels that
  let a ``news`` (P8) or ``government`` (P4) account publish, or the platform's confirmation of
  an organisation (``verified``; a person's account is verified by their ID number already).
- ``grant-name AID [--name NAME] [--org-name ORG] --reason``: a name (or an organisation's name)
  that is, or contains, a reserved name, which only the platform grants once it has checked the
  subject's right to it; every other rule of ``update_account`` still applies.
- ``account-credit AID --delta N --reason``: the account's credit score (its level gates
  the publishing interval and comments, :mod:`governance.public_accounts`).
- ``remove-post POST_ID --reason``: the post leaves ``posts`` (kept for the record).
- ``remove-comment COMMENT_ID --reason``: one comment disappears for everyone (kept for the
  record); its author is told and loses credit, as for a comment rejected in review.
- ``accounts [--subject USERNAME]``: one JSON object per account with its classification.

A suspension and a post removal also cost the account ``credit.penalty_sanction``
points. ``blacklist`` (server/operator/groups_people.py) closes the accounts of the
user's verified person (any of their logins, and the organisation accounts they opened)
and bars that person and those organisations through :func:`blacklist_plan`; lifting a
blacklist lifts those bars again (:func:`unbar_on_lift`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from governance.public_accounts import (
    GRANTABLE,
    VERIFIED,
    account_classes,
    account_level,
    normalize_name,
    reserved_hit,
    shown_labels,
)
from governance.retention import DAY_MS
from governance.sanctions import standing_until
from protocol import events as ev
from protocol.errors import ContractError
from server.claims import OnceStored
from server.fanout import publish, publish_many
from server.handlers.posts import announce_comment_gone, announce_post_gone
from server.handlers.public_accounts import (
    MAX_NAME_CHARS,
    MAX_ORG_NAME_CHARS,
    NAME_TAKEN,
    AccountClaim,
    announce_account,
    frozen_meanwhile,
    name_holder,
    screened_text,
)
from server.operator.channel import OperatorError, Result, command
from server.operator.common import (
    apply,
    audit,
    credit_delta,
    id_of,
    operator_name,
    reason_of,
    report_of,
    sanction,
    seconds_of,
    tell_penalty,
    time_of,
    user_of,
    without_names_around,
)
from server.operator.files import files_lock, files_to_take_down, said, take_down
from server.operator.freezing import PartlyFrozen, freeze, partly_frozen, suspend_each, tell_in_turns
from server.operator.message_penalty import comment_cost
from server.operator.sanctions import lock_target, target_lock
from server.state import Closing
from server.storage.changes import (
    AccountsClosed,
    AddAccountCredit,
    AddSanction,
    Audit,
    BarSubject,
    Change,
    LiftSanction,
    ModerateComment,
    RemovePost,
    SetAccountFields,
    SuspendAccountCategory,
)
from server.storage.public import GONE_COMMENT, CommentRow, PostRow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from server.context import Context
    from server.session import Session
    from server.state import Account, User

ACCOUNT = "account"  # the target type of every sanction on a public account
SYSTEM = "system"  # the actor of what the server does by itself
MAX_CREDIT_DELTA = 1_000_000


# -- shared --------------------------------------------------------------------------------
def account_of(app: Context, args: dict[str, Any]) -> Account:
    aid = str(args.get("account_id") or "")
    a = app.state.accounts.get(aid)
    if a is None:
        raise OperatorError(f"unknown account {aid}")
    return a


async def _live(a: Account) -> Account:
    """``a`` when it is open; exit 2 when it is closed. A closing still being stored (its owner's,
    another command's) is waited for first: memory shows the account closed, yet the store may
    refuse that closing and leave it open (:class:`server.state.Closing`)."""
    while a.closing is not None:
        await asyncio.shield(a.closing)
    if a.closed_at is not None:
        raise OperatorError(f"account {a.account_id} is already closed")
    return a


async def _reason(app: Context, args: dict[str, Any], a: Account) -> str:
    """The command's reason, told to the account's owner and editors (and subscribers, for a
    closing): their legal names masked, as phone and ID numbers are."""
    return await without_names_around(app, reason_of(args), ACCOUNT, a.account_id)


async def _live_with_reason(app: Context, args: dict[str, Any]) -> tuple[Account, str]:
    """The open account ``args`` names and the command's :func:`_reason` (read first: a closing
    meanwhile is found after it)."""
    a = account_of(app, args)
    reason = await _reason(app, args, a)
    return await _live(a), reason


def _record(app: Context, action: str, reason: str, a: Account, **detail: Any) -> Any:
    """The record entry of a measure on ``a``: its target is the account id."""
    return audit(app, action, reason, None, a.account_id, target_type=ACCOUNT, **detail)


def _managers(app: Context, a: Account) -> set[Session]:
    users = app.state.users
    out: set[Session] = set()
    for uid in (a.owner_id, *a.editors):
        u = users.get(uid)
        if u is not None:
            out |= u.sessions
    return out


def _tell(app: Context, a: Account, notice: ev.Notice, sessions: Iterable[Session] = ()) -> None:
    """Send ``notice`` to the account's owner and editors (and ``sessions``), each connection once."""
    publish_many(_managers(app, a) | set(sessions), notice)


def tell_account_credit(app: Context, a: Account, score: int, delta: int, why: str | None, **extra: Any) -> int:
    """The one credit notice of a public account: tell its owner and editors (``notice {kind:
    "account_credit"}``) that its score changed by ``delta`` to ``score``, with the level it gives and
    ``extra`` (``reason``: the operator's words; ``sanction_id``: the sanction that took the points, or
    whose points came back); returns the level. Every operator command that changes an account's score
    calls it after its own notice, so the score and level its managers see never go stale. ``why``:
    what ``text`` gives as the cause (None: points given back with ``sanction_id``)."""
    level = account_level(score, app.cfg.public_accounts.levels)
    a.credit_told += 1
    text = (f"the account's credit score changed by {delta} to {score} (level {level}): {why}" if why is not None
            else f"{delta} credit points taken with sanction {extra.get('sanction_id')} were given back: the "
                 f"account's score is now {score} (level {level})")
    _tell(app, a, ev.Notice(kind="account_credit", account_id=a.account_id, by=operator_name(), text=text,
                            credit_score=score, credit_level=level, delta=delta, **extra))
    return level


def give_back_account_credit(app: Context, a: Account, points: int, told: int) -> None:
    """Points claimed from account ``a`` in memory and not taken after all (their write was refused:
    another command took the post down first): back in memory, and its managers told the score as it
    is now (``cause: "given_back"``) when an ``account_credit`` notice went out since they were claimed
    (``told``: ``a.credit_told`` then), whose score counted them (as ``give_back_credit`` for a user's)."""
    a.credit_score += points
    if a.credit_told != told:
        tell_account_credit(app, a, a.credit_score, points, "points counted while another measure was stored "
                            "were not taken after all", cause="given_back")


def _penalty(app: Context, a: Account) -> int:
    """Lower the account's score in memory by the sanction penalty; returns the points taken
    (stored with ``AddAccountCredit(-points)``: a delta, so an undo elsewhere cannot be overwritten)."""
    points = max(0, app.cfg.credit.penalty_sanction)
    a.credit_score -= points
    return points


def _lock(a: Account) -> Any:
    return target_lock({"target_type": ACCOUNT, "target_id": a.account_id})


# -- measures ------------------------------------------------------------------------------
@command("warn-account")
async def warn_account(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    a, reason = await _live_with_reason(app, args)
    deadline = time_of(args, "deadline", "--deadline must be a time in the future")
    now = app.now_ms()
    if deadline is not None and deadline <= now:
        raise OperatorError("--deadline must be a time in the future")
    (sid,) = await apply(app, sanction("warning", ACCOUNT, a.account_id, reason, now, deadline, report_id),
                         audit=_record(app, "warn_account", reason, a, deadline=deadline))
    _tell(app, a, ev.Notice(kind="account_warning", text=reason, account_id=a.account_id, deadline=deadline,
                            sanction_id=str(sid), by=operator_name()))
    return Result([f"warned account {a.account_id} (sanction {sid})"])


@command("restrict-account")
async def restrict_account(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    a, reason = await _live_with_reason(app, args)
    mode = args.get("comments")
    if mode not in ("off", "on"):
        raise OperatorError("--comments must be off or on")
    async with _lock(a):
        if mode == "off":
            return await _comments_off(app, a, reason, report_id)
        return await _comments_on(app, a, reason)


async def _comments_off(app: Context, a: Account, reason: str, report_id: int | None) -> Result:
    await _live(a)  # again, after the wait for the lock: closed meanwhile (by its owner), it is exit 2
    if a.comments_restricted:
        raise OperatorError(f"account {a.account_id}'s comments are already restricted")
    now = app.now_ms()
    a.comments_restricted = True

    def undo() -> None:
        a.comments_restricted = False

    sid, _ = await apply(app, sanction("restrict_comments", ACCOUNT, a.account_id, reason, now, None, report_id),
                         SetAccountFields(a.account_id, {"comments_restricted": True}),
                         audit=_record(app, "restrict_account", reason, a, comments="off"), undo=undo)
    _tell(app, a, ev.Notice(kind="account_restricted", account_id=a.account_id, sanction_id=str(sid),
                            text=f"comments on this account's posts are turned off: {reason}", by=operator_name(),
                            reason=reason))
    return Result([f"restricted comments of account {a.account_id} (sanction {sid})"])


async def _comments_on(app: Context, a: Account, reason: str) -> Result:
    rows = await app.store.sanctions(ACCOUNT, a.account_id)
    # After the read: check and claim with no await between (the target lock keeps lifts out).
    await _live(a)  # (closed meanwhile by its owner: exit 2)
    if not a.comments_restricted:
        raise OperatorError(f"account {a.account_id}'s comments are not restricted")
    now, by = app.now_ms(), operator_name()
    standing = [int(r["id"]) for r in rows if r["kind"] == "restrict_comments" and r["lifted_at"] is None]

    def lifted() -> None:  # (once stored, as a lift: until then comments are still refused)
        a.comments_restricted = False

    lifts: list[Change] = [LiftSanction(sid, now, by, reason) for sid in standing]
    await apply(app, *lifts, SetAccountFields(a.account_id, {"comments_restricted": False}),
                audit=_record(app, "restrict_account", reason, a, comments="on", sanctions_lifted=standing),
                claim=OnceStored(lifted), conflict=f"a restriction of account {a.account_id} was lifted meanwhile")
    _tell(app, a, ev.Notice(kind="account_unrestricted", account_id=a.account_id, by=operator_name(),
                            text=f"comments on this account's posts are allowed again: {reason}", reason=reason))
    return Result([f"comments of account {a.account_id} allowed again"
                   + (f" (lifted sanction {', '.join(map(str, standing))})" if standing else "")])


@command("suspend-account")
async def suspend_account(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    a, reason = await _live_with_reason(app, args)
    seconds = seconds_of(args)
    # Under the lock a lift of the account's other suspension takes: it would otherwise compute the
    # remaining end from a list without this one and overwrite the end claimed here.
    async with _lock(a):
        await _live(a)
        now = app.now_ms()
        until = now + seconds * 1000
        old_until = a.suspended_until
        a.suspended_until = max(old_until, until)  # a shorter suspension never cuts a longer one short
        told = a.credit_told
        points = _penalty(app, a)

        def undo() -> None:
            a.suspended_until = old_until
            give_back_account_credit(app, a, points, told)

        sid = (await apply(app, sanction("suspend_account", ACCOUNT, a.account_id, reason, now, until, report_id,
                                         points),
                           SetAccountFields(a.account_id, {"suspended_until": a.suspended_until}),
                           *([AddAccountCredit(a.account_id, -points)] if points else []),
                           audit=_record(app, "suspend_account", reason, a, seconds=seconds, until=a.suspended_until,
                                         credit_score=a.credit_score),
                           undo=undo))[0]
        score = a.credit_score  # the score now (no await since the write)
        end = a.suspension_end()  # (a suspension it carries may outlast this one)
    _tell(app, a, ev.Notice(kind="account_suspended", account_id=a.account_id, by=operator_name(),
                            text=f"publishing, and changing the name or introduction, are suspended: {reason}",
                            reason=reason, sanction_id=str(sid),
                            deadline=end))
    if points:
        tell_account_credit(app, a, score, -points, f"publishing was suspended: {reason}", reason=reason,
                            sanction_id=str(sid))
    return Result([f"suspended publishing of account {a.account_id} until {end}; credit score "
                   + str(a.credit_score)])


async def close_now(app: Context, a: Account, reason: str, record: Any, report_id: int | None = None) -> None:
    """Close ``a`` for good with its sanction row and ``record``, then tell its managers and online
    subscribers. The closing is claimed in memory first: publishing stops at once."""
    now = app.now_ms()
    a.closed_at = now

    def undo() -> None:
        a.closed_at = None

    await apply(app, SetAccountFields(a.account_id, {"closed_at": now, "closed_reason": reason}),
                sanction("close_account", ACCOUNT, a.account_id, reason, now, None, report_id),
                audit=record, undo=undo, claim=Closing(a))
    _tell(app, a, ev.Notice(kind="account_closed", text=f"the platform closed this account: {reason}",
                            account_id=a.account_id, by=operator_name(), reason=reason), a.online)


@command("close-account")
async def close_account(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    a, reason = await _live_with_reason(app, args)
    await close_now(app, a, reason, _record(app, "close_account", reason, a), report_id)
    return Result([f"closed account {a.account_id}"])


@command("license-account")
async def license_account(app: Context, args: dict[str, Any]) -> Result:
    a = await _live(account_of(app, args))
    reason = await _reason(app, args, a)
    # One licence change at a time per account, from reading its labels until the write is
    # decided: each writes the whole list, so a second one built on the first one's claim would
    # store the first one's label even when the first one's write failed.
    async with lock_target("account_labels", a.account_id):
        return await _license(app, await _live(a), args, reason)


async def _license(app: Context, a: Account, args: dict[str, Any], reason: str) -> Result:
    wanted = [label for label in GRANTABLE if args.get(label)]
    if len(wanted) != 1:
        raise OperatorError("give exactly one of --news, --government or --verified")
    label = wanted[0]
    if label == VERIFIED and a.subject_type != "organization":
        raise OperatorError(f"account {a.account_id} is run by a person, verified by their ID number already; "
                            "--verified confirms an organisation")
    if label == "government" and a.subject_type != "organization" and not args.get("revoke"):
        # P4: government accounts are the organs' own; a person may not open one (create_account),
        # and the label must not make a person's account look like one.
        raise OperatorError(f"account {a.account_id} is run by a person; the government licence is for "
                            "accounts of party and government organs (organisations)")
    revoke = bool(args.get("revoke"))
    what = "organisation confirmation" if label == VERIFIED else f"{label} licence"
    if (label in a.labels) != revoke:
        raise OperatorError(f"account {a.account_id} {'has no' if revoke else 'already has the'} {what}")
    old = a.labels
    labels = tuple(x for x in old if x != label) if revoke else (*old, label)
    # A revocation binds at once, claimed before its write (a news post is refused from now on); a
    # grant lets the account do more (publish news, P8), so it reaches memory only once stored: a
    # post decided on a licence whose write the store then refused would stay published.
    if revoke:
        a.labels = labels

    def undo() -> None:
        a.labels = old

    await apply(app, SetAccountFields(a.account_id, {"labels": json.dumps(list(labels))}),
                audit=_record(app, "license_account", reason, a, label=label, revoke=revoke, labels=list(labels)),
                undo=undo)
    a.labels = labels  # (no await since the write; one licence change at a time: the caller's lock)
    verb = "revoked" if revoke else "granted"
    shown = shown_labels(a.subject_type, a.labels)
    _tell(app, a, ev.Notice(kind="account_licensed", text=f"the platform {verb} the {what}: {reason}",
                            account_id=a.account_id, by=operator_name(), reason=reason, label=label,
                            measure="revoke" if revoke else "grant"))
    return Result([f"account {a.account_id}: {what} {verb}; labels {shown}"])


def _granted_text(app: Context, raw: Any, field: str, most: int) -> str:
    """A name for ``grant-name``, under the rules a user's name is (length, printable, word lists)."""
    try:
        return screened_text(app, str(raw), field, most)
    except ContractError as err:
        raise OperatorError(f"--{field.replace('_', '-')}: {err.reason}") from None


def _carried_from(a: Account, now: int) -> dict[str, Any]:
    """``suspension_carried_from``: the sanctions on its subject's accounts whose suspension this one
    carries and that still stand, each with its account (lift them to end it)."""
    standing = sorted((sid, source) for sid, (source, until) in a.carried.items() if until > now)
    if not standing:
        return {}
    return {"suspension_carried_from": [{"sanction_id": str(sid), "account_id": source} for sid, source in standing]}


@command("grant-name")
async def grant_name(app: Context, args: dict[str, Any]) -> Result:
    """The reserved names (``public_accounts.reserved_names``) are refused to every user; the platform
    gives one to the account of the subject entitled to it (the organisation of that name, the
    holder of the mark), with the same length, uniqueness and word-list rules as ``update_account``."""
    a, reason = await _live_with_reason(app, args)
    if a.suspension_end() > app.now_ms():  # (as update_account is refused meanwhile, and a release)
        raise OperatorError(f"account {a.account_id} is suspended until {a.suspension_end()}: what it shows does "
                            "not change until the suspension ends; grant the name then")
    raw_name, raw_org = args.get("name"), args.get("org_name")
    if raw_name is None and raw_org is None:
        raise OperatorError("give --name, --org-name or both")
    fields: dict[str, Any] = {}
    if raw_name is not None:
        name = _granted_text(app, raw_name, "name", MAX_NAME_CHARS)  # something visible: a non-empty key
        key = normalize_name(name)
        taken = name_holder(app.state, name, key, a)
        if taken is not None:
            how = "taken by" if taken[1] == NAME_TAKEN else "read as the name of"
            raise OperatorError(f"the name {name!r} is {how} account {taken[0]}")
        fields.update(name=name)
        if key != a.name_key:
            fields.update(name_key=key)
    if raw_org is not None:
        if a.subject_type != "organization":
            raise OperatorError(f"account {a.account_id} is run by a person: it has no organisation name")
        fields.update(org_name=_granted_text(app, raw_org, "org_name", MAX_ORG_NAME_CHARS))
    reserved = app.cfg.public_accounts.reserved
    if not any(reserved_hit(str(v), reserved) for k, v in fields.items() if k in ("name", "org_name")):
        raise OperatorError("none of the names given is on the reserved list: the owner sets other names "
                            "with update_account")
    # (read before the claim sets them in memory)
    shown_anew = {k: v for k, v in fields.items() if k in ("name", "org_name") and v != getattr(a, k)}
    claim = AccountClaim(app.state, a, fields)
    shown = {k: v for k, v in fields.items() if k != "name_key"}
    await apply(app, SetAccountFields(a.account_id, fields),
                audit=_record(app, "grant_name", reason, a, **shown), claim=claim,
                conflict="that name was taken meanwhile")
    announce_account(app, a, **shown_anew)  # [ext] its readers see the names it shows now
    what = " and ".join(f"{'name' if k == 'name' else 'organisation name'} {v!r}" for k, v in shown.items())
    _tell(app, a, ev.Notice(kind="account_name_granted", account_id=a.account_id, by=operator_name(),
                            text=f"the platform granted this account the {what}: {reason}", reason=reason))
    return Result([f"account {a.account_id}: {what} granted"])


@command("account-credit")
async def account_credit(app: Context, args: dict[str, Any]) -> Result:
    a = account_of(app, args)
    reason = await _reason(app, args, a)
    delta = args.get("delta")
    if type(delta) is not int or delta == 0:
        raise OperatorError("--delta must be a non-zero whole number")
    if abs(delta) > MAX_CREDIT_DELTA:
        raise OperatorError(f"--delta must be between -{MAX_CREDIT_DELTA} and {MAX_CREDIT_DELTA}")
    score, undo, stored = credit_delta(a, delta, lambda points, told: give_back_account_credit(app, a, points, told))
    await apply(app, AddAccountCredit(a.account_id, delta),
                audit=_record(app, "account_credit", reason, a, delta=delta, score=score), undo=undo)
    stored()
    now = a.credit_score  # (as it is now: a claim given back meanwhile is not in it any more)
    level = tell_account_credit(app, a, now, delta, reason, reason=reason)
    return Result([f"account {a.account_id}: credit score {now}, level {level}"])


@command("remove-post")
async def remove_post(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    raw = id_of(args, "post_id", "POST_ID must be a post id")
    reason = reason_of(args)
    row = await app.store.post(raw)
    if row is None:
        raise OperatorError(f"unknown post {raw}")
    # (told to the account's owner and editors and kept in its record: their legal names and the author's masked)
    reason = await without_names_around(app, reason, ACCOUNT, row.account_id, row.author_id)
    if row.held == 1:
        # (as remove-message and remove-comment refuse: what waits for review is decided there; a
        # release after a removal would mark the post published, a rejection costs its points. One
        # its account deleted while held left the queue with it: there is nothing to take down.)
        if row.gone:
            raise OperatorError(f"post {raw} was held for review and never published; its account deleted it")
        raise OperatorError(f"post {raw} is held for review and was never published: decide it in the review queue")
    if row.gone:
        # (as remove-message and remove-comment refuse what is deleted already: it left posts, and
        # taking it down again charged the account and told its subscribers it went a second time)
        raise OperatorError(f"post {raw} was deleted or removed already")
    digests = await files_to_take_down(app, args, post_id=raw)
    a = await take_post_down(app, row, reason, report_id, files=digests)
    return Result([f"removed post {raw} of account {a.account_id}; credit score {a.credit_score}", *said(digests)])


async def take_post_down(app: Context, row: PostRow, reason: str, report_id: int | None = None,
                         penalise: bool = True, files: Sequence[str] = (), **detail: Any) -> Account:
    """Remove post ``row`` (``remove-post``, and each post ``remove-term`` finds): kept for the record
    with its removal reason, a ``remove_post`` sanction on the account, which loses
    ``credit.penalty_sanction`` points unless not ``penalise``, the record entry ``remove_post`` (with
    ``detail``), and the owner and editors told; the files of ``files`` (their digests, named in the
    record entry: server/operator/files.py) taken down in the same transaction. ``not_found`` (a
    ``ContractError``) when it was removed meanwhile."""
    async with files_lock(app, bool(files)):
        return await _take_post_down(app, row, reason, report_id, penalise, files, **detail)


async def _take_post_down(app: Context, row: PostRow, reason: str, report_id: int | None, penalise: bool,
                          files: Sequence[str], **detail: Any) -> Account:
    a = app.state.accounts.get(row.account_id)
    if a is None:
        raise OperatorError(f"post {row.post_id} belongs to no known account")
    now = app.now_ms()
    told = a.credit_told
    points = _penalty(app, a) if penalise else 0

    taking, files_back = take_down(app, list(files), f"remove_post {row.post_id}")
    if files:
        detail["files_taken_down"] = list(files)

    def undo() -> None:
        if points:
            give_back_account_credit(app, a, points, told)
        files_back()

    # RemovePost re-checks inside the transaction that the post is there and not removed yet.
    (_, _, held), sid, *_ = (await apply(app, RemovePost(row.post_id, now, reason),
                       AddSanction("remove_post", ACCOUNT, a.account_id, reason, operator_name(), now, None,
                                   report_id, points),
                       *([AddAccountCredit(a.account_id, -points)] if points else []), *taking,
                       audit=_record(app, "remove_post", reason, a, post_id=row.post_id,
                                     author_id=row.author_id, credit_score=a.credit_score, **detail),
                       undo=undo))
    score = a.credit_score  # the score now (no await since the write)
    _tell(app, a, ev.Notice(kind="post_removed", text=f"the platform removed the post {row.title!r}: {reason}",
                            account_id=a.account_id, post_id=str(row.post_id), by=operator_name(),
                            reason=reason, title=row.title))
    if points:
        tell_account_credit(app, a, score, -points, f"the platform removed the post {row.title!r}: {reason}",
                            reason=reason, sanction_id=str(sid))
    announce_post_gone(app, a, row.post_id, held)  # (as the store had it: one released meanwhile was shown)
    return a


@command("remove-comment")
async def remove_comment(app: Context, args: dict[str, Any]) -> Result:
    """Take one comment down (P11, P12): the platform removes illegal content at once, a comment
    already shown included, not only posts (``remove-post``) and what the word lists held. It
    becomes ``rejected``: shown to nobody, its author and the account's managers included, kept for
    the record; the author gets ``notice {kind: "content_removed"}`` and loses
    ``credit.penalty_report_upheld`` points, as for a comment rejected in review."""
    raw = id_of(args, "comment_id", "COMMENT_ID must be a comment id")
    reason = reason_of(args)
    row = await app.store.comment(raw)
    if row is None:
        raise OperatorError(f"unknown comment {raw}")
    # (told to its author and kept in the account's record: the legal names around it masked)
    post = await app.store.post(row.post_id)
    reason = await without_names_around(app, reason, ACCOUNT, post.account_id if post else None, row.user_id)
    if row.status in GONE_COMMENT:
        raise OperatorError(f"comment {raw} is already deleted or rejected")
    if row.review is not None:
        raise OperatorError(f"comment {raw} waits for the platform's review: decide it in the review queue")
    try:
        said = await take_comment_down(app, row, reason)
    except ContractError as err:
        if err.code == "not_found":
            raise OperatorError(f"comment {raw} is already deleted or rejected") from None
        raise
    return Result([f"removed comment {raw} on post {row.post_id}", *said])


async def take_comment_down(app: Context, row: CommentRow, reason: str, penalise: bool = True,
                            **detail: Any) -> list[str]:
    """Reject comment ``row`` (``remove-comment``, and each comment ``remove-term`` finds): the record
    entry ``remove_comment`` (with ``detail``), its author told and, if ``penalise``, penalised once
    for the comment (:func:`comment_cost`); the output line when an earlier measure took the points.
    ``not_found`` (a ``ContractError``) when it was deleted or rejected meanwhile."""
    raw = row.comment_id
    post = await app.store.post(row.post_id)
    aid = post.account_id if post is not None else None
    author = app.state.users.get(row.user_id)
    # Once per comment: a complaint upheld about it may have cost its author the points already.
    cost = comment_cost(app, author if penalise else None, raw,
                        audit(app, "remove_comment", reason, None, aid, target_type=ACCOUNT, post_id=row.post_id,
                              comment_id=raw, author_id=row.user_id, **detail))
    # ModerateComment re-checks in its transaction that the comment is not gone meanwhile, and says
    # what its status was there: who saw it, and is told it went.
    (was, held, gone), taken = await apply(app, ModerateComment(raw, "rejected", operator_name(), app.now_ms()),
                                           cost.change, undo=cost.undo)
    pen = cost.settle(app, taken)  # (no await since the write)
    if post is not None:  # (who is told goes by the post as the write found it: released or deleted since)
        post = post._replace(held=held, gone=gone)
    a = app.state.accounts.get(aid) if aid is not None else None
    if a is not None:
        announce_comment_gone(app, a, post, raw, row.user_id, was, "rejected")
    if author is not None:
        publish(author.sessions, ev.Notice(
            kind="content_removed", account_id=aid, post_id=str(row.post_id), comment_id=str(raw),
            by=operator_name(), text=f"your comment {raw} was removed by the platform: {reason}",
            content="comment", outcome="removed", reason=reason, title=post.title if post is not None else None))
        tell_penalty(app, author, pen, f"your comment {raw} was removed by the platform: {reason}", reason=reason)
    return cost.said(taken)


# -- the listing (P7) ----------------------------------------------------------------------
@command("accounts")
async def accounts(app: Context, args: dict[str, Any]) -> Result:
    """Every account (or those of one verified subject) with its figures and classes."""
    name = args.get("username")
    chosen = list(app.state.accounts.values())
    if name is not None:
        uid = user_of(app, args).user_id
        person = await app.store.person_key(uid)
        # After the read: the accounts now in memory. The person's, from any of their logins, and
        # every account they opened (organisations' too), then the organisations' other accounts.
        keys = {a.subject_key for a in app.state.accounts.values()
                if a.owner_id == uid or (person is not None and person in (a.subject_key, a.opener_key))}
        chosen = [a for a in app.state.accounts.values()
                  if a.owner_id == uid or a.subject_key in keys or (person is not None and a.opener_key == person)]
    now = app.now_ms()
    window = app.cfg.groups.activity_window_days
    figures = await app.store.account_figures(now - window * DAY_MS)
    codes = await app.store.org_codes()
    users = app.state.users
    lines = []
    for a in sorted(chosen, key=lambda x: (x.created_at, x.account_id)):
        f = figures.get(a.account_id)
        posts, reads, recent = (f.posts, f.reads, f.recent_reads) if f is not None else (0, 0, 0)
        owner = users.get(a.owner_id)
        lines.append(json.dumps({
            "account_id": a.account_id, "name": a.name, "category": a.category, "subject_type": a.subject_type,
            "org_name": a.org_name, "org_code": codes.get(a.account_id), "subject_key": a.subject_key,
            "owner_id": a.owner_id,
            "owner": owner.username if owner is not None else None, "editors": len(a.editors),
            "labels": shown_labels(a.subject_type, a.labels), "status": a.status(now),
            "comments_restricted": a.comments_restricted,
            "suspended_until": a.suspension_end() or None, **_carried_from(a, now), "credit_score": a.credit_score,
            "credit_level": account_level(a.credit_score, app.cfg.public_accounts.levels),
            "subscribers": len(a.subscribers), "posts": posts, "reads": reads, "recent_reads": recent,
            "window_days": window, **account_classes(len(a.subscribers), recent,
                                                     subscriber_classes=app.cfg.public_accounts.subscriber_classes,
                                                     read_classes=app.cfg.public_accounts.read_classes),
            "created_at": a.created_at, "closed_at": a.closed_at,
        }, ensure_ascii=False))
    return Result(lines)


# -- blacklist and its lifting (P13) --------------------------------------------------------
@dataclass
class BlacklistPlan:
    """What blacklisting a user does to public accounts: claimed in memory by :func:`blacklist_plan`."""

    changes: list[Change] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    barred: list[str] = field(default_factory=list)
    claims: list[Closing] = field(default_factory=list)  # (settled by the blacklisting's write)
    undo: Callable[[], None] = lambda: None
    tell: Callable[[], None] = lambda: None


def _theirs(app: Context, user: User, person: str | None) -> list[Account]:
    """Every account, closed ones included, that ``user``'s verified person answers for: those
    ``user`` owns, those of the same person from any of their logins (``person``: their ID number's
    keyed hash) and the organisation accounts that person opened."""
    return [a for a in app.state.accounts.values()
            if a.owner_id == user.user_id or (person is not None and person in (a.subject_key, a.opener_key))]


def blacklist_plan(app: Context, user: User, reason: str, now: int, person: str | None) -> BlacklistPlan:
    """Close every live account of the blacklisted person and bar the subjects behind them.

    The accounts are :func:`_theirs`: not only what this login owns, so another login of the same
    person, or an organisation account they opened, does not stay open. Barred: the person's key
    and the organisations behind those accounts. (The store also refuses an account to anyone
    verified with a blacklisted user's ID number; the person's key in ``barred_subjects`` lets a
    create that was in flight meanwhile see the bar in memory.) Claimed in memory now, with no
    await, so publishing stops before the write; the caller applies ``changes`` with its record.
    """
    plan = BlacklistPlan()
    theirs = _theirs(app, user, person)
    live = [a for a in theirs if a.closed_at is None]
    text = f"closed with its owner's blacklisting: {reason}"
    for a in live:
        a.closed_at = now
        plan.claims.append(Closing(a))
        plan.closed.append(a.account_id)
        # (the account's own entry, beside the blacklisting's: export --account shows why it closed)
        plan.changes += [SetAccountFields(a.account_id, {"closed_at": now, "closed_reason": text}),
                         replace(sanction("close_account", ACCOUNT, a.account_id, text, now),
                                 record=_record(app, "close_account", text, a, owner_id=a.owner_id))]
    # The accounts memory showed closed already: the store must hold them closed when this is stored
    # (a closing claimed before, and refused since, would otherwise leave one live).
    passed = tuple(a.account_id for a in theirs if a.closed_at is not None and a not in live)
    if passed:
        plan.changes.append(AccountsClosed(passed))
    barred = app.state.barred_subjects
    keys = {a.subject_key for a in theirs if a.subject_type == "organization"}
    if person is not None:
        keys.add(person)
    new_keys = sorted(keys - barred)
    barred.update(new_keys)
    plan.barred = new_keys
    # Every key is written, also one memory shows barred already: that may be the claim of another
    # blacklisting still in flight, which the store can refuse after this one is stored (the bar
    # would then be in neither). The store keeps a bar it holds already (ON CONFLICT DO NOTHING).
    plan.changes += [BarSubject(k, reason, now) for k in sorted(keys)]

    def undo() -> None:
        for a in live:
            a.closed_at = None
        # Every bar this one wrote but one another blacklisted owner holds: theirs, planned after
        # this one's claim, left it to this one in memory and wrote it itself. An organisation's bar
        # this one found there, with nobody holding it now, was the claim of another blacklisting
        # refused before this one. The person's own bar goes only if this one made it (a person
        # barred earlier may hold no account that shows it; the store bars them all the same).
        held = _held_by_other_blacklisted(app, user, keys)
        barred.difference_update(k for k in keys if k not in held and (k != person or k in new_keys))

    def tell() -> None:
        for a in live:
            _tell(app, a, ev.Notice(kind="account_closed", text=f"the platform closed this account: {text}",
                                    account_id=a.account_id, by=operator_name(), reason=reason), a.online)

    plan.undo, plan.tell = undo, tell
    return plan


def _held_by_other_blacklisted(app: Context, user: User, keys: set[str]) -> set[str]:
    """Those of ``keys`` that an account of another blacklisted owner has as its subject (an owner a
    lift is reopening, this one or another in flight, holds none: ``User.reopening``)."""
    users = app.state.users
    return {a.subject_key for a in app.state.accounts.values()
            if a.owner_id != user.user_id and a.subject_key in keys
            and (o := users.get(a.owner_id)) is not None and o.blacklisted and not o.reopening}


def unbar_on_lift(app: Context, user: User, person: str | None) -> tuple[list[str], Callable[[], None]]:
    """The subject keys to unbar when ``user``'s blacklist is lifted: the person's and those of the
    organisations behind :func:`_theirs` that no other blacklisted owner holds (one a lift is
    reopening, this one or another in flight, holds none: ``User.reopening``), taken out of memory
    now; (keys, undo). Closed accounts stay closed. (Another blacklisted login of the same person
    still bars the person in the store, which checks blacklisted users by ID number.)"""
    mine = {a.subject_key for a in _theirs(app, user, person) if a.subject_type == "organization"}
    others = _held_by_other_blacklisted(app, user, mine)
    if person is not None:
        mine.add(person)
    # The store is told of each (a bar it no longer holds is skipped there), also one memory lost to
    # a refused blacklisting's undo while another's write kept it stored; memory puts back only
    # what it held.
    keys = sorted(mine - others)
    held_here = [k for k in keys if k in app.state.barred_subjects]
    app.state.barred_subjects.difference_update(held_here)

    def undo() -> None:
        app.state.barred_subjects.update(held_here)

    return keys, undo


# -- lifting a sanction on an account --------------------------------------------------------
ACCOUNT_LIFTABLE = ("warning", "restrict_comments", "suspend_account")
# What a lift of each says, in words (``sanction_lifted``'s ``text``; clients word it from ``measure``).
LIFTED = {
    "warning": "the platform withdrew its warning to this account",
    "restrict_comments": "the platform lifted its restriction of comments on this account's posts",
    "suspend_account": "the platform lifted the suspension of this account's publishing",
}


@dataclass
class AccountLift:
    changes: list[Change]
    undo: Callable[[], None]  # what was claimed in memory, taken back when the write is refused
    tell: Callable[[], None]
    effect: str
    stored: Callable[[], None] = lambda: None  # what memory changes only once the write is stored


def lift_account_sanction(app: Context, row: dict[str, Any], others: list[dict[str, Any]], reason: str,
                          now: int, said: dict[str, Any] | None = None) -> AccountLift:
    """The changes that end an account sanction's effect (the caller adds ``LiftSanction``), and what
    memory changes once they are stored (``stored``, for ``Lift.once_stored``: until then the account
    still meets the measure). No await: the caller has read ``others`` already.
    ``said``: the notice's fields beside ``text`` (``measure``, ``reason``, ``appeal_id``; see
    ``lift_changes``)."""
    sid, kind, aid = int(row["id"]), row["kind"], str(row["target_id"])
    a = app.state.accounts.get(aid)
    if a is None:
        raise OperatorError(f"unknown account {aid}")
    if kind not in ACCOUNT_LIFTABLE:
        raise OperatorError(f"sanction {sid} ({kind}) cannot be lifted"
                            + (": closing is final" if kind == "close_account" else ""))
    changes: list[Change] = []

    def stored() -> None:
        return None

    carrying: list[Account] = []  # the accounts of the subject opened while it stood, which carry it
    if kind == "suspend_account":
        until = standing_until(others, kind, now, without=sid)
        changes.append(SetAccountFields(aid, {"suspended_until": until}))
        carrying = [app.state.accounts[x] for x in sorted(app.state.carried_by.get(sid, ())) if x in app.state.accounts]

        def lifted_suspension() -> None:
            a.suspended_until = until
            # (also one whose insert landed since the list above: it is told too)
            carrying[:] = app.state.carried_lifted(sid)

        stored = lifted_suspension
        # What still suspends it: another sanction of its own, or one it carries from its subject's.
        still = max([until, *(end for _, end in a.carried.values())])
        effect = ("publishing works again" if still <= now else
                  f"still suspended until {still} by another sanction" if still == until else
                  f"still suspended until {still} by a suspension carried from another account of its subject")
        if carrying:
            effect += "; no longer carried by " + ", ".join(b.account_id for b in carrying)
    elif kind == "restrict_comments":
        still = any(r["id"] != sid and r["kind"] == kind and r["lifted_at"] is None for r in others)
        if not still:
            changes.append(SetAccountFields(aid, {"comments_restricted": False}))

            def lifted_restriction() -> None:
                a.comments_restricted = False

            stored = lifted_restriction
        effect = "comments are allowed again" if not still else "comments still restricted by another sanction"
    else:
        effect = "the warning and its deadline no longer stand"

    def tell() -> None:
        for b in (a, *carrying):  # (those carrying it: the same lift ends it on them)
            _tell(app, b, ev.Notice(kind="sanction_lifted", account_id=b.account_id, sanction_id=str(sid),
                                    by=operator_name(), text=f"{LIFTED[kind]}: {reason}",
                                    **(said or {"measure": kind, "reason": reason})))

    return AccountLift(changes, lambda: None, tell, effect, stored)


def give_back_account(app: Context, aid: str, points: int, sid: int) -> AccountLift | None:
    """Claim in memory ``points`` given back to account ``aid`` (an overturned sanction ``sid`` took
    them); the change, its undo and the notice to the owner and editors. No await."""
    a = app.state.accounts.get(aid)
    if a is None:
        return None
    a.credit_score += points

    def undo() -> None:
        a.credit_score -= points

    def tell() -> None:
        tell_account_credit(app, a, a.credit_score, points, None, sanction_id=str(sid))

    return AccountLift([AddAccountCredit(aid, points)], undo, tell, f"{points} credit points given back")


# -- freezing a category of accounts (P5 emergency handling) --------------------------------
async def freeze_account_category(app: Context, args: dict[str, Any]) -> Result:
    """``freeze-category C --accounts``: ``suspend-account`` for every live account of a public-account
    category at once, and no account opened in it until the freeze ends. No credit penalty (the
    accounts did nothing: the platform is handling an emergency)."""
    category = args.get("category")
    if category not in app.cfg.public_accounts.categories:
        raise OperatorError(f"unknown public-account category {category}")
    assert isinstance(category, str)
    reason, seconds = reason_of(args), seconds_of(args)
    async with lock_target("account_category", category):
        now = app.now_ms()
        until = now + seconds * 1000
        # create_account checks the category's end, and suspends an account whose insert was in flight.
        try:
            accounts = await freeze(
                app, app.state.account_category_frozen_until, category,
                lambda: ((a.account_id, a) for a in app.state.accounts.values()
                         if a.category == category and a.closed_at is None),
                lambda a: a.closed_at is None and app.state.accounts.get(a.account_id) is a,  # (as for groups)
                ACCOUNT, "suspend_account", reason, now, until,
                lambda ids: SuspendAccountCategory(category, until, tuple(ids)),
                lambda n: audit(app, "freeze_account_category", reason, category=category, seconds=seconds,
                                accounts=n),
                # each account's own entry: its export shows the freeze that suspended it
                lambda aid: audit(app, "suspend_account", reason, None, aid, target_type=ACCOUNT, category=category,
                                  seconds=seconds, until=until))
        except PartlyFrozen as partly:
            raise partly_frozen(partly, "public accounts", category, until,
                                lambda a, sid: _tell_frozen(app, a, reason, operator_name(), sid)) from partly
    await tell_in_turns(accounts, until, lambda a, sid: _tell_frozen(app, a, reason, operator_name(), sid))
    return Result([f"froze {len(accounts)} public accounts in {category} until {until}"])


def _tell_frozen(app: Context, a: Account, reason: str, by: str, sanction_id: int) -> None:
    _tell(app, a, ev.Notice(kind="account_suspended", account_id=a.account_id, by=by,
                            text=f"publishing, and changing the name or introduction, are suspended: {reason}",
                            reason=reason, sanction_id=str(sanction_id), deadline=a.suspension_end()))


async def keep_account_frozen(app: Context, account_id: str, category: str, until: int) -> bool:
    """Suspend an account the store holds unsuspended in ``category``, frozen until ``until``
    (:meth:`~server.storage.freezes.FreezeReads.freeze_misses` read so), as the freeze suspended the
    others: a sanction by ``system``, its owner and editors told. True when it was suspended."""
    async with lock_target("account_category", category):
        # Under the category's lock no freeze of it is under way. A category frozen anew since the store
        # was read suspended the account itself, and an operator may have lifted that since: left alone.
        if app.state.account_category_frozen_until.get(category) != until:
            return False
        a = app.state.accounts.get(account_id)
        if a is None:
            return False
        now = app.now_ms()
        # The only way an account is missed: its insert was in flight as the freeze listed the category's
        # (create_account's late suspension comes here too, as soon as the account lands).
        reason = frozen_meanwhile(category)

        def still_missed(a: Account) -> bool:  # once its lock is held, with no await before the claim
            return a.closed_at is None and a.category == category and a.suspended_until < until and until > now

        suspended = await suspend_each(
            app, [(account_id, a)], still_missed, ACCOUNT, "suspend_account", reason, now, until,
            lambda ids: [SetAccountFields(aid, {"suspended_until": until}) for aid in ids],
            lambda _: Audit(now, SYSTEM, None, "suspend_account", None, account_id, reason), actor=SYSTEM)
    for a, sanction_id in suspended:
        _tell_frozen(app, a, reason, SYSTEM, sanction_id)
    return bool(suspended)
