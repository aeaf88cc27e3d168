"""Platform rules and service agreement (Art. 5): read the current version, accept it.

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
