"""Accounts (Art. 6): phone codes, registration, login, tokens, identity, profile, cancellation."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from governance import identity as idn
from governance.codes import given_code
from governance.ids import new_user_id
from governance.names import CANCELLED_NAME
from governance.ratelimit import TokenBucket, WindowCounter
from governance.tiers import credit_level
from protocol import events as ev
from protocol.errors import ContractError
from server import limits, netlog
from server.claims import FieldClaim, turn
from server.fanout import publish, publish_elsewhere
from server.handlers import handler, screening
from server.handlers.common import (
    announce_rename,
    check_agreement,
    commit,
    member_in_store,
    membership_claimed,
    membership_decided,
    membership_in_flight,
    still_active,
    take_window,
)
from server.handlers.groups import ClosedRequests
from server.handlers.public_accounts import leave_public_accounts, refuse_if_running_accounts
from server.providers import NotTaken
from server.security import new_token, token_hash
from server.session import CLOSE_POLICY
from server.state import NOTHING, User
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

AUTH_FAILED = "authentication failed: wrong username, password or token"
# **[ext]** ``auth``'s refusal of a token whose login ended before it expired carries its ``cause``; the
# reason is AUTH_FAILED, as for any bad token (the contract: one reason text for every such refusal).
LOGIN_ENDED = frozenset({ch.LOGGED_OUT, ch.PASSWORD_CHANGED, ch.TOO_MANY_LOGINS, ch.ACCOUNT_DELETED,
                         ch.ACCOUNT_REOPENED})


def _rate_limited(what: str, retry_after: float) -> ContractError:
    return ContractError(
        "rate_limited", f"too many {what}; retry later", retry_after_ms=int(retry_after * 1000) + 1
    )


@handler("request_code")
async def request_code(ctx: Context, sess: Session, req: rq.RequestCode, enc: Encoding) -> None:
    phone = idn.normalize_phone(req.phone)
    key = ctx.vault.lookup("phone", phone).hex()
    now = time.monotonic()
    for counter, k, what in (
        (ctx.codes_per_phone, key, "code requests for this phone"),
        (ctx.codes_per_ip, sess.ip, "code requests from this address"),
        (ctx.codes_per_service, limits.SERVICE_WIDE, "code requests on this service"),
    ):
        wait = counter.peek(k, now)
        if wait > 0:
            if counter is ctx.codes_per_service:
                limits.warn_sms_budget(ctx)
            raise _rate_limited(what, wait)
    counted = ((ctx.codes_per_phone, key), (ctx.codes_per_ip, sess.ip), (ctx.codes_per_service, limits.SERVICE_WIDE))
    for counter, k in counted:  # (counted before the awaits: requests in parallel see each other)
        counter.hit(k, now)
    code = ctx.codes.issue(key, ctx.now_ms() / 1000, ctx.randbelow)
    kept = True
    try:
        await limits.keep_code(ctx, key)
        await ctx.sms.send(phone, code, ctx.now_ms())  # raises internal if the provider cannot take it
    except NotTaken:
        # The provider surely sent nothing (it refused, or no request reached it): the request uses up
        # none of the phone's, the address's or the service's codes, and the log has no row for a
        # restart to count. A provider that may have sent it (no answer in time) keeps it counted.
        kept = False
        for counter, k in counted:
            counter.take_back(k, now)
        raise
    finally:
        if kept:
            netlog.session(ctx, sess, "code_request", phone_hmac=key)  # what a restart counts again


@handler("register")
async def register(ctx: Context, sess: Session, req: rq.Register, enc: Encoding) -> dict[str, Any]:
    username = idn.validate_username(req.username)
    idn.validate_password(req.password)
    phone = idn.normalize_phone(req.phone)
    code = given_code(req.code)
    # Without a display name the account shows its username, checked above as such (the label of a
    # cancelled account included): a refusal names the argument the client sent, never one it left out.
    chosen = idn.validate_display_name(req.display_name) if req.display_name else username
    ukey = idn.username_key(username)
    state = ctx.state
    phone_hmac = ctx.vault.lookup("phone", phone)
    phone_key = phone_hmac.hex()
    # The code before anything about other accounts: without the phone's code (each phone's codes
    # and each network's are limited per hour, and five wrong guesses void one) register tells
    # nothing, not even whether a username is taken. It is only checked here, so a name refused
    # below does not use it up, but spends one of its five attempts (a code is not a licence to
    # try names); it is used up below, with the claim.
    await _check_code(ctx, sess, "register", phone_key, code)
    # The word lists after the code too (without one, register tells nothing of what they hold).
    # The username is what others see while a display name is held or once one is removed, and
    # nothing stands in for it: a review hit is refused as a block one. A display name held for
    # review (G10): the account shows its username until an operator releases it. No account yet:
    # a blocked name is refused, nobody to charge it to; it spends one of the code's attempts.
    user_id = new_user_id(secrets.token_hex)
    # (A username a ``flag`` list holds goes through, recorded once the account is stored. Nothing can
    # change it later: it does not stand in for a display name held or removed, the user id does.)
    neutral = screening.neutral_display_name(ctx, username, user_id)
    try:
        username_flagged = screening.passed(ctx, None, username, "username", "username")
        screened = screening.screen(ctx, None, chosen, "display_name", "display_name", neutral)
    except ContractError:
        limits.spend_code_attempt(ctx, phone_key)
        raise
    display_name = screened.shown(neutral)
    # The phone before the username: a code for a phone that has an account is answered so at once,
    # whatever the name, so it cannot test free names without end (a taken one spent an attempt,
    # a free one nothing, the phone's conflict leaving the code as it was).
    if (holder := await ctx.store.user_with_phone(phone_hmac)) is not None:
        # (one blacklisted as well is never purged: its phone stays taken for good, as any blacklisted one)
        cancelled = (held := state.users.get(holder)) is not None and held.deleted and not held.blacklisted
        raise ContractError("conflict", "that phone number belongs to a cancelled account until its records' "
                            "retention period ends" if cancelled else "that phone number already has an account")
    if ukey in state.by_username:
        limits.spend_code_attempt(ctx, phone_key)
        raise ContractError("conflict", "that username is taken")
    pw_hash = await ctx.passwords.hash(req.password, sess.ip)
    # Awaited since the first look: check the username again, then use the code up and claim the
    # name in the same step (of two registers with one code, the second gets bad_code here).
    if ukey in state.by_username:
        limits.spend_code_attempt(ctx, phone_key)
        raise ContractError("conflict", "that username is taken")
    if not limits.consume_code(ctx, phone_key, code):
        raise ContractError("bad_code", "wrong or expired code")
    user = User(
        user_id=user_id,
        username=username,
        display_name=display_name,
        credit_score=ctx.cfg.credit.initial_score,
        id_verified=False,
        created_at=ctx.now_ms(),
    )
    state.by_username[ukey] = user.user_id

    def undo() -> None:
        state.by_username.pop(ukey, None)

    # The phone's uniqueness is the database's: a second account racing for it gets conflict.
    queued = screened.queued(ctx, "display_name", None, user.user_id, expect=display_name)
    results = await commit(
        ctx,
        ch.InsertUser(user.user_id, username, ukey, pw_hash, display_name, phone_hmac,
                      ctx.vault.seal(phone), user.credit_score, user.created_at),
        *([queued] if queued else []),
        undo=undo,
    )
    state.users[user.user_id] = user
    screening.record_flagged(ctx, user, username_flagged, "username")
    netlog.session(ctx, sess, "register", user.user_id, display_name=display_name)
    return screening.held_reply(sess, results, user_id=user.user_id) if screened.held else {"user_id": user.user_id}


class Guess:
    """An attempt that may be a guess (a password, a token, an ID number), counted against the
    failed-login limits before its outcome is known: attempts made in parallel see each other, so
    a burst of them over many connections cannot all pass the limit while the first await (the
    password hash, the store, an outside register) is under way. Given back unless it :meth:`failed`."""

    __slots__ = ("counted", "at", "wrong")

    def __init__(self, at: float) -> None:
        self.counted: list[tuple[WindowCounter, Hashable]] = []
        self.at = at
        self.wrong = False

    def failed(self) -> None:
        self.wrong = True

    def __enter__(self) -> Guess:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.wrong:
            for counter, key in self.counted:
                counter.take_back(key, self.at)
            self.counted.clear()  # (given back once: a refusal inside passes through an outer ``with`` too)


def _count(ctx: Context, sess: Session, what: str, guess: Guess, counter: WindowCounter, key: Hashable,
           whose: str, user_id: str | None = None) -> None:
    wait = counter.hit(key, guess.at)
    if wait > 0:
        with guess:  # (the counts already taken go back: this one is refused, not failed)
            if user_id is None:
                netlog.session(ctx, sess, f"{what}_refused", why="rate_limited")
            else:  # (the account's limit: the row names the account the attempts are aimed at)
                netlog.session(ctx, sess, f"{what}_refused", user_id, why="rate_limited")
            raise _rate_limited(f"failed {whose}", wait)
    guess.counted.append((counter, key))


def _failed_login_gate(ctx: Context, sess: Session, what: str) -> Guess:
    """Refuse an address past its failed-login limit, else count this attempt there (see Guess)."""
    guess = Guess(time.monotonic())
    _count(ctx, sess, what, guess, ctx.failed_logins_per_ip, sess.ip, "logins from this address")
    return guess


def _guess_gate(ctx: Context, sess: Session, what: str) -> Guess:
    """For a logged-in op whose refusals answer a guess (``delete_account``'s password,
    ``verify_identity``'s number): as :func:`_failed_login_gate`, per address and per account."""
    guess = _failed_login_gate(ctx, sess, what)
    _count(ctx, sess, what, guess, ctx.failed_logins_per_user, sess.me.user_id, "attempts for this account")
    return guess


async def _count_guess(ctx: Context, sess: Session, what: str, guess: Guess) -> None:
    """A wrong guess: it stays counted per address and per account, and is logged (``<what>_failed``),
    which is what a restart counts again (server/limits.py): stored before the answer goes."""
    guess.failed()
    await netlog.session_kept(ctx, sess, f"{what}_failed")


async def _check_code(ctx: Context, sess: Session, op: str, phone_key: str, code: str) -> None:
    """``bad_code`` unless ``code`` is the phone's outstanding code (left outstanding). A wrong one is
    a guess against the address's limit of wrong codes (``failed_logins_per_ip_per_hour``, a window
    of its own: wrong passwords do not stop a registration), stored (``code_failed``) before the answer goes,
    as a wrong password is: each phone's code allows five guesses, but guesses spread over phones did
    not count, and a log showing seven of a phone's eleven digits with its code (the console provider's
    mask) let a privacy review find the phone, and reset its password, in 1,235 tries."""
    with Guess(time.monotonic()) as guess:
        _count(ctx, sess, op, guess, ctx.failed_codes_per_ip, sess.ip, "codes from this address")
        if limits.check_code(ctx, phone_key, code):
            return
        guess.failed()
        await netlog.session_kept(ctx, sess, "code_failed", None, op=op)
        raise ContractError("bad_code", "wrong or expired code")


def unknown_name_key(ctx: Context, ukey: str) -> str:
    """What a login for a name no account has is counted under: a keyed hash of the name (the
    network log keeps it for six months, and people type phone numbers and mail addresses there)."""
    return ctx.vault.lookup("login_name", ukey).hex()


def _login_account(ctx: Context, sess: Session, guess: Guess, uid: str | None, name_key: str | None) -> None:
    """Count a login attempt against the account it names too (``failed_logins_per_account``):
    guesses spread over many addresses, each under its own limit, add up here. The key is the
    account's id, which the network log's ``login_failed`` rows carry for a restart to count
    again (server/limits.py); a name no account has is counted under the name's keyed hash,
    which its rows carry instead (``name_hmac``), so an unknown name is limited like a known
    one, after a restart too, and the answer does not tell them apart."""
    key: Hashable = uid if uid is not None else ("name", name_key)
    _count(ctx, sess, "login", guess, ctx.failed_logins_per_account, key, "logins for this account", uid)


CONNECTION_SLOT_WAIT_MS = 5_000  # retry_after_ms when an account holds all the connections it may


def check_connection_slot(ctx: Context, sess: Session, user: User) -> None:
    """``rate_limited`` when ``user`` holds ``rate_limits.connections_per_user`` logged-in
    connections already (``sess`` itself not counted: a login again on it takes no new one). Called
    right before :meth:`Context.attach`, with no await between, so two sign-ins at once cannot both
    take the last one; ``login`` also asks before it stores a token. Connections closing (their
    close on its way) are not counted. **[ext]** ``cause: "connections_per_user"`` lets a client
    say what to do (close a tab or a device), which waiting alone does not cure."""
    cap = ctx.cfg.rate_limits.connections_per_user
    if not cap:
        return
    held = sum(1 for s in user.sessions if s is not sess and not s.closing)
    if held >= cap:
        raise ContractError("rate_limited", f"this account is signed in on {held} connections already, the most it "
                                            "may be; close one, or log out on a device",
                            retry_after_ms=CONNECTION_SLOT_WAIT_MS, cause="connections_per_user")


@handler("login")
async def login(ctx: Context, sess: Session, req: rq.Login, enc: Encoding) -> dict[str, Any]:
    device = idn.validate_device(req.device)
    with _failed_login_gate(ctx, sess, "login") as guess:
        ukey = idn.username_key(req.username)
        uid = ctx.state.by_username.get(ukey)
        name_key = unknown_name_key(ctx, ukey) if uid is None else None
        _login_account(ctx, sess, guess, uid, name_key)  # (before the first await, as the address's count)
        if uid is not None:  # (also before it: logins in parallel see each other)
            wait = ctx.logins_per_account.hit(uid, guess.at)
            if wait > 0:
                netlog.session(ctx, sess, "login_refused", uid, why="rate_limited")
                raise _rate_limited("logins for this account", wait)
        revocations = ctx.state.revocations
        seen = revocations.count  # (a new password or a logout everywhere while this login is checked)
        # (the same read for a name no account has, of an id none has: both answers take as long)
        try:
            stored = await ctx.store.password_hash(uid or "")
            ok = await ctx.passwords.verify(stored, req.password, sess.ip)
        except BaseException:
            # Not checked (the address's password checks were all running, the store failed): no login
            # of the account's was used up, so nobody's refused logins lock its owner out.
            if uid is not None:
                ctx.logins_per_account.take_back(uid, guess.at)
            raise
        user = ctx.state.users.get(uid) if uid else None
        if not ok or user is None or user.deleted:
            guess.failed()
            # (the count outlives this process: a restart counts the row again, server/limits.py)
            if name_key is not None:
                await netlog.session_kept(ctx, sess, "login_failed", None, name_hmac=name_key)
            else:
                await netlog.session_kept(ctx, sess, "login_failed", uid)
            raise ContractError("unauthenticated", AUTH_FAILED)
    if ctx.passwords.needs_rehash(stored):
        await _rehash(ctx, sess, user, stored, req.password)
    if user.blacklisted or user.reopening:
        netlog.session(ctx, sess, "login_refused", uid, why="blacklisted")
        raise ContractError("blacklisted", "this account is closed by the platform")
    check_connection_slot(ctx, sess, user)  # (before a token is made for a connection that cannot have it)
    token = new_token()
    hashed = token_hash(token)
    now = ctx.now_ms()
    expires_at = now + ctx.cfg.identity.token_ttl_seconds * 1000
    await commit(ctx, ch.InsertToken(hashed, user.user_id, now, expires_at, device))
    await _login_still_good(ctx, sess, user, hashed, seen, logged=False)
    # The login's row, stored before the answer (a process killed right after answering kept no
    # trace of the login in the network log) and before the connection is signed in (waited for after,
    # the events of the account's groups reached it before its answer); the checks run again after it.
    await netlog.session_kept(ctx, sess, "login_ok", user.user_id)
    await _login_still_good(ctx, sess, user, hashed, seen, logged=True)
    ctx.attach(sess, user, hashed)
    return {"user_id": user.user_id, "token": token, "expires_at": expires_at}


async def _login_still_good(ctx: Context, sess: Session, user: User, hashed: bytes, seen: int, *,
                            logged: bool) -> None:
    """What may have ended a login while its token (``hashed``) or its row was being stored, refused
    (:func:`_ended_meanwhile`). ``logged``: its ``login_ok`` row is stored already, so a ``login_refused``
    row says it did not sign in after all (``why``: ``ended``, ``cancelled``, ``connections_per_user``; a
    blacklisting's is written either way). Never handed out, its token is revoked (whatever refused it:
    one left good was listed by my_logins, with its device, as a login of the account's that never signed
    in; no cause kept for it). No await but the revocation's write, after which nothing is read."""
    ended = _ended_meanwhile(ctx, sess, user, hashed, seen)
    if ended is None:
        return
    why, err = ended
    if logged or why == "blacklisted":
        netlog.session(ctx, sess, "login_refused", user.user_id, why=why)
    await commit(ctx, ch.RevokeToken(hashed, None))
    raise err


def _ended_meanwhile(ctx: Context, sess: Session, user: User, hashed: bytes,
                     seen: int) -> tuple[str, ContractError] | None:
    """What ended a sign-in of ``user`` with the token ``hashed`` while it was stored (its token by
    ``login``, its network-log row by ``login`` and ``auth``), as a refusal's ``why`` and its error; None
    when nothing did. The password changed or every login of the account ended (since revocation
    ``seen``, the token's own logout too; or more revocations since than are kept, so that it cannot
    tell), the platform closed the account, it was cancelled, or its connections were taken meanwhile.
    Reads memory only: the caller signs the connection in (or refuses it) with no await in between."""
    if ctx.state.revocations.since(seen, hashed, user.user_id) is not False:
        return "ended", ContractError("unauthenticated", AUTH_FAILED)
    if user.blacklisted or user.reopening:  # closed by the platform meanwhile
        return "blacklisted", ContractError("blacklisted", "this account is closed by the platform")
    if user.deleted:  # cancelled meanwhile
        return "cancelled", ContractError("unauthenticated", AUTH_FAILED)
    try:
        check_connection_slot(ctx, sess, user)  # (again: taken meanwhile)
    except ContractError as full:
        return "connections_per_user", full
    return None


async def _rehash(ctx: Context, sess: Session, user: User, stored: str | None, password: str) -> None:
    """Store a right password hashed again under the argon2 settings of now (a login is the one time
    the server has it): a hash kept under old settings made its account's wrong passwords answer in
    another time than an unknown name's. Over the hash it was checked against only; skipped when this
    address has its password checks running already (the next login does it). Awaited: the caller's
    checks after it (a password changed meanwhile: the revocations) come after this too."""
    try:
        fresh = await ctx.passwords.hash(password, sess.ip)
    except ContractError:
        return
    await commit(ctx, ch.RehashPassword(user.user_id, stored or "", fresh))


@handler("auth")
async def auth(ctx: Context, sess: Session, req: rq.Auth, enc: Encoding) -> dict[str, Any]:
    hashed = token_hash(req.token)
    if ctx.failed_logins_per_ip.peek(sess.ip, time.monotonic()) > 0:
        # The address is past its failed logins: a token that is good still signs in (a campus or a
        # carrier's NAT shares the address with whoever guessed there, and a token cannot be guessed);
        # any other is refused as the limit says (rate_limited, logged, by the gate), or, when the window
        # moved on during the lookup, counted and logged as a failure like any other.
        uid = await standing_token_owner(ctx, hashed)
        user = ctx.state.users.get(uid) if uid else None
        if user is None or user.deleted:
            _failed_login_gate(ctx, sess, "auth").failed()
            await netlog.session_kept(ctx, sess, "auth_failed", uid)
            raise ContractError("unauthenticated", AUTH_FAILED)
    else:
        user = await _token_user(ctx, sess, hashed)
    seen = ctx.state.revocations.count  # (the lookup found the token good as of now: no await since)
    if user.blacklisted or user.reopening:
        # (its row stored before the answer, as auth_ok's: a refused sign-in is in the network log too,
        # also when the process is killed right after answering)
        await netlog.session_kept(ctx, sess, "auth_refused", user.user_id, why="blacklisted")
        raise ContractError("blacklisted", "this account is closed by the platform")
    check_connection_slot(ctx, sess, user)
    # The sign-in's row, stored before the answer and before the connection is signed in, as login's
    # (a connection's own rows are written at its close, which a killed process never reaches; the row
    # of the login that made the token names another connection, maybe days before and from another
    # network): its one write, in the store's next group commit. The checks run again after it.
    await netlog.session_kept(ctx, sess, "auth_ok", user.user_id)
    ended = _ended_meanwhile(ctx, sess, user, hashed, seen)
    if ended is not None:
        why, err = ended
        await netlog.session_kept(ctx, sess, "auth_refused", user.user_id, why=why)  # (not signed in: no await matters)
        if why == "ended":  # (why, as a refused lookup says it: its cause is stored once its write is)
            cause = await ctx.store.login_end_cause(hashed, ctx.now_ms())
            if cause in LOGIN_ENDED:
                err = ContractError("unauthenticated", AUTH_FAILED, cause=cause)
        raise err
    ctx.attach(sess, user, hashed)
    return {"user_id": user.user_id}


async def _token_user(ctx: Context, sess: Session, hashed: bytes) -> User:
    """The user a token signs in, or ``unauthenticated`` (with the cause of a login that ended), the
    attempt counted against the address's failed logins before its outcome is known (see Guess)."""
    with _failed_login_gate(ctx, sess, "auth") as guess:
        uid = await standing_token_owner(ctx, hashed)
        user = ctx.state.users.get(uid) if uid else None
        if user is None or user.deleted:
            guess.failed()
            await netlog.session_kept(ctx, sess, "auth_failed", uid)
            cause = None if uid else await ctx.store.login_end_cause(hashed, ctx.now_ms())
            if cause in LOGIN_ENDED:
                raise ContractError("unauthenticated", AUTH_FAILED, cause=cause)
            raise ContractError("unauthenticated", AUTH_FAILED)
    return user


async def standing_token_owner(ctx: Context, hashed: bytes) -> str | None:
    """The user a token is good for now, or None; also None when a ``logout`` of it committed
    while the database lookup was out (its answer is stale then: see state.Revocations). The
    caller binds the connection with no ``await`` in between."""
    revocations = ctx.state.revocations
    while True:
        seen = revocations.count
        uid = await ctx.store.token_owner(hashed, ctx.now_ms())
        revoked = revocations.since(seen, hashed, uid)
        if revoked is not None:  # None: too many logouts meanwhile to tell; look again
            break
    return None if revoked else uid


def login_id(hashed: bytes) -> str:
    """A login's id in ``my_logins`` and ``logout``: the first 8 bytes of its token's hash, in hex (the
    hash is one-way, so the id tells nothing of the token; unique enough among one account's 100)."""
    return hashed[:LOGIN_ID_BYTES].hex()


LOGIN_ID_BYTES = 8


@handler("my_logins")
async def my_logins(ctx: Context, sess: Session, req: rq.MyLogins, enc: Encoding) -> dict[str, Any]:
    """**[ext]** The account's logins (tokens still good), newest first: the device each named at
    ``login``, when, until when, how many connections use it now, and which one is this connection's."""
    user = sess.me
    rows = await ctx.store.logins_of(user.user_id, ctx.now_ms())
    online: dict[bytes | None, int] = {}
    for other in user.sessions:  # (after the read: the connections of now)
        online[other.token_hash] = online.get(other.token_hash, 0) + 1
    return {"logins": [
        {"login_id": login_id(hashed), "device": device, "created_at": created, "expires_at": expires,
         "online": online.get(hashed, 0), "current": hashed == sess.token_hash}
        for hashed, created, expires, device in rows
    ]}


async def _login_named(ctx: Context, user: User, wanted: str) -> bytes:
    """The token hash of ``user``'s login ``wanted`` (a ``login_id``), or ``not_found``."""
    if len(wanted) != 2 * LOGIN_ID_BYTES or wanted.strip("0123456789abcdef"):
        raise ContractError("bad_request", "login_id must be 16 lowercase hex digits, as my_logins gives it",
                            field="login_id")
    for hashed, *_ in await ctx.store.logins_of(user.user_id, ctx.now_ms()):
        if login_id(hashed) == wanted:
            return hashed
    raise ContractError("not_found", "no such login of this account (it ended, or it expired)")


@handler("logout")
async def logout(ctx: Context, sess: Session, req: rq.Logout, enc: Encoding) -> None:
    """Revoke this connection's token: ``auth`` with it fails from now on, and every other
    connection that authenticated with it is closed (1008); this one is logged out. **[ext]**
    ``everywhere``: every token of the account, and every other connection of it (a phone lost
    or a shared computer left logged in). **[ext]** ``login_id``: that one login of the account (from
    ``my_logins``); this connection stays logged in unless it is its own."""
    user = sess.me
    hashed = sess.token_hash
    if req.login_id is not None:
        if req.everywhere:
            raise ContractError("bad_request", "give either everywhere or login_id, not both", field="login_id")
        other_login = await _login_named(ctx, user, req.login_id)
        if other_login != hashed:
            await _end_login(ctx, user, other_login, "logged out from another device")
            netlog.session(ctx, sess, "logout", login_id=req.login_id)
            return
    if req.everywhere:
        # Marked first: an auth whose lookup is out, or a login whose token is being stored, is refused
        # whichever write lands first (see login).
        ctx.state.revocations.add_user(user.user_id)
        await commit(ctx, ch.RevokeTokens(user.user_id))
        _close_other_logins(user, sess, None, "logged out on every device")
    elif hashed is not None:
        await _end_login(ctx, user, hashed, "logged out", but=sess)
    if req.everywhere:
        netlog.session(ctx, sess, "logout", everywhere=True)
    else:
        netlog.session(ctx, sess, "logout")
    ctx.detach(sess)
    ctx.arm_auth_timer(sess)


async def _end_login(ctx: Context, user: User, hashed: bytes, why: str, but: Session | None = None) -> None:
    """Revokes the token ``hashed`` of ``user`` and closes (1008, ``why``) every connection on it but ``but``."""
    await commit(ctx, ch.RevokeToken(hashed))
    ctx.state.revocations.add(hashed)  # an auth whose lookup is still out must not bind it
    for other in list(user.sessions):
        if other is not but and other.token_hash == hashed:
            other.close(CLOSE_POLICY, why)


def _close_other_logins(user: User, sess: Session, kept: bytes | None, why: str) -> None:
    """Closes (1008) every connection of ``user`` but ``sess`` and those of the token ``kept``."""
    for other in list(user.sessions):
        if other is not sess and (kept is None or other.token_hash != kept):
            other.close(CLOSE_POLICY, why)


def _valid_new_password(new_password: str) -> None:
    """``register``'s rule, refused with ``field`` ``new_password`` (the argument that carries it)."""
    try:
        idn.validate_password(new_password)
    except ContractError as err:
        raise ContractError("bad_request", "new_password must be 8-128 characters", field="new_password") from err


async def _set_password(ctx: Context, sess: Session, user: User, hashed: str, kept: bytes | None) -> None:
    """Stores ``user``'s new password hash and ends every other login but the token ``kept``'s (the
    caller holds the person's password turn and has checked the account is still active).

    The revocation is marked before the write: an auth whose lookup is out, or a login whose token
    is being stored, is refused whichever write lands first (see login)."""
    ctx.state.revocations.add_user(user.user_id, kept)
    await commit(ctx, ch.ChangePassword(user.user_id, hashed, kept))
    _close_other_logins(user, sess, kept, "the password was changed")


@handler("reset_password")
async def reset_password(ctx: Context, sess: Session, req: rq.ResetPassword, enc: Encoding) -> None:
    """**[ext]** Before authentication: a forgotten password replaced, with a code sent to the phone the
    account is bound to (``request_code``, limited per phone and per address as for ``register``;
    five wrong guesses void a code). Every login of the account ends, as at ``change_password``; the
    connection stays unauthenticated, to log in with the new password."""
    phone = idn.normalize_phone(req.phone)
    code = given_code(req.code)
    _valid_new_password(req.new_password)
    phone_hmac = ctx.vault.lookup("phone", phone)
    phone_key = phone_hmac.hex()
    # The code first: without it the op tells nothing, not even whether the phone has an account.
    await _check_code(ctx, sess, "reset_password", phone_key, code)
    uid = await ctx.store.user_with_phone(phone_hmac)
    user = ctx.state.users.get(uid) if uid else None
    if user is None or user.deleted:
        limits.spend_code_attempt(ctx, phone_key)
        # (Told only to whoever holds the phone's code: a cancelled account's phone stays taken
        # until its retention period ends, and register says so; this must not say there is none.)
        raise ContractError("not_found", "the account of this phone number was cancelled" if user is not None
                            else "no account has this phone number")
    async with turn(("password", user.user_id)):  # (one change of a person's password at a time)
        hashed = await ctx.passwords.hash(req.new_password, sess.ip)
        if user.blacklisted or user.reopening:
            limits.spend_code_attempt(ctx, phone_key)
            raise ContractError("blacklisted", "this account is closed by the platform")
        still_active(user)
        # Used up with the claim, with no await between (of two resets with one code, the second
        # gets bad_code here).
        if not limits.consume_code(ctx, phone_key, code):
            raise ContractError("bad_code", "wrong or expired code")
        await _set_password(ctx, sess, user, hashed, None)
    # The wrong passwords given for the account lock it no more: whoever guessed them, the owner, who has
    # just proved the phone theirs, logs in with the new password at once (a restart forgets them too:
    # the limits are rebuilt from the network log, this row included, which the answer waits for:
    # netlog.ANSWERED).
    ctx.failed_logins_per_account.forget(user.user_id)
    if sess.user is user:
        # Asked on a connection logged in to the account: its login ended with the others (its token is
        # revoked), so it is logged in no more, as after logout; other connections were closed.
        ctx.detach(sess)
        ctx.arm_auth_timer(sess)
    netlog.session(ctx, sess, "password_reset", user.user_id)


@handler("change_password")
async def change_password(ctx: Context, sess: Session, req: rq.ChangePassword, enc: Encoding) -> None:
    """**[ext]** A new password, the current one given again (checked, and counted when wrong, as
    ``delete_account``'s). Every other login of the account ends in the same transaction: its
    tokens are revoked and its connections closed, but this connection's token (its other tabs)."""
    user = sess.me
    _valid_new_password(req.new_password)
    # One change of a person's password at a time, each checking the password as the one before left
    # it: two at once each passed the old one, and the second, closing the first's login, left
    # neither logged in, under a password the first was told was its own.
    async with turn(("password", user.user_id)):
        with _guess_gate(ctx, sess, "change_password") as guess:
            stored = await ctx.store.password_hash(user.user_id)
            if not await ctx.passwords.verify(stored, req.password, sess.ip):
                await _count_guess(ctx, sess, "change_password", guess)
                raise ContractError("unauthenticated", AUTH_FAILED)
        hashed = await ctx.passwords.hash(req.new_password, sess.ip)
        still_active(user)  # (blacklisted or cancelled on another connection meanwhile: nothing to change)
        if sess.user is not user or sess.closing:  # logged out meanwhile (everywhere, on another device)
            raise ContractError("unauthenticated", "this connection was logged out meanwhile")
        await _set_password(ctx, sess, user, hashed, sess.token_hash)  # (the connection's own token spared)
    netlog.session(ctx, sess, "password_changed")


@handler("verify_identity")
async def verify_identity(ctx: Context, sess: Session, req: rq.VerifyIdentity, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    legal_name = idn.validate_legal_name(req.legal_name)
    today = dt.datetime.fromtimestamp(ctx.now_ms() / 1000, dt.timezone(dt.timedelta(hours=8))).date()
    id_number = idn.validate_id_number(req.id_number, today)
    if user.id_verified:
        raise ContractError("conflict", "identity is already verified for this account")
    # Each answer about a number tells something about other people (whether a name and number
    # belong together, whether the number already has accounts here or is barred): counted like
    # wrong passwords, per address and per account, so nobody can sweep numbers through it.
    with _guess_gate(ctx, sess, "verify_identity") as guess:
        try:
            # The checksum above is the first step; an outside register (id_verifier = "http") is the
            # second. Nothing was claimed before this await: VerifyIdentity re-checks in its transaction.
            await ctx.id_verifier.verify(legal_name, id_number)
            # The account may have been cancelled or blacklisted on another connection meanwhile: no
            # name and number are sealed into it then (nothing awaits from here to the write's queue).
            still_active(user)
            id_hmac = ctx.vault.lookup("id", idn.id_number_key(id_number))
            # The blacklist and max_accounts_per_id are decided inside the write's transaction
            # (VerifyIdentity re-counts the accounts holding this number), so accounts that
            # verify the same number at the same moment cannot all pass.
            await commit(ctx, ch.VerifyIdentity(
                user.user_id, id_hmac, ctx.vault.seal(id_number), ctx.vault.seal(legal_name), ctx.now_ms(),
                ctx.cfg.identity.max_accounts_per_id,
            ))
        except ContractError as err:
            if err.code in ("bad_request", "conflict", "blacklisted"):  # not internal: no answer is no guess
                await _count_guess(ctx, sess, "verify_identity", guess)
            raise
    user.id_verified = True
    publish_elsewhere(sess, user.sessions, ev.SelfChanged(what="identity"))  # [ext] (a second device)
    return {"id_verified": True}


@handler("set_profile")
async def set_profile(ctx: Context, sess: Session, req: rq.SetProfile, enc: Encoding) -> dict[str, Any] | None:
    user = sess.me
    name = idn.validate_display_name(req.display_name, sess.me.display_name)
    was = user.display_name
    if name == was:
        # The name it has, restated: refused if now listed, but not charged (nothing new is written),
        # and no network-log row (a loop of it wrote one each time).
        screening.screen(ctx, None, name, "display_name", "display_name", was)
        return None
    check_agreement(ctx, user)  # (first: a new name is shown to others, published as a message is: G5)
    # Counted as asked, before the await: two connections cannot both slip past the limit. A name then
    # refused (the word lists' block, a failed write) changed nothing: its hit is given back.
    counted_at = take_window(ctx.renames_per_user, user.user_id, "too many new display names; retry later")
    try:
        return await _new_display_name(ctx, sess, user, name, was)
    except BaseException:
        ctx.renames_per_user.take_back(user.user_id, counted_at)
        raise


async def _new_display_name(ctx: Context, sess: Session, user: User, name: str, was: str) -> dict[str, Any] | None:
    screened = screening.screen(ctx, user, name, "display_name", "display_name", was)
    # flagged: applied and queued; held for review: queued, the old name stays shown (G10)
    queued = screened.queued(ctx, "display_name", None, user.user_id, expect=screened.shown(was))
    # A new name closes one still held for review: the newest change wins.
    supersede = screening.superseding(ctx, "display_name", user.user_id)
    if screened.held:
        assert queued is not None  # (a held name is queued)
        results = await commit(ctx, supersede, queued)
        screening.tell_superseded(ctx, results[0], "display_name")
        return screening.held_reply(sess, results)
    claim = FieldClaim(user, {"display_name": name})
    results = await commit(ctx, supersede, ch.SetUserFields(user.user_id, {"display_name": name}),
                           *([queued] if queued else []), claim=claim)
    screening.tell_superseded(ctx, results[0], "display_name")
    # Who was shown under which name, and since when: the name is how others know the account (G6).
    netlog.session(ctx, sess, "profile", display_name=name, was=was)
    announce_rename(ctx, user)
    return None


@handler("me")
async def me(ctx: Context, sess: Session, req: rq.Me, enc: Encoding) -> dict[str, Any]:
    u = sess.me
    return {
        "user_id": u.user_id,
        "username": u.username,
        "display_name": u.display_name,
        "phone_verified": True,
        "id_verified": u.id_verified,
        "credit_level": credit_level(u.credit_score, ctx.cfg.credit.levels),
        "credit_score": u.credit_score,
        "edit_window_seconds": ctx.cfg.limits.edit_window_seconds,  # [ext] so a client offers edit only within it
        "max_text_chars": ctx.cfg.limits.max_text_chars,  # [ext] so a client counts against the real limit
        # [ext] the file types upload_begin takes (media.allowed_types), so a client's file picker offers those
        "upload_types": list(ctx.cfg.media.allowed_types),
        # [ext] the platform's measures on the user's own powers, so a client offers what works
        "powers_suspended_until": u.powers_suspended_until if u.powers_suspended_until > ctx.now_ms() else 0,
        "create_revoked": u.create_revoked,
        # [ext] the server's clock (ms), so a client can tell when mutes, suspensions and the edit window end
        # by it: a client's own clock may be minutes off
        "server_time": ctx.now_ms(),
    }


@handler("ping")
async def ping(ctx: Context, sess: Session, req: rq.Ping, enc: Encoding) -> dict[str, Any]:
    """**[ext]** The connection is alive (a client that only reads asks it when nothing came for a
    while). Answered from nothing; a cluster's gateway answers it itself (server/cluster/gateway.py)."""
    return {}


def message_bucket(ctx: Context, user: User) -> TokenBucket:
    """``user``'s message rate (sends, edits, reactions, comments), taken with ``time.monotonic()``: on
    the wall clock, a step back (NTP, an operator) left the bucket empty until the clock caught up."""
    if user.bucket is None:
        rl = ctx.cfg.rate_limits
        user.bucket = TokenBucket(rl.messages_per_second, rl.message_burst)
    return user.bucket


@handler("delete_account")
async def delete_account(ctx: Context, sess: Session, req: rq.DeleteAccount, enc: Encoding) -> None:
    """Account cancellation (P9): the account stops working and its display data goes.

    What retention requires (messages, logs, the sealed phone and identity)
    stays until its period ends; the username and phone stay bound to this
    account until then, so they cannot register a new one at once.

    After the password check, everything is decided and claimed in memory in
    one step: the account is marked cancelled (so a ``create_group`` on another
    connection is refused from then on), taken out of its groups, off the
    editors of public accounts and off their subscribers; one transaction
    stores it all, re-checking in the database that it owns no live group and
    no open public account; a failed write puts everything back.
    """
    user = sess.me
    # A password check is an oracle: count misses with failed logins, per address and per account.
    with _guess_gate(ctx, sess, "delete_account") as guess:
        stored = await ctx.store.password_hash(user.user_id)
        if not await ctx.passwords.verify(stored, req.password, sess.ip):
            await _count_guess(ctx, sess, "delete_account", guess)
            raise ContractError("unauthenticated", AUTH_FAILED)
    still_active(user)  # (blacklisted, or cancelled on another connection, during the check)
    groups = ctx.state.groups
    owned = sorted(gid for gid in user.groups if groups[gid].owner_id == user.user_id)
    if owned:
        raise ContractError("conflict", "transfer or dissolve the groups you own first: " + ", ".join(owned))
    refuse_if_running_accounts(ctx, user)
    now = ctx.now_ms()
    uid = user.user_id
    left = [groups[gid] for gid in sorted(user.groups)]
    requested = ClosedRequests.take(ctx, uid)
    invited: dict[str, str] = {}
    leaving = []  # groups memory shows them out of, with a removal in flight the store may refuse
    for g in groups.values():
        if (by := g.invited.get(uid)) is not None:
            invited[g.group_id] = by
        if g.group_id not in user.groups and g.alive and membership_in_flight(g, uid):
            leaving.append(g)
    writes = [membership_claimed(g, uid) for g in (*left, *leaving)]
    for g in left:
        del g.members[uid]
    old_name = user.display_name
    for g in left:
        g.online.difference_update(user.sessions)
    for gid in invited:
        del groups[gid].invited[uid]
    user.groups = NOTHING
    user.deleted = True
    # (Claimed as a set_profile's is: with a name's write in flight, an operator's decision on a
    # held name, say, putting back the name memory showed would keep one the store refused.)
    renamed = FieldClaim(user, {"display_name": CANCELLED_NAME})
    undo_accounts, accounts_decided = leave_public_accounts(ctx, user)

    def undo() -> None:
        undo_accounts()
        user.deleted = False
        requested.undo()  # (the memberships: decided, after this)
        for gid, by in invited.items():
            # (one ended meanwhile lapsed its invitations; a join stored meanwhile used it up)
            if (g := groups.get(gid)) is not None and g.alive and not member_in_store(g, uid):
                g.invited.setdefault(uid, by)

    def decided(stored: bool) -> None:
        accounts_decided(stored)
        for g, w in zip((*left, *leaving), writes, strict=True):
            membership_decided(g, user, w, stored, None)

    await commit(
        ctx,
        *[ch.RemoveMember(g.group_id, uid, now, "account_deleted", uid) for g in (*left, *leaving)],
        ch.CancelAccount(uid, now, CANCELLED_NAME),
        undo=undo,
        claim=renamed,
        then=decided,
    )
    for g in left:
        publish(g.online, ev.MemberLeft(group_id=g.group_id, user_id=uid))
    requested.tell()
    netlog.session(ctx, sess, "account_deleted", display_name=old_name)
    for other in list(user.sessions):
        if other is not sess:
            other.close(1008, "account cancelled")
    ctx.detach(sess)
    ctx.arm_auth_timer(sess)
