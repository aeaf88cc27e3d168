"""Public accounts (P4-P13): opening, information, editors, subscriptions, cancellation.

An account is run by a verified subject: a person (their verified ID number) or
an organisation (its unified social credit code), always through an ID-verified
person who opens it. How many live accounts one subject may run, and how many
organisation accounts one person may have opened (both
``public_accounts.max_per_subject``), whether the subject or person is barred,
and whether a name is taken are decided by the database in the inserting
transaction (``InsertAccount``), so concurrent creates from several user
accounts of one person cannot overshoot, and typing new organisation codes
opens no more accounts than the cap. Everything else is checked and
claimed in memory first, like the group handlers (docs/architecture.md).

A name is taken when another account, open or closed, has its plain key
(``policy.normalize_name``: case, width and spaces aside) or one of its lookalike
readings (``policy.name_readings``: Cyrillic ``Аpple`` reads as ``Apple``):
checked and claimed in memory with no await in between (:func:`name_holder`,
:class:`AccountClaim`, ``state.account_names`` and ``state.account_readings``) on
every path that names an account (create, rename, the platform's grant, release
and removal), and by the database's unique keys (``accounts.name_key``,
``account_name_readings``) in the same write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from governance import names, posting, shown_text
from governance import public_accounts as policy
from governance.content import Action
from governance.ids import new_account_id
from protocol import events as ev
from protocol.enums import SubjectType
from protocol.errors import ContractError, shown_id
from server.claims import FieldClaim, turn
from server.fanout import publish, publish_elsewhere, publish_many
from server.handlers import handler
from server.handlers.common import check_agreement, commit, record_penalized, still_active
from server.handlers.screening import (
    Screened,
    checked,
    record_blocked,
    superseding,
    tell_held_elsewhere,
    tell_superseded,
)
from server.state import Account, Closing, User
from server.storage import changes as ch
from server.storage.public import READING_TAKEN

if TYPE_CHECKING:
    from governance.content import Verdict
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session
    from server.state import State

log = logging.getLogger("qunguan.public_accounts")

ACCOUNT_ID_TRIES = 8
MAX_NAME_CHARS = 30
MAX_INTRO_CHARS = 500
MAX_ORG_NAME_CHARS = 100


# -- lookups shared with the post handlers ------------------------------------------------
def find_account(ctx: Context, aid: str) -> Account:
    a = ctx.state.accounts.get(aid)
    if a is None:
        raise ContractError("not_found", f"no public account {aid}")
    return a


def open_account(ctx: Context, aid: str) -> Account:
    """The account, unless it is closed (``forbidden``: nothing more happens on a closed account)."""
    a = find_account(ctx, aid)
    if a.closed_at is not None:
        raise ContractError("forbidden", f"public account {aid} is closed")
    return a


def managed_account(ctx: Context, user: User, aid: str, owner_only: bool = False) -> Account:
    """An open account that ``user`` owns (or, unless ``owner_only``, edits); else ``forbidden``."""
    a = open_account(ctx, aid)
    role = a.role_of(user.user_id)
    if role is None or (owner_only and role != "owner"):
        raise ContractError("forbidden", f"only the {'owner' if owner_only else 'owner or an editor'} "
                            f"of public account {aid} may do that")
    return a


def level_of(ctx: Context, a: Account) -> int:
    return policy.account_level(a.credit_score, ctx.cfg.public_accounts.levels)


NAME_TAKEN = "that account name is taken"


def name_holder(state: State, name: str, key: str, a: Account | None = None) -> tuple[str, str] | None:
    """(the account, the reason) when an account other than ``a`` holds ``name``'s plain key ``key``
    or one of its lookalike readings (``policy.name_readings``), open or closed; None when it is free
    for ``a`` (a new account: None). The name ``a`` shows now, restated, holds what it holds: an
    account whose name read as an older one's before the rule existed keeps it (storage: the readings
    the upgrade left to the older)."""
    aid = a.account_id if a is not None else None
    holder = state.account_names.get(key)
    if holder is not None and holder != aid:
        return holder, NAME_TAKEN
    if a is not None and name == a.name:
        return None
    readings = state.account_readings
    holder = next((h for r in policy.name_readings(name) if (h := readings.get(r)) is not None and h != aid), None)
    return (holder, READING_TAKEN) if holder is not None else None


def check_name_free(state: State, name: str, key: str, a: Account | None = None) -> None:
    """``conflict`` when another account holds the name (:func:`name_holder`)."""
    taken = name_holder(state, name, key, a)
    if taken is not None:
        raise ContractError("conflict", taken[1])


def manager_sessions(ctx: Context, a: Account) -> list[Session]:
    """The connections of the account's owner and editors."""
    users = ctx.state.users
    return [s for uid in (a.owner_id, *a.editors) if uid in users for s in users[uid].sessions]


def account_audience(ctx: Context, a: Account, *, managers_only: bool = False) -> set[Session]:
    """Who is told of what account ``a`` shows (a post, its end, a comment mode, its name): its
    subscribers online and its owner's and editors' connections, each once; with ``managers_only``
    (a post still held: nobody else was told it exists) the latter alone."""
    managers = set(manager_sessions(ctx, a))
    return managers if managers_only else managers.union(a.online)


