"""Platform rules and service agreement (Art. 5): read the current version, accept it.

While the operator has set an agreement, ``send`` is refused (``forbidden``,
with ``agreement_version``) until the user has accepted the current version.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import ContractError
from server import repo
from server.handlers import handler


@handler("agreement")
async def agreement(app, sess, req, enc) -> dict[str, Any]:
    a = app.agreement
    if a is None:
        return {"version": None, "rules": "", "agreement": "", "accepted": True}
    return {"version": a.version, "rules": a.rules, "agreement": a.agreement,
            "accepted": sess.user.accepted_version == a.version}


@handler("accept_agreement")
async def accept_agreement(app, sess, req, enc) -> None:
    a = app.agreement
    version = req.args["version"]
    if a is None or version != a.version:
        raise ContractError("conflict", "that is not the current version; read it again with 'agreement'")
    user = sess.user
    if user.accepted_version != version:
        await app.store.write(repo.change((
            "INSERT OR IGNORE INTO agreement_acceptances VALUES (?, ?, ?)", (user.user_id, version, app.now_ms())
        )))
        user.accepted_version = version
    return None
