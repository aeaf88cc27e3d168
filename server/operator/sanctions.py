"""Measures that finish (Art. 11): list sanctions, overdue warnings, lifting early, appeals.

- ``sanctions [--group GID | --user NAME] [--overdue]``: one JSON object per line,
  each with its ``status``: ``in_force``, ``expired`` (a period that ran out),
  ``overdue`` (a warning whose rectification deadline passed while it stands),
  ``lifted``.
- ``lift SANCTION_ID --reason``: ends a sanction early, undoes its effect and
  tells the clients (:func:`lift_changes`); the record entry names the operator.
  Lifting a ``blacklist`` reopens the account and lifts the bar on its identity:
  only a ``content_safety_officer`` may (governance.operators.LIFT_BLACKLIST).
  A ``close_group`` is final and cannot be lifted.
  On a public account (``--account AID``): ``warning``, ``restrict_comments`` and
  ``suspend_account`` can be lifted (server/operator/public_accounts.py); ``close_account``
  and ``remove_post`` are final. Lifting a blacklist also lifts the bar on the
  organisations behind the user's public accounts (closed accounts stay closed).
- A shorter ``suspend-group`` / ``suspend-admin`` replaces the target's end; :func:`replacing` lifts,
  in its transaction, the suspensions it cuts short (governance.sanctions), so that ``sanctions``,
  ``lift`` and the suspension in effect agree.
- ``appeals [--open]`` and ``decide-appeal APPEAL_ID --outcome upheld|rejected --note``:
  users' appeals (client op ``appeal``, server/handlers/appeals.py); an upheld
  appeal lifts the sanction in the same transaction; the appellant gets a notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from governance.operators import LIFT_BLACKLIST, refusal
from governance.sanctions import cut_short, standing_until, status
from governance.tiers import credit_level
from protocol import events as ev
from server.claims import OnceStored, Together, turn
from server.fanout import publish
from server.handlers.common import known_group, suspension_cause
from server.operator.channel import OperatorError, Result, command, current_operator
from server.operator.common import (
    apply,
    audit,
    group_of,
    id_of,
    lines_in_turns,
    operator_name,
    reason_of,
    target_label,
    user_of,
    without_names_around,
)
from server.storage.changes import (
    ACCOUNT_REOPENED,
    AddCredit,
    AddSanction,
    Change,
    CreditGivenBack,
    DecideAppeal,
    LiftSanction,
    RevokeTokens,
    SetGroupFields,
    SetUserFields,
    UnbarSubjects,
)

if TYPE_CHECKING:
    from server.claims import Settles
    from server.context import Context
    from server.state import User

LIFTABLE = ("warning", "suspend_group", "suspend_admin", "revoke_create", "blacklist",
            "restrict_comments", "suspend_account")  # the last two: public accounts
TIMED = ("suspend_group", "suspend_admin")  # their effect ends by itself at expires_at


def _row_out(app: Context, row: dict[str, Any], now: int) -> str:
    replaced_by = row.get("replaced_by")
    out = {**row, "id": str(row["id"]), "replaced_by": str(replaced_by) if replaced_by is not None else None,
           "status": status(row, now)}
    if row["target_type"] == "user":
        u = app.state.users.get(row["target_id"])
        out["username"] = u.username if u is not None else None
    return json.dumps(out, ensure_ascii=False)


@command("sanctions")
async def sanctions(app: Context, args: dict[str, Any]) -> Result:
    gid, name, aid = args.get("group_id"), args.get("username"), args.get("account_id")
    if sum(x is not None for x in (gid, name, aid)) > 1:
        raise OperatorError("give at most one of --group, --user or --account")
    if aid is not None:
        if str(aid) not in app.state.accounts:
            raise OperatorError(f"unknown account {aid}")
        rows = await app.store.sanctions("account", str(aid))
    elif gid is not None:
        rows = await app.store.sanctions("group", (await group_of(app, args)).group_id)
    elif name is not None:
        rows = await app.store.sanctions("user", user_of(app, args).user_id)
    else:
        rows = await app.store.sanctions()
    now, overdue_only = app.now_ms(), bool(args.get("overdue"))
    return Result(await lines_in_turns(
        rows, lambda r: None if overdue_only and status(r, now) != "overdue" else _row_out(app, r, now)))


# -- lifting -------------------------------------------------------------------------------------
@dataclass
class Lift:
    changes: list[Change] = field(default_factory=list)
    undo: Callable[[], None] = lambda: None
    tell: Callable[[], None] = lambda: None
    effect: str = ""
    claim: Settles | None = None  # settled by the write's outcome, whichever it is
    # What the lift changes in memory, done only once it is stored: until then every request still
    # meets the measure. Claimed before the write (as a new measure is), a lift the store then
    # refused let through meanwhile what the measure stops (a message in a suspended group, a group
    # created without the right to), and nothing takes that back.
    once_stored: list[Callable[[], None]] = field(default_factory=list)

    def settles(self) -> Settles:
        """What the write settles: :attr:`claim`, then, stored, :attr:`once_stored`."""
        return Together(*([] if self.claim is None else [self.claim]), *map(OnceStored, self.once_stored))


class _Reopening:
    """The accounts a blacklisting's lift reopens, while its write (which also revokes their tokens) is
    in flight: ``auth`` with a token from before, and ``login``, answer as for a closed account until
    it settles (``User.reopening``). Stored, an ``auth`` whose token lookup was still out then is told
    its token is revoked (``Revocations.add_user``), as ``logout`` does for one token."""

    def __init__(self, app: Context, users: list[User]) -> None:
        self.app, self.users = app, users
        for u in users:
            u.reopening = True

    def settle(self, stored: bool) -> None:
        for u in self.users:
            u.reopening = False
            if stored:
                self.app.state.revocations.add_user(u.user_id)


def lock_target(target_type: str, target_id: str) -> asyncio.Lock:
    """One change at a time to the sanctions of one group, user or account, held from reading its
    sanctions until the change is committed: two lifts on one target would otherwise each compute
    the remaining suspension from a list that still shows the other as in force, and a lift beside
    a new suspension would miss the sanction the new one adds or cuts short. (``freeze-category``
    also takes one for its category, ``("category", name)``, before its groups'; a message's
    changes take :func:`server.claims.message_turn`.)"""
    return turn(("target", str(target_type), str(target_id)))


def target_lock(row: dict[str, Any] | None) -> asyncio.Lock | contextlib.nullcontext[None]:
    """:func:`lock_target` for the target of the sanction ``row`` (None: no lock)."""
    if row is None:
        return contextlib.nullcontext()
    return lock_target(str(row["target_type"]), str(row["target_id"]))


def cut_short_by_another(row: dict[str, Any]) -> bool:
    """Whether sanction ``row`` was lifted because a shorter one of its kind replaced it: its
    ``replaced_by`` column, set in the transaction that replaced it. Never read from ``lift_reason``,
    which is free text (an operator's own reason may begin with the same words)."""
    return row["lifted_at"] is not None and row.get("replaced_by") is not None


def replacing(rows: list[dict[str, Any]], kind: str, target_type: str, target_id: str, reason: str, now: int,
              until: int, report_id: int | None, command_name: str,
              credit_taken: int = 0) -> tuple[list[Change], list[int]]:
    """The changes that impose a timed measure of ``kind`` ending at ``until`` on a target whose
    sanctions are ``rows`` (read under :func:`lock_target`): its sanction row, and the lift of each
    standing sanction it cuts short (:func:`governance.sanctions.cut_short`), so the record, ``lift``
    and the target's end agree. Returns them and the ids cut short (for the record entry's
    ``sanctions_lifted``).

    The new row and the lifts are one change (``AddSanction.replaces``): each sanction cut short
    records the new one's id as its ``replaced_by``, which exists only inside the transaction. The
    ``lift_reason`` says the same in words, for operators."""
    cut = cut_short(rows, kind, until, now)
    return [AddSanction(kind, target_type, target_id, reason, operator_name(), now, until, report_id, credit_taken,
                        replaces=tuple(cut), lift_reason=f"replaced by a shorter {command_name}: {reason}")], cut


async def lift_changes(app: Context, row: dict[str, Any], reason: str, now: int, told: str | None = None,
                       appeal_id: int | None = None) -> Lift:
    """Check that ``row`` may be lifted now and return the changes that store it (``LiftSanction``
    first), what memory changes once they are stored (:attr:`Lift.once_stored`), and what to tell
    clients after the commit.

    The ``sanction_lifted`` notice carries the lifted ``measure`` (the sanction's kind) and ``reason``:
    ``told`` when given (an upheld appeal's note alone, with its ``appeal_id``), else ``reason``, so a
    client words the line in its reader's language from fields, never from the English ``text``.

    The caller applies the changes with its record entry; there is no ``await`` after the claim.
    """
    sid, kind, target = int(row["id"]), row["kind"], row["target_id"]
    if row["lifted_at"] is not None:
        raise OperatorError(f"sanction {sid} was already lifted")
    if kind == "close_group":
        raise OperatorError(f"sanction {sid} closed group {target}: closing is final and cannot be lifted")
    if kind not in LIFTABLE:
        raise OperatorError(f"sanction {sid} ({kind}) cannot be lifted")
    if status(row, now) == "expired":
        raise OperatorError(f"sanction {sid} already ended by itself")
    who = current_operator()
    if kind == "blacklist" and who.named:
        refused = refusal(who.name, who.role, LIFT_BLACKLIST)
        if refused is not None:
            raise OperatorError(refused)
    others = await app.store.sanctions(row["target_type"], target)
    # Lifting a blacklist unbars the person behind the user account (public accounts, P13), and
    # reopens the person's other logins the blacklisting closed with it (``blacklist``).
    person = await app.store.person_key(str(target)) if kind == "blacklist" else None
    twins = await _twins_blacklisted(app, str(target), person) if person is not None else []
    by = operator_name()
    lift = Lift(changes=[LiftSanction(sid, now, by, reason)])
    said: dict[str, Any] = {"measure": kind, "reason": reason if told is None else told}
    if appeal_id is not None:
        said["appeal_id"] = str(appeal_id)
    # A dissolved group is not in memory (State.retire): read from the store, before the claim.
    ended = await known_group(app, str(target)) if row["target_type"] == "group" else None
    # From here on: no await (the claim and its check are one step).
    if row["target_type"] == "account":
        from server.operator.public_accounts import lift_account_sanction

        done = lift_account_sanction(app, row, others, reason, now, said)
        lift.changes += done.changes
        lift.tell, lift.effect = done.tell, done.effect
        lift.once_stored.append(done.stored)
        return lift
    if kind in ("warning", "suspend_group"):
        g = app.state.groups.get(target, ended)  # (memory first: what was read may have been taken in since)
        if g is None:
            raise OperatorError(f"unknown group {target}")
        if g.closed_at is not None or target in app.state.closed:  # (as an appeal of it is refused: lifting
            # it would change nothing; the latter, closed since the read)
            raise OperatorError(f"group {target} is closed, which is final: sanction {sid} no longer does "
                                "anything, and lifting it would tell its members otherwise")
        text = (f"the platform lifted the suspension of this group: {reason}" if kind == "suspend_group"
                else f"the platform withdrew its warning to this group: {reason}")
        if kind == "suspend_group":
            until = standing_until(others, kind, now, without=sid)
            lift.changes.append(SetGroupFields(g.group_id, {"suspended_until": until}))

            def lifted_group() -> None:
                g.suspended_until = until

            lift.once_stored.append(lifted_group)
            lift.effect = ("posting works again" if until <= now
                           else f"still suspended until {until} by another sanction")
        else:
            lift.effect = "the warning and its deadline no longer stand"

        def tell_group() -> None:
            # A lifted suspension says what holds the group now (``until`` 0: nothing, posting works
            # again), so a client clears or keeps its suspension from fields, not from ``text``.
            after: dict[str, Any] = {}
            if kind == "suspend_group":
                still = g.suspended_until > app.now_ms()
                after = {"until": g.suspended_until if still else 0}
                if still:
                    after["cause"] = suspension_cause(app, g)
            publish(g.online, ev.Notice(kind="sanction_lifted", group_id=g.group_id, sanction_id=str(sid),
                                        text=text, by=by, **after, **said))

        lift.tell = tell_group
        return lift
    user = app.state.users.get(target)
    if user is None:
        raise OperatorError(f"unknown user {target}")
    if kind == "suspend_admin":
        until = standing_until(others, kind, now, without=sid)
        lift.changes.append(SetUserFields(user.user_id, {"powers_suspended_until": until}))

        def lifted_powers() -> None:
            user.powers_suspended_until = until

        lift.once_stored.append(lifted_powers)
        lift.effect = ("owner/admin powers are back" if until <= now
                       else f"powers still suspended until {until} by another sanction")
        # (another suspension may still hold them: said, in words and as ``until``, not "they are back")
        after: dict[str, Any] = {"until": until if until > now else 0, "still": until > now}
        text = (f"the platform lifted the suspension of your management powers: {reason}" if until <= now else
                f"the platform lifted sanction {sid}, but another suspension of your management powers holds "
                f"them until {until}: {reason}")
    elif kind == "revoke_create":
        still = any(r["id"] != sid and r["kind"] == kind and r["lifted_at"] is None for r in others)
        if not still:
            lift.changes.append(SetUserFields(user.user_id, {"create_revoked_at": None}))

            def lifted_create() -> None:
                user.create_revoked = False

            lift.once_stored.append(lifted_create)
        lift.effect = "may create groups again" if not still else "still revoked by another sanction"
        after = {"still": still}
        text = (f"the platform gave back your right to create groups: {reason}" if not still else
                f"the platform lifted sanction {sid}, but another revocation of your right to create groups "
                f"stands: {reason}")
    else:  # blacklist
        from server.operator.public_accounts import unbar_on_lift

        # A cancelled login is lifted too, and stays cancelled: while it stayed blacklisted its ID
        # number stayed barred (the store bars a person while any of their logins is blacklisted),
        # and retention kept its identity for good, so a mistaken blacklisting of a cancelled
        # account could never be undone.
        twins = [(u, rows) for u, rows in twins if u.blacklisted]  # as it is now
        reopened = [user, *(u for u, _ in twins)]
        for u in reopened:
            lift.changes.append(SetUserFields(u.user_id, {"blacklisted_at": None}))
            # Its tokens answered `blacklisted` meanwhile; reopened, it logs in again: a token from
            # before (a stolen one, the reason for many a blacklisting) never works again.
            lift.changes.append(RevokeTokens(u.user_id, ACCOUNT_REOPENED))
        for _, rows in twins:
            lift.changes += [LiftSanction(int(r["id"]), now, by, reason) for r in rows]
        # The person and the organisations behind its public accounts are unbarred too.
        lift.claim = _Reopening(app, reopened)  # (first: the unbarring below counts them reopened)
        unbarred, undo_unbar = unbar_on_lift(app, user, person)
        if unbarred:
            lift.changes.append(UnbarSubjects(tuple(unbarred)))

        def reopen() -> None:
            for u in reopened:
                u.blacklisted = False

        lift.undo = undo_unbar
        lift.once_stored.append(reopen)
        lift.effect = ("the blacklisting no longer stands and the identity is no longer barred; the account "
                       "was cancelled and stays so" if user.deleted else
                       "the account is open again and its identity no longer barred; "
                       "groups it owned stay with whoever holds them now")
        if twins:
            lift.effect += "; the same person's other accounts are open again too: " + ", ".join(
                u.username + (" (cancelled: it stays so)" if u.deleted else "") for u, _ in twins)
        text = f"the platform reopened your account: {reason}"
        after = {}

    def tell_user() -> None:
        publish(user.sessions, ev.Notice(kind="sanction_lifted", sanction_id=str(sid), text=text, by=by, **after,
                                         **said))

    lift.tell = tell_user
    return lift


async def _twins_blacklisted(app: Context, user_id: str, person: str) -> list[tuple[User, list[dict[str, Any]]]]:
    """The person's other logins (``blacklist`` closes every account verified with one ID number) that
    are blacklisted now, each with its standing ``blacklist`` sanctions: lifting the person's
    blacklist reopens them all, as it barred them all."""
    twins = []
    for uid in await app.store.logins_of_person(person):
        u = app.state.users.get(uid)
        if uid == user_id or u is None or not u.blacklisted:
            continue
        rows = await app.store.sanctions("user", uid)
        twins.append((u, [r for r in rows if r["kind"] == "blacklist" and r["lifted_at"] is None]))
    return twins


def give_back(app: Context, row: dict[str, Any], lift: Lift) -> int:
    """Give back the credit points the sanction ``row`` took (its ``credit_taken``) to the user or
    public account it names, as part of ``lift``: the change is added, the claim in memory is undone
    with the lift's, and the owner is told after the lift's own notice. Returns the points (0: none,
    or a group's sanction, whose owner paid for a closing that is final). No await.

    Called for an upheld appeal, and for ``lift --restore-credit``: a sanction found to be wrong
    should not go on lowering the caps that follow the score (G7, G11)."""
    points, target, sid = int(row.get("credit_taken") or 0), str(row["target_id"]), int(row["id"])
    if points <= 0 or row.get("credit_given_back_at") is not None:
        return 0
    if row["target_type"] == "account":
        from server.operator.public_accounts import give_back_account

        done = give_back_account(app, target, points, sid)
        if done is None:
            return 0
        change, back, told = done.changes[0], done.undo, done.tell
    elif row["target_type"] == "user" and (user := app.state.users.get(target)) is not None:
        user.credit_score += points
        change = AddCredit(target, points)

        def back() -> None:
            user.credit_score -= points

        def told() -> None:
            level = credit_level(user.credit_score, app.cfg.credit.levels)
            user.credit_told += 1  # (a claim given back later, counted in this score, is told again)
            publish(user.sessions, ev.Notice(kind="credit", by=operator_name(),
                                             text=f"{points} credit points taken with sanction {sid} were given "
                                                  f"back: your score is now {user.credit_score} (level {level})",
                                             credit_score=user.credit_score, credit_level=level, delta=points,
                                             sanction_id=str(sid)))
    else:
        return 0
    # (CreditGivenBack refuses a second give-back in the write's transaction, with the whole write)
    lift.changes += [change, CreditGivenBack(sid, app.now_ms())]
    undo, tell = lift.undo, lift.tell

    def undo_both() -> None:
        back()
        undo()

    def tell_both() -> None:
        tell()
        told()

    lift.undo, lift.tell = undo_both, tell_both
    lift.effect = (f"{lift.effect}; " if lift.effect else "") + f"{points} credit points given back"
    return points


def _sanction_id(args: dict[str, Any]) -> int:
    return id_of(args, "sanction_id", "SANCTION_ID must be a sanction id")


@command("lift")
async def lift(app: Context, args: dict[str, Any]) -> Result:
    sid = _sanction_id(args)
    row = await app.store.sanction(sid)
    if row is None:
        raise OperatorError(f"unknown sanction {sid}")
    # (told to a group's members, an account's editors: their legal names masked, the person's too)
    reason = await without_names_around(app, reason_of(args), row["target_type"], row["target_id"])
    group_id = row["target_id"] if row["target_type"] == "group" else None
    async with target_lock(row):
        # Read again under the lock (the first read only names the target, whose lock it is): a lift
        # of the same sanction that held the lock meanwhile has stored it as lifted, and this one is
        # refused as "already lifted" up front, not by the store after claiming the undoing again.
        row = await app.store.sanction(sid) or row
        now = app.now_ms()
        done = await lift_changes(app, row, reason, now)
        given = give_back(app, row, done) if args.get("restore_credit") else 0
        # LiftSanction re-checks inside the transaction that the sanction is still in force.
        await apply(app, *done.changes,
                    audit=audit(app, "lift_sanction", reason, group_id, row["target_id"], sanction_id=sid,
                                kind=row["kind"], **({"credit_given_back": given} if given else {})),
                    undo=done.undo, claim=done.settles(), conflict=f"sanction {sid} was lifted meanwhile")
    done.tell()
    what = f"{row['kind']} on {target_label(app, row['target_type'], row['target_id'])}"
    return Result([f"lifted sanction {sid} ({what}): {done.effect}"])


# -- appeals ---------------------------------------------------------------------------------------
@command("appeals")
async def appeals(app: Context, args: dict[str, Any]) -> Result:
    rows = await app.store.appeals(open_only=bool(args.get("open")))
    out = []
    for r in rows:
        u = app.state.users.get(r["user_id"])
        out.append(json.dumps({**r, "appeal_id": str(r["appeal_id"]), "sanction_id": str(r["sanction_id"]),
                               "username": u.username if u is not None else None}, ensure_ascii=False))
    return Result(out)


@command("decide-appeal")
async def decide_appeal(app: Context, args: dict[str, Any]) -> Result:
    appeal_id, outcome = id_of(args, "appeal_id", "APPEAL_ID must be an appeal id"), args.get("outcome")
    if outcome not in ("upheld", "rejected"):
        raise OperatorError("--outcome must be upheld or rejected")
    note = reason_of(args, "note")
    row = await app.store.appeal(appeal_id)
    if row is None:
        raise OperatorError(f"unknown appeal {appeal_id}")
    already = f"appeal {appeal_id} is already decided"
    if row["status"] != "open":
        raise OperatorError(already)
    sid = int(row["sanction_id"])
    sanction = await app.store.sanction(sid)
    # (the note lifts a group's sanction with a notice to its members; the appellant reads it)
    note = await without_names_around(app, note, sanction["target_type"] if sanction else None,
                                      sanction["target_id"] if sanction else None, row["user_id"])
    async with target_lock(sanction if outcome == "upheld" else None):
        if sanction is not None and outcome == "upheld":
            # Read again under the lock: lifted meanwhile (perhaps with its points given back),
            # it must not be taken for one still standing or one that ran out by itself.
            sanction = await app.store.sanction(sid) or sanction
        return await _decide_appeal(app, row, sanction, appeal_id, outcome, note, already)


async def _decide_appeal(app: Context, row: dict[str, Any], sanction: dict[str, Any] | None, appeal_id: int,
                         outcome: str, note: str, already: str) -> Result:
    sid = int(row["sanction_id"])
    now = app.now_ms()
    writes: list[Change] = [DecideAppeal(appeal_id, outcome, note, now, operator_name())]
    done: Lift | None = None
    given, lifted = 0, False
    effect = "the sanction stands"
    if outcome == "upheld":
        # The sanction was wrong: what it took is given back, whether it still stands (it is lifted)
        # or ran out meanwhile. One lifted already (by an operator, who chose then whether to give
        # the points back) gives nothing more.
        if sanction is not None and sanction["lifted_at"] is None and status(sanction, now) != "expired":
            done = await lift_changes(app, sanction, f"appeal {appeal_id} upheld: {note}", now, note, appeal_id)
            given, lifted = give_back(app, sanction, done), True
            effect = f"sanction {sid} lifted: {done.effect}"
        else:
            effect = f"sanction {sid} had already ended"
            if sanction is not None and (sanction["lifted_at"] is None or cut_short_by_another(sanction)):
                # Ran out by itself, or cut short by a shorter one of its kind (nobody chose then
                # whether its points come back, and `lift` can no longer reach it): the points alone.
                done = Lift()
                given = give_back(app, sanction, done)
                if given:
                    effect += f"; {done.effect}"
        writes += done.changes if done is not None else []
    target = sanction["target_id"] if sanction is not None else None
    group_id = target if sanction is not None and sanction["target_type"] == "group" else None
    # DecideAppeal re-checks inside the transaction that the appeal is still open (and LiftSanction
    # that the sanction still stands).
    await apply(app, *writes,
                audit=audit(app, "decide_appeal", note, group_id, target, appeal_id=appeal_id, sanction_id=sid,
                            outcome=outcome, appellant=row["user_id"],
                            **({"credit_given_back": given} if given else {})),
                undo=done.undo if done is not None else None, claim=done.settles() if done is not None else None,
                conflict=already)
    if done is not None:
        done.tell()
    user = app.state.users.get(row["user_id"])
    if user is not None:
        upheld = outcome == "upheld"
        verdict = (("upheld: the sanction is lifted" if lifted else "upheld: the sanction had already ended")
                   if upheld else outcome)
        publish(user.sessions, ev.Notice(kind="appeal_result", appeal_id=str(appeal_id), sanction_id=str(sid),
                                         outcome=outcome, text=f"your appeal was {verdict}. {note}",
                                         note=note, by=operator_name(), lifted=lifted if upheld else None))
    return Result([f"appeal {appeal_id} {outcome}; {effect}"])
