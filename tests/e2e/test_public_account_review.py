"""Public accounts, fixes from review (issue 12), through a real server on both backends: the cap per
person counts the organisation accounts they open, labels say who is verified, reserved names cover
the organisation's name, a blacklisting reaches every login of the person, a reply cannot slip past a
restriction that lands while it reads its parent, and an account's export has the filter's records."""

from __future__ import annotations

import asyncio
import json

import pytest

from governance.public_accounts import org_check_char
from tests.e2e.admin_helpers import admin_ok, admin_refused, notice
from tests.e2e.harness import close_all, new_id_number

LEGAL_NAME = "张三"
RESERVED = "新华\n"
WORDS = {"block.txt": "赌场\n", "review.txt": "集会\n", "flag.txt": "彩票\n", "reserved.txt": RESERVED}
CONFIG = """
[public_accounts]
max_per_subject = {cap}
reserved_names = "reserved.txt"
[[content.lists]]
category = "gambling"
path = "block.txt"
action = "block"
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
[[content.lists]]
category = "lottery"
path = "flag.txt"
action = "flag"
"""


@pytest.fixture
def start(tmp_path, make_server, monkeypatch):
    """``start(cap)``: a server with ``max_per_subject = cap``, a reserved name and three word lists;
    one verified ID number may back two user accounts (two logins of one person)."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")

    def run(cap: int = 2):
        d = tmp_path / "srv"
        d.mkdir(exist_ok=True)
        for name, text in WORDS.items():
            (d / name).write_text(text, encoding="utf-8")
        return make_server(CONFIG.replace("{cap}", str(cap)))

    return run


def org_code(serial: int) -> str:
    first17 = f"91440300MA{serial:07d}"
    return first17 + org_check_char(first17)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


def org(serial: int, name: str = "深圳某科技公司") -> dict[str, str]:
    return {"subject_type": "organization", "org_name": name, "org_code": org_code(serial)}


async def create(client, name, **kw):
    return await client.call("create_account", **{"name": name, "category": "culture", "intro": "",
                                                  "subject_type": "individual", **kw})


async def new_account(client, name, **kw):
    reply = await create(client, name, **kw)
    assert reply.get("ok"), reply
    return reply["account_id"]


async def one_person(srv, logins=2):
    """``logins`` user accounts verified with one ID number."""
    number = new_id_number()
    out = []
    for _ in range(logins):
        c = await srv.user()
        await c.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
        out.append(c)
    return out


async def labels(client, aid):
    return (await client.request("account_info", account_id=aid))["labels"]



# -- 1. the caps: a person's own accounts, an organisation's, and those a person opens for organisations --
async def test_a_person_opens_at_most_the_cap_of_organisation_accounts_besides_their_own(start):
    srv = start()
    a, b = await one_person(srv)
    await new_account(a, "我的号")
    org1 = await new_account(a, "一号机构", **org(31))
    await new_account(a, "二号机构", **org(32))  # an organisation is a subject of its own (cap 2 each)
    await new_account(b, "我的二号")  # the person's own second, from their other login
    # At the cap on both counts: new, valid codes open nothing more, from either login.
    for who, name, kw, why in ((b, "三号机构", org(33), "organisation accounts"),
                               (a, "我的三号", {}, "of their own")):
        refused = await create(who, name, **kw)
        assert code(refused) == "create_cap_reached", (name, refused)
        assert why in refused["reason"]
    # The organisation's own cap counts apart: another person opens its second account.
    other = await srv.user(verify_id=True)
    await new_account(other, "一号机构分号", **org(31))
    third = await srv.user(verify_id=True)
    refused = await create(third, "一号机构三号", **org(31))
    assert code(refused) == "create_cap_reached" and "one organisation" in refused["reason"]
    # Closing an account frees the person's place.
    await a.request("close_account", account_id=org1)
    await new_account(b, "三号机构", **org(33))
    await third.close()

    # Many creates with new codes at once, from two logins on several connections: two pass.
    c, d = await one_person(srv)
    conns = [c, d]
    for who in (c, d):
        for _ in range(2):
            n = await srv.client()
            await n.login(who.username, "password123")
            conns.append(n)
    replies = await asyncio.gather(*(create(s, f"竞速{i}", **org(40 + i)) for i, s in enumerate(conns)))
    assert sorted(code(r) for r in replies) == ["create_cap_reached"] * 4 + ["ok"] * 2, replies
    # The database agrees, and after a restart the cap still holds.
    [(live,)] = srv.db_rows("SELECT COUNT(*) FROM accounts WHERE owner_id IN (?, ?) AND closed_at IS NULL",
                            c.user_id, d.user_id)
    assert live == 2
    await close_all(a, b, other, c, d, *conns[2:])
    await srv.stopped()
    srv.start()
    again = await srv.client()
    await again.login(d.username, "password123")
    assert code(await create(again, "重启后", **org(60))) == "create_cap_reached"
    await again.close()


# -- 2. labels ---------------------------------------------------------------------------------
async def test_labels_show_verified_people_and_confirmed_organisations(start):
    srv = start()
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    person = await new_account(owner, "个人号", category="news")
    company = await new_account(owner, "企业号", **org(51))
    assert await labels(reader, person) == ["verified"]  # opened by an ID-verified person, its subject
    assert await labels(reader, company) == ["organization"]  # the code is only checked for form

    assert "--verified confirms an organisation" in await admin_refused(
        srv, "license-account", person, "--verified", "--reason", "x")
    await admin_refused(srv, "license-account", company, "--verified", "--news", "--reason", "two")
    await admin_refused(srv, "license-account", company, "--verified", "--revoke", "--reason", "not yet")
    out = await admin_ok(srv, "license-account", company, "--verified", "--reason", "已核对营业执照")
    assert "organisation confirmation granted" in out and "['organization', 'verified']" in out
    ev = await notice(owner, "account_licensed")
    assert ev["account_id"] == company and "confirmation" in ev["text"]
    assert await labels(reader, company) == ["organization", "verified"]
    await admin_refused(srv, "license-account", company, "--verified", "--reason", "twice")
    await admin_ok(srv, "license-account", person, "--news", "--reason", "持有许可证")
    assert await labels(reader, person) == ["verified", "news"]
    rows = [json.loads(x) for x in (await admin_ok(srv, "accounts")).splitlines()]
    assert {r["account_id"]: r["labels"] for r in rows} == {
        person: ["verified", "news"], company: ["organization", "verified"]}
    details = [json.loads(d) for (d,) in srv.db_rows(
        "SELECT detail FROM audit WHERE action = 'license_account' AND target_id = ? ORDER BY id", company)]
    assert [(x["label"], x["revoke"]) for x in details] == [("verified", False)]

    # Kept across a restart; revoking takes the confirmation back.
    await close_all(owner, reader)
    await srv.stopped()
    srv.start()
    reader = await srv.client()
    await reader.login(owner.username, "password123")
    assert await labels(reader, company) == ["organization", "verified"]
    await admin_ok(srv, "license-account", company, "--verified", "--revoke", "--reason", "执照吊销")
    assert await labels(reader, company) == ["organization"]
    await reader.close()


# -- 3. and 5. reserved names --------------------------------------------------------------------
async def test_reserved_names_cover_the_organisation_name_and_are_not_available(start):
    srv = start()
    owner = await srv.user(verify_id=True)
    for name, kw in (("新华早报", {}), ("早报", org(52, name="新华早报社"))):
        refused = await create(owner, name, **kw)
        assert code(refused) == "forbidden", (name, refused)
        assert "reserved and not available" in refused["reason"] and "grant" not in refused["reason"]
    assert "org_name" in refused["reason"]
    await new_account(owner, "早报", **org(52, name="南方早报社"))
    await owner.close()


# -- 4. blacklisting reaches every login of the person --------------------------------------------
async def test_blacklist_closes_the_accounts_of_every_login_and_the_organisations_opened(start):
    srv = start(cap=3)
    bad, twin = await one_person(srv)
    stranger = await srv.user(verify_id=True)
    fan = await srv.user()
    own = await new_account(bad, "本人号")
    twins = await new_account(twin, "分身号")
    company = await new_account(twin, "分身公司号", **org(61))
    await fan.request("subscribe", account_id=twins)

    out = await admin_ok(srv, "blacklist", bad.username, "--reason", "诈骗")
    for aid in (own, twins, company):
        assert f"public account {aid} closed" in out
        assert (await fan.request("account_info", account_id=aid))["status"] == "closed"
    assert (await notice(fan, "account_closed"))["account_id"] == twins
    assert (await notice(twin, "account_closed"))["account_id"] in (twins, company)
    # The person is blacklisted, from every login: the twin's account is closed right after.
    assert f"blacklisted {twin.username} (the same verified identity)" in out
    assert (await notice(twin, "blacklisted"))["text"].startswith("诈骗")
    c = await srv.client()
    assert code(await c.call("login", username=twin.username, password="password123")) == "blacklisted"
    # The organisation they opened is barred, for anyone.
    assert code(await create(stranger, "接手公司号", **org(61))) == "blacklisted"
    [(detail,), _] = srv.db_rows("SELECT detail FROM audit WHERE action = 'blacklist' ORDER BY id")
    detail = json.loads(detail)
    assert sorted(detail["accounts_closed"]) == sorted([own, twins, company]) and detail["subjects_barred"] == 2

    # After a restart the bars still hold; lifting the blacklisting lifts them and reopens both
    # logins, the accounts stay closed.
    await close_all(bad, twin, stranger, fan, c)
    await srv.stopped()
    srv.start()
    stranger = await relogin(srv, stranger)
    c = await srv.client()
    assert code(await c.call("login", username=twin.username, password="password123")) == "blacklisted"
    sanction = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--user", bad.username)).splitlines()]
    [row] = [s for s in sanction if s["kind"] == "blacklist"]
    await admin_ok(srv, "lift", row["id"], "--reason", "误判")
    assert code(await create(stranger, "接手公司号", **org(61))) == "ok"
    twin = await relogin(srv, twin)
    assert code(await create(twin, "新分身号")) == "ok"
    assert (await twin.request("account_info", account_id=twins))["status"] == "closed"
    await close_all(twin, stranger, c)


async def relogin(srv, client):
    """A new connection logged in as ``client``'s user (after a restart)."""
    n = await srv.client()
    await n.login(client.username, "password123")
    n.username = client.username
    return n


