"""Ending a lockout after wrong passwords by hand: ``unlock-login``.

Wrong passwords lock an account (``rate_limits.failed_logins_per_account`` in its window, from
whatever addresses they come) and an address (``failed_logins_per_ip_per_hour``, wrong codes too).
Someone guessing a person's password keeps its owner out for as long as they go on; a school or a
carrier's NAT shares one address among many. The owner ends an account's lockout with a code to
its phone (``reset_password``); a person without their phone, or an address, needs the platform's
support: this command forgets the wrong guesses counted so far, as a reset does. Those that follow
count again.

The network log's ``login_unlocked`` row (user id, or address) is what the limits are rebuilt
from at a start (server/limits.py), so a restart does not lock them out again; the enforcement
record names the operator and the reason. Both are written in one transaction.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from server.operator.channel import OperatorError, Result, command
from server.operator.common import apply, audit, operator_name, reason_of, user_of
from server.storage.changes import LogNetwork

if TYPE_CHECKING:
    from server.context import Context


def _address(raw: Any) -> str | None:
    """The ``--address`` given, as an IP address (its usual spelling), or None."""
    if raw is None:
        return None
    try:
        return str(ipaddress.ip_address(str(raw).strip()))
    except ValueError:
        raise OperatorError(f"--address must be an IPv4 or IPv6 address, not {str(raw)[:64]!r}") from None


@command("unlock-login")
async def unlock_login(app: Context, args: dict[str, Any]) -> Result:
    reason = reason_of(args)
    address = _address(args.get("address"))
    user = user_of(app, args) if args.get("username") else None
    if user is None and address is None:
        raise OperatorError("name the account (USERNAME) or the address (--address), or both")
    # The row the limits are rebuilt from and the record entry, in one transaction, then memory: a
    # write refused unlocks nothing (in memory, or after a restart from a row stored alone), and an
    # unlock in force is always recorded.
    who = user.user_id if user is not None else None
    row = LogNetwork(app.now_ms(), "login_unlocked", who, address,
                     json.dumps({"by": operator_name()}, ensure_ascii=False, separators=(",", ":")))
    try:
        await apply(app, row, audit=audit(app, "unlock_login", reason, target_id=who,
                                          **({"address": address} if address is not None else {})))
    except Exception as err:
        raise OperatorError(f"the unlock was not stored ({err!r}): nothing was unlocked; run it again once the "
                            "store takes writes") from None
    lines = []
    if user is not None:
        app.failed_logins_per_account.forget(user.user_id)
        app.failed_logins_per_user.forget(user.user_id)
        # (and the logins naming it this hour, logins_per_account_per_hour: a guesser who went on after
        # an earlier unlock used them up, and the owner's right password was refused for the hour)
        app.logins_per_account.forget(user.user_id)
        lines.append(f"{user.username}: the wrong passwords given for the account are forgotten; it logs in "
                     "with its password now")
    if address is not None:
        app.failed_logins_per_ip.forget(address)
        app.failed_codes_per_ip.forget(address)
        lines.append(f"{address}: the wrong passwords and codes from its network are forgotten")
    return Result(lines)
