"""``remove-text KIND TARGET --reason``: take down a name, an announcement or an introduction the
platform finds illegal (G10, P11), as ``decide --decision remove`` does for one the word lists
flagged, but for any text shown now, whether or not a list ever held it.

A red-team reviewer found no way to take such a text down but closing the group or the account or
blacklisting the person: ``remove-term`` reaches messages, posts and comments only, and the review
queue only what the lists caught when it was set. The field is set to the neutral value a removed
text leaves (``governance/shown_text.py``: a group called after its id, no announcement, the
username (or ``用户 USER_ID``), an account called after its id, no introduction), if it still shows
what was read (a compare-and-set, ``SetShownText``), with a ``remove_text`` record entry holding the
text removed (kept for the record, G13), in one transaction; the field is claimed in memory first.

Who is told, and who pays ``credit.penalty_report_upheld`` points: the person whose text it was,
where that is certain (a display name's user; an account's owner, the only one who may change its
name and intro, and an account is never handed on). A group's announcement may be any admin's, and
its name a former owner's (a group is handed on): nobody pays, and the owner is told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance import shown_text
from protocol import events as ev
from server.claims import FieldClaim
from server.fanout import publish
from server.handlers import screening
from server.operator.channel import OperatorError, Result, command
from server.operator.common import (
    apply,
    around_of,
    audit,
    changes,
    group_of,
    operator_name,
    penalty,
    reason_of,
    tell_penalty,
    user_of,
    without_names_around,
)
from server.operator.public_accounts import account_of
from server.operator.review_names import FIELDS, NOUNS, announce_shown, claim_shown

if TYPE_CHECKING:
    from server.context import Context
    from server.state import Account, Group, User



async def _target(app: Context, kind: str, name: str) -> tuple[Group | User | Account, str, str | None, str | None]:
    """The live group, active user or open account ``name`` names; the neutral value; the user who
    answers for the text (None: nobody certain); the owner to tell when nobody answers."""
    if kind in ("group_name", "announcement"):
        g = await group_of(app, {"group_id": name})
        if not g.alive:
            raise OperatorError(f"group {g.group_id} was dissolved or closed: it shows nothing")
        # (nobody answers for certain: an admin may have set the announcement, and the name may be a
        # former owner's, the group handed on since: the owner is told)
        return g, shown_text.neutral(kind, group_id=g.group_id), None, g.owner_id
    if kind == "display_name":
        user = user_of(app, {"username": name})
        if not user.active:
            raise OperatorError(f"{user.username} is cancelled or blacklisted: their name is shown as such already")
        return user, screening.neutral_display_name(app, user.username, user.user_id), user.user_id, None
    a = account_of(app, {"account_id": name})
    if a.closed_at is not None:
        raise OperatorError(f"account {a.account_id} is closed")
    return a, shown_text.neutral(kind, account_id=a.account_id), a.owner_id, None


@command("remove-text")
async def remove_text(app: Context, args: dict[str, Any]) -> Result:
    kind = str(args.get("kind") or "")
    if kind not in FIELDS:
        raise OperatorError(f"KIND must be one of {', '.join(FIELDS)}")
    raw = str(args.get("target") or "")
    target, neutral, author_id, owner_id = await _target(app, kind, raw)
    # (kept in the record the group's managers read, told to the author: the legal names around it masked)
    gid = getattr(target, "group_id", None)
    aid = getattr(target, "account_id", None)
    reason = await without_names_around(app, reason_of(args), *around_of(gid, aid), author_id, owner_id)
    target, neutral, author_id, owner_id = await _target(app, kind, raw)  # (again: the masking awaited)
    field, noun = FIELDS[kind], NOUNS[kind]
    shown = str(getattr(target, field))
    if shown == neutral:
        raise OperatorError(f"the {noun} shows nothing to remove ({shown!r}, what a removal leaves)")
    if FieldClaim.in_flight(target, field):
        raise OperatorError(f"the {noun} is being changed right now; run remove-text again")
    key = shown_text.neutral_name_key(str(aid)) if kind == "account_name" else None
    # (the target's id: a display name's is its user's)
    claim, change = claim_shown(app, kind, target, str(gid or aid or author_id), neutral, shown, key)
    author = app.state.users.get(author_id) if author_id is not None else None
    pen, undo = penalty(app, author, app.cfg.credit.penalty_report_upheld)
    await apply(app, change, *changes(pen), claim=claim, undo=undo,
                audit=audit(app, "remove_text", reason, gid, author_id or owner_id, kind=kind, text=shown,
                            **({"account_id": aid} if aid else {})),
                conflict=f"the {noun} changed while it was being removed; look again")
    announce_shown(app, kind, gid, author_id or "", neutral, shown, aid)
    told = author or (app.state.users.get(owner_id) if owner_id is not None else None)
    if told is not None:
        where = f" of group {gid}" if gid is not None else f" of public account {aid}" if aid is not None else ""
        said = f"the {noun}{where} {shown!r} was removed by the platform: {reason}"
        publish(told.sessions, ev.Notice(group_id=gid, account_id=aid, kind="content_removed", by=operator_name(),
                                         text=said, content=kind, outcome="removed", reason=reason))
        tell_penalty(app, author, pen, said, reason=reason)
    return Result([f"removed the {noun} {shown!r}; it now shows {neutral!r}"
                   + (f"; {author.username} lost {app.cfg.credit.penalty_report_upheld} credit points"
                      if author is not None and pen is not None else "")])