def announce_account(ctx: Context, a: Account, *, name: str | None = None, intro: str | None = None,
                     org_name: str | None = None) -> None:
    """[ext] ``account_updated``: account ``a`` shows a new ``name``, ``intro`` or ``org_name`` (the ones
    given), once stored. To its subscribers online (their lists and an open page or post of the account
    name it), its owner's and editors' connections (the audience of ``post_deleted``), and the
    connections that have it open without following it (``Account.readers``: its page or one of its
    posts shows it), each once. Never a text held for review: only what the account shows."""
    if name is None and intro is None and org_name is None:
        return
    publish_many(account_audience(ctx, a).union(a.readers),
                 ev.AccountUpdated(account_id=a.account_id, name=name, intro=intro, org_name=org_name))


def audit(ctx: Context, user: User, action: str, a: Account, /, **detail: Any) -> ch.Audit:
    """An enforcement-record entry for an account holder's act (target: the account)."""
    return ch.Audit(ctx.now_ms(), "user", user.user_id, action, None, a.account_id, detail=detail or None)


# -- arguments -------------------------------------------------------------------------------
def _short_text(raw: str, field: str, max_chars: int) -> str:
    """``raw`` trimmed, 1 to ``max_chars`` characters, under the rule every name people see is
    (governance/names.py: no fillers, no private-use characters, something visible)."""
    text = raw.strip()
    if len(text) > max_chars:
        raise ContractError("too_large", f"{field} is at most {max_chars} characters", field=field)
    if not text:
        raise ContractError("bad_request", f"{field} is 1 to {max_chars} printable characters", field=field)
    return names.check_name(text, field)


def screened_text(ctx: Context, raw: str, field: str, max_chars: int) -> str:
    """A name's or an organisation name's text (1 to ``max_chars`` printable characters) through the
    word lists; whether it is reserved is the caller's question (``grant-name`` gives reserved ones)."""
    text = _short_text(raw, field, max_chars)
    checked(ctx, None, text, field, field)  # (refused only: the operator's grant-name)
    return text


class Hits:
    """The word lists' hits on an account's name, intro and ``org_name`` (P10, as on a post): a
    ``block`` hit refuses the request and is recorded at once, with the author's credit penalty;
    ``flag`` and ``review`` hits are recorded (``content_flagged``) once the change is stored
    (:meth:`record`). What a hit does to the name and intro is a group name's (G10,
    ``governance/shown_text.py``): a ``review`` hit holds the text for the operators while the
    account shows what it showed (a new account: its neutral name ``公众号 ID``, no intro), a
    ``flag`` hit shows it and queues it (:meth:`screened`). ``org_name`` is not held: nothing can
    stand in for it, so a ``review`` hit on it is refused (:func:`_subject`), a ``flag`` hit recorded."""

    def __init__(self, ctx: Context, user: User, account_id: str | None) -> None:
        self.ctx, self.user, self.account_id = ctx, user, account_id
        self.found: list[tuple[str, Verdict]] = []

    def screen(self, text: str, field: str, restated: bool = False) -> None:
        """``restated``: the text the field shows already, refused if now listed but not charged,
        and neither held nor recorded for a lesser hit (its author writes nothing new)."""
        on_block = None if restated else (lambda hit: self._write("content_blocked", field, hit, self.account_id))
        verdict = checked(self.ctx, None if restated else self.user, text, field, field, on_block=on_block)
        if verdict is not None and not restated:
            self.found.append((field, verdict))

    def verdict(self, field: str) -> Verdict | None:
        """The hit :meth:`screen` found on ``field`` (None: clean, or not screened)."""
        return next((v for f, v in self.found if f == field), None)

    def screened(self, text: str, field: str, shown: str) -> Screened:
        """What the hit on ``field`` (screened before) does to ``text``, with ``shown`` what the
        account would show meanwhile if it were held."""
        verdict = self.verdict(field)
        return Screened(text, shown_text.outcome(verdict, text, shown), verdict)

    def record(self, account_id: str) -> None:
        for field, verdict in self.found:
            self._write("content_flagged", field, verdict, account_id)

    def _write(self, action: str, field: str, verdict: Verdict, account_id: str | None) -> None:
        record_hit(self.ctx, self.user, account_id, action, verdict, field=field)


class Unscreened(Hits):
    """A pass of the checks without the word lists: every other refusal first, so that a request
    refused anyway costs its author no credit for a listed word in it (as a group's name)."""

    def screen(self, text: str, field: str, restated: bool = False) -> None:
        return


