"""The HTTP SMS provider and the HTTP ID verifier (Art. 6), against a fake HTTPS provider.

A real server process talks to a real HTTPS service on 127.0.0.1 (tests/e2e/fake_provider.py)
that checks each request's signature the way docs/providers.md tells a provider to.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from server.providers import NO_MATCH
from tests.e2e.fake_provider import Answer, FakeProvider
from tests.e2e.harness import ROOT, ServerProcess, new_id_number, new_phone


@pytest.fixture
def fake(tmp_path):
    provider = FakeProvider(tmp_path / "provider").start()
    yield provider
    provider.stop()


@pytest.fixture
async def start(tmp_path):
    """A server whose [identity] section points at the fake provider (replacing the file SMS outbox)."""
    started: list[ServerProcess] = []

    def make(identity: str) -> ServerProcess:
        d = tmp_path / f"srv{len(started)}"
        d.mkdir()
        srv = ServerProcess(d)
        text = srv.config.read_text(encoding="utf-8")
        if 'sms_provider = "http"' in identity:
            text = text.replace('sms_provider = "file"\n', "")
        srv.config.write_text(text.replace("[identity]\n", "[identity]\n" + identity, 1), encoding="utf-8")
        started.append(srv.start())
        return srv

    yield make
    for srv in started:
        await srv.stopped()
        print("".join(srv.output))


def _codes_sent(fake: FakeProvider, phone: str) -> list[dict]:
    return [s.body for s in fake.seen if s.path == "/sms" and s.body.get("phone") == phone]


async def test_http_sms_delivers_a_signed_request_and_the_code_registers(fake, start):
    srv = start(fake.config(sms=True))
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    [sent] = _codes_sent(fake, phone)
    [seen] = [s for s in fake.seen if s.path == "/sms"]
    assert seen.signature_ok  # the fake verified the HMAC and the timestamp
    assert abs(int(seen.headers["X-Qunguan-Timestamp"]) - time.time()) < 60
    assert len(seen.headers["X-Qunguan-Request-Id"]) == 32
    assert seen.headers["Content-Type"] == "application/json"
    assert set(sent) == {"phone", "code", "ts"} and len(sent["code"]) == 6
    r = await c.call("register", username="smsuser", password="password123", phone=phone, code=sent["code"])
    assert r["ok"], r
    await c.close()


async def test_http_sms_retries_with_the_same_request_id_then_succeeds(fake, start):
    srv = start(fake.config(sms=True, retries=2))
    fake.plan.extend([Answer(503), Answer(500)])  # the third attempt gets the default 200
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    attempts = [s for s in fake.seen if s.path == "/sms"]
    assert len(attempts) == 3
    assert len({s.headers["X-Qunguan-Request-Id"] for s in attempts}) == 1
    assert all(s.signature_ok for s in attempts)
    code = attempts[-1].body["code"]
    assert (await c.call("register", username="retried", password="password123", phone=phone, code=code))["ok"]
    await c.close()


async def test_http_sms_down_is_internal_with_a_reason_never_ok(fake, start):
    srv = start(fake.config(sms=True, retries=1))
    fake.default = Answer(503)
    c = await srv.client()
    r = await c.call("request_code", phone=new_phone())
    assert r["ok"] is False and r["code"] == "internal"
    assert "SMS service is unavailable" in r["reason"] and "no code was sent" in r["reason"]
    assert len(fake.seen) == 2  # one try and one retry
    fake.default = Answer(400, {"error": "unknown template"})  # a final refusal is not retried
    r = await c.call("request_code", phone=new_phone())
    assert r["code"] == "internal" and "refused" in r["reason"]
    assert len(fake.seen) == 3
    await c.close()


async def test_http_sms_attempt_is_bounded_as_a_whole(fake, start):
    """``provider_timeout_seconds`` bounds the whole exchange: an answer trickled a byte at a time,
    each well within the timeout, no longer holds an attempt (and the connection's later frames)
    for as long as the provider likes."""
    srv = start(fake.config(sms=True, timeout=1.0, retries=0))
    fake.default = Answer(200, {"ok": True, "padding": "x" * 40}, trickle=0.1)  # about 6 s in all
    c = await srv.client()
    began = time.monotonic()
    r = await c.call("request_code", phone=new_phone())
    took = time.monotonic() - began
    assert r["code"] == "internal" and "SMS service is unavailable" in r["reason"], r
    assert took < 3, took
    await c.close()


async def _registered(srv: ServerProcess):
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    await c.request("register", username=f"u{phone}", password="password123", phone=phone,
                    code=srv.last_code(phone))
    await c.login(f"u{phone}", "password123")
    return c


async def test_http_id_verifier_match_verifies(fake, start):
    srv = start(fake.config(id_verifier=True))
    fake.default = Answer(200, {"result": "match"})
    c = await _registered(srv)
    number = new_id_number()
    assert (await c.request("verify_identity", legal_name="张三", id_number=number))["id_verified"] is True
    [seen] = fake.seen
    assert seen.path == "/id" and seen.signature_ok
    assert seen.body == {"legal_name": "张三", "id_number": number}
    assert (await c.request("me"))["id_verified"] is True
    await c.close()


async def test_an_account_cancelled_while_its_number_is_checked_is_not_verified(fake, start):
    """The outside register answers slowly; meanwhile another connection cancels the account. No name
    and number are sealed into the cancelled account (it would count against the number's cap)."""
    # The answer comes 1.5 s after the request arrives, well within the verifier's 5 s: on a loaded
    # machine the request itself (a new TLS connection to a fake served by this busy process) can
    # take a second to arrive, and the cancellation must land while the answer is still pending.
    srv = start(fake.config(id_verifier=True, timeout=5.0))
    fake.default = Answer(200, {"result": "match"}, delay=1.5)
    c = await _registered(srv)
    username = (await c.request("me"))["username"]
    other = await srv.client()
    await other.login(username, "password123")
    verifying = asyncio.ensure_future(c.call("verify_identity", legal_name="张三", id_number=new_id_number()))
    for _ in range(200):
        if fake.seen:
            break
        await asyncio.sleep(0.02)
    assert fake.seen
    answered_at = asyncio.get_running_loop().time() + 1.5
    assert (await other.call("delete_account", password="password123"))["ok"]
    # (the cancellation closes that connection too: its answer may never come)
    [answer] = await asyncio.gather(verifying, return_exceptions=True)
    assert isinstance(answer, ConnectionError) or answer["code"] == "unauthenticated", answer
    # past the register's answer, and a write it would have queued
    await asyncio.sleep(max(0.0, answered_at - asyncio.get_running_loop().time()) + 1.0)
    assert srv.db_rows("SELECT id_verified_at FROM users WHERE username = ?", username) == [(None,)]


async def test_http_id_verifier_no_match_is_bad_request(fake, start):
    srv = start(fake.config(id_verifier=True))
    fake.default = Answer(200, {"result": "no_match"})
    c = await _registered(srv)
    r = await c.call("verify_identity", legal_name="李四", id_number=new_id_number())
    assert (r["ok"], r["code"], r["reason"]) == (False, "bad_request", NO_MATCH)
    assert (await c.request("me"))["id_verified"] is False
    await c.close()


async def test_checksum_is_still_the_first_step(fake, start):
    srv = start(fake.config(id_verifier=True))
    fake.default = Answer(200, {"result": "match"})
    c = await _registered(srv)
    good = new_id_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")  # a wrong check digit
    r = await c.call("verify_identity", legal_name="张三", id_number=bad)
    assert r["code"] == "bad_request"
    assert fake.seen == []  # a number that fails the check digit never leaves the server
    await c.close()


@pytest.mark.parametrize(("answers", "why"), [
    ([Answer(503)] * 3, "unavailable"),                               # down on every attempt
    ([Answer(200, {"result": "match"}, delay=2.5)] * 3, "unavailable"),  # slower than the timeout
    ([Answer(200, b"<html>maintenance</html>")], "cannot use"),        # 200 but not an answer
    ([Answer(200, {"result": "maybe"})], "cannot use"),
    ([Answer(403, {"error": "account suspended"})], "cannot use"),
    ([Answer(422, {"error": "bad id", "echo": "张三"})], "cannot use"),  # an error page echoing the request
])
async def test_http_id_verifier_without_a_clear_answer_is_internal(fake, start, answers, why):
    srv = start(fake.config(id_verifier=True, timeout=1.0, retries=2))
    fake.default = Answer(200, {"result": "match"})
    fake.plan.extend(answers)
    c = await _registered(srv)
    number = new_id_number()
    r = await c.call("verify_identity", legal_name="张三", id_number=number)
    assert (r["ok"], r["code"]) == (False, "internal") and why in r["reason"], r
    assert (await c.request("me"))["id_verified"] is False  # never a false success
    assert number not in "".join(srv.output) and "张三" not in "".join(srv.output)  # the log names neither
    await c.close()


async def test_tls_certificates_are_verified(fake, start):
    """Without the fake's CA the server does not trust it: no identity goes to an unverified peer."""
    srv = start(fake.config(id_verifier=True, trust=False, retries=0))
    fake.default = Answer(200, {"result": "match"})
    c = await _registered(srv)
    r = await c.call("verify_identity", legal_name="张三", id_number=new_id_number())
    assert r["code"] == "internal"
    assert fake.seen == []  # the handshake failed before any request was sent
    assert await srv.logged("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"), "".join(srv.output)
    await c.close()


def _check_config(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "check-config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def test_check_config_refuses_what_serve_cannot_run(tmp_path):
    (tmp_path / "short.secret").write_text("too short\n", encoding="utf-8")
    (tmp_path / "good.secret").write_text("x" * 32, encoding="utf-8")
    (tmp_path / "notca.pem").write_text("not a certificate\n", encoding="utf-8")
    cases = {
        'sms_provider = "http"': ["identity.sms_url = '': required when", "identity.sms_secret_file"],
        'id_verifier = "http"\nid_verifier_secret_file = "good.secret"': ["identity.id_verifier_url"],
        'id_verifier = "http"\nid_verifier_url = "http://id.example/v"\nid_verifier_secret_file = "good.secret"':
            ["https://"],
        'sms_provider = "http"\nsms_url = "https://sms.example/send"\nsms_secret_file = "short.secret"':
            ["at least 16 bytes"],
        'sms_provider = "http"\nsms_url = "https://sms.example/send"\nsms_secret_file = "missing.secret"':
            ["file not found"],
        'provider_ca_file = "notca.pem"': ["not a PEM bundle"],
        "provider_timeout_seconds = 0": ["greater than 0"],
    }
    for i, (keys, expected) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.toml"
        path.write_text(f"[identity]\n{keys}\n", encoding="utf-8")
        done = _check_config(path)
        assert done.returncode == 2, (keys, done.stdout)
        for text in expected:
            assert text in done.stdout, (keys, done.stdout)
    good = tmp_path / "good.toml"
    good.write_text('[identity]\nsms_provider = "http"\nsms_url = "https://sms.example/send"\n'
                    'sms_secret_file = "good.secret"\nid_verifier = "http"\n'
                    'id_verifier_url = "https://id.example/verify"\nid_verifier_secret_file = "good.secret"\n',
                    encoding="utf-8")
    done = _check_config(good)
    assert done.returncode == 0, done.stdout


async def test_a_slow_sms_is_answered_before_the_sign_in_timeout_closes_the_connection(fake, tmp_path):
    """``request_code`` comes before a sign-in, and each frame before one restarts the time a
    connection has to sign in (``server.auth_timeout_seconds``). An SMS provider may take longer
    than that (each attempt's ``provider_timeout_seconds``, the retries, the backoffs): the connection
    was closed while the code was being sent, and the client's retry sent a second SMS. A
    ``request_code`` now adds the provider's longest wait to that time."""
    d = tmp_path / "srv"
    d.mkdir()
    srv = ServerProcess(d)
    text = srv.config.read_text(encoding="utf-8").replace('sms_provider = "file"\n', "")
    assert "auth_timeout_seconds = 10.0" in text
    text = text.replace("auth_timeout_seconds = 10.0", "auth_timeout_seconds = 1.0")
    srv.config.write_text(text.replace("[identity]\n", "[identity]\n" + fake.config(sms=True, timeout=1.0, retries=1),
                                       1), encoding="utf-8")
    srv.start()
    try:
        fake.plan.append(Answer(200, delay=1.5))  # the first attempt times out at 1 s, the retry answers
        c = await srv.client()
        phone = new_phone()
        r = await c.call("request_code", phone=phone)
        assert r["ok"], r
        assert len(_codes_sent(fake, phone)) == 2  # (one request, tried twice: one code)
        await c.close()
    finally:
        await srv.stopped()
