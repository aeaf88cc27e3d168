"""``my_held_texts`` and ``withdraw_held_text``: the author's own view of their names and
announcements that the word lists hold for review (G10, ``governance/shown_text.py``).

A held group name, announcement, display name or public account's name or introduction is not
shown to anyone while it waits; its author is the only one who may see it again, list it and
take it back. The author is who set it (``sender_id`` of the review item): the owner for a
group's name, the owner or the admin who set an announcement, the user for their display name,
the account's owner for its name or introduction. Nobody else (the group's other managers
included) learns of it from these ops: an item that is not the caller's is ``not_found``, as one
that does not exist.

Withdrawing closes the review item (status ``withdrawn``) in one conditional write that also
re-checks it is still open: a decision committing first makes the withdrawal ``not_found``, a
withdrawal committing first makes the operator's decision a conflict (``decide`` says the item
was withdrawn). Nothing shown changes: the field kept what it showed while the text was held.
The author's connections get ``held_text_settled {outcome: "withdrawn"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance.ids import serial_id
from protocol import events as ev
from protocol.errors import ContractError
from server.fanout import publish
from server.handlers import handler
from server.handlers.common import own_page
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

MY_HELD_DEFAULT, MY_HELD_MAX = 20, 100


def held_item(row: dict[str, Any]) -> dict[str, Any]:
    """One waiting held text as ``my_held_texts`` lists it."""
    item: dict[str, Any] = {"held_id": str(row["item_id"]), "kind": row["kind"], "text": row["text"],
                            "created_at": row["created_at"]}
    for key in ("group_id", "account_id"):
        if row.get(key) is not None:
            item[key] = row[key]
    return item


@handler("my_held_texts")
async def my_held_texts(ctx: Context, sess: Session, req: rq.MyHeldTexts, enc: Encoding) -> dict[str, Any]:
    """The caller's held texts still waiting for an operator, newest first: kind, the group (for a
    group's name or announcement) or the account (for its name or intro), the text and when it was held."""
    before, limit = own_page(req.before, req.limit, "a held text id", MY_HELD_DEFAULT, MY_HELD_MAX)
    rows = await ctx.store.held_texts_by(sess.me.user_id, before, limit)
    return {"held": [held_item(r) for r in rows]}


@handler("withdraw_held_text")
async def withdraw_held_text(ctx: Context, sess: Session, req: rq.WithdrawHeldText, enc: Encoding) -> None:
    if (hid := serial_id(req.held_id)) is None:  # (as given: " 4\n" is no id, as other ids are read)
        raise ContractError("bad_request", "held_id must be an id from my_held_texts")
    me = sess.me
    item = await ctx.store.review_item(hid)
    kind = item["kind"] if item is not None else ""
    # WithdrawHeldText re-checks in its transaction that the item is the caller's, held and still open
    # (``not_found`` otherwise: someone else's item is answered like one that does not exist).
    mine = item if item is not None and item["sender_id"] == me.user_id else {}
    group_id, account_id = mine.get("group_id"), mine.get("account_id")
    await ctx.store.apply(
        ch.WithdrawHeldText(hid, me.user_id, ctx.now_ms()),
        audit=ch.Audit(ctx.now_ms(), "user", me.user_id, "withdraw_held_text", group_id, me.user_id,
                       detail={"item_id": hid, "kind": kind,
                               **({"account_id": account_id} if account_id else {})}))
    publish(me.sessions, ev.HeldTextSettled(held_id=req.held_id, kind=kind, outcome="withdrawn", group_id=group_id,
                                            account_id=account_id))
    return None