# -- 6. a reply cannot slip past a restriction or a closing that lands while it reads ----------
ROUNDS = 4


async def _flood(clients, post_id, parent, stop):
    """Each client replies to ``parent`` again and again until ``stop`` is set."""

    async def one(c, i):
        n = 0
        while not stop.is_set():
            await c.call("comment", post_id=post_id, text=f"回复{i}-{n}", reply_to=parent)
            n += 1

    await asyncio.gather(*(one(c, i) for i, c in enumerate(clients)))


async def test_replies_racing_a_restriction_or_a_closing_are_refused(start):
    """Replies (``comment`` with ``reply_to`` reads the parent comment before writing) fired
    non-stop while the operator restricts comments or closes the account: no reply is stored with
    a time after the measure took effect, on either backend."""
    srv = start(cap=ROUNDS * 2)
    owner = await srv.user(verify_id=True)
    readers = [await srv.user() for _ in range(10)]
    for r in range(ROUNDS):
        for measure in ("restrict", "close"):
            aid = await new_account(owner, f"{measure}{r}")
            post_id = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
            parent = (await readers[0].request("comment", post_id=post_id, text="楼主好"))["comment_id"]
            stop = asyncio.Event()
            flood = asyncio.create_task(_flood(readers, post_id, parent, stop))
            await asyncio.sleep(0.2)
            if measure == "restrict":
                await admin_ok(srv, "restrict-account", aid, "--comments", "off", "--reason", "整改")
                [(since,)] = srv.db_rows("SELECT starts_at FROM sanctions WHERE target_id = ?"
                                         " AND kind = 'restrict_comments'", aid)
            else:
                await admin_ok(srv, "close-account", aid, "--reason", "关停")
                [(since,)] = srv.db_rows("SELECT closed_at FROM accounts WHERE account_id = ?", aid)
            await asyncio.sleep(0.2)
            stop.set()
            await flood
            late = srv.db_rows("SELECT comment_id, ts FROM comments WHERE post_id = ? AND ts > ?",
                               int(post_id), since)
            [(total,)] = srv.db_rows("SELECT COUNT(*) FROM comments WHERE post_id = ?", int(post_id))
            assert total > 1 and late == [], (measure, since, late)
            if measure == "restrict":  # (lifted: the owner's next account would start restricted too)
                await admin_ok(srv, "restrict-account", aid, "--comments", "on", "--reason", "已整改")
    await close_all(owner, *readers)


