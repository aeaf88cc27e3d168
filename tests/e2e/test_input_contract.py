"""Bad input gets the same code for the same fault in every op (found by a review of the contract):
a text over its limit is ``too_large`` with ``field`` and ``max_chars``; a page size is clamped, never
refused; a serial id has one spelling; a malformed SMS code is ``bad_request`` and spends no guess."""

from __future__ import annotations

from tests.e2e.harness import close_all, new_phone, open_group


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


async def test_a_malformed_sms_code_is_bad_request_and_spends_none_of_its_guesses(server):
    c = await server.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    right = server.last_code(phone)
    # More malformed codes than a code has guesses (5): none counts, so the right one still works.
    for given in ("", "12345", "1234567", "１２３４５６", "12 345", "-12345", "abcdef", "123456\x00"):
        r = await c.call("register", username="mallory", password="password123", phone=phone, code=given)
        assert (r["code"], r.get("field")) == ("bad_request", "code"), (given, r)
        r = await c.call("reset_password", phone=phone, code=given, new_password="password456")
        assert (r["code"], r.get("field")) == ("bad_request", "code"), (given, r)
    # A pasted code with spaces around it is read without them.
    assert (await c.request("register", username="mallory", password="password123", phone=phone,
                            code=f" {right}\u3000"))["user_id"]
    await c.close()


async def test_long_texts_are_too_large_with_their_field_in_every_op(server):
    owner, other = await server.user(), await server.user()
    gid = await open_group(owner)
    for reason in ("x" * 201, "x" * 300):  # (over 256 the decoder once answered bad_request itself)
        r = await other.call("report", target_type="group", group_id=gid, reason=reason)
        assert (r["code"], r.get("field"), r.get("max_chars")) == ("too_large", "reason", 200), r
    r = await other.call("report", target_type="group", group_id=gid, reason="spam", detail="d" * 2001)
    assert (r["code"], r.get("field"), r.get("max_chars")) == ("too_large", "detail", 2000), r
    for empty in ("", "   ", "\u200b"):
        r = await other.call("report", target_type="group", group_id=gid, reason=empty)
        assert r["code"] == "bad_request" and "reason" in r["reason"], (empty, r)
    assert (await other.request("report", target_type="group", group_id=gid, reason="x" * 200))["report_id"]

    rc, out, err = await server.admin("warn-group", gid, "--reason", "tidy up")
    assert rc == 0, err
    sanction_id = out.split("sanction ")[1].rstrip(")\n")
    r = await owner.call("appeal", sanction_id=sanction_id, text="t" * 2001)
    assert (r["code"], r.get("field"), r.get("max_chars")) == ("too_large", "text", 2000), r
    r = await owner.call("upload_begin", mime="image/png", size=10, name="n" * 300)
    assert (r["code"], r.get("field")) == ("too_large", "name") and r["max_chars"] < 300, r
    await close_all(owner, other)


async def test_group_log_clamps_its_page_size_as_every_paged_op(server):
    owner = await server.user()
    gid = await open_group(owner)
    await owner.request("set_announcement", group_id=gid, text="one")
    await owner.request("set_announcement", group_id=gid, text="two")
    newest = (await owner.request("group_log", group_id=gid))["entries"]
    assert len(newest) >= 2
    for limit in (0, -5):
        assert (await owner.request("group_log", group_id=gid, limit=limit))["entries"] == newest[:1]
        assert len((await owner.request("history", group_id=gid, limit=limit))["messages"]) <= 1
    await owner.close()


async def test_a_serial_id_has_one_spelling(server):
    owner, reporter = await server.user(), await server.user()
    gid = await open_group(owner)
    rid = (await reporter.request("report", target_type="group", group_id=gid, reason="spam"))["report_id"]
    rc, out, err = await server.admin("warn-group", gid, "--reason", "tidy up")
    assert rc == 0, err
    sid = out.split("sanction ")[1].rstrip(")\n")
    assert (await reporter.request("my_reports", before=str(int(rid) + 1)))["reports"]
    for padded in ("0" + str(int(rid) + 1), "０", "+1", "1" * 19):
        r = await reporter.call("my_reports", before=padded)
        assert r["code"] == "bad_request", (padded, r)
        assert code(await owner.call("my_appeals", before=padded)) == "bad_request"
        assert code(await owner.call("my_held_texts", before=padded)) == "bad_request"
        assert code(await owner.call("withdraw_held_text", held_id=padded)) == "bad_request"
    assert code(await owner.call("appeal", sanction_id="0" + sid, text="please")) == "bad_request"
    assert (await owner.request("appeal", sanction_id=sid, text="please"))["appeal_id"]
    await close_all(owner, reporter)


async def test_a_post_id_with_a_leading_zero_names_no_post(server):
    owner = await server.user(verify_id=True)
    reader = await server.user()
    aid = (await owner.request("create_account", name="晨报读书", category="culture", intro="关于我们",
                               subject_type="individual"))["account_id"]
    pid = (await owner.request("publish", account_id=aid, title="标题", body="正文"))["post_id"]
    assert (await reader.request("read_post", post_id=pid))
    assert code(await reader.call("read_post", post_id="0" + pid)) == "not_found"
    assert code(await reader.call("comments", post_id="0" + pid)) == "not_found"
    assert code(await reader.call("comments", post_id=pid, before="0" + pid)) == "bad_request"
    assert code(await reader.call("posts", account_id=aid, before="0" + pid)) == "bad_request"
    assert code(await reader.call("report", target_type="post", post_id="0" + pid, reason="spam")) == "not_found"
    await close_all(owner, reader)