def record_hit(ctx: Context, user: User, account_id: str | None, action: str, verdict: Verdict,
               **detail: Any) -> None:
    """An enforcement-record entry for a word-list hit in what a public account shows (a name, a
    post, a comment); a ``content_blocked`` one (``detail``: its ``field`` alone) is any blocked
    text's (:func:`screening.record_blocked`, with the ``account_id``) and lowers the author's credit."""
    if action == "content_blocked":
        record_blocked(ctx, user, verdict, detail["field"], account_id=account_id,
                       why=f"what you wrote for a public account was refused for prohibited content "
                           f"({verdict.category})")
        return
    record_penalized(ctx, user, 0, ch.Audit(
        ctx.now_ms(), "system", None, action, None, user.user_id, verdict.category,
        {"term": verdict.term, "account_id": account_id, "penalty": 0, **detail},
    ), f"a filter hit ({action}) on a public account", "")


def _queued(ctx: Context, user: User, aid: str, screened: dict[str, Screened],
            expect: dict[str, str]) -> dict[str, ch.QueueShownText]:
    """The review-queue items of the held or flagged ``screened`` texts (by field), each with what
    the field must still show (``expect``) for the operator's decision to change it."""
    out: dict[str, ch.QueueShownText] = {}
    for field, s in screened.items():
        item = s.queued(ctx, f"account_{field}", None, user.user_id, expect=expect[field], account_id=aid)
        if item is not None:
            out[field] = item
    return out


def _held_reply(sess: Session, reply: dict[str, Any], screened: dict[str, Screened],
                queued: dict[str, ch.QueueShownText], ids: list[Any]) -> dict[str, Any]:
    """``reply``, with ``held: true``, ``held_id`` (the name's if it is held, else the intro's) and
    ``held_ids`` (each held field's) when a text was held, which the owner's other connections are
    told of (:func:`screening.tell_held_elsewhere`); ``ids``: the queue items' results, in
    ``queued``'s order."""
    item_of = dict(zip(queued, ids, strict=True))
    held = {field: str(item_of[field]) for field, s in screened.items() if s.held}
    if not held:
        return reply
    tell_held_elsewhere(sess)
    return {**reply, "held": True, "held_id": next(iter(held.values())), "held_ids": held}


def _name(ctx: Context, raw: str, hits: Hits, current: str | None = None) -> tuple[str, str]:
    """A valid, unreserved account name (screened by ``hits``; ``current``: the name shown now, which
    restated costs nothing and is no choice of a reserved or stand-in name: the platform's
    ``grant-name`` may have given it, or it stands in while a new name waits for review) and its
    comparison key."""
    name = _short_text(raw, "name", MAX_NAME_CHARS)
    key = policy.normalize_name(name)
    if not key:
        raise ContractError("bad_request", "name needs at least one visible character", field="name")
    if name == current:
        hits.screen(name, "name", restated=True)
        return name, key
    _unreserved(ctx, name, "name")
    if policy.is_stand_in_name(name):
        raise ContractError("forbidden", f"name: {shown_text.neutral('account_name', account_id='<id>')!r} is how the "
                                         "platform shows an account whose name is under review; not available")
    hits.screen(name, "name")
    return name, key


def _unreserved(ctx: Context, text: str, field: str) -> None:
    """``forbidden`` when ``text`` is or contains a reserved name: those are not available to anyone."""
    hit = policy.reserved_hit(text, ctx.cfg.public_accounts.reserved)
    if hit is not None:
        raise ContractError("forbidden", f"{field}: names containing {hit!r} are reserved and not available")


def _intro(ctx: Context, raw: str, hits: Hits, current: str | None = None) -> str:
    intro = posting.check_text(raw.strip(), max_chars=MAX_INTRO_CHARS, field="intro", allow_empty=True)
    hits.screen(intro, "intro", restated=intro == current)
    return intro


def _category(ctx: Context, category: str, subject: SubjectType) -> str:
    categories = ctx.cfg.public_accounts.categories
    if category not in categories:
        raise ContractError("bad_request", f"category must be one of: {', '.join(categories)}")
    if category == "government" and subject is not SubjectType.ORGANIZATION:
        raise ContractError("forbidden", "government accounts are run by organisations (P4)")
    return category


def _subject(ctx: Context, req: rq.CreateAccount, hits: Hits) -> tuple[str | None, str | None, str | None]:
    """(subject key, org name, org code): an organisation's from its code; a person's is their
    verified ID number's, which the database reads (None here)."""
    if req.subject_type is SubjectType.INDIVIDUAL:
        if req.org_name is not None or req.org_code is not None:
            raise ContractError("bad_request", "org_name and org_code are for organisation accounts only",
                                field="org_name" if req.org_name is not None else "org_code")
        return None, None, None
    if req.org_name is None or req.org_code is None:
        raise ContractError("bad_request", "an organisation account needs org_name and org_code",
                            field="org_name" if req.org_name is None else "org_code")
    org_name = _short_text(req.org_name, "org_name", MAX_ORG_NAME_CHARS)
    _unreserved(ctx, org_name, "org_name")
    hits.screen(org_name, "org_name")
    verdict = hits.verdict("org_name")
    if verdict is not None and verdict.action is Action.REVIEW:
        # (shown by account_info, and nothing can stand in for it while it waited: refused, as a
        # username is, with no credit taken; a flag hit is shown and recorded)
        raise ContractError("content_blocked", f"that organisation name is not allowed ({verdict.category})",
                            field="org_name")
    code = req.org_code.strip()
    policy.check_org_code(code)
    return ctx.vault.lookup("org", code).hex(), org_name, code


