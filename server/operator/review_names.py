"""Content review of group names, announcements, display names and public accounts' names and
introductions (G10, P10), through the one review queue.

A ``flag`` hit on such a text is applied and queued; a ``review`` hit is queued while the old value
stays shown (``governance/shown_text.py``). ``decide ITEM_ID --decision ...`` settles it here
(:func:`server.operator.platform.decide` hands these kinds on):

- a held text: ``release`` applies it (``group_updated`` to the group's members for a name or an
  announcement); ``reject`` discards it;
- a flagged text: ``keep`` leaves it; ``remove`` replaces it with the neutral value (a group called
  after its id, no announcement, the username (or ``用户 USER_ID`` when the word lists hold the
  username), an account called after its id, no introduction).

An account's name is unique: a released name another account took meanwhile (its key, or one of its
lookalike readings: ``server.handlers.public_accounts.name_holder``) is not applied, as a name changed
since; the account's name key and readings move with its name (``AccountClaim``).

Either change is made only if the field still shows what the item expects (what it showed when the
text was held, or the flagged text): a later change by the group's managers or the user is never
overwritten by an older decision. The decision is then recorded without a change, and the result
line says so. A held text's author gets ``held_text_settled`` (released, with whether it was
applied, or rejected); ``reject`` and ``remove`` tell the author (``notice {kind: "content_removed"}``) and
cost them ``credit.penalty_report_upheld`` points, as for a message (told with a ``credit`` notice).

The decision, the change (a compare-and-set: ``SetShownText``), the penalty and the record entry
are one transaction; ``DecideReview`` re-checks in it that the item is still open. The field is
claimed in memory before the write with no await since its check, so a request changing it
meanwhile sees the new value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance import shown_text
from governance.permissions import Role, may
from governance.posting import acting_role
from governance.public_accounts import normalize_name
from protocol import events as ev
from protocol.errors import ContractError
from server import netlog
from server.claims import FieldClaim
from server.fanout import publish
from server.handlers import screening
from server.handlers.common import announce_rename, can_post
from server.handlers.public_accounts import AccountClaim, announce_account, name_holder
from server.operator.channel import OperatorError, Result
from server.operator.common import apply, audit, changes, operator_name, penalty, tell_penalty
from server.state import Account, Group
from server.storage.changes import ActsAs, Change, DecideReview, SetShownText

if TYPE_CHECKING:
    from server.claims import Settles
    from server.context import Context
    from server.state import User

KINDS = shown_text.KINDS
FIELDS = {"group_name": "name", "announcement": "announcement", "display_name": "display_name",
           "account_name": "name", "account_intro": "intro"}
NOUNS = {"group_name": "group name", "announcement": "announcement", "display_name": "display name",
          "account_name": "account name", "account_intro": "account introduction"}


def claim_shown(app: Context, kind: str, target: Group | User | Account, target_id: str, value: str, guard: str,
                name_key: str | None = None) -> tuple[Settles, SetShownText]:
    """The claim in memory and the compare-and-set in the store that set a shown text of ``target`` to
    ``value`` if it still shows ``guard`` (an account's name with the key it takes among the names)."""
    if kind == "account_name":
        return (AccountClaim(app.state, target, {"name": value, "name_key": name_key}),  # type: ignore[arg-type]
                SetShownText(kind, target_id, value, guard, name_key=name_key))
    return FieldClaim(target, {FIELDS[kind]: value}), SetShownText(kind, target_id, value, guard)


def announce_shown(app: Context, kind: str, gid: str | None, user_id: str, value: str, was: str,
                   aid: str | None = None) -> None:
    """Who learns that a shown text was set by the platform (stored): a display name is logged as
    ``set_profile`` logs it (G6) and told to those who see the user; a group's name or announcement to
    its members; an account's (``aid``) name or intro to its subscribers online, owner and editors
    (``account_updated``)."""
    if kind == "display_name":
        # Who was shown under which name, and since when (G6), as set_profile logs it.
        netlog.record(app, "profile", user_id, None, display_name=value, was=was, by=operator_name())
        user = app.state.users.get(user_id)
        if user is not None:
            announce_rename(app, user)
    elif kind in shown_text.ACCOUNT_KINDS:
        if aid is not None and (a := app.state.accounts.get(aid)) is not None:
            announce_account(app, a, **{FIELDS[kind]: value})
    elif gid is not None and (g := app.state.groups.get(gid)) is not None:
        publish(g.online, ev.GroupUpdated(group_id=gid, name=value) if kind == "group_name"
                else ev.GroupUpdated(group_id=gid, announcement=value))


def _target(app: Context, item: dict[str, Any]) -> tuple[Group | User | Account | None, str]:
    """The live group, active user or open account the item's text belongs to (None when gone), and
    its neutral value."""
    kind = item["kind"]
    if kind in shown_text.ACCOUNT_KINDS:
        aid = item["account_id"]
        a = app.state.accounts.get(aid)
        return (a if a is not None and a.closed_at is None else None), shown_text.neutral(kind, account_id=aid)
    if kind == "display_name":
        user = app.state.users.get(item["sender_id"])
        return (user if user is not None and user.active else None,
                screening.neutral_display_name(app, user.username, user.user_id) if user is not None else "")
    g = app.state.groups.get(item["group_id"])
    live = g is not None and g.dissolved_at is None and g.closed_at is None
    return (g if live else None), shown_text.neutral(kind, group_id=item["group_id"])


def _check_not_suspended(app: Context, target: Group | User | Account, kind: str, item_id: int, now: int) -> None:
    """A held group name or announcement is not released while the platform suspends the group, nor
    an account's name or introduction while it suspends the account: the owner could not set either
    then (P13, G11), and a release would change what the group or account shows through the measure."""
    if kind == "display_name":
        until = 0  # (a user: none)
    else:  # (an account's own or the one it carries from its subject's)
        until = target.suspension_end() if isinstance(target, Account) else int(getattr(target, "suspended_until", 0))
    if until > now:
        whose = "account" if kind in shown_text.ACCOUNT_KINDS else "group"
        raise OperatorError(f"review item {item_id}: the {whose} is suspended until {until}, and a release would "
                            "change what it shows through the measure; release it once the suspension ends, "
                            "or reject it")


def _author_may_still(app: Context, kind: str, target: Group | User | Account, author_id: str,
                      now: int) -> list[Change] | None:
    """What a release of a held text needs stored with it, or None when its author may no longer set
    it: released, it is applied as if they had just made it (a reviewer had an admin's held
    announcement published after the owner removed them). For a group, the store confirms the role
    the author has in memory (``ActsAs``); a display name is the author's own."""
    author = app.state.users.get(author_id)
    if author is None or author.blacklisted or author.deleted:
        return None
    if isinstance(target, Account):  # (``update_account``: the owner only)
        return [] if target.owner_id == author_id else None
    if kind == "display_name" or not isinstance(target, Group):
        return []
    m = target.members.get(author_id)
    if m is None or m.pending is not None:
        return None
    op = "update_group" if kind == "group_name" else "set_announcement"
    try:  # (the checks the op itself makes: powers suspended, the role; a new announcement as a send)
        if not may(op, acting_role(Role(m.role), author.powers_suspended_until, now)):
            return None
        if kind == "announcement":
            can_post(app, target, m, author, now)
    except ContractError:
        return None
    return [ActsAs(target.group_id, author_id, m.role)]


async def decide_shown(app: Context, item: dict[str, Any], decision: str, note: str) -> Result:
    """Release/reject a held name or announcement, keep/remove a flagged one (see the module's doc)."""
    item_id, kind, action, author_id = item["item_id"], item["kind"], item["action"], item["sender_id"]
    gid, aid, text, expect = item["group_id"], item.get("account_id"), item["text"], item["expect_text"]
    field, noun = FIELDS[kind], NOUNS[kind]
    target, neutral = _target(app, item)
    effect = shown_text.settle(action, decision, text, expect, neutral)
    now = app.now_ms()
    writes: list[Change] = [DecideReview(item_id, decision, note, now)]
    claim: Settles | None = None
    changed: str | None = None
    was = ""
    taken = False
    if effect is not None and target is not None:
        value, guard = effect
        if decision == "release":
            _check_not_suspended(app, target, kind, item_id, now)
        if FieldClaim.in_flight(target, field):
            raise OperatorError(f"the {noun} is being changed right now; decide review item {item_id} again")
        author_acts = _author_may_still(app, kind, target, author_id, now) if decision == "release" else []
        if author_acts is not None and getattr(target, field) == guard:
            # Checked and claimed with no await between; the store checks again (compare-and-set).
            writes += author_acts  # (and that the author still has the role memory gives them)
            if kind == "account_name":
                assert aid is not None
                # The neutral name holds a key no chosen name can have; a released one its own, if free.
                key = shown_text.neutral_name_key(aid) if decision == "remove" else normalize_name(value)
                taken = name_holder(app.state, value, key, target) is not None  # type: ignore[arg-type]
                if not taken:
                    claim, change = claim_shown(app, kind, target, aid, value, guard, key)
                    writes.append(change)
            else:
                claim, change = claim_shown(app, kind, target, gid or aid or author_id, value, guard)
                writes.append(change)
            if claim is not None:
                changed, was = value, guard
    author = app.state.users.get(author_id)
    # A flagged text the field no longer shows (its author changed it, or remove-text took it down and
    # charged for it then) is removed by nobody now: no penalty, no notice.
    charged = decision == "reject" or (decision == "remove" and changed is not None)
    pen, undo = penalty(app, author if charged else None, app.cfg.credit.penalty_report_upheld)
    # A group's held name or announcement that the decision leaves unshown was never seen by the
    # group: its entry is named apart (HIDDEN_ACTIONS), so group_log does not tell the managers of it.
    # (A flagged one was shown: its keep or remove is listed as before.)
    unseen = action == "review" and gid is not None and kind in ("group_name", "announcement") and changed is None
    try:
        await apply(app, *writes, *changes(pen),
                    audit=audit(app, f"review_{decision}" + ("_held_text" if unseen else ""), note, gid, author_id,
                                kind=kind, item_id=item_id,
                                changed=changed is not None, **({"account_id": aid} if aid else {})),
                    undo=undo, claim=claim,
                    conflict=f"review item {item_id} was decided, or its {noun} changed, meanwhile; look again")
    except ContractError as err:
        if err.code != "forbidden":  # (the store's ActsAs: the author's role changed as this was stored)
            raise
        raise OperatorError(f"review item {item_id}: its author's role in the group changed while the decision "
                            "was stored; nothing was decided, decide it again") from None
    if changed is not None:
        announce_shown(app, kind, gid, author_id, changed, was, aid)
    if action == "review" and author is not None:  # the author's my_held_texts no longer lists it
        publish(author.sessions, ev.HeldTextSettled(
            held_id=str(item_id), kind=kind, group_id=gid, account_id=aid,
            outcome="released" if decision == "release" else "rejected",
            applied=(changed is not None) if decision == "release" else None))
    if charged and author is not None:
        done = "rejected" if decision == "reject" else "removed"
        where = f" for group {gid}" if gid is not None else f" for public account {aid}" if aid is not None else ""
        said = f"your {noun} {text!r}{where} was {done} by the platform: {note}"
        publish(author.sessions, ev.Notice(group_id=gid, account_id=aid, kind="content_removed", by=operator_name(),
                                           text=said, content=kind, outcome=done, reason=note))
        tell_penalty(app, author, pen, said, reason=note)
    applied = "" if effect is None else (" (applied)" if changed is not None else
                                         " (not applied: the name is taken by another account)" if taken else
                                         f" (not applied: the {noun} changed since, its owner is gone, or its "
                                         "author may no longer set it)")
    return Result([f"review item {item_id}: {decision}{applied}"])
