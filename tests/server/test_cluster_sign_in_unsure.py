"""A sign-in request (``auth``, ``login``, ``logout``) a gateway answered `internal` (no answer in
time) may still go through at the home. The client was told to retry and would go on believing the
connection signed out (or in), while the home acts for it as signed in, with a token the client never
got (a reviewer's suspicion, for a ``login`` that waits on a queue of password checks). The gateway
closes such a connection (1013, try again) when the home signs it in or out before answering; one whose
late answer is a refusal is left as it was.

A real home (the ``app`` fixture, SQLite) and a gateway built in this process, joined by hand instead
of NATS, as in test_cluster_reused_rid.py."""

from __future__ import annotations

import asyncio
import json

from server.app import App
from server.cluster.gateway import SIGN_IN_UNSURE
from server.session import CLOSE_TRY_AGAIN
from tests.server.lookups import hold_token_lookups
from tests.server.test_cluster_reused_rid import Client, joined, settle, timed_out
from tests.server.test_group_ids import registered


class Closable(Client):
    def __init__(self) -> None:
        super().__init__()
        self.closed_with: tuple[int, str] | None = None

    def close(self, code: int, reason: str) -> None:
        super().close(code, reason)
        self.closed_with = (code, reason)


async def _late_auth(app: App, tmp_path, monkeypatch, token: str) -> tuple[Closable, object]:  # type: ignore[no-untyped-def]
    home, gw, _ = await joined(app, tmp_path)
    client = Closable()
    gw.opened(client)  # type: ignore[arg-type]
    await settle()
    answered, gate = hold_token_lookups(app, monkeypatch)
    await gw.forward(client, json.dumps({"op": "auth", "rid": 5, "token": token}))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)  # the home runs it, slowly
    await timed_out(gw)
    assert [a["code"] for a in client.answers] == ["internal"]
    gate.set()  # the home finishes it after all
    await settle()
    return client, home


async def test_a_sign_in_that_went_through_after_its_internal_answer_closes_the_connection(
        app: App, tmp_path, monkeypatch) -> None:
    owner = await registered(app, tmp_path)
    client, home = await _late_auth(app, tmp_path, monkeypatch, owner.token)
    assert client.closed_with == (CLOSE_TRY_AGAIN, SIGN_IN_UNSURE)
    assert len(client.answers) == 1  # the late answer is not written (a request is answered once)
    await home.close()  # type: ignore[attr-defined]
    await owner.close()


async def test_a_sign_in_refused_after_its_internal_answer_leaves_the_connection_as_it_was(
        app: App, tmp_path, monkeypatch) -> None:
    owner = await registered(app, tmp_path)
    client, home = await _late_auth(app, tmp_path, monkeypatch, "x" * 43)
    assert client.closed_with is None
    assert len(client.answers) == 1
    await home.close()  # type: ignore[attr-defined]
    await owner.close()


async def test_a_sign_in_cut_off_by_a_lost_link_to_the_same_home_closes_the_connection(
        app: App, tmp_path, monkeypatch) -> None:
    """The diff review's case: a cut from NATS (or a slow consumer's lost messages) answers the waiting
    requests `internal` while the same home goes on with them; a sign-in it then carries out must
    still close the connection (only another home taking over makes the old one's outcome moot)."""
    from server.cluster.gateway import LINK_LOST

    owner = await registered(app, tmp_path)
    home, gw, _ = await joined(app, tmp_path)
    client = Closable()
    gw.opened(client)  # type: ignore[arg-type]
    await settle()
    answered, gate = hold_token_lookups(app, monkeypatch)
    await gw.forward(client, json.dumps({"op": "auth", "rid": 5, "token": owner.token}))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)
    gw.fail_pending(LINK_LOST)
    assert [a["code"] for a in client.answers] == ["internal"]
    gate.set()
    await settle()
    assert client.closed_with == (CLOSE_TRY_AGAIN, SIGN_IN_UNSURE)
    await home.close()
    await owner.close()


