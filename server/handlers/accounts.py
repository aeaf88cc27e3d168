"""Accounts (Art. 6): phone codes, registration, login, tokens, identity, profile."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from governance import identity as idn
from governance.ids import new_user_id
from governance.ratelimit import TokenBucket
from governance.tiers import credit_level
from protocol.events import event
from protocol.errors import ContractError
from server import netlog, repo
from server.fanout import publish
from server.handlers import handler
from server.security import new_token, token_hash
from server.state import User

AUTH_FAILED = "authentication failed: wrong username, password or token"


def _rate_limited(what: str, retry_after: float) -> ContractError:
    return ContractError(
        "rate_limited", f"too many {what}; retry later", retry_after_ms=int(retry_after * 1000) + 1
    )


@handler("request_code")
async def request_code(app, sess, req, enc) -> None:
    phone = idn.normalize_phone(req.args["phone"])
    key = app.vault.lookup("phone", phone).hex()
    now = time.monotonic()
    for counter, k, what in (
        (app.codes_per_phone, key, "code requests for this phone"),
        (app.codes_per_ip, sess.ip, "code requests from this address"),
    ):
        wait = counter.peek(k, now)
        if wait > 0:
            raise _rate_limited(what, wait)
    app.codes_per_phone.hit(key, now)
    app.codes_per_ip.hit(sess.ip, now)
    code = app.codes.issue(key, app.now_ms() / 1000, app.randbelow)
    app.sms.send(phone, code, app.now_ms())
    netlog.session(app, sess, "code_request", phone_hmac=key)
    return None


@handler("register")
async def register(app, sess, req, enc) -> dict[str, Any]:
    a = req.args
    username = idn.validate_username(a["username"])
    idn.validate_password(a["password"])
    phone = idn.normalize_phone(a["phone"])
    display_name = idn.validate_display_name(a.get("display_name") or username)
    ukey = idn.username_key(username)
    state = app.state
    if ukey in state.by_username:
        raise ContractError("conflict", "that username is taken")
    phone_hmac = app.vault.lookup("phone", phone)
    if not app.codes.consume(phone_hmac.hex(), a["code"], app.now_ms() / 1000):
        raise ContractError("bad_code", "wrong or expired code")
    if await app.store.fetchone("SELECT 1 FROM users WHERE phone_hmac = ?", (phone_hmac,)):
        raise ContractError("conflict", "that phone number already has an account")
    pw_hash = await app.passwords.hash(a["password"])
    if ukey in state.by_username:  # taken while we were hashing
        raise ContractError("conflict", "that username is taken")
    user = User(
        user_id=new_user_id(secrets.token_hex),
        username=username,
        display_name=display_name,
        credit_score=app.cfg.credit.initial_score,
        id_verified=False,
        created_at=app.now_ms(),
    )
    state.by_username[ukey] = user.user_id
    try:
        await app.store.write(
            repo.insert_user(user, ukey, pw_hash, phone_hmac, app.vault.seal(phone))
        )
    except Exception as exc:
        del state.by_username[ukey]
        if "phone_hmac" in str(exc):
            raise ContractError("conflict", "that phone number already has an account") from None
        raise
    state.users[user.user_id] = user
    netlog.session(app, sess, "register", user.user_id)
    return {"user_id": user.user_id}


def _failed_login_gate(app, sess, what: str) -> float:
    """Refuse an address past its failed-login limit; returns the monotonic now for the later hit."""
    now_mono = time.monotonic()
    wait = app.failed_logins_per_ip.peek(sess.ip, now_mono)
    if wait > 0:
        netlog.session(app, sess, f"{what}_refused", why="rate_limited")
        raise _rate_limited("failed logins from this address", wait)
    return now_mono


@handler("login")
async def login(app, sess, req, enc) -> dict[str, Any]:
    now_mono = _failed_login_gate(app, sess, "login")
    uid = app.state.by_username.get(idn.username_key(req.args["username"]))
    user = app.state.users.get(uid) if uid else None
    stored = await repo.password_hash(app.store, uid) if uid else None
    if not await app.passwords.verify(stored, req.args["password"]) or user is None or user.deleted:
        app.failed_logins_per_ip.hit(sess.ip, now_mono)
        netlog.session(app, sess, "login_failed", uid)
        raise ContractError("unauthenticated", AUTH_FAILED)
    if user.blacklisted:
        netlog.session(app, sess, "login_refused", uid, why="blacklisted")
        raise ContractError("blacklisted", "this account is closed by the platform")
    token = new_token()
    now = app.now_ms()
    expires_at = now + app.cfg.identity.token_ttl_seconds * 1000
    await app.store.write(repo.insert_token(token_hash(token), user.user_id, now, expires_at))
    app.attach(sess, user)
    netlog.session(app, sess, "login_ok")
    return {"user_id": user.user_id, "token": token, "expires_at": expires_at}


@handler("auth")
async def auth(app, sess, req, enc) -> dict[str, Any]:
    now_mono = _failed_login_gate(app, sess, "auth")
    uid = await repo.token_owner(app.store, token_hash(req.args["token"]), app.now_ms())
    user = app.state.users.get(uid) if uid else None
    if user is None or user.deleted:
        app.failed_logins_per_ip.hit(sess.ip, now_mono)
        netlog.session(app, sess, "auth_failed", uid)
        raise ContractError("unauthenticated", AUTH_FAILED)
    if user.blacklisted:
        netlog.session(app, sess, "auth_refused", uid, why="blacklisted")
        raise ContractError("blacklisted", "this account is closed by the platform")
    app.attach(sess, user)
    netlog.session(app, sess, "auth_ok")
    return {"user_id": user.user_id}


@handler("verify_identity")
async def verify_identity(app, sess, req, enc) -> dict[str, Any]:
    user = sess.user
    legal_name = idn.validate_legal_name(req.args["legal_name"])
    today = dt.datetime.fromtimestamp(app.now_ms() / 1000, dt.timezone(dt.timedelta(hours=8))).date()
    id_number = idn.validate_id_number(req.args["id_number"], today)
    if user.id_verified:
        raise ContractError("conflict", "identity is already verified for this account")
    id_hmac = app.vault.lookup("id", idn.id_number_key(id_number))
    holders = await repo.accounts_with_id(app.store, id_hmac)
    if any(blacklisted for _, blacklisted in holders):
        raise ContractError("blacklisted", "this identity is barred from the platform")
    if len(holders) >= app.cfg.identity.max_accounts_per_id:
        raise ContractError("conflict", "this ID number is already used by as many accounts as allowed")
    await app.store.write(
        repo.set_identity(
            user.user_id, id_hmac, app.vault.seal(id_number), app.vault.seal(legal_name), app.now_ms()
        )
    )
    user.id_verified = True
    return {"id_verified": True}


@handler("set_profile")
async def set_profile(app, sess, req, enc) -> None:
    name = idn.validate_display_name(req.args["display_name"])
    await app.store.write(repo.set_display_name(sess.user.user_id, name))
    sess.user.display_name = name
    return None


@handler("me")
async def me(app, sess, req, enc) -> dict[str, Any]:
    u = sess.user
    return {
        "user_id": u.user_id,
        "username": u.username,
        "display_name": u.display_name,
        "phone_verified": True,
        "id_verified": u.id_verified,
        "credit_level": credit_level(u.credit_score, app.cfg.credit.levels),
        "credit_score": u.credit_score,
    }


def message_bucket(app, user: User) -> TokenBucket:
    if user.bucket is None:
        rl = app.cfg.rate_limits
        user.bucket = TokenBucket(rl.messages_per_second, rl.message_burst)
    return user.bucket


CANCELLED_NAME = "已注销用户"


@handler("delete_account")
async def delete_account(app, sess, req, enc) -> None:
    """Account cancellation (P9): the account stops working and its display data goes.

    What retention requires (messages, logs, the sealed phone and identity)
    stays until its period ends; the username and phone stay bound to this
    account until then, so they cannot register a new one at once.
    """
    from server.handlers.groups import remove

    user: User = sess.user
    stored = await repo.password_hash(app.store, user.user_id)
    if not await app.passwords.verify(stored, req.args["password"]):
        raise ContractError("unauthenticated", AUTH_FAILED)
    groups = app.state.groups
    owned = [gid for gid in user.groups if groups[gid].owner_id == user.user_id]
    if owned:
        raise ContractError("forbidden", "transfer or dissolve the groups you own first: " + ", ".join(sorted(owned)))
    for g in groups.values():
        if g.join_requests.pop(user.user_id, None) is not None:
            await app.store.write(repo.change(
                ("DELETE FROM join_requests WHERE group_id = ? AND user_id = ?", (g.group_id, user.user_id))
            ))
    for gid in sorted(user.groups):
        g = groups[gid]
        await remove(app, g, user.user_id, "account_deleted", user.user_id)
        publish(g.online, event("member_left", group_id=gid, user_id=user.user_id))
    now = app.now_ms()
    await app.store.write(repo.change(
        ("UPDATE users SET deleted_at = ?, display_name = ? WHERE user_id = ?", (now, CANCELLED_NAME, user.user_id)),
        ("DELETE FROM tokens WHERE user_id = ?", (user.user_id,)),
    ))
    user.deleted = True
    user.display_name = CANCELLED_NAME
    netlog.session(app, sess, "account_deleted")
    for other in list(user.sessions):
        if other is not sess:
            other.close(1008, "account cancelled")
    app.detach(sess)
    app.arm_auth_timer(sess)
    return None