# -- 7. the filter's records on posts and comments are in the account's export ------------------------
async def test_account_export_has_the_filters_records_on_its_posts_and_comments(start, tmp_path):
    srv = start()
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "导出审查号")
    assert code(await owner.call("publish", account_id=aid, title="去赌场", body="x")) == "content_blocked"
    held = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    flagged = await owner.request("publish", account_id=aid, title="彩票开奖", body="号码")
    post_id = flagged["post_id"]
    refused = await reader.call("comment", post_id=post_id, text="赌场见")
    assert code(refused) == "content_blocked"
    assert refused["reason"].startswith("the comment contains prohibited content")  # not "the message"
    held_comment = await reader.request("comment", post_id=post_id, text="明天集会")
    flagged_comment = await reader.request("comment", post_id=post_id, text="买彩票")
    want = {("content_blocked", owner.user_id), ("post_held", owner.user_id), ("content_flagged", owner.user_id),
            ("content_blocked", reader.user_id), ("comment_held", reader.user_id),
            ("content_flagged", reader.user_id)}

    out = tmp_path / "export"
    for _ in range(40):  # the filter's records are written after the reply: wait for all six
        got = srv.db_rows("SELECT action, target_id FROM audit WHERE action IN"
                          " ('content_blocked', 'post_held', 'comment_held', 'content_flagged')")
        if len(got) >= 6:
            break
        await asyncio.sleep(0.05)
    await admin_ok(srv, "export", "--account", aid, "--out", str(out))
    entries = [json.loads(x) for x in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    found = [e for e in entries if e["action"] in {a for a, _ in want}]
    assert sorted((e["action"], e["target_id"]) for e in found) == sorted(want)
    for e in found:
        detail = e["detail"] if isinstance(e["detail"], dict) else json.loads(e["detail"])
        assert detail["account_id"] == aid
    ids = {json.loads(e["detail"]).get("post_id") if isinstance(e["detail"], str) else e["detail"].get("post_id")
           for e in found}
    assert {held["post_id"], post_id} <= ids
    comment_ids = {(e["detail"] if isinstance(e["detail"], dict) else json.loads(e["detail"])).get("comment_id")
                   for e in found}
    assert {held_comment["comment_id"], flagged_comment["comment_id"]} <= comment_ids
    # Another account's export does not carry them.
    other = await new_account(owner, "另一个号")
    out2 = tmp_path / "export2"
    await admin_ok(srv, "export", "--account", other, "--out", str(out2))
    assert "content_flagged" not in (out2 / "audit.jsonl").read_text(encoding="utf-8")
    await close_all(owner, reader)


async def test_a_held_post_is_decided_in_the_queue_and_a_late_release_publishes_nothing(start):
    """A reviewer's case: ``remove-post`` took a held post down while its review item stayed open, and a
    ``decide --decision release`` then marked it published (``held`` 0, in every export) while nobody
    ever read it, and said nothing of it. What waits for review is decided in the queue, as for a
    message or a comment. The second reviewer's case: once its account deleted the held post,
    ``remove-post`` took it (the account charged 20 points for a post nobody saw) and a later
    ``decide --decision reject`` charged its author too. The deletion settles the item (``withdrawn``)."""
    srv = start()
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "待审号")
    held = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    assert held["held"] is True
    pid = str(held["post_id"])
    assert "decide it in the review queue" in await admin_refused(srv, "remove-post", pid, "--reason", "违法")
    [item] = [json.loads(x) for x in (await admin_ok(srv, "review-queue", "--open")).splitlines()]
    score = (await owner.request("me"))["credit_score"]
    account_score = srv.db_rows("SELECT credit_score FROM accounts WHERE account_id = ?", aid)
    await owner.request("delete_post", post_id=pid)  # the account takes it back while it waits
    assert (await admin_ok(srv, "review-queue", "--open")).strip() == ""
    assert srv.db_rows("SELECT status, decision FROM review_queue WHERE item_id = ?", item["item_id"]) == [
        ("decided", "withdrawn")]
    assert "its account deleted it" in await admin_refused(srv, "remove-post", pid, "--reason", "违法")
    for decision in ("release", "reject"):
        assert "already decided" in await admin_refused(
            srv, "decide", str(item["item_id"]), "--decision", decision, "--note", "x")
    assert srv.db_rows("SELECT held FROM posts WHERE post_id = ?", int(pid)) == [(1,)]
    assert (await owner.request("me"))["credit_score"] == score
    assert srv.db_rows("SELECT credit_score FROM accounts WHERE account_id = ?", aid) == account_score


