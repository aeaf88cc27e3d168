"""Reading a group: ``mark_read`` (a read marker shared by one's devices) and ``search``.

A member's read point is ``max(read_seq, joined_seq)``: what came before they
joined counts as read. ``my_groups`` (in ``groups.py``) reports it with the unread
count after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance import posting
from protocol import events as ev
from protocol.errors import ContractError
from server.claims import FieldClaim
from server.fanout import publish_elsewhere
from server.handlers import handler
from server.handlers.common import commit, live_group, member_of, still_reader
from server.handlers.message_extras import message_obj
from server.handlers.messages import counted, durable_before, own_reactions
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

SEARCH_DEFAULT, SEARCH_MAX = 20, 100
SEARCH_MIN_CHARS = 2


@handler("mark_read")
async def mark_read(ctx: Context, sess: Session, req: rq.MarkRead, enc: Encoding) -> dict[str, Any]:
    g = live_group(ctx, req.group_id)
    user = sess.me
    m = member_of(g, user)
    current = max(m.read_seq, m.joined_seq)
    # Nobody has read past the last message delivered: one whose seq is taken but still being
    # stored (last_seq) must not be marked read before any device of theirs could show it.
    seq = min(req.seq, g.stored_seq)
    if seq <= current:
        return {"read_seq": current}  # never moves back: nothing to store or tell
    # Checked and claimed with no await in between; a concurrent mark_read sees this claim. A refused
    # write gives back what it stood on, through the chain of marks still pending (server/claims.py):
    # two refused marks in turn each put back the one before, as the store has it.
    claim = FieldClaim(m, {"read_seq": seq})
    await commit(ctx, ch.MarkRead(user.user_id, g.group_id, seq), claim=claim)
    publish_elsewhere(sess, user.sessions, ev.ReadMarker(group_id=g.group_id, seq=seq))
    return {"read_seq": seq}


@handler("search")
async def search(ctx: Context, sess: Session, req: rq.Search, enc: Encoding) -> dict[str, Any]:
    g = live_group(ctx, req.group_id)
    m = member_of(g, sess.me)
    if len(req.query) < SEARCH_MIN_CHARS:
        raise ContractError("bad_request", f"a search needs at least {SEARCH_MIN_CHARS} characters")
    posting.check_no_nul(req.query, "query")  # no stored text holds one; the store cannot even look
    limit = req.limit if req.limit is not None else SEARCH_DEFAULT
    limit = max(1, min(limit, SEARCH_MAX))
    # Like history: only what the member may see (after their join point; never held or deleted).
    rows = await ctx.store.search_messages(g.group_id, m.joined_seq, req.query, durable_before(g, req.before_seq),
                                           limit)
    mine = await own_reactions(ctx, g.group_id, sess.me.user_id, rows)  # (the same objects as history's)
    still_reader(ctx, sess, g.group_id)
    gid = g.group_id
    return {"messages": [message_obj(ctx, gid, r, counted(r, mine.get(r.seq))) for r in rows]}
