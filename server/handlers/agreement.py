"""Platform rules and service agreement (Art. 5): read the current version, accept it; and the
platform's notices (``qunguan admin notice``) one was not connected for.

While the operator has set an agreement, ``send`` is refused (``forbidden``,
with ``agreement_version``) until the user has accepted the current version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import events as ev
from protocol.errors import ContractError
from server.claims import FieldClaim
from server.fanout import publish_elsewhere
from server.handlers import handler
from server.handlers.common import commit
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session
    from server.state import PlatformNotice, State, User

# The newest this many of the platform's notices in one answer (the server keeps 30 days of them).
PLATFORM_NOTICES_MAX = 50


@handler("agreement")
async def agreement(ctx: Context, sess: Session, req: rq.Agreement, enc: Encoding) -> dict[str, Any]:
    a = ctx.agreement
    if a is None:
        return {"version": None, "rules": "", "agreement": "", "accepted": True}
    return {"version": a.version, "rules": a.rules, "agreement": a.agreement,
            "accepted": sess.me.accepted_version == a.version}


@handler("accept_agreement")
async def accept_agreement(ctx: Context, sess: Session, req: rq.AcceptAgreement, enc: Encoding) -> None:
    a = ctx.agreement
    version = req.version
    if a is None or version != a.version:
        raise ContractError("conflict", "that is not the current version; read it again with 'agreement'")
    user = sess.me
    if user.accepted_version != version:
        claim = FieldClaim(user, {"accepted_version": version})
        await commit(ctx, ch.AcceptAgreement(user.user_id, version, ctx.now_ms()), claim=claim)
        # [ext] A second device's agreement dialog closes (its posting was held back for it too).
        publish_elsewhere(sess, user.sessions, ev.SelfChanged(what="agreement", version=version))


@handler("platform_notices")
async def platform_notices(ctx: Context, sess: Session, req: rq.PlatformNotices, enc: Encoding) -> dict[str, Any]:
    """The platform's notices made after ``after`` and after the account was, that the caller got or
    would have got had they been connected: every notice without a category; one for a category of
    groups while they are in a live group of it, one for a category of public accounts while they
    follow, own or edit a live account of it (as they are now: a group left since is not asked
    about). Oldest first; the newest PLATFORM_NOTICES_MAX."""
    me = sess.me
    after = max(req.after or 0, me.created_at)
    state = ctx.state
    mine = [n for n in state.notices_after(after, ctx.now_ms()) if _addressed(state, me, n)]
    return {"notices": [_notice_obj(n) for n in mine[-PLATFORM_NOTICES_MAX:]]}


def _addressed(state: State, me: User, n: PlatformNotice) -> bool:
    if n.category is None:
        return True
    if n.accounts:
        accounts = state.accounts
        return any((a := accounts.get(aid)) is not None and a.category == n.category and a.closed_at is None
                   for aid in (*me.subscriptions, *me.managed))
    groups = state.groups
    return any((g := groups.get(gid)) is not None and g.category == n.category and g.alive for gid in me.groups)


def _notice_obj(n: PlatformNotice) -> dict[str, Any]:
    out: dict[str, Any] = {"at": n.at, "text": n.text}
    if n.category is not None:
        out["category"] = n.category
        if n.accounts:
            out["accounts"] = True
    if n.by is not None:
        out["by"] = n.by
    return out