# -- ops ---------------------------------------------------------------------------------------
def _create_checks(ctx: Context, req: rq.CreateAccount, hits: Hits) -> tuple[
        str, str, str, str, str | None, str | None, str | None]:
    """``create_account``'s arguments checked, screened by ``hits``: (name, its key, category, intro,
    subject key, org name, org code)."""
    name, key = _name(ctx, req.name, hits)
    category = _category(ctx, req.category, req.subject_type)
    intro = _intro(ctx, req.intro, hits)
    subject_key, org_name, org_code = _subject(ctx, req, hits)
    if subject_key is not None and subject_key in ctx.state.barred_subjects:
        raise ContractError("blacklisted", "this organisation is barred from running public accounts")
    policy.check_category_open(category, ctx.state.account_category_frozen_until.get(category, 0), ctx.now_ms())
    check_name_free(ctx.state, name, key)  # (in the pass before the word lists too: a taken name costs no credit)
    return name, key, category, intro, subject_key, org_name, org_code


@handler("create_account")
async def create_account(ctx: Context, sess: Session, req: rq.CreateAccount, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    if not user.id_verified:
        raise ContractError("verification_required", "opening a public account needs a verified identity")
    check_agreement(ctx, user)  # (before the words are screened: a refusal anyway costs no credit)
    _create_checks(ctx, req, Unscreened(ctx, user, None))  # (every other refusal before the word lists)
    hits = Hits(ctx, user, None)
    name, key, category, intro, subject_key, org_name, org_code = _create_checks(ctx, req, hits)
    cfg = ctx.cfg.public_accounts
    state = ctx.state
    for _ in range(ACCOUNT_ID_TRIES):
        # The name (its key and lookalike readings) is claimed in memory with no await since the
        # check, so a concurrent create with the same name, or one that reads as it, is refused at
        # once; the database's unique keys have the last word. A name held for review is refused when
        # taken too, but the account opens under its neutral name (which needs the id drawn below)
        # and holds the neutral name's key and reading until it is released.
        check_name_free(state, name, key)
        aid = new_account_id(ctx.randbelow)
        while aid in state.accounts:
            aid = new_account_id(ctx.randbelow)
        neutral_name = shown_text.neutral("account_name", account_id=aid)
        screened = {"name": hits.screened(name, "name", neutral_name),
                    "intro": hits.screened(intro, "intro", shown_text.neutral("account_intro"))}
        shown_name = screened["name"].shown(neutral_name)
        shown_key = shown_text.neutral_name_key(aid) if screened["name"].held else key
        shown_intro = screened["intro"].shown("")
        state.account_names[shown_key] = aid
        readings = policy.name_readings(shown_name)
        state.account_readings.update(dict.fromkeys(readings, aid))

        def undo(aid: str = aid, shown_key: str = shown_key, readings: frozenset[str] = readings) -> None:
            for held, k in ((state.account_names, shown_key), *((state.account_readings, r) for r in readings)):
                if held.get(k) == aid:
                    del held[k]

        now = ctx.now_ms()
        change = ch.InsertAccount(aid, shown_name, shown_key, category, shown_intro, req.subject_type.value,
                                  subject_key, org_name, org_code, user.user_id, cfg.initial_credit, now,
                                  cfg.max_per_subject)
        queued = _queued(ctx, user, aid, screened, {"name": shown_name, "intro": shown_intro})
        try:
            # The first name and intro in the record (G13): an update replaces the row's (held ones as
            # held_name, held_intro, as update_account records them).
            entry = ch.Audit(now, "user", user.user_id, "create_account", None, aid, detail={
                "name": shown_name, "intro": shown_intro, "category": category,
                **{f"held_{field}": s.text for field, s in screened.items() if s.held}})
            results = await commit(ctx, change, *queued.values(), audit=entry, undo=undo)
        except ch.AccountIdTaken:
            continue  # issued before by another node: draw again
        opened: ch.OpenedAccount = results[0]
        stored_key, person = opened.subject_key, opened.opener_key
        # (the credit and comment restriction its subject's other accounts carry over, as stored)
        a = state.accounts[aid] = Account(aid, shown_name, shown_key, category, shown_intro, req.subject_type.value,
                                          stored_key, org_name, user.user_id, now, credit_score=opened.credit_score,
                                          comments_restricted=opened.comments_restricted, opener_key=person)
        # (a lift stored meanwhile, after the insert read the sanction standing, is one it does not carry)
        state.carry(a, (c for c in opened.carried if c[0] not in state.suspensions_lifted))
        user.add_managed(aid)
        hits.record(aid)
        publish_elsewhere(sess, user.sessions, ev.SelfChanged(what="accounts", account_id=aid))  # [ext]
        await _after_insert(ctx, user, a, stored_key, person)
        reply = {"account_id": aid, "credit_level": level_of(ctx, a), "status": a.status(ctx.now_ms())}
        # What it starts with from its subject's other accounts, so the owner is told why.
        carried = [what for what, yes in (("credit", opened.credit_score < cfg.initial_credit),
                                          ("comments_restricted", opened.comments_restricted),
                                          ("suspended", a.suspension_end() > a.suspended_until)) if yes]
        if carried:
            reply["carried"] = carried
        return _held_reply(sess, reply, screened, queued, results[1:])
    raise ContractError("internal", "could not find a free account id; try again")


async def _after_insert(ctx: Context, user: User, a: Account, stored_key: str | None, person: str | None) -> None:
    """What a measure that landed while the insert was in flight asks of the new account. The account
    is stored by now: every refusal from here on carries its ``account_id`` (``blacklisted``: it was
    closed at once; ``internal``: a write that had to follow the insert failed, and ``account_info``
    tells what the account is), so a client never hears only "failed" about an account that exists."""
    state = ctx.state
    try:
        if user.blacklisted or stored_key in state.barred_subjects or person in state.barred_subjects:
            # A blacklist that committed while this insert was in flight closed the accounts it
            # could see, not this one: close it here, so a barred subject keeps no live account.
            # (A blacklisting bars the person's key in memory too, whichever of their logins it hit.)
            await _close_barred(ctx, user, a)
        frozen_until = state.account_category_frozen_until.get(a.category, 0)
        if frozen_until > a.suspended_until:
            # A freeze of the category that listed its accounts while this insert was in flight did not
            # see this one: it is suspended like the others, by the path the freeze upkeep takes for a
            # missed account, under the category's and the account's sanction locks as every sanction
            # of it is, so an operator's measure on the new account waits for this write to settle (a
            # failed one would otherwise put back an end that measure had stored meanwhile). Should the
            # write fail, the freeze upkeep (server/operator/freeze_upkeep.py) tries again. Imported
            # here: the operator's module imports this one.
            from server.operator.public_accounts import keep_account_frozen

            await keep_account_frozen(ctx, a.account_id, a.category, frozen_until)
    except ContractError as err:
        err.extra.setdefault("account_id", a.account_id)
        raise
    except Exception as err:
        log.exception("account %s was opened, but a write that had to follow its insert failed", a.account_id)
        raise ContractError("internal", f"the account {a.account_id} was opened, but a write that had to follow "
                                        "failed; account_info tells its state", account_id=a.account_id) from err


def frozen_meanwhile(category: str) -> str:
    """The reason of the suspension of an account opened as its category froze."""
    return f"the platform froze the category {category} while the account was being opened"


async def _close_barred(ctx: Context, user: User, a: Account) -> None:
    now = ctx.now_ms()
    a.closed_at = now
    reason = "the subject was blacklisted while the account was being opened"

    def undo() -> None:
        a.closed_at = None

    await commit(ctx, ch.SetAccountFields(a.account_id, {"closed_at": now, "closed_reason": reason}),
                 audit=ch.Audit(now, "system", None, "close_account", None, a.account_id, reason), undo=undo,
                 claim=Closing(a))
    raise ContractError("blacklisted", "this subject is barred from running public accounts; the account opened "
                                       "meanwhile is closed")


def info(ctx: Context, a: Account) -> dict[str, Any]:
    """What anyone may see of an account: never a person's legal name or ID number."""
    out: dict[str, Any] = {
        "account_id": a.account_id,
        "name": a.name,
        "category": a.category,
        "intro": a.intro,
        "subject_type": a.subject_type,
        "labels": policy.shown_labels(a.subject_type, a.labels),
        "credit_level": level_of(ctx, a),
        "subscriber_count": len(a.subscribers),
        "status": a.status(ctx.now_ms()),
        "created_at": a.created_at,
    }
    if a.org_name is not None:
        out["org_name"] = a.org_name
    if out["status"] == "suspended":  # [ext] when the suspension ends by itself (a page waits for it)
        out["suspended_until"] = a.suspension_end()
    return out


@handler("account_info")
async def account_info(ctx: Context, sess: Session, req: rq.AccountInfo, enc: Encoding) -> dict[str, Any]:
    a = find_account(ctx, req.account_id)
    ctx.state.reads_account(sess, sess.me, a)  # [ext] its page is open: account_updated reaches it
    return info(ctx, a)


@handler("update_account")
async def update_account(ctx: Context, sess: Session, req: rq.UpdateAccount, enc: Encoding) -> dict[str, Any] | None:
    """A new name or intro with a ``review`` hit is held: the account keeps showing what it showed
    until an operator releases it (``held: true``); one with a ``flag`` hit is shown and queued."""
    user = sess.me
    a = managed_account(ctx, user, req.account_id, owner_only=True)
    # Checked here and claimed below (the fields, in memory) with no await in between: a suspension
    # the platform claims after this is one the edit came before.
    policy.check_profile_edit(status=a.status(ctx.now_ms()), suspended_until=a.suspension_end())
    # New words only (restating what is shown publishes nothing), before the word lists screen them.
    new_name = req.name is not None and _short_text(req.name, "name", MAX_NAME_CHARS) != a.name
    new_intro = req.intro is not None and posting.check_text(
        req.intro.strip(), max_chars=MAX_INTRO_CHARS, field="intro", allow_empty=True) != a.intro
    if new_name or new_intro:
        check_agreement(ctx, user)
    fields: dict[str, Any] = {}
    hits = Hits(ctx, user, a.account_id)
    screened: dict[str, Screened] = {}
    expect: dict[str, str] = {}
    if req.name is not None:
        name, key = _name(ctx, req.name, hits, current=a.name)
        check_name_free(ctx.state, name, key, a)
        s = hits.screened(name, "name", a.name)
        if name != a.name:  # (restating the name shown queues nothing)
            screened["name"], expect["name"] = s, s.shown(a.name)
        if not s.held:
            fields.update(name=name, **({"name_key": key} if key != a.name_key else {}))
    if req.intro is not None:
        intro = _intro(ctx, req.intro, hits, current=a.intro)
        s = hits.screened(intro, "intro", a.intro)
        if intro != a.intro:
            screened["intro"], expect["intro"] = s, s.shown(a.intro)
        if not s.held:
            fields.update(intro=intro)
    held = {f"held_{field}": s.text for field, s in screened.items() if s.held}
    if not fields and not held:
        raise ContractError("bad_request", "update_account needs name or intro")
    queued = _queued(ctx, user, a.account_id, screened, expect)
    # A new name or intro closes one still held for review: the newest change wins.
    supersede = [f"account_{field}" for field in screened]
    writes = [*(superseding(ctx, kind, a.account_id) for kind in supersede),
              *([ch.SetAccountFields(a.account_id, fields)] if fields else []), *queued.values()]
    # Shown anew, not restated (read before the claim sets the fields in memory).
    shown_now = {f: fields[f] for f in ("name", "intro") if f in fields and fields[f] != getattr(a, f)}
    claim = AccountClaim(ctx.state, a, fields) if fields else None
    results = await commit(ctx, *writes, claim=claim, audit=audit(
        ctx, user, "update_account", a, **{k: v for k, v in fields.items() if k != "name_key"}, **held))
    for kind, closed in zip(supersede, results, strict=False):
        tell_superseded(ctx, closed, kind, account_id=a.account_id)
    hits.record(a.account_id)
    if shown_now:  # [ext] shown now: the owner's other devices read their accounts again
        publish_elsewhere(sess, user.sessions, ev.SelfChanged(what="accounts", account_id=a.account_id))
        announce_account(ctx, a, **shown_now)  # [ext] and its readers see the new name or intro
    reply = _held_reply(sess, {}, screened, queued, results[len(writes) - len(queued):])
    return reply or None


class AccountClaim:
    """Fields of account ``a`` set in memory now (a :class:`FieldClaim`), with a new ``name_key``
    taken in ``state.account_names`` (the account names in use) at once, and a new name's lookalike
    readings in ``state.account_readings`` (a name restated keeps what it holds, as the store does);
    the old name's stay taken until the write is stored. :meth:`settle` frees what the write's
    outcome leaves unused: what it replaced once stored, its own when refused.

    Renames of one account may overlap (an owner's ``update_account`` and the platform's
    ``grant-name``): a key or reading is freed only when neither the account nor a rename still in
    flight stands on it or sets it."""

    __slots__ = ("_state", "_account", "_key", "_name", "_fields")

    def __init__(self, state: State, a: Account, fields: dict[str, Any]) -> None:
        self._state, self._account = state, a
        self._key: str | None = fields.get("name_key")
        self._name: str | None = fields.get("name")
        renamed = self._name is not None and self._name != a.name
        self._fields = FieldClaim(a, fields)
        if self._key is not None:
            state.account_names[self._key] = a.account_id
        if renamed:
            assert self._name is not None
            state.account_readings.update(dict.fromkeys(policy.name_readings(self._name), a.account_id))

    def settle(self, stored: bool) -> None:
        stood_on = self._fields.settle(stored)
        if self._key is not None and "name_key" in stood_on:
            self._free_key(stood_on["name_key"] if stored else self._key)
        if self._name is not None and "name" in stood_on:
            self._free_readings(stood_on["name"] if stored else self._name)

    def _free_key(self, key: str) -> None:
        a, names = self._account, self._state.account_names
        held = {a.name_key}
        for before, value in FieldClaim.in_flight(a, "name_key"):
            held.update((before, value))
        if key not in held and names.get(key) == a.account_id:
            del names[key]

    def _free_readings(self, name: str) -> None:
        a, readings = self._account, self._state.account_readings
        held = set(policy.name_readings(a.name))
        for before, value in FieldClaim.in_flight(a, "name"):
            held.update(policy.name_readings(before), policy.name_readings(value))
        for r in policy.name_readings(name) - held:
            if readings.get(r) == a.account_id:
                del readings[r]


@handler("set_editor")
async def set_editor(ctx: Context, sess: Session, req: rq.SetEditor, enc: Encoding) -> None:
    async with turn(("editor", req.account_id, req.user_id)):  # (see claims.turn)
        await _set_editor(ctx, sess.me, req)


async def _set_editor(ctx: Context, user: User, req: rq.SetEditor) -> None:
    still_active(user)  # (a turn may have been waited for)
    a = managed_account(ctx, user, req.account_id, owner_only=True)
    uid = req.user_id
    target = ctx.state.users.get(uid)
    # An editor blacklisted meanwhile can still be taken off (keeping no seat), not made one.
    if target is None or (req.on and not target.active):
        raise ContractError("not_found", f"no user {shown_id(uid)}")
    if uid == a.owner_id:
        raise ContractError("bad_request", "the owner cannot be an editor of their own account")
    if req.on == (uid in a.editors):
        leaving = ctx.state.editor_seats_leaving.get(uid)
        if req.on or leaving is None or a.account_id not in leaving:
            return
        # Memory shows them gone because their cancellation is being stored; the store may still
        # refuse it, and its undo would seat them again: the owner's word is stored all the same.
        await _unseat_leaving(ctx, user, a, target, leaving)
        return
    if req.on:
        policy.check_editor(id_verified=target.id_verified)
    cap = ctx.cfg.public_accounts.max_editors
    if req.on and len(a.editors) >= cap:  # checked and claimed below with no await between
        # (named to the owner: a seat held by an editor blacklisted since is freed with set_editor off,
        # and nothing else lists the account's editors; a closed one is said so)
        held = ", ".join(f"{e} (closed)" if (u := ctx.state.users.get(e)) is None or not u.active else e
                         for e in sorted(a.editors))
        raise ContractError("conflict", f"an account has at most {cap} editors; its editors: {held}")
    if req.on:
        a.editors.add(uid)
        target.add_managed(a.account_id)
    else:
        a.editors.discard(uid)
        target.drop_managed(a.account_id)

    def undo() -> None:
        if req.on:
            a.editors.discard(uid)
            target.drop_managed(a.account_id)
        else:
            a.editors.add(uid)
            target.add_managed(a.account_id)

    await commit(ctx, ch.SetEditor(a.account_id, uid, req.on, ctx.now_ms(), cap if req.on else None),
                 audit=audit(ctx, user, "set_editor", a, user_id=uid, on=req.on), undo=undo)
    # [ext] Stored: the editor (their my_accounts has changed) and the owner's connections, at once.
    owner = ctx.state.users.get(a.owner_id)
    told = set(target.sessions).union(owner.sessions if owner is not None else ())
    publish(told, ev.EditorChanged(account_id=a.account_id, user_id=uid, on=req.on, name=a.name))


async def _unseat_leaving(ctx: Context, owner: User, a: Account, target: User, leaving: set[str]) -> None:
    """``set_editor off`` of an editor whose cancellation is in flight: the seat is taken off what that
    cancellation's undo puts back (no await since the check), and the removal is stored."""
    uid, aid = target.user_id, a.account_id
    leaving.discard(aid)

    def undo() -> None:
        if ctx.state.editor_seats_leaving.get(uid) is leaving:
            leaving.add(aid)  # (the cancellation is still in flight: its undo decides)
        elif not target.deleted:  # (refused meanwhile, it left this seat to us: the store holds it)
            a.editors.add(uid)
            target.add_managed(aid)

    await commit(ctx, ch.SetEditor(aid, uid, False, ctx.now_ms(), None),
                 audit=audit(ctx, owner, "set_editor", a, user_id=uid, on=False), undo=undo)
    told = set(target.sessions).union(owner.sessions)
    publish(told, ev.EditorChanged(account_id=aid, user_id=uid, on=False, name=a.name))


def _follow(a: Account, user: User, on: bool) -> None:
    if on:
        a.subscribers.add(user.user_id)
        user.add_subscription(a.account_id)
        a.online.update(user.sessions)
    else:
        a.subscribers.discard(user.user_id)
        user.drop_subscription(a.account_id)
        a.online.difference_update(user.sessions)


async def _subscription(ctx: Context, sess: Session, aid: str, on: bool) -> None:
    user = sess.me
    async with turn(("subscription", aid, user.user_id)):  # (see claims.turn)
        still_active(user)
        a = open_account(ctx, aid) if on else find_account(ctx, aid)
        if on == (user.user_id in a.subscribers):
            return
        _follow(a, user, on)
        await commit(ctx, ch.SetSubscription(a.account_id, user.user_id, on, ctx.now_ms()),
                     undo=lambda: _follow(a, user, not on))
    # [ext] The follower's other devices list it (or no longer): they get its posts already.
    publish_elsewhere(sess, user.sessions, ev.SelfChanged(what="subscriptions", account_id=aid, on=on))


@handler("subscribe")
async def subscribe(ctx: Context, sess: Session, req: rq.Subscribe, enc: Encoding) -> None:
    await _subscription(ctx, sess, req.account_id, True)


@handler("unsubscribe")
async def unsubscribe(ctx: Context, sess: Session, req: rq.Unsubscribe, enc: Encoding) -> None:
    await _subscription(ctx, sess, req.account_id, False)


@handler("my_subscriptions")
async def my_subscriptions(ctx: Context, sess: Session, req: rq.MySubscriptions, enc: Encoding) -> dict[str, Any]:
    accounts = ctx.state.accounts
    now = ctx.now_ms()
    return {"accounts": [{"account_id": aid, "name": accounts[aid].name, "status": accounts[aid].status(now)}
                         for aid in sorted(sess.me.subscriptions)]}


@handler("my_accounts")
async def my_accounts(ctx: Context, sess: Session, req: rq.MyAccounts, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    accounts = ctx.state.accounts
    now = ctx.now_ms()
    out = []
    for aid in sorted(user.managed):
        a = accounts[aid]
        role = a.role_of(user.user_id)
        if role is not None:
            out.append({"account_id": aid, "name": a.name, "role": role, "status": a.status(now)})
    return {"accounts": out}


@handler("close_account")
async def close_account(ctx: Context, sess: Session, req: rq.CloseAccount, enc: Encoding) -> None:
    """Cancellation (P9): no more publishing from this moment (claimed in memory before the write);
    posts, comments and the account's record stay stored for the retention period."""
    user = sess.me
    a = managed_account(ctx, user, req.account_id, owner_only=True)
    now = ctx.now_ms()
    a.closed_at = now

    def undo() -> None:
        a.closed_at = None

    await commit(ctx, ch.SetAccountFields(a.account_id, {"closed_at": now, "closed_reason": "closed by its owner"}),
                 audit=audit(ctx, user, "close_account", a), undo=undo, claim=Closing(a))
    # Its editors, the subscribers connected now and the owner's other devices learn it at once (a
    # post they have open stops taking comments); the connection that asked has its reply.
    users = ctx.state.users
    told = set(a.online) | {s for uid in a.editors if uid in users for s in users[uid].sessions}
    told |= user.sessions
    told.discard(sess)
    publish_many(told, ev.Notice(kind="account_closed", account_id=a.account_id,
                                 text="the owner closed this account"))


# -- account cancellation (delete_account, P9) ----------------------------------------------------
def open_accounts_owned(ctx: Context, user: User) -> list[str]:
    """The ids of the public accounts ``user`` owns that are not closed, sorted (from the accounts they
    manage: no walk over every account)."""
    accounts = ctx.state.accounts
    return sorted(aid for aid in user.managed
                  if accounts[aid].owner_id == user.user_id and accounts[aid].closed_at is None)


def refuse_if_running_accounts(ctx: Context, user: User) -> None:
    """``conflict`` while ``user`` owns a public account that is not closed: an account is run by a
    verified subject answerable for it (P10), and it has no other owner to pass to, so its owner
    closes it (``close_account``) before cancelling their own account. ``CancelAccount`` checks
    the same in the database, so an account created meanwhile is not missed."""
    running = open_accounts_owned(ctx, user)
    if running:
        raise ContractError("conflict", "close the public accounts you own first: " + ", ".join(running))


def leave_public_accounts(ctx: Context, user: User) -> tuple[Callable[[], None], Callable[[bool], None]]:
    """Take a cancelling ``user`` off the editors of the accounts they edit and off the subscribers
    of those they follow, in memory (``CancelAccount`` deletes the rows); returns the undo and what
    runs once the cancellation is decided (after the undo, if any): stored, each account's owner is
    told the seat is free (``editor_changed`` off), as when they take an editor off themselves.

    The seats taken are listed in ``editor_seats_leaving`` meanwhile: an owner who takes the user off
    an account then (memory shows them gone already) stores that too and takes the seat off the
    list, so a refused cancellation's undo does not seat them again (:func:`_set_editor`)."""
    accounts = ctx.state.accounts
    uid = user.user_id
    edited = [accounts[aid] for aid in sorted(user.managed) if uid in accounts[aid].editors]
    followed = [accounts[aid] for aid in sorted(user.subscriptions)]
    managed, subscriptions = set(user.managed), set(user.subscriptions)
    for a in edited:
        a.editors.discard(uid)
        user.drop_managed(a.account_id)
    for a in followed:
        _follow(a, user, False)
    leaving = {a.account_id for a in edited}
    seats = ctx.state.editor_seats_leaving
    if leaving:
        seats[uid] = leaving

    def undo() -> None:
        taken_off = {a.account_id for a in edited} - leaving  # by their owner meanwhile, as stored
        for a in edited:
            if a.account_id not in taken_off:
                a.editors.add(uid)
        for a in followed:
            _follow(a, user, True)
        for aid in managed - taken_off:
            user.add_managed(aid)
        for aid in subscriptions:
            user.add_subscription(aid)

    def decided(stored: bool) -> None:
        if seats.get(uid) is leaving:
            del seats[uid]
        for a in edited if stored else ():
            if a.account_id in leaving and (owner := ctx.state.users.get(a.owner_id)) is not None:
                # (one the owner took them off meanwhile was told by that change, and left ``leaving``)
                publish(owner.sessions, ev.EditorChanged(account_id=a.account_id, user_id=uid, on=False,
                                                          name=a.name))

    return undo, decided
