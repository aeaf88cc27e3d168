"""Review of the newest changes (rv-new): each test here failed on the code it was written against."""

from __future__ import annotations

import asyncio

from tests.e2e.admin_helpers import admin_ok
from tests.e2e.harness import close_all
from tests.e2e.test_review_pubacct import code, org_code, srv  # noqa: F401  (the fixture)


async def test_a_person_suspended_on_an_organisation_account_they_opened_does_not_shed_it_with_another_code(srv):  # noqa: F811
    """protocol.md create_account: "An organisation's account starts no better than its opener's own
    accounts either ...: a code is checked for its form only, so a person the platform suspended,
    restricted or marked down sheds none of it by typing a new one." The fix (9b7f61ac) reads the
    standing of the accounts whose *subject* is the opener's person key only: a person who opened an
    "organisation" account with a made-up, well-formed code, and had it suspended, restricted and marked
    down, types a second code and opens another that starts active, unrestricted, at full credit."""
    owner, reader = await srv.user(verify_id=True), await srv.user()
    first = (await owner.request("create_account", name="甲文化公司", category="culture", intro="",
                                 subject_type="organization", org_name="甲文化有限公司",
                                 org_code=org_code(7)))["account_id"]
    await admin_ok(srv, "restrict-account", first, "--comments", "off", "--reason", "评论区失管")
    await admin_ok(srv, "account-credit", first, "--delta", "-50", "--reason", "多次违规")
    await admin_ok(srv, "suspend-account", first, "--seconds", "3600", "--reason", "违规转载")
    assert code(await owner.call("publish", account_id=first, title="t", body="b")) == "forbidden"
    opened = await owner.request("create_account", name="乙文化公司", category="culture", intro="",
                                 subject_type="organization", org_name="乙文化有限公司", org_code=org_code(8))
    second = opened["account_id"]
    published = await owner.call("publish", account_id=second, title="照发", body="换个代码继续发")
    info = await reader.request("account_info", account_id=second)
    assert (code(published), info["status"]) == ("forbidden", "suspended"), (published, opened, info)
    assert set(opened.get("carried", ())) == {"credit", "comments_restricted", "suspended"}, opened
    await close_all(owner, reader)


async def test_a_blocked_send_is_refused_before_the_credit_notice_of_its_penalty(make_server, tmp_path):
    """operator.md: a send refused with ``content_blocked`` "is told by the refusal itself and, once its
    penalty is stored, by a ``credit`` notice with ``cause: "content_blocked"``"; protocol.md (send, 9):
    the notice comes "once the penalty is stored". The refusal went at once, the notice after the
    commit. Once the answer waited for the records the request queued (server/answer_writes.py), the
    penalty's write settled first and its callback published the notice before the waiting request
    sent its refusal; the notice now waits for the answer (after_answer)."""
    from tests.e2e.harness import open_group
    from tests.e2e.test_content import word_server
    from tests.e2e.test_review_privacy import Recording

    svr = word_server(make_server, tmp_path)
    owner = await svr.user()
    gid = await open_group(owner)
    c = await Recording.connect(svr.url)
    await c.login(owner.username, "password123")
    for _ in range(3):
        start = len(c.seen)
        r = await c.call("send", group_id=gid, text="网上赌场 开业")
        assert r["code"] == "content_blocked", r
        await c.next_event("notice")
        frames = c.seen[start:]  # (in the order they came)
        kinds = ["refusal" if f.get("code") == "content_blocked" else f.get("ev") for f in frames]
        assert kinds.index("refusal") < kinds.index("notice"), kinds
        assert [f for f in frames if f.get("ev") == "notice"][0]["cause"] == "content_blocked"
    await close_all(owner, c)


async def test_a_login_is_answered_before_any_event_reaches_its_connection(server):
    """A connection that logs in got the ``login`` reply (its user id, its token) before the first event
    of the account: attach and reply were one step with no await between. When the reply waited for the
    ``login_ok`` row's group commit after the attach (server/answer_writes.py), the messages of the
    account's groups committed meanwhile reached the connection first: a client got ``message`` events
    for a user it did not know it was signed in as. The row is now kept before the attach."""
    from tests.e2e.harness import open_group
    from tests.e2e.test_review_privacy import Recording

    svr = server
    alice = await svr.user("alice")
    bob = await svr.user("bob")
    gid = await open_group(alice)
    await bob.request("join_group", group_id=gid)
    stop = False

    async def chatter() -> None:
        n = 0
        while not stop:
            await asyncio.gather(*(bob.send(gid, f"m{n}-{i}") for i in range(8)))
            n += 1

    talking = asyncio.create_task(chatter())
    early = []
    try:
        for _ in range(15):
            c = await Recording.connect(svr.url)
            await c.login("alice", "password123")
            kinds = [f.get("ev") or ("reply" if f.get("ok") else "refusal") for f in c.seen]
            first_reply = kinds.index("reply")
            if first_reply > 0:
                early.append(kinds[:first_reply])
            await c.close()
    finally:
        stop = True
        await talking
    assert early == [], f"{len(early)} of 15 logins got events before their reply: {early[:3]}"
    await close_all(alice, bob)


async def test_a_reason_quotes_an_id_that_renders_as_nothing(server):
    """e1308223: a reason naming an id the client sent quotes it when bare it "would vanish" from the
    sentence (tests/protocol/test_frame_fields.py: test_an_id_a_reason_names_is_quoted_when_it_would_vanish).
    It asks ``str.strip`` only: an id of a Hangul filler (U+3164) or the braille blank (U+2800), characters
    protocol.md lists as rendering as nothing (and that no text may consist of), is written bare, and the
    reason reads "no user ㅤ", saying nothing of what was wrong, as before the fix."""
    from tests.e2e.harness import open_group

    owner = await server.user()
    gid = await open_group(owner)
    for blank in ("\u3164", "\u2800"):
        r = await owner.call("invite", group_id=gid, user_id=blank)
        assert r["code"] == "not_found", r
        assert r["reason"] == f"no user '{blank}'", r
    await close_all(owner)