async def test_a_code_request_answered_stops_holding_back_the_connections_deadlines(app: App, tmp_path) -> None:
    """The diff review's case: each request_code pushed the connection's deadlines a provider's wait
    further, for good (ten refused presses: every later request given ten waits before `internal`).
    Only those still waiting at the home count."""
    from protocol.messages import RequestCode

    home, gw, _ = await joined(app, tmp_path)
    gw.provider_waits[RequestCode] = 15.0  # (as with an HTTP SMS provider; this home writes codes to a file)
    client = Closable()
    gw.opened(client)  # type: ignore[arg-type]
    await settle()
    for rid in range(1, 4):
        await gw.forward(client, json.dumps({"op": "request_code", "rid": rid, "phone": "13900000001"}))  # type: ignore[arg-type]
    conn = gw.by_session[client]  # type: ignore[index]
    assert len(conn.providers) == 3  # (each waits behind the one before it)
    await settle()
    assert len(client.answers) == 3, client.answers
    assert conn.providers == {}
    await home.close()


async def test_a_sign_in_lost_on_the_way_does_not_close_the_connection_its_retry_signs_in(
        app: App, tmp_path, monkeypatch) -> None:
    """A reviewer's case: an ``auth`` that never reached the home (lost on the way) was answered
    `internal` and stayed in doubt, so the client's retry, signing the connection in, closed it
    (1013). The home handles a connection's requests in order: while it handles the retry, the lost
    one is settled."""
    owner = await registered(app, tmp_path)
    home, gw, _ = await joined(app, tmp_path)
    client = Closable()
    gw.opened(client)  # type: ignore[arg-type]
    await settle()
    delivered = home.on_message
    monkeypatch.setattr(home, "on_message", lambda _msg: asyncio.sleep(0))  # the next frames are lost
    await gw.forward(client, json.dumps({"op": "auth", "rid": 5, "token": owner.token}))  # type: ignore[arg-type]
    await settle()
    monkeypatch.setattr(home, "on_message", delivered)
    await timed_out(gw)
    assert [a["code"] for a in client.answers] == ["internal"]
    await gw.forward(client, json.dumps({"op": "auth", "rid": 6, "token": owner.token}))  # type: ignore[arg-type]
    await settle()
    assert client.closed_with is None
    assert client.answers[-1]["re"] == 6 and client.answers[-1]["user_id"] == owner.user_id, client.answers
    assert gw.by_session[client].user_id == owner.user_id  # type: ignore[index]
    await home.close()  # type: ignore[attr-defined]
    await owner.close()


async def test_a_cancellation_that_went_through_after_its_internal_answer_closes_the_connection(
        app: App, tmp_path, monkeypatch) -> None:
    """A cluster reviewer's suspicion: ``delete_account`` signs the connection out too, but was not
    watched as a sign-in request, so one answered `internal` that went through left the client
    believing it was signed in to an account that no longer exists."""
    from tests.server.lookups import hold_answers

    owner = await registered(app, tmp_path)
    home, gw, _ = await joined(app, tmp_path)
    client = Closable()
    gw.opened(client)  # type: ignore[arg-type]
    await settle()
    await gw.forward(client, json.dumps({"op": "auth", "rid": 1, "token": owner.token}))  # type: ignore[arg-type]
    await settle()
    assert gw.by_session[client].user_id is not None  # type: ignore[index]
    answered, gate = hold_answers(app, monkeypatch, "password_hash")
    await gw.forward(client, json.dumps({"op": "delete_account", "rid": 2, "password": "password123"}))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)
    await timed_out(gw)
    assert client.answers[-1]["code"] == "internal"
    gate.set()  # the home cancels the account after all
    await settle()
    assert client.closed_with == (CLOSE_TRY_AGAIN, SIGN_IN_UNSURE)
    await home.close()  # type: ignore[attr-defined]