async def test_a_released_post_is_announced_to_the_accounts_managers_too(start):
    """A web reviewer's case: the owner's open page kept showing a released post as under review,
    because ``post`` went to the subscribers only. Its owner and editors, who listed it held, get it
    too; a subscriber who also manages the account gets it once."""
    srv = start()
    owner = await srv.user(verify_id=True)
    follower = await srv.user()
    aid = await new_account(owner, "放行号")
    await follower.request("subscribe", account_id=aid)
    held = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    [item] = [json.loads(x) for x in (await admin_ok(srv, "review-queue", "--open")).splitlines()]
    owner.drain_events()
    await admin_ok(srv, "decide", str(item["item_id"]), "--decision", "release", "--note", "可以")
    for client in (owner, follower):
        ev = await client.next_event("post", timeout=2)
        assert (ev["account_id"], ev["post_id"]) == (aid, str(held["post_id"]))
    await asyncio.sleep(0.2)
    assert not [e for e in owner.drain_events() if e.get("ev") == "post"]  # (once)
    shown = await owner.request("publish", account_id=aid, title="日常", body="天气不错")  # not held
    assert (await owner.next_event("post", timeout=2))["post_id"] == str(shown["post_id"])


async def test_an_accounts_export_tells_a_post_waiting_for_review_from_one_rejected(start, tmp_path):
    """posts.jsonl said ``held: true`` of a post still waiting for review, of one the platform rejected
    and of one its account deleted while it waited alike: ``review`` says which (``held``, ``rejected``,
    ``withdrawn``, null for a post never held or released), ``held`` staying what it was."""
    srv = start()
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "审过号")
    waiting = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    rejected = await owner.request("publish", account_id=aid, title="周日", body="有人组织集会")
    withdrawn = await owner.request("publish", account_id=aid, title="周一", body="有人组织集会")
    await owner.request("delete_post", post_id=withdrawn["post_id"])  # (while it waited: the row keeps held 1)
    shown = await owner.request("publish", account_id=aid, title="日常", body="天气不错")
    items = [json.loads(x) for x in (await admin_ok(srv, "review-queue", "--open")).splitlines()]
    [item] = [i for i in items if str(i["post_id"]) == str(rejected["post_id"])]
    await admin_ok(srv, "decide", str(item["item_id"]), "--decision", "reject", "--note", "不实")
    out = tmp_path / "export"
    await admin_ok(srv, "export", "--account", aid, "--out", str(out))
    posts = {str(p["post_id"]): p for p in map(json.loads, (out / "posts.jsonl").read_text().splitlines())}
    assert {pid: (posts[str(pid)]["held"], posts[str(pid)]["review"]) for pid in (
        waiting["post_id"], rejected["post_id"], withdrawn["post_id"], shown["post_id"])} == {
        waiting["post_id"]: (True, "held"), rejected["post_id"]: (True, "rejected"),
        withdrawn["post_id"]: (True, "withdrawn"), shown["post_id"]: (False, None)}
    await close_all(owner)
