"""``appeal``: a user contests a sanction against them (extension; Art. 11, measures that finish).

Who may appeal: the sanctioned user (``suspend_admin``, ``revoke_create``), or the
current owner of the sanctioned group (``warning``, ``suspend_group``). A
blacklisted account cannot sign in, so it appeals outside the platform; a closed
group is final and cannot be appealed. One open appeal per sanction and user
(decided by the database). The appeal is queued for the operators
(``qunguan admin appeals``, ``decide-appeal``); the user gets a notice of kind
``appeal_result`` when it is decided, reaching only the connections open then;
``my_appeals`` gives the appellant each of their appeals with its status, the
outcome and the operator's note whenever they look (like ``my_reports``);
``my_sanctions`` the measures that stand against them and the groups they own, with
the id an appeal takes, for one who was offline when the notice went out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from governance import posting
from governance.ids import serial_id
from governance.sanctions import status
from protocol.enums import Role
from protocol.errors import ContractError
from server.handlers import handler
from server.handlers.common import known_group, own_page, still_active
from server.handlers.public_accounts import open_accounts_owned
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session
    from server.state import Account, User

MAX_APPEAL_CHARS = 2000
# Measures no appeal can undo: the operator's ``lift`` refuses them too.
FINAL = {"close_group": "closing a group", "close_account": "closing a public account",
         "remove_post": "removing a post"}


def _ended(row: dict[str, Any], now: int) -> bool:
    exp = row["expires_at"]
    return row["lifted_at"] is not None or (row["kind"] != "warning" and exp is not None and exp <= now)


@handler("appeal")
async def appeal(ctx: Context, sess: Session, req: rq.Appeal, enc: Encoding) -> dict[str, Any]:
    text = req.text.strip()
    if not text:
        raise ContractError("bad_request", "text is required: say why the sanction should be lifted")
    posting.check_text(text, max_chars=MAX_APPEAL_CHARS, field="text")
    if (sid := serial_id(req.sanction_id)) is None:  # (as given: " 1\n" is no id, as other ids are read)
        raise ContractError("bad_request", "sanction_id must be a sanction id")
    me = sess.me
    row = await ctx.store.sanction(sid)
    # (a group's as memory or, for a dissolved group, the store holds it: known_group)
    ended = await known_group(ctx, row["target_id"]) if row is not None and row["target_type"] == "group" else None
    still_active(me)  # (the reads awaited: an account closed or cancelled meanwhile appeals nothing)
    mine, g = False, None
    if row is not None:
        if row["target_type"] == "user":
            mine = row["target_id"] == me.user_id
        elif row["target_type"] == "group":  # not an account's: its id may equal a group's
            g = ctx.state.groups.get(row["target_id"], ended)
            mine = g is not None and g.owner_id == me.user_id
        elif row["target_type"] == "account":  # (its owner's, not an editor's: the owner answers for it)
            a = ctx.state.accounts.get(row["target_id"])
            # (or a suspension of a closed account that a live one of theirs carries, P13: whoever of its
            # subject's people owned the closed one; my_sanctions lists it to them)
            carried = a is not None and a.closed_at is not None and carrying_account(ctx, me, sid) is not None
            mine = a is not None and (a.owner_id == me.user_id or carried)
            if (mine and a is not None and a.closed_at is not None and row["kind"] != "close_account"
                    and not carried):
                # (but a suspension a live account of theirs carries, P13: lifting it ends that one's)
                raise ContractError("forbidden", f"account {row['target_id']} is closed, which is final: its "
                                                 "sanctions cannot be appealed")
    if row is None or not mine:
        # The same answer for a sanction that does not exist and one on somebody else.
        raise ContractError("not_found", f"no sanction {sid} against you, a group you own or a public account "
                                         "you own")
    if row["kind"] in FINAL:
        raise ContractError("forbidden", f"{FINAL[row['kind']]} is final and cannot be appealed")
    if g is not None and (g.closed_at is not None or g.group_id in ctx.state.closed):
        # (Its earlier sanctions too: lifting one would change nothing, the closing stands.)
        raise ContractError("forbidden", f"group {row['target_id']} is closed, which is final: its sanctions "
                                         "cannot be appealed")
    now = ctx.now_ms()
    if _ended(row, now):
        raise ContractError("conflict", f"sanction {sid} has already ended")
    # Last of the refusals above, checked and counted with no await between: an appeal refused by
    # them counts nothing, and one the store refuses below (a second open one, a sanction lifted or a
    # group handed on meanwhile) is given back: only appeals filed count, as a restart counts them.
    limiter, mono = ctx.appeals_per_user, time.monotonic()
    wait = limiter.peek(me.user_id, mono)
    if wait > 0:
        raise ContractError("rate_limited", "too many appeals; try again later", retry_after_ms=int(wait * 1000) + 1)
    limiter.hit(me.user_id, mono)
    # InsertAppeal re-checks inside its transaction that the sanction still stands and that
    # this user has no other open appeal against it; for a group's sanction, the store confirms first
    # that they own the group (memory shows a transfer to them from its claim on, before it is stored).
    owner = [ch.ActsAs(row["target_id"], me.user_id, Role.OWNER)] if row["target_type"] == "group" else []
    try:
        *_, appeal_id = await ctx.store.apply(*owner, ch.InsertAppeal(sid, me.user_id, text, now))
    except ContractError:
        limiter.take_back(me.user_id, mono)
        raise
    return {"appeal_id": str(appeal_id)}


MY_APPEALS_DEFAULT, MY_APPEALS_MAX = 20, 100


@handler("my_appeals")
async def my_appeals(ctx: Context, sess: Session, req: rq.MyAppeals, enc: Encoding) -> dict[str, Any]:
    """The caller's appeals, newest first: the sanction, the status, and once decided the outcome, the
    operator's note (masked when the operator typed it, as a report's note) and when. Nothing about
    anyone else's appeals, nor the appeal's own ``text`` (they wrote it), nor who decided it."""
    before, limit = own_page(req.before, req.limit, "an appeal id", MY_APPEALS_DEFAULT, MY_APPEALS_MAX)
    rows = await ctx.store.appeals_by(sess.me.user_id, before, limit)
    out = []
    for r in rows:
        item: dict[str, Any] = {"appeal_id": str(r["appeal_id"]), "sanction_id": str(r["sanction_id"]),
                                "created_at": r["created_at"], "status": r["status"]}
        if r["status"] != "open":
            item.update(outcome=r["outcome"], note=r["note"], decided_at=r["decided_at"])
            if r["outcome"] == "upheld":  # (lifted then, or it had already ended: the points came back)
                item["lifted"] = r["lifted"]
        out.append(item)
    return {"appeals": out}


# The measures a user meets in their own requests or in a group they own, and so may see and appeal.
_SHOWN_KINDS = frozenset({"warning", "suspend_group", "suspend_admin", "revoke_create", "restrict_comments",
                          "suspend_account"})


def carrying_account(ctx: Context, me: User, sanction_id: int) -> Account | None:
    """A live public account ``me`` owns that carries suspension ``sanction_id`` from a closed account of
    its subject (P13: ``State.carry``), the first by id; None when none does."""
    accounts = ctx.state.accounts
    for aid in sorted(ctx.state.carried_by.get(sanction_id, ())):
        a = accounts.get(aid)
        if a is not None and a.owner_id == me.user_id and a.closed_at is None:
            return a
    return None


async def _standing_rows(ctx: Context, me: User) -> list[dict[str, Any]]:
    """The sanction rows of ``me``, of the groups memory shows them owning and of their open public
    accounts, with the suspensions those accounts carry from closed ones (read one by one)."""
    owned = sorted(gid for gid in me.groups if (g := ctx.state.groups.get(gid)) is not None
                   and g.owner_id == me.user_id)
    accounts = open_accounts_owned(ctx, me)
    carried = sorted({sid for aid in accounts for sid in ctx.state.accounts[aid].carried})
    rows = await ctx.store.sanctions("user", me.user_id)
    for gid in owned:
        rows += await ctx.store.sanctions("group", gid)
    for aid in accounts:
        rows += await ctx.store.sanctions("account", aid)
    for sid in carried:
        if (row := await ctx.store.sanction(sid)) is not None:
            rows.append(row)
    return rows


@handler("my_sanctions")
async def my_sanctions(ctx: Context, sess: Session, req: rq.MySanctions, enc: Encoding) -> dict[str, Any]:
    """The sanctions standing now against the caller (``suspend_admin``, ``revoke_create``) and the live
    groups they own (``warning``, overdue ones included, and ``suspend_group``), oldest first: the
    ``warning`` and ``sanction`` notices reach only the connections open when the measure is taken, so an
    owner offline then never learned of a warning, its deadline, nor the id an appeal takes."""
    me = sess.me
    rows: list[dict[str, Any]] = []
    for _ in range(3):
        # Read until two reads agree: a measure taken or lifted while a read's answer was on its way
        # was told first (``sanction``, ``sanction_lifted``), and this answer must not undo it.
        again = await _standing_rows(ctx, me)
        if again == rows:
            break
        rows = again
    now = ctx.now_ms()
    out = []
    for r in sorted(rows, key=lambda r: int(r["id"])):
        state = status(r, now)
        if r["kind"] not in _SHOWN_KINDS or state not in ("in_force", "overdue"):
            continue
        item: dict[str, Any] = {"sanction_id": str(r["id"]), "measure": r["kind"], "reason": r["reason"],
                                "starts_at": r["starts_at"], "status": state}
        if r["target_type"] == "group":
            g = ctx.state.groups.get(r["target_id"])
            if g is None or g.owner_id != me.user_id or not g.alive:  # (handed on or closed during the reads)
                continue
            item.update(group_id=g.group_id, group_name=g.name)
        elif r["target_type"] == "account":
            a = ctx.state.accounts.get(r["target_id"])
            if a is not None and a.closed_at is not None and (carrier := carrying_account(ctx, me, int(r["id"]))):
                # A suspension of a closed account that a live one of theirs carries (P13): listed with
                # the account it stands on now, and where it was taken.
                item.update(account_id=carrier.account_id, account_name=carrier.name, carried_from=a.account_id)
            elif a is None or a.owner_id != me.user_id or a.closed_at is not None:  # (closed during the reads)
                continue
            else:
                item.update(account_id=a.account_id, account_name=a.name)
        if r["kind"] == "warning":
            item["deadline"] = r["expires_at"]
        else:
            item["until"] = r["expires_at"]
        out.append(item)
    return {"sanctions": out}
