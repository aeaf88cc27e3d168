"""Operator commands for content review, rules and agreement, and emergencies (Art. 5, 10)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from governance import shown_text
from governance.content import ContentFilter, normalize, shown_term
from protocol import events as ev
from protocol.errors import ContractError
from server.claims import message_turn
from server.fanout import publish, publish_many, publish_paced
from server.handlers.common import deletions_told, seeing, suspension_cause, user_view
from server.handlers.message_extras import event_of, message_obj
from server.operator import review_names, review_public
from server.operator.channel import OperatorError, Result, command
from server.operator.common import (
    MAX_ID,
    apply,
    around_of,
    audit,
    changes,
    each_id,
    group_of,
    is_id,
    lines_in_turns,
    operator_name,
    reason_of,
    seconds_of,
    tell_penalty,
    user_of,
    with_usernames,
    without_legal_names,
    without_names_around,
)
from server.operator.files import files_lock, files_to_take_down, said, take_down
from server.operator.freezing import PartlyFrozen, freeze, partly_frozen, suspend_each, tell_in_turns
from server.operator.message_penalty import MessageCost, message_cost
from server.operator.public_accounts import SYSTEM, freeze_account_category, take_comment_down, take_post_down
from server.operator.sanctions import lock_target
from server.state import Agreement, Group, PlatformNotice
from server.storage.base import ReviewPage
from server.storage.changes import (
    AddRecord,
    Audit,
    Change,
    DecideReview,
    DeleteMessages,
    InsertAgreement,
    SetGroupFields,
    SetMessageHeld,
    SettleMessageReviews,
    SuspendCategory,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from server.context import Context
    from server.storage.public import CommentRow, PostRow

DECISIONS = {"review": ("release", "reject"), "flag": ("keep", "remove")}
REMOVE_TERM_PAGE = 2000
# Message hits hidden per transaction: every send waits behind the one being written (5,000 at once held
# a probe's sends for a second; at 500, 20,000 hits in a group of 100 online kept them under 80 ms).
REMOVE_TERM_BATCH = 500


# -- content review queue (Art. 10) -------------------------------------------------------
REVIEW_PEOPLE = {"sender_id": "sender_username", "user_id": "username"}


assert set(shown_text.REVIEW_ITEM_KINDS) == {"message", *review_public.KINDS, *review_names.KINDS}, \
    "a kind of review item is missing from review-queue --kind"


@command("review-queue")
async def review_queue(app: Context, args: dict[str, Any]) -> Result:
    """The queue, oldest first, filtered and paged by the database (``--after``, ``--limit``, ``--group``,
    ``--user``, ``--kind``): in a raid it holds tens of thousands of items, and an operator works
    through the ones of a sender or a group, a page at a time."""
    for key in ("after", "limit"):
        if args.get(key) is not None and not is_id(args[key]):
            raise OperatorError(f"--{key} must be a whole number from 1 to {MAX_ID}")
    page = ReviewPage(after=args.get("after") or 0, limit=args.get("limit"),
                      group_id=(await group_of(app, args)).group_id if args.get("group_id") is not None else None,
                      sender_id=user_of(app, args).user_id if args.get("username") is not None else None,
                      kind=args.get("kind"))  # (one of its choices: the socket checks them, server/operator/cli.py)
    rows = await app.store.review_items(bool(args.get("open")), page)
    # The author (and a display name's user) by user id and username, as in every listing an operator acts from.
    return Result(await lines_in_turns(
        rows, lambda r: json.dumps(with_usernames(app, r, REVIEW_PEOPLE), ensure_ascii=False)))


@command("decide")
async def decide(app: Context, args: dict[str, Any]) -> Result:
    """``release``/``reject`` a held message, post, comment, group name, announcement or display name;
    ``keep``/``remove`` a flagged message, group name, announcement or display name.

    Several item ids (a raid's items, listed with ``review-queue --user``) are decided one after the
    other with the same decision and note, each on its own as if given alone; one that cannot be
    decided is said and the others still are (exit 2 at the end)."""
    return await each_id(args.get("item_id"), lambda item_id: decide_one(app, item_id, args),
                         "review items not decided")


async def decide_one(app: Context, item_id: Any, args: dict[str, Any]) -> Result:
    """One item of :func:`decide`."""
    decision = args.get("decision")
    note = reason_of(args, "note")
    item = await app.store.review_item(item_id) if is_id(item_id) else None
    if item is None:
        raise OperatorError(f"unknown review item {item_id}")
    assert type(item_id) is int
    gid, seq, sender_id, action = item["group_id"], item["seq"], item["sender_id"], item["action"]
    # (the note is kept in the record, which a group's managers read, and told to the author: the legal
    # names of the author and of those around what they wrote masked)
    note = await without_names_around(app, note, *around_of(gid, item["account_id"]), sender_id)
    already = f"review item {item_id} is already decided"
    if item["status"] == "withdrawn":
        by = ("a newer change of its field superseded it" if item.get("note") == "superseded"
              else "it was withdrawn by its author")
        raise OperatorError(f"review item {item_id}: {by}: there is nothing to decide")
    if item["status"] != "open":
        raise OperatorError(already)
    if decision not in DECISIONS[action]:
        raise OperatorError(f"a {action} item takes --decision {' or '.join(DECISIONS[action])}")
    if item["kind"] in review_public.KINDS:
        return await review_public.decide_public(app, item, decision, note)
    if item["kind"] in review_names.KINDS:
        return await review_names.decide_shown(app, item, decision, note)
    sender = app.state.users.get(sender_id)
    # The message's own lock, as remove-message takes it: one of the two commits first, and the other
    # then finds the item settled (DecideReview's re-check) or the message gone. The sender never loses
    # the points twice for one message: a complaint upheld about it may have taken them (message_cost).
    cost: MessageCost | None = None
    pen: Change | None = None
    taken = 0
    shown: list[tuple[str, int]] = []
    released: ev.MessageEvent | None = None
    async with message_turn(gid, seq):
        now = app.now_ms()
        g = app.state.groups.get(gid)
        if decision == "release" and (sender is None or not sender.active):
            # (as a held name or announcement of theirs is not applied: a blacklisted or cancelled
            # account speaks no more, not even through what the platform kept back)
            raise OperatorError(f"review item {item_id}: its sender's account is blacklisted or cancelled, and a "
                                "release would deliver their message as if they spoke now; reject it, or lift the "
                                "blacklisting first")
        if decision == "release" and (g is None or not g.alive):
            # (memory keeps no ended group: one the platform closed or its owner dissolved is read by
            # nobody, and a release would only mark the message shown in the record and the exports,
            # unchecked against the measure that ended the group)
            raise OperatorError(f"review item {item_id}: group {gid} has ended (closed or dissolved), and a release "
                                "would show the message to nobody; reject it or remove it")
        if decision == "release" and g is not None and g.suspended_until > now:
            # (as a send is refused meanwhile: a release would deliver the message through the measure;
            # checked right before the write, so a suspension claimed while it is stored came after it)
            raise OperatorError(f"review item {item_id}: group {gid} is suspended until {g.suspended_until}, and "
                                "a release would deliver the message through the measure; release it once the "
                                "suspension ends, or reject it")
        writes: list[Change] = [DecideReview(item_id, decision, note, now)]
        if decision == "release":
            writes.append(SetMessageHeld(gid, seq, 0))
        elif decision == "reject":
            writes.append(SetMessageHeld(gid, seq, 2))
        elif decision == "remove":
            writes.append(DeleteMessages(((gid, seq),), now, operator_name()))
        record = audit(app, f"review_{decision}", note, gid, sender_id, seq=seq, item_id=item_id)
        # DecideReview re-checks inside the transaction that the item is still open.
        if decision in ("reject", "remove"):
            cost = message_cost(app, sender, gid, seq, record)
            stored = await apply(app, *writes, cost.change, undo=cost.undo, conflict=already)
            taken = stored[-1]
            # (what the store hid shown: nothing when its sender or remove-term deleted it first)
            shown = stored[1] if decision == "remove" else []
            pen = cost.settle(app, taken)  # (no await since the write)
        else:
            await apply(app, *writes, audit=record, conflict=already)
            if decision == "release":
                app.state.sent_ids.released(gid, sender_id, seq)  # (no await since the write: a retry now says so)
                # Read within the message's turn and told with no await after it: a deletion by its
                # sender waits for the turn, so it cannot be told between this read and the event.
                released = await _released(app, gid, seq, item)
    g = app.state.groups.get(gid)
    if g is not None:
        if decision == "release":
            if released is not None:
                publish(seeing(g, seq), released)
        elif decision == "remove":
            app.forget_owed(gid, seq)
            if shown:
                publish(seeing(g, seq), ev.MessageDeleted(group_id=gid, seq=seq, deleted_by="platform"))
    if decision in ("reject", "remove") and sender is not None:
        done = "rejected" if decision == "reject" else "removed"
        publish(sender.sessions, ev.Notice(group_id=gid, kind="content_removed", by=operator_name(),
                                       text=f"message {seq} was {done} by the platform: {note}",
                                       content="message", outcome=done, reason=note, seq=seq))
        tell_penalty(app, sender, pen, f"your message {seq} in group {gid} was {done} by the platform: {note}",
                     reason=note)
    return Result([f"review item {item_id}: {decision}", *(cost.said(taken) if cost is not None else [])])


@command("remove-message")
async def remove_message(app: Context, args: dict[str, Any]) -> Result:
    """Take one delivered message down (G10, G11): a complaint upheld against it, or illegal content
    the platform found, without a word to search for (``remove-term``) or a review item (``decide``).

    As ``decide --decision remove``: members who could see it get ``message_deleted``, the stored
    text is kept for the record, the sender gets ``notice {kind: "content_removed"}`` and loses
    ``credit.penalty_report_upheld`` points; the record entry is ``remove_message``. An open review
    item flagging the message is settled in the same transaction (decision ``remove``), so that a
    later ``decide`` of it is refused instead of penalising the sender a second time."""
    g = await group_of(app, args)
    gid, seq = g.group_id, args.get("seq")
    if not is_id(seq):
        raise OperatorError("SEQ must be a message's seq")
    reason = reason_of(args)
    # One removal of a message at a time, from the read to the commit: two operators removing it at
    # once would otherwise both find it shown, and its sender lose the points twice.
    async with message_turn(gid, seq):
        info = await app.store.message_info(gid, seq)
        if info is None:
            raise OperatorError(f"no message {seq} in group {gid}")
        # (kept in the record, which the group's managers read: the legal names of the sender and the
        # members masked; the store says below whether the message was still shown)
        reason = await without_names_around(app, reason, "group", gid, info.sender_id)
        if info.held == 1:
            raise OperatorError(f"message {seq} in group {gid} is held for review and was never delivered: "
                                "decide it in the review queue")
        if info.deleted or info.held == 2:
            raise OperatorError(f"message {seq} in group {gid} is already deleted or rejected")
        digests = await files_to_take_down(app, args, gid, seq)
        async with files_lock(app, bool(digests)):
            now = app.now_ms()
            sender = app.state.users.get(info.sender_id)
            # Once per message: a complaint upheld about it may have cost the sender its points already.
            files_detail = {"files_taken_down": digests} if digests else {}
            cost = message_cost(app, sender, gid, seq, audit(app, "remove_message", reason, gid, info.sender_id,
                                                              seq=seq, **files_detail))
            files, files_back = take_down(app, digests, f"remove_message {gid} {seq}")

            def undo() -> None:
                cost.undo()
                files_back()

            shown, settled, taken, *_ = await apply(app, DeleteMessages(((gid, seq),), now, operator_name()),
                                                    SettleMessageReviews(gid, seq, "remove", reason, now),
                                                    cost.change, *files, undo=undo)
            pen = cost.settle(app, taken)  # (no await since the write)
    app.forget_owed(gid, seq)
    if g.alive and shown:  # (not when remove-term hid it meanwhile: that told the group)
        publish(seeing(g, seq), ev.MessageDeleted(group_id=gid, seq=seq, deleted_by="platform"))
    if sender is not None:
        publish(sender.sessions, ev.Notice(group_id=gid, kind="content_removed", by=operator_name(),
                                       text=f"message {seq} was removed by the platform: {reason}",
                                       content="message", outcome="removed", reason=reason, seq=seq))
        tell_penalty(app, sender, pen, f"your message {seq} in group {gid} was removed by the platform: {reason}",
                     reason=reason)
    lines = [f"removed message {seq} of group {gid}"]
    if settled:
        lines.append("its open review item was settled with it (decision remove)")
    return Result(lines + cost.said(taken) + said(digests))


async def _released(app: Context, gid: str, seq: int, item: dict[str, Any]) -> ev.MessageEvent | None:
    """The ``message_released`` event of a released message, with its v2 fields (reply, mentions,
    attachments). Not a ``message`` event: its seq is below ones the group's members already got,
    and ``message`` events reach a connection in ascending seq. None when its sender deleted it
    while it was held: it is released as deleted, and a deleted message's text is shown to nobody."""
    rows = await app.store.history(gid, seq - 1, None, seq + 1, 1)
    if rows and rows[0].seq == seq:
        return None if rows[0].deleted else event_of(message_obj(app, gid, rows[0]), ev.MessageReleased)
    return ev.MessageReleased(group_id=gid, seq=seq, ts=item["ts"], text=item.get("text_now") or item["text"],
                              sender=user_view(app, item["sender_id"], item["sender_role"]))


# -- rules and agreement (Art. 5) ----------------------------------------------------------
@command("set-agreement")
async def set_agreement(app: Context, args: dict[str, Any]) -> Result:
    version = str(args.get("version") or "").strip()
    rules, text = str(args.get("rules") or ""), str(args.get("agreement") or "")
    if not version or not rules.strip() or not text.strip():
        raise OperatorError("--version, --rules-file and --agreement-file must all be non-empty")
    if app.agreement is not None and app.agreement.version == version:
        raise OperatorError(f"version {version} is already current")
    now = app.now_ms()
    # InsertAgreement refuses, inside the transaction, a version that was used before.
    await apply(app, InsertAgreement(version, rules, text, now),
                audit=audit(app, "set_agreement", f"version {version}", version=version),
                conflict=f"version {version} was used before; pick a new one")
    app.agreement = Agreement(version, rules, text, now)
    publish((s for s in app.sessions if s.user is not None),
            ev.Notice(kind="agreement", version=version, by=operator_name(),
                      text="the platform rules and service agreement changed; accept them to keep posting"))
    return Result([f"agreement version {version} is current"])


# -- emergencies (Art. 5) --------------------------------------------------------------------
@command("notice")
async def notice(app: Context, args: dict[str, Any]) -> Result:
    text = reason_of(args, "text")  # shown to every member: phone and ID numbers masked, as in every reason
    category = args.get("category")
    accounts = bool(args.get("accounts"))
    if category is None:
        if accounts:
            raise OperatorError("--accounts names a public-account category: give --category too")
    elif accounts:
        if category not in app.cfg.public_accounts.categories:
            raise OperatorError(f"unknown public-account category {category}")
    elif category not in app.cfg.groups.categories:
        raise OperatorError(f"unknown category {category}")
    detail: dict[str, Any] = {"category": category, "accounts": True} if accounts else {"category": category}
    entry = audit(app, "platform_notice", text, **detail)
    await apply(app, audit=entry)
    # Kept for those not connected now, who read it with platform_notices (each decides there whether
    # it is theirs, by the groups and accounts they have when they ask).
    app.state.keep_notice(PlatformNotice(entry.ts, text, category, accounts, entry.actor_id))
    # Who gets it, read once the record is written (as set-agreement does): a connection that logged
    # in, or a member who joined, while the write was out is there when it goes, and gets it.
    # (Sent as a post to its followers is, at most BULK_SLICE connections a turn: with 10,000 online,
    # one step held every other connection 230-280 ms.)
    if category is None:
        targets = {s for s in app.sessions if s.user is not None}
    elif accounts:
        # P5: the followers, owners and editors of every live public account of the category: the
        # followers online by each account's own set (walking every follower of an account of 100,000
        # took 450 ms), its owner and editors by their sessions.
        users = app.state.users
        live = [a for a in app.state.accounts.values() if a.category == category and a.closed_at is None]
        managers = {uid for a in live for uid in (a.owner_id, *a.editors)}
        targets = {s for a in live for s in a.online}
        targets.update(s for uid in managers if (u := users.get(uid)) is not None for s in u.sessions)
    else:
        targets = {s for g in app.state.groups.values() if g.category == category and g.alive for s in g.online}
    publish_many(targets, ev.Notice(kind="platform", text=text, category=category, by=entry.actor_id, at=entry.ts))
    return Result([f"notice sent to {len(targets)} connections"])


@command("freeze-category")
async def freeze_category(app: Context, args: dict[str, Any]) -> Result:
    if args.get("accounts"):
        return await freeze_account_category(app, args)
    category = args.get("category")
    if category not in app.cfg.groups.categories:
        raise OperatorError(f"unknown category {category}")
    assert isinstance(category, str)
    reason, seconds = reason_of(args), seconds_of(args)
    # One freeze of a category at a time: a freeze whose write fails puts the category's end back
    # as it found it, which would drop the claim of another freeze of it made meanwhile (stored,
    # yet new groups could be opened in the category again).
    async with lock_target("category", category):
        now = app.now_ms()
        until = now + seconds * 1000
        try:
            groups = await _freeze(app, category, reason, seconds, now, until)
        except PartlyFrozen as partly:
            raise partly_frozen(partly, "groups", category, until,
                                lambda g, sanction_id: _tell_frozen(app, g, reason, sanction_id)) from partly
    await tell_in_turns(groups, until, lambda g, sanction_id: _tell_frozen(app, g, reason, sanction_id))
    return Result([f"froze {len(groups)} groups in {category} until {until}"])


def _tell_frozen(app: Context, g: Group, reason: str, sanction_id: int) -> None:
    """Tell ``g``'s connected members it is suspended by a freeze of its category: ``sanction_id`` is the
    group's own row of the freeze (one per group), which its owner may appeal as a ``suspend-group``'s."""
    publish(g.online, ev.GroupSuspended(group_id=g.group_id, until=g.suspended_until, reason=reason,
                                        cause=suspension_cause(app, g), sanction_id=str(sanction_id)))


async def keep_group_frozen(app: Context, group_id: str, category: str, until: int) -> bool:
    """Suspend a group the store holds unsuspended in ``category``, frozen until ``until``
    (:meth:`~server.storage.freezes.FreezeReads.freeze_misses` read so), as the freeze suspended the
    others: a sanction by ``system``, its connected members told. A group the freeze could not see
    is one whose move out of the category was in flight at the freeze and then failed, putting it
    back. True when it was suspended."""
    async with lock_target("category", category):
        # Under the category's lock no freeze of it is under way. A category frozen anew since the store
        # was read suspended the group itself, and an operator may have lifted that since: left alone.
        if app.state.category_frozen_until.get(category) != until:
            return False
        g = app.state.groups.get(group_id)
        if g is None:
            return False
        now = app.now_ms()
        reason = f"the platform froze the category {category}"

        def still_missed(g: Group) -> bool:  # once its lock is held, with no await before the claim
            return g.alive and g.category == category and g.suspended_until < until and until > now

        suspended = await suspend_each(
            app, [(group_id, g)], still_missed, "group", "suspend_group", reason, now, until,
            lambda ids: [SetGroupFields(gid, {"suspended_until": until}) for gid in ids],
            lambda _: Audit(now, SYSTEM, None, "suspend_group", group_id, None, reason), actor=SYSTEM)
    for g, sanction_id in suspended:
        _tell_frozen(app, g, reason, sanction_id)
    return bool(suspended)


async def _freeze(app: Context, category: str, reason: str, seconds: int, now: int,
                  until: int) -> list[tuple[Group, int]]:
    """Freeze ``category`` until ``until`` (under its lock); the groups suspended, each with its sanction's id."""
    return await freeze(
        app, app.state.category_frozen_until, category,
        lambda: ((g.group_id, g) for g in app.state.groups.values() if g.category == category and g.alive),
        # (still the group of its id: one whose creation the store refused while the freeze waited
        # for a group's lock is gone from memory, and must be neither suspended nor looked up)
        lambda g: g.alive and app.state.groups.get(g.group_id) is g, "group", "suspend_group", reason, now, until,
        # Each listed group is stored suspended by its id, as memory holds it, whatever category the store
        # holds for it: a move into the category still in flight, or one that failed since the list
        # (a failed move leaves the group in its old category, suspended until the freeze's end, with its
        # sanction row; an operator may lift it).
        lambda ids: SuspendCategory(category, until, tuple(ids)),
        lambda n: audit(app, "freeze_category", reason, category=category, seconds=seconds, groups=n),
        # each group's own entry: its group_log and export show the freeze that suspended it
        lambda gid: audit(app, "suspend_group", reason, gid, category=category, seconds=seconds, until=until))


@command("remove-term")
async def remove_term(app: Context, args: dict[str, Any]) -> Result:
    """Take down everything stored that contains the term (matched as the word lists match it), keeping
    it for the record: every group message (hidden), and every shown post and live comment of public
    accounts (P5 with G5: the emergency tool reaches them too), each as ``remove-post`` and
    ``remove-comment`` take one down (:func:`~server.operator.public_accounts.take_post_down`,
    ``take_comment_down``)."""
    raw = str(args.get("term") or "")
    term = shown_term(raw)  # what is recorded and told: look-alike letters as given
    if len(normalize(raw)) < 2:
        raise OperatorError("the term must have at least 2 letters or digits")
    # one list of this term: a text holds it as a list holding it would find it (capitals such as
    # НТТР, rn for m), not only where its normal form holds the term's
    only = ContentFilter([("remove-term", "block", [raw])])

    def holds(text: str) -> bool:
        return only.check(text) is not None

    found_posts, found_comments = await _find_public(app, holds)
    hits: list[tuple[str, int, int]] = []  # (group id, seq, held as the scan read it)
    senders: set[str] = set()
    last = ("", -1)
    while True:
        rows = await app.store.messages_page(last, REMOVE_TERM_PAGE)
        if not rows:
            break
        for gid, seq, text, held, sender in rows:
            if holds(text):
                hits.append((gid, seq, held))
                senders.add(sender)
        last = (rows[-1][0], rows[-1][1])
    # One reason for every group, account and person it is told to or kept for: the legal names masked
    # of everyone around what it takes down, as the one-item commands mask them (a privacy review: the
    # members of a group read its log entry, an account's owner and editors its notices).
    around = await _around_hits(app, {gid for gid, _, _ in hits}, senders, found_posts, found_comments)
    reason = await without_legal_names(app, reason_of(args), *around)
    posts, comments = await _remove_term_public(app, found_posts, found_comments, term, reason)
    # In slices of REMOVE_TERM_BATCH hits, each its own transaction: a term found in a million messages
    # would otherwise be one write running past storage.command_timeout_seconds, which on PostgreSQL
    # fails every other write of its batch with it. The command's own entry goes with the last slice.
    command = audit(app, "remove_term", reason, term=term, removed=len(hits), posts=posts, comments=comments)
    delivered: list[tuple[str, int]] = []
    for start in range(0, max(len(hits), 1), REMOVE_TERM_BATCH):
        delivered += await _remove_hits(app, hits[start:start + REMOVE_TERM_BATCH], term, reason,
                                        command if start + REMOVE_TERM_BATCH >= len(hits) else None)
    # Told once every slice is hidden, paced (thousands of events: the chat goes on, slow readers keep
    # up for a while): the hiding never waits for a reader.
    await publish_paced(deletions_told(app, delivered, "platform"))
    done = f"removed {len(hits)} messages, {len(posts)} posts and {len(comments)} comments"
    return Result([f"{done} containing {term!r}"])


async def _around_hits(app: Context, groups: set[str], senders: set[str], posts: list[PostRow],
                       comments: list[CommentRow]) -> list[str]:
    """Whose legal names ``remove-term``'s reason masks: the senders of the messages it hides and the
    members of their groups (the groups' log entries), the authors of the posts and comments it takes
    down, and the owners and editors of their accounts (told of each)."""
    named = sorted(senders)
    for gid in sorted(groups):
        if (g := app.state.groups.get(gid)) is not None:
            named += g.members
    accounts = {p.account_id for p in posts}
    named += [p.author_id for p in posts]
    for c in comments:
        named.append(c.user_id)
        if (post := await app.store.post(c.post_id)) is not None:
            accounts.add(post.account_id)
    for aid in sorted(accounts):
        if (a := app.state.accounts.get(aid)) is not None:
            named += [a.owner_id, *sorted(a.editors)]
    return named


async def _remove_hits(app: Context, hits: list[tuple[str, int, int]], term: str, reason: str,
                       command: Audit | None) -> list[tuple[str, int]]:
    """Hide one slice of ``remove-term``'s message hits, with each group's own record entry beside
    them (its group_log and export show which of its messages went); returns the hits members had
    been shown, to be told of.

    A hit held for review (or rejected) was never delivered: it is hidden too, but named in an entry
    of its own, ``remove_term_held``, which ``group_log`` does not list (its managers do not know it
    exists), and its open review item is settled in the same transaction (``remove``), so no release
    can mark it delivered afterwards."""
    now = app.now_ms()
    shown: dict[str, list[int]] = {}
    held: dict[str, list[int]] = {}
    for gid, seq, was_held in hits:
        (held if was_held else shown).setdefault(gid, []).append(seq)
    pairs = tuple((gid, seq) for gid, seq, _ in hits)
    # The review items first, as a decision takes its item before the message (one order of locks:
    # the other deadlocks on PostgreSQL). (A hit released between the scan and this write is hidden
    # and its members told, but named in the held entry: the scan's view.)
    settles = [SettleMessageReviews(gid, seq, "remove", reason, now) for gid, seq, was_held in hits if was_held == 1]
    done_writes = await apply(
        app, *settles, *changes(DeleteMessages(pairs, now, operator_name()) if hits else None),
        *[AddRecord(audit(app, "remove_term", reason, gid, term=term, removed=len(seqs), seqs=seqs))
          for gid, seqs in sorted(shown.items())],
        *[AddRecord(audit(app, "remove_term_held", reason, gid, term=term, removed=len(seqs), seqs=seqs))
          for gid, seqs in sorted(held.items())],
        audit=command)
    for gid, seq in pairs:
        app.forget_owed(gid, seq)
    # The hits members had been shown, as the store had them when it hid them, not as the scan read
    # them: a held one an operator released meanwhile was shown since (and a deletion of it is told).
    delivered: list[tuple[str, int]] = done_writes[len(settles)] if hits else []
    return delivered


async def _find_public(app: Context, holds: Callable[[str], bool]) -> tuple[list[PostRow], list[CommentRow]]:
    """The shown posts (title or body) and the live comments that hold the term (``holds``)."""
    found_posts: list[PostRow] = []
    after = 0
    while rows := await app.store.shown_posts_page(after, REMOVE_TERM_PAGE):
        found_posts += [r for r in rows if holds(r.title) or holds(r.body)]
        after = rows[-1].post_id
    found_comments: list[CommentRow] = []
    after = 0
    while comment_rows := await app.store.live_comments_page(after, REMOVE_TERM_PAGE):
        found_comments += [r for r in comment_rows if holds(r.text)]
        after = comment_rows[-1].comment_id
    return found_posts, found_comments


async def _remove_term_public(app: Context, found_posts: list[PostRow], found_comments: list[CommentRow],
                              term: str, reason: str) -> tuple[list[int], list[int]]:
    """Take down the posts and comments :func:`_find_public` found: each in its own transaction with its
    sanction, record entry (detail ``term``) and notice, as the one-item commands do, but without their
    credit penalty, as for messages: a term is often banned in an emergency after it was posted in good
    faith, and one term over many posts of one account would otherwise take 20 points a post. One taken
    down meanwhile by someone else is skipped. Held ones wait in the review queue (``decide``). Returns
    the ids taken down (posts, comments)."""
    posts: list[int] = []
    for post in found_posts:
        if post.account_id in app.state.accounts and await _gone_meanwhile(
                take_post_down(app, post, reason, penalise=False, term=term)):
            posts.append(post.post_id)
    comments: list[int] = []
    for comment in found_comments:
        if await _gone_meanwhile(take_comment_down(app, comment, reason, penalise=False, term=term)):
            comments.append(comment.comment_id)
    return posts, comments


async def _gone_meanwhile(removal: Awaitable[Any]) -> bool:
    """Whether ``removal`` took its item down: False when the item was gone by then (``not_found``)."""
    try:
        await removal
    except ContractError as err:
        if err.code == "not_found":
            return False
        raise
    return True
