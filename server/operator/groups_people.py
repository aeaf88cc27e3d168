"""Operator commands on groups and people (Art. 11, 12, 13), reached through :mod:`server.operator`.

Each command that changes something writes the change, its sanction row and
its enforcement-record entry in one transaction, then tells connected clients.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from governance.audit import Checkpoint
from governance.posting import report_overdue
from governance.sanctions import cut_short, standing
from protocol import events as ev
from protocol.enums import Role
from protocol.errors import ContractError
from server import record
from server.claims import Together
from server.fanout import publish
from server.handlers.common import (
    bring_back,
    ending,
    give_back_credit,
    lapse_requests,
    members_sessions,
    suspension_cause,
    take_down,
)
from server.handlers.groups import ClosedRequests
from server.media.uploads import is_sha256
from server.operator import handover, public_accounts, sanctions
from server.operator.channel import OperatorError, Result, command, current_operator
from server.operator.common import (
    apply,
    audit,
    changes,
    credit_delta,
    each_id,
    group_of,
    is_id,
    lines_in_turns,
    operator_name,
    optional_reason,
    penalty,
    points_of,
    quantile,
    reason_of,
    report_of,
    sanction,
    seconds_of,
    tell_credit,
    tell_penalty,
    time_of,
    user_of,
    with_usernames,
    without_legal_names,
    without_names_around,
)
from server.operator.message_penalty import MessageCost, comment_cost, message_cost, post_cost
from server.state import NO_AGREEMENT
from server.storage.changes import (
    ActsAs,
    AddCredit,
    Audit,
    Change,
    DropGroupRequests,
    IdentityHeld,
    OwnsNoLiveGroup,
    ResolveReport,
    SetGroupFields,
    SetUserFields,
    with_detail,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from server.context import Context
    from server.state import Group, User

CLOSE_BLACKLISTED = 1008


def _live(g: Group) -> Group:
    if g.closed_at is not None:
        raise OperatorError(f"group {g.group_id} is already closed")
    if g.dissolved_at is not None:
        raise OperatorError(f"group {g.group_id} was dissolved")
    return g


def _lifted(cut: list[int]) -> dict[str, Any]:
    """The record entry's detail naming the sanctions a new measure cut short (none: nothing)."""
    return {"sanctions_lifted": cut} if cut else {}


MAX_CREDIT_DELTA = 1_000_000  # far beyond any level; bounds what one command can do to a score

# -- groups ------------------------------------------------------------------------
@command("warn-group")
async def warn_group(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    g = _live(await group_of(app, args))
    reason = await without_names_around(app, reason_of(args), "group", g.group_id)
    _live(g)  # (closed or dissolved meanwhile: the read awaited)
    deadline = time_of(args, "deadline", "--deadline must be a time in the future")
    now = app.now_ms()
    if deadline is not None and deadline <= now:
        raise OperatorError("--deadline must be a time in the future")
    (sanction_id,) = await apply(app, sanction("warning", "group", g.group_id, reason, now, deadline,
                                               report_id),
                                 audit=audit(app, "warn_group", reason, g.group_id, deadline=deadline))
    publish(g.online, ev.Notice(group_id=g.group_id, kind="warning", text=reason, deadline=deadline,
                                     sanction_id=str(sanction_id), by=operator_name()))
    return Result([f"warned group {g.group_id} (sanction {sanction_id})"])


@command("suspend-group")
async def suspend_group(app: Context, args: dict[str, Any]) -> Result:
    """Posting stops until now + N s: the new end replaces the group's, so it may shorten a suspension;
    the suspensions it cuts short end in the record with it (:func:`sanctions.replacing`)."""
    report_id = await report_of(app, args)
    g = _live(await group_of(app, args))
    reason, seconds = await without_names_around(app, reason_of(args), "group", g.group_id), seconds_of(args)
    # Under the group's sanction lock (a lift reads the group's other suspensions to know what
    # still holds, and must see this one), and claimed in memory before the write: posting
    # stops now, and a failed write puts it back.
    async with sanctions.lock_target("group", g.group_id):
        rows = await app.store.sanctions("group", g.group_id)
        _live(g)  # closed or dissolved meanwhile (the read awaited)
        now = app.now_ms()
        until = now + seconds * 1000
        # A freeze of the group's category is no suspension of the group to shorten: its row, while it
        # stands for the group, holds the group to its end whatever this one's (a shorter sanction cut
        # it, and the group posted again while its category stayed frozen). One lifted for this group
        # (an exemption, an upheld appeal) holds nothing.
        frozen = max((int(r["expires_at"]) for r in rows
                      if r["cause"] == "freeze" and standing(r, "suspend_group", now)), default=0)
        own = [r for r in rows if r["cause"] != "freeze"]  # (the group's own suspensions: those it replaces)
        writes, cut = sanctions.replacing(own, "suspend_group", "group", g.group_id, reason, now, until,
                                          report_id, "suspend-group")
        until = max(until, frozen)  # (posting stops until then: the sanction's row keeps its own end)
        old = g.suspended_until
        g.suspended_until = until

        def undo() -> None:
            g.suspended_until = old

        sanction_id = (await apply(
            app,
            SetGroupFields(g.group_id, {"suspended_until": until}),
            *writes,
            audit=audit(app, "suspend_group", reason, g.group_id, seconds=seconds, **_lifted(cut)),
            undo=undo,
            conflict=f"a suspension of group {g.group_id} was lifted meanwhile",
        ))[1]
    publish(g.online, ev.GroupSuspended(group_id=g.group_id, until=until, reason=reason,
                                        cause=suspension_cause(app, g), sanction_id=str(sanction_id)))
    return Result([f"suspended group {g.group_id} until {until}"])


async def close_group_now(app: Context, g: Group, reason: str, record: Audit, extra: list[Change] | None = None,
                          report_id: int | None = None, undo: Callable[[], None] | None = None,
                          credit_taken: int = 0) -> None:
    """Close ``g`` for good with its sanction row and ``record`` (and ``extra`` changes), then tell its members.

    Claimed in memory before the write, like ``dissolve_group``: from this step on no one
    joins, sends or manages it (a join or a send while the write is in flight would
    otherwise land in a group being closed); a failed write puts it all back."""
    now = app.now_ms()
    users = app.state.users
    g.closed_at, g.closed_reason = now, reason
    online = take_down(users, g)

    def undo_close() -> None:
        g.closed_at, g.closed_reason = None, None
        bring_back(users, g)
        if undo is not None:
            undo()

    with ending(app, g):
        await apply(
            app,
            SetGroupFields(g.group_id, {"closed_at": now, "closed_reason": reason}),
            DropGroupRequests(g.group_id),
            sanction("close_group", "group", g.group_id, reason, now, None, report_id, credit_taken),
            *(extra or []),
            audit=record,
            undo=undo_close,
        )
        if g.dissolved_at is None:
            # (A dissolution in flight when the closing began had taken the group down, and was refused
            # since: its members learn of the closing. A group dissolved for good has nobody to tell.)
            online |= members_sessions(users, g)
        publish(online, ev.GroupClosed(group_id=g.group_id, reason=reason))
        lapse_requests(users, g, "group_closed")


@command("close-group")
async def close_group(app: Context, args: dict[str, Any]) -> Result:
    """Final: the group's id stays dead (the group blacklist of Art. 11); its owner is penalised.

    A group its owner dissolved is closed too (recorded, the owner who dissolved it penalised): an
    owner warned, or expecting a report to be upheld, could dissolve first and leave the platform
    no measure on the group."""
    report_id = await report_of(app, args)
    g = await group_of(app, args)
    if g.closed_at is not None or g.group_id in app.state.closed:  # (the latter: closed since the read)
        raise OperatorError(f"group {g.group_id} is already closed")
    # A dissolved group read from the store is taken into memory, so that another closing of it meanwhile
    # finds this one's claim, and held there while this command awaits (one more end in flight): a
    # closing refused meanwhile would otherwise retire the copy under this one, and a third read the
    # store and close the group too. It leaves memory again once closed (State.retire), or when this fails.
    g = app.state.groups.setdefault(g.group_id, g)
    g.ends_in_flight += 1
    try:
        reason = await without_names_around(app, reason_of(args), "group", g.group_id)
        if g.closed_at is not None or g.group_id in app.state.closed:  # (after the read: closed meanwhile)
            raise OperatorError(f"group {g.group_id} is already closed")
    except BaseException:
        app.state.end_settled(g)  # (a copy taken in leaves again; a live group, or one being closed, stays)
        raise
    g.ends_in_flight -= 1  # (close_group_now counts its own, with no await before: the copy stays in memory)
    owner = app.state.users[g.owner_id]
    pen, undo = penalty(app, owner, app.cfg.credit.penalty_sanction)
    # The owner memory shows may be the heir of a transfer whose write is in flight: the store confirms
    # it in the closing's transaction, so that the points are never taken from someone the store does
    # not hold as the owner (a refused transfer leaves the group with the owner before). A dissolved
    # group's owner is settled (its memberships are gone: nothing to confirm by).
    sure = [] if g.dissolved_at is not None else [ActsAs(g.group_id, owner.user_id, Role.OWNER)]
    try:
        await close_group_now(app, g, reason, audit(app, "close_group", reason, g.group_id), [*sure, *changes(pen)],
                              report_id, undo, points_of(pen))
    except ContractError as err:
        if err.code != "forbidden" or not sure:
            raise
        raise OperatorError(f"group {g.group_id} changed owners while it was being closed (a transfer that was "
                            "then not stored): nothing was closed; run close-group again") from None
    tell_penalty(app, owner, pen, f"your group {g.group_id} was closed by the platform: {reason}", reason=reason)
    return Result([f"closed group {g.group_id}" + (" (dissolved by its owner before)" if g.dissolved_at else "")])


# -- people --------------------------------------------------------------------------
@command("suspend-admin")
async def suspend_admin(app: Context, args: dict[str, Any]) -> Result:
    """Owner/admin powers stop until now + N s: the new end replaces the user's, so it may shorten a
    suspension; the suspensions it cuts short end in the record with it (:func:`sanctions.replacing`)."""
    report_id = await report_of(app, args)
    user = user_of(app, args)
    reason, seconds = await without_legal_names(app, reason_of(args), user.user_id), seconds_of(args)
    # Under the user's sanction lock and claimed in memory first, like suspend-group.
    async with sanctions.lock_target("user", user.user_id):
        rows = await app.store.sanctions("user", user.user_id)
        now = app.now_ms()
        until = now + seconds * 1000
        # One that shortens a standing suspension is its conduct's, shortened: it costs nothing more (the
        # points that one took stay taken); a lift costs nothing either.
        shortens = bool(cut_short(rows, "suspend_admin", until, now))
        pen, undo_penalty = penalty(app, None if shortens else user, app.cfg.credit.penalty_sanction)
        writes, cut = sanctions.replacing(rows, "suspend_admin", "user", user.user_id, reason, now, until,
                                          report_id, "suspend-admin", points_of(pen))
        old = user.powers_suspended_until
        user.powers_suspended_until = until

        def undo() -> None:
            undo_penalty()
            user.powers_suspended_until = old

        sanction_id = (await apply(
            app,
            SetUserFields(user.user_id, {"powers_suspended_until": until}),
            *writes,
            *changes(pen),
            audit=audit(app, "suspend_admin", reason, target_id=user.user_id, seconds=seconds, **_lifted(cut)),
            undo=undo,
            conflict=f"a suspension of {user.username}'s powers was lifted meanwhile",
        ))[1]
    publish(user.sessions, ev.Notice(kind="sanction", text=f"your management powers are suspended: {reason}",
                                     by=operator_name(), measure="suspend_admin", reason=reason,
                                     sanction_id=str(sanction_id), until=until))
    tell_penalty(app, user, pen, f"your management powers were suspended: {reason}", reason=reason,
                 sanction_id=str(sanction_id))
    return Result([f"suspended {user.username}'s owner/admin powers until {until}"])


@command("revoke-create")
async def revoke_create(app: Context, args: dict[str, Any]) -> Result:
    report_id = await report_of(app, args)
    user = user_of(app, args)
    reason = await without_legal_names(app, reason_of(args), user.user_id)
    # Under the user's sanction lock and claimed first: a create_group from now on is refused.
    async with sanctions.lock_target("user", user.user_id):
        now = app.now_ms()
        pen, undo_penalty = penalty(app, user, app.cfg.credit.penalty_sanction)
        old = user.create_revoked
        user.create_revoked = True

        def undo() -> None:
            undo_penalty()
            user.create_revoked = old

        sanction_id = (await apply(
            app,
            SetUserFields(user.user_id, {"create_revoked_at": now}),
            sanction("revoke_create", "user", user.user_id, reason, now, None, report_id, points_of(pen)),
            *changes(pen),
            audit=audit(app, "revoke_create", reason, target_id=user.user_id),
            undo=undo,
        ))[1]
    publish(user.sessions, ev.Notice(kind="sanction", text=f"your right to create groups is revoked: {reason}",
                                     by=operator_name(), measure="revoke_create", reason=reason,
                                     sanction_id=str(sanction_id)))
    tell_penalty(app, user, pen, f"your right to create groups was revoked: {reason}", reason=reason,
                 sanction_id=str(sanction_id))
    return Result([f"revoked {user.username}'s right to create groups"])


@command("credit")
async def credit(app: Context, args: dict[str, Any]) -> Result:
    user = user_of(app, args)
    reason = reason_of(args)
    delta = args.get("delta")
    if type(delta) is not int or delta == 0:
        raise OperatorError("--delta must be a non-zero whole number")
    if abs(delta) > MAX_CREDIT_DELTA:
        raise OperatorError(f"--delta must be between -{MAX_CREDIT_DELTA} and {MAX_CREDIT_DELTA}")
    score, undo, stored = credit_delta(user, delta, lambda points, told: give_back_credit(app, user, points, told))
    await apply(app, AddCredit(user.user_id, delta),
                audit=audit(app, "credit", reason, target_id=user.user_id, delta=delta, score=score), undo=undo)
    stored()
    # The score as it is now, not as claimed: a claim given back meanwhile (another measure's, which found
    # its points taken) is not in it any more (give_back_credit corrects only notices sent before it).
    now = user.credit_score
    level = tell_credit(app, user, now, delta, reason, reason=reason)
    return Result([f"{user.username}: credit score {now}, level {level}"])


@command("blacklist")
async def blacklist(app: Context, args: dict[str, Any]) -> Result:
    """:func:`blacklist_one` for each user named (a raid's accounts, several at once), each alone."""
    return await each_id(args.get("username"), lambda name: blacklist_one(app, {**args, "username": name}),
                         "users not blacklisted")


async def blacklist_one(app: Context, args: dict[str, Any]) -> Result:
    """Close the account and bar its verified identity from every other account (Art. 11, P13).

    The person is blacklisted, not one login: every other account verified with the same ID number
    (``identity.max_accounts_per_id`` above 1) is blacklisted after it, each in a transaction of its
    own with its own sanction row (so that each is listed, and lifted, as the accounts it names)."""
    report_id = await report_of(app, args)
    user = user_of(app, args)
    reason = reason_of(args)
    person = await app.store.person_key(user.user_id)  # whose public accounts close with it (P13)
    others = await app.store.logins_of_person(person) if person is not None else []
    # (told to the members of the groups that close with each login, kept in the log of those that pass
    # to an admin, and told to the editors and followers of the public accounts that close with the
    # person: the name each login verified masked, one written differently on another login of the same
    # ID number too, and those of the people around those groups and accounts, as close-group and
    # close-account mask them)
    reason = await without_legal_names(app, reason, user.user_id, *others,
                                       *_around_the_person(app, user, person, others))
    if user.blacklisted:
        # Run again after a write for another login of the person failed half-way: the logins left
        # open are blacklisted now; with none, it is a mistake as before.
        if not any((o := app.state.users.get(uid)) is not None and o is not user and o.active for uid in others):
            raise OperatorError(f"{user.username} is already blacklisted")
        lines = [f"{user.username} was blacklisted already"]
    else:
        lines = await _blacklist_one(app, user, reason, report_id, person)
    for uid in others:
        lines += await _blacklist_other(app, uid, user, reason, report_id, person)
    if person is not None:
        # A login verified with the number while the first blacklisting was being stored passed the
        # store's check (no barred holder yet) and is not in the list read before; from that write
        # on, none can pass. So the list read now is whole.
        for uid in await app.store.logins_of_person(person):
            if uid not in others:
                lines += await _blacklist_other(app, uid, user, reason, report_id, person)
    return Result(lines)


async def _blacklist_other(app: Context, uid: str, user: User, reason: str, report_id: int | None,
                           person: str | None) -> list[str]:
    """Another login ``uid`` of the person ``user`` is, blacklisted after it, unless it is closed already."""
    other = app.state.users.get(uid)
    if other is None or other is user or not other.active:
        return []  # cancelled, or blacklisted already: nothing to close
    return await _blacklist_one(app, other, reason, report_id, person, same_person_as=user)


def _around_the_person(app: Context, user: User, person: str | None, others: list[str]) -> list[str]:
    """The members of every live group ``user`` (or another login of the person, ``others``) owns and the
    owners and editors of every public account of the person: who reads a blacklisting's reason."""
    logins = {user.user_id, *others}
    named: list[str] = []
    for login in (app.state.users.get(uid) for uid in sorted(logins)):
        for gid in handover.owned_groups(app, login) if login is not None else ():
            named += app.state.groups[gid].members
    for a in app.state.accounts.values():
        if a.owner_id in logins or (person is not None and person in (a.subject_key, a.opener_key)):
            named += [a.owner_id, *sorted(a.editors)]
    return named


async def _blacklist_one(app: Context, user: User, given: str, report_id: int | None, person: str | None,
                         same_person_as: User | None = None) -> list[str]:
    """Blacklist ``user`` for the operator's reason ``given``; ``same_person_as``: the login the operator
    named, when ``user`` is another login of the same verified person. The record and the sanction
    say so in the reason (the groups and accounts that close with it do not); the user's
    ``blacklisted`` notice carries the operator's reason as its text and the other login's username
    as ``same_person_as``, for clients to show it without reading the text."""
    reason = given if same_person_as is None else f"{given} (the same verified identity as {same_person_as.username})"
    joined_at = await handover.seniority(app, user)
    if user.blacklisted:  # blacklisted meanwhile (the reads above awaited)
        if same_person_as is not None:
            return [f"{user.username} was blacklisted meanwhile"]  # the person's other logins go on
        raise OperatorError(f"{user.username} is already blacklisted")
    now = app.now_ms()
    # The groups it owns pass to their longest-serving admin or are closed (server/operator/handover.py),
    # claimed in memory now and written in the same transaction as the blacklisting.
    user.blacklisted = True
    try:
        # (The groups and accounts that close show members the operator's reason alone: that two
        # logins are one verified person is for the record and the person, never for other users.)
        h = handover.plan(app, user, given, operator_name(), now, operator_name(), joined_at)
    except BaseException:
        user.blacklisted = False
        raise
    # The public accounts of their verified person close and the person and organisations behind them
    # are barred (P13), claimed now too.
    try:
        pa = public_accounts.blacklist_plan(app, user, given, now, person)
    except BaseException:
        h.abandon(app)
        user.blacklisted = False
        raise
    requested = ClosedRequests.take(app, user.user_id)  # (as with a cancelled account)

    def undo() -> None:
        requested.undo()
        pa.undo()
        h.undo()
        user.blacklisted = False

    detail: dict[str, Any] = {}
    if h.passed:
        detail["groups_passed"] = h.passed
    if h.closed:
        detail["groups_closed"] = h.closed
    if pa.closed:
        detail["accounts_closed"] = pa.closed
    if pa.barred:
        detail["subjects_barred"] = len(pa.barred)
    if same_person_as is not None:
        detail["same_person_as"] = same_person_as.user_id

    decided = True
    try:
        await apply(
            app,
            SetUserFields(user.user_id, {"blacklisted_at": now}),
            # (A cancelled account whose phone and identity the purge erased: refused, not stored as a
            # blacklisting in force that bars nobody. Decided in the write, as the purge may run meanwhile.)
            IdentityHeld(user.user_id),
            sanction("blacklist", "user", user.user_id, reason, now, None, report_id),
            *h.changes,
            *pa.changes,
            OwnsNoLiveGroup(user.user_id),  # (after the hand-overs: nothing planned from a claim since refused)
            *requested.drops(),
            audit=audit(app, "blacklist", reason, None, user.user_id, **detail),
            undo=undo,
            claim=Together(*h.claims, *pa.claims),
            conflict=f"{user.username}'s groups or public accounts changed while its blacklisting was being "
                     f"stored (a transfer, a dissolving or a closing of theirs was refused meanwhile): "
                     f"{user.username} was not blacklisted; run the command again",
        )
    except asyncio.CancelledError:
        decided = False  # (cancelled at the write's await: its outcome may still be out, State.end_settled)
        raise
    finally:
        h.settled(app, decided)  # (its closed groups leave memory: after the write, whatever it did)
    for sess in list(user.sessions):
        sess.send(ev.Notice(kind="blacklisted", text=given, by=operator_name(),
                            same_person_as=same_person_as.username if same_person_as is not None else None))
        sess.close(CLOSE_BLACKLISTED, "account closed by the platform")
    h.publish()
    pa.tell()
    requested.tell()
    lines = [f"blacklisted {user.username}" + (" (the same verified identity)" if same_person_as else "")]
    lines += [f"group {gid} passed to {app.state.users[uid].username}" for gid, uid in h.passed.items()]
    lines += [f"group {gid} closed: it had no admin who may own it" for gid in h.closed]
    lines += [f"public account {aid} closed" for aid in pa.closed]
    return lines


# -- the record ------------------------------------------------------------------------
STAGED = record.StagedHeads()  # this process's heads sent ahead of a verify-audit, by the CLI's token


@command("verify-audit")
async def verify_audit(app: Context, args: dict[str, Any]) -> Result:
    # (Each head was checked on its way in, as every argument on the socket is: server/operator/cli.py,
    # ``Arg.problem``, by governance.audit.head_problem.)
    given = [Checkpoint(c["ts"], c["count"], c["last_id"], c["mac"]) for c in args.get("checkpoints") or []]
    token, ahead = args.get("stage"), args.get("staged")
    if token is not None and ahead is None:  # heads sent ahead of the request that verifies (record.StagedHeads)
        try:
            held = STAGED.add(token, given, current_operator().name)
        except ValueError as err:
            raise OperatorError(str(err)) from None
        return Result([f"{held} record heads kept for the check"])
    if ahead is not None:
        kept = STAGED.take(token, current_operator().name) if token is not None else []
        if len(kept) != ahead:
            raise OperatorError(f"{ahead} record heads were sent ahead of this check, and the server holds "
                                f"{len(kept)} of them (it restarted, another node became the home, or they "
                                f"waited over {record.STAGED_SECONDS:.0f} s): run verify-audit again")
        given = kept + given
    try:
        found = await record.verify(app, given)
    except OSError as err:  # (as seal-record: exit 2 with the reason, not an internal error)
        raise OperatorError(f"cannot read the checkpoint file {app.cfg.audit.checkpoint_file} "
                            f"({err.strerror or err}): nothing verified") from None
    if not found.whole:
        return Result([f"enforcement record broken at entry {found.broken_at}: {found.why}"], exit=1)
    heads = f"; {len(given)} record heads given checked" if given else ""
    lines = [f"enforcement record whole: {found.count} entries{heads}"]
    unknown = [m for m in await _manifests_unwritten(app, args.get("manifests") or []) if m]
    if unknown:
        return Result(lines + [f"manifest {m} is not one an export wrote: no export entry of the record names it, "
                               "so its files may not be those exported (one changed, with its digest in the "
                               "manifest)" for m in unknown], exit=1)
    return Result(lines)


async def _manifests_unwritten(app: Context, manifests: list[str]) -> list[str]:
    """Of the manifests the CLI sent (``SHA256@GENERATED_AT``: the digest of an export's manifest.json
    as it is, and when the manifest says it was made), those whose digest no ``export`` entry of the
    record names: the record holds each export's manifest digest, so a manifest changed (with a file
    changed and its digest in the manifest made to match) is told apart."""
    unwritten = []
    for m in manifests:
        digest, _, at = m.partition("@")
        if not (is_sha256(digest) and at.isdigit()):
            raise OperatorError(f"manifests: {m!r} is not SHA256@GENERATED_AT")
        if not await app.store.export_written(digest, int(at)):
            unwritten.append(digest)
    return unwritten


SEAL_REASON = "the record's entries from before it had a key"


@command("seal-record")
async def seal_record(app: Context, args: dict[str, Any]) -> Result:
    """Seal the record's unsealed beginning, on the operator's word that the database predates the keyed
    record (the server never does it by itself: server/record.py says why); recorded, with the count."""
    reason = optional_reason(args, SEAL_REASON)
    path = app.cfg.audit.checkpoint_file
    try:
        done = await record.seal(app)
    except OSError as err:
        raise OperatorError(f"cannot read the checkpoint file {path} ({err.strerror or err}): nothing sealed") from None
    if done.left is None and not done.sealed:
        raise OperatorError("every enforcement-record entry has its mac: nothing to seal")
    if not done.sealed:
        why = (f"a checkpoint in {path} saw the record sealed" if done.checkpointed else
               "it is not the record's unsealed beginning (entries from 1 up to the last entry appended, "
               "all without a mac, their unkeyed links whole)")
        raise OperatorError(f"enforcement-record entry {done.left} has no mac and is not sealed: {why}; "
                            "verify-audit names it")
    left: dict[str, Any] = {} if done.left is None else {"left_unsealed": done.left}
    await apply(app, audit=audit(app, "seal_record", reason, sealed=done.sealed, **left))
    lines = [f"sealed {done.sealed} enforcement-record entries with the record key"]
    if done.left is not None:
        lines.append(f"entry {done.left} still has no mac: its unkeyed link does not hold (changed before it was "
                     "sealed); verify-audit names it")
    return Result(lines)


@command("ping")
async def ping(app: Context, args: dict[str, Any]) -> Result:
    who = current_operator()
    # What production should not run with: the config's warnings, and no published agreement (Art. 5).
    warnings = [str(w) for w in app.cfg.warnings] + ([NO_AGREEMENT] if app.agreement is None else [])
    if app.purge_refused is not None:  # (the clock in doubt: server/retention.py)
        warnings.append(f"retention purge not running: {app.purge_refused}")
    # (groups: the live ones, in memory; an ended group leaves it once its end is stored, State.retire)
    return Result([json.dumps({"groups": len(app.state.groups), "users": len(app.state.users),
                               "connections": len(app.sessions), "operator": who.name, "role": who.role,
                               "agreement": app.agreement.version if app.agreement is not None else None,
                               "warnings": warnings}, ensure_ascii=False)])


# -- complaints (Art. 12) -----------------------------------------------------------------
REPORT_PEOPLE = {"reporter_id": "reporter_username", "user_id": "username"}


@command("reports")
async def reports(app: Context, args: dict[str, Any]) -> Result:
    overdue_only = bool(args.get("overdue"))
    rows = await app.store.reports(open_only=bool(args.get("open")) or overdue_only)
    # (--reporter: the reports one person made, a raid's malicious ones; --user: those about one person)
    for key, column in (("reporter", "reporter_id"), ("username", "user_id")):
        if args.get(key) is not None:
            uid = user_of(app, args, key).user_id
            rows = [r for r in rows if r[column] == uid]
    now, within = app.now_ms(), app.cfg.reports.answer_within_hours

    def line(r: dict[str, Any]) -> str | None:
        overdue = report_overdue(r["status"], r["created_at"], now, within)
        if overdue_only and not overdue:
            return None
        # The people a report names go by user id and username, as in every listing an operator acts from.
        return json.dumps({**with_usernames(app, r, REPORT_PEOPLE), "report_id": str(r["report_id"]),
                           "overdue": overdue}, ensure_ascii=False)

    return Result(await lines_in_turns(rows, line))


def _report_target(row: dict[str, Any]) -> dict[str, Any]:
    """What a report names, for its resolution's record entry: its target type, and the message, public
    account, post or comment it is about (the group is the entry's ``group_id``, the user answerable its
    ``target_id``), so that ``export --group``, ``--account`` and ``--user`` each find the handling of a
    complaint about what they export."""
    named = {k: row[k] for k in ("seq", "account_id", "post_id", "comment_id") if row.get(k) is not None}
    return {"target_type": row["target_type"], **named}


# Reports about content: their upheld outcome costs the person answerable once per item (message_cost).
ITEM_TARGETS = ("message", "comment", "post")


@dataclass
class _Charged:
    """Who one ``resolve`` command has charged for the conduct reported: several reports of one incident
    (the message, its sender, the sender in that group, by several witnesses) resolved together cost
    the person once. ``by_items``: the people answerable for a content report this command has stored
    upheld (they pay for that content; the command resolves its content reports first, so a report
    about the person comes after); ``by_report``: a person charged by a report about them or their
    account, with that report's id. Both are filled once the write is stored: a content report another
    operator resolved meanwhile, or whose write failed, spares nobody."""

    by_items: set[str] = field(default_factory=set)
    by_report: dict[str, int] = field(default_factory=dict)


@command("resolve")
async def resolve(app: Context, args: dict[str, Any]) -> Result:
    """Resolve one report, or several with one outcome and note (a raid's malicious reports, listed
    with ``reports --reporter``), each alone (:func:`each_id`); upheld together, they cost each
    person answerable once (:class:`_Charged`)."""
    ids = args.get("report_id")
    charged = _Charged()
    if isinstance(ids, list) and len(ids) > 1 and args.get("outcome") == "upheld":
        content = set()
        for report_id in ids:
            row = await app.store.report(report_id) if is_id(report_id) else None
            if row is not None and row["target_type"] in ITEM_TARGETS:
                content.add(report_id)
        ids = sorted(ids, key=lambda report_id: report_id not in content)  # (stable: content first)
    return await each_id(ids, lambda report_id: resolve_one(app, report_id, args, charged),
                         "reports not resolved")


def _spared(args: dict[str, Any], charged: _Charged, row: dict[str, Any]) -> str | None:
    """Why an upheld report costs the person answerable nothing (None: it costs them as ever)."""
    if args.get("no_penalty"):
        return "--no-penalty"
    uid = row["user_id"]
    if row["target_type"] in ITEM_TARGETS or not uid:
        return None  # (content is paid for once by itself: message_cost)
    if uid in charged.by_items:
        return "charged for the content reported in this command"
    if uid in charged.by_report:
        return f"already taken by report {charged.by_report[uid]} in this command"
    return None


async def resolve_one(app: Context, report_id: Any, args: dict[str, Any], charged: _Charged | None = None) -> Result:
    outcome = args.get("outcome")
    if outcome not in ("upheld", "rejected"):
        raise OperatorError("--outcome must be upheld or rejected")
    row = await app.store.report(report_id) if is_id(report_id) else None
    if row is None:
        raise OperatorError(f"unknown report {report_id}")
    # told to the reporter and kept: masked like every reason, and the legal names of the person reported
    # and of those around the target (a group's owner and members, a public account's owner and editors)
    note = await without_names_around(app, reason_of(args, "note"), "group", row["group_id"], row["user_id"])
    note = await without_names_around(app, note, "account", row["account_id"])
    assert type(report_id) is int
    already = f"report {report_id} is already resolved"
    if row["status"] != "open":
        raise OperatorError(already)
    reporter_id, target_uid = row["reporter_id"], row["user_id"]
    now = app.now_ms()
    target = app.state.users.get(target_uid) if target_uid else None
    record = audit(app, "resolve_report", note, row["group_id"], target_uid or row["account_id"] or row["group_id"],
                   **_report_target(row), report_id=report_id, outcome=outcome)
    resolved = ResolveReport(report_id, outcome, note, now, operator_name())
    said: list[str] = []
    cost: MessageCost | None = None
    spared = _spared(args, charged or _Charged(), row) if outcome == "upheld" else None
    if spared is not None and target is not None:
        said = [f"no credit taken from {target.username}: {spared}"]
    elif outcome == "upheld" and row["target_type"] == "message" and row["group_id"] and is_id(row.get("seq")):
        # A message is paid for once, by the first measure on it (remove-message after an upheld
        # complaint, as operator.md recommends, takes nothing again; nor does this after it).
        cost = message_cost(app, target, str(row["group_id"]), int(row["seq"]), record)
    elif outcome == "upheld" and row["target_type"] == "comment" and is_id(row.get("comment_id")):
        cost = comment_cost(app, target, int(row["comment_id"]), record)  # a comment too (remove-comment)
    elif outcome == "upheld" and row["target_type"] == "post" and is_id(row.get("post_id")):
        cost = post_cost(app, target, int(row["post_id"]), record)  # a post's author pays once too
    if cost is not None:
        # ResolveReport re-checks inside the transaction that the report is still open.
        taken = (await apply(app, resolved, cost.change, undo=cost.undo, conflict=already))[-1]
        pen: Change | None = cost.settle(app, taken)  # (no await since the write)
        said = cost.said(taken)
        if charged is not None and target_uid:
            charged.by_items.add(target_uid)  # (stored: a report about them later in the command spares them)
    else:
        pen, undo = penalty(app, target if outcome == "upheld" and spared is None else None,
                            app.cfg.credit.penalty_report_upheld)
        if spared is not None:
            # Said: an upheld entry without credit_taken counts as paid (entries from before the
            # field), and a message, post or comment upheld with --no-penalty would so be spared
            # every later measure on it (remove-message took nothing).
            record = with_detail(record, credit_taken=0)
        await apply(app, resolved, *changes(pen), audit=record, undo=undo, conflict=already)
        if pen is not None and charged is not None and target_uid:
            charged.by_report[target_uid] = report_id
    reporter = app.state.users.get(reporter_id)
    if reporter is not None:
        publish(reporter.sessions, ev.Notice(kind="report_result", report_id=str(report_id), by=operator_name(),
                                         outcome=outcome, text=note))
    # what it cost the user reported, who is told as for any change
    tell_penalty(app, target, pen, "a report about you was upheld", report_id=str(report_id))
    return Result([f"report {report_id} {outcome}", *said])


@command("report-stats")
async def report_stats(app: Context, args: dict[str, Any]) -> Result:
    rows = await app.store.report_durations()
    durations = sorted((resolved_at - created_at) / 3_600_000 for status, _, created_at, resolved_at in rows
                       if status == "resolved" and resolved_at is not None)
    stats: dict[str, Any] = {
        "open": sum(1 for r in rows if r[0] == "open"),
        "overdue": sum(1 for status, _, created_at, _ in rows
                       if report_overdue(status, created_at, app.now_ms(), app.cfg.reports.answer_within_hours)),
        "answer_within_hours": app.cfg.reports.answer_within_hours,
        "resolved": len(durations),
        "upheld": sum(1 for r in rows if r[1] == "upheld"),
        "rejected": sum(1 for r in rows if r[1] == "rejected"),
    }
    if durations:
        stats["median_hours_to_resolution"] = round(quantile(durations, 0.5), 3)
        stats["p90_hours_to_resolution"] = round(quantile(durations, 0.9), 3)
    return Result([json.dumps(stats)])
