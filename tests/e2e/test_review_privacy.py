"""Privacy review: no user ever sees another user's phone, legal name or ID number.

Each test registers people with a phone, a verified legal name and an ID number, has them meet each
other through the ops a chat client has (groups, public accounts, reports, management views...) and
through the operator's measures, and checks that none of those strings appears in a frame, a page or
a notice another user receives.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

from client_demo.client import Client, decode
from tests.e2e.admin_helpers import admin_ok, notice
from tests.e2e.harness import ServerProcess, close_all, new_id_number, new_phone, open_group


class Recording(Client):
    """A client that keeps every frame it receives (replies and events), decoded."""

    seen: list[dict[str, Any]]

    async def _read(self) -> None:
        self.seen = []
        original = self.ws

        class Tap:
            def __aiter__(tap):
                return tap._frames()

            async def _frames(tap):
                async for data in original:
                    self.seen.append(decode(data, max_bytes=1 << 30))
                    yield data

            def __getattr__(tap, name):
                return getattr(original, name)

        self.ws = Tap()  # type: ignore[assignment]
        try:
            await Client._read(self)
        finally:
            self.ws = original

    def text(self) -> str:
        return json.dumps(self.seen, ensure_ascii=False, default=repr)


class Person:
    """A registered, logged-in, verified user and the secrets the server holds about them."""

    def __init__(self, client: Recording, username: str, phone: str, legal_name: str, id_number: str) -> None:
        self.c, self.username, self.phone = client, username, phone
        self.legal_name, self.id_number = legal_name, id_number

    @property
    def user_id(self) -> str:
        assert self.c.user_id is not None
        return self.c.user_id

    def secrets(self) -> list[str]:
        # the phone also as the +86 form and spaced; the ID number also lower-case; the name as typed
        return [self.phone, f"+86{self.phone}", f"{self.phone[:3]} {self.phone[3:7]} {self.phone[7:]}",
                self.id_number, self.id_number.lower(), self.legal_name]


_n = iter(range(1, 10_000))


async def person(srv: ServerProcess, legal_name: str, verify: bool = True) -> Person:
    n = next(_n)
    username = f"priv{n}"
    phone = new_phone()
    c = await Recording.connect(srv.url)
    await c.request("request_code", phone=phone)
    await c.request("register", username=username, password="password123", phone=phone,
                    code=srv.last_code(phone), display_name=f"Nick{n}")
    await c.login(username, "password123")
    number = new_id_number()
    if verify:
        await c.request("verify_identity", legal_name=legal_name, id_number=number)
    return Person(c, username, phone, legal_name, number)


def leaks(viewer: Person | Recording | str, *others: Person) -> list[tuple[str, str]]:
    """(whose, what) for each of ``others``' secrets found in what ``viewer`` received."""
    text = viewer if isinstance(viewer, str) else (viewer.c if isinstance(viewer, Person) else viewer).text()
    return [(o.username, s) for o in others for s in o.secrets() if s in text]


def dumped(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def settle(*people: Person) -> None:
    """Let events in flight arrive (each client answers a ping after them)."""
    for p in people:
        await p.c.request("ping")
    await asyncio.sleep(0.2)


def http_get(srv: ServerProcess, path: str) -> tuple[int, str]:
    url = srv.url.replace("ws://", "http://").rsplit("/ws", 1)[0] + path
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


# -- the broad sweep: everything one user can read about another -------------------------------------


async def test_no_frame_a_user_receives_carries_another_users_identity(server):
    """Two verified people meet through every read path a client has; neither ever receives the
    other's phone, legal name or ID number. The operator's measures name them by legal name and
    number in the reasons (as an operator reading an export might type them)."""
    srv = server
    owner = await person(srv, "欧阳娜娜")
    member = await person(srv, "阿依古丽·买买提")
    stranger = await person(srv, "张伟")
    oc, mc, sc = owner.c, member.c, stranger.c

    # a group with an approval policy: a join request, its decision, management views
    gid = await open_group(oc, join_policy="approval")
    assert (await mc.request("join_group", group_id=gid))["status"] == "pending"
    await oc.request("join_requests", group_id=gid)
    await oc.request("approve_join", group_id=gid, user_id=member.user_id)
    await mc.request("group_info", group_id=gid)
    await mc.request("members", group_id=gid)
    await oc.request("members", group_id=gid)
    await oc.request("set_role", group_id=gid, user_id=member.user_id, role="admin")
    await oc.request("set_role", group_id=gid, user_id=member.user_id, role="member")
    await oc.request("mute", group_id=gid, user_id=member.user_id, seconds=60)
    await oc.request("mute", group_id=gid, user_id=member.user_id, seconds=0)
    sent = await mc.request("send", group_id=gid, text="hello")
    await oc.request("send", group_id=gid, text="hi @member", mentions=[member.user_id])
    await oc.request("react", group_id=gid, seq=sent["seq"], emoji="👍", on=True)
    await mc.request("history", group_id=gid)
    await oc.request("history", group_id=gid)
    await oc.request("set_announcement", group_id=gid, text="welcome")
    await oc.request("create_invite_link", group_id=gid, note="for friends")
    await oc.request("invite_links", group_id=gid)
    await oc.request("invite", group_id=gid, user_id=stranger.user_id)
    await sc.request("join_group", group_id=gid)
    await sc.request("members", group_id=gid)
    await oc.request("ban", group_id=gid, user_id=stranger.user_id, reason="spam")
    await oc.request("bans", group_id=gid)
    await oc.request("group_log", group_id=gid)
    await mc.request("my_groups")

    # reports and their outcomes, about each other
    rep = await mc.request("report", target_type="user", user_id=owner.user_id, group_id=gid, reason="abuse")
    await mc.request("report", target_type="message", group_id=gid, seq=sent["seq"], reason="mine")
    await mc.request("my_reports")

    # a public account with an editor, a follower and comments
    aid = (await oc.request("create_account", name="晨报快讯", category="culture", intro="简介",
                            subject_type="individual"))["account_id"]
    await oc.request("set_editor", account_id=aid, user_id=member.user_id, on=True)
    await sc.request("subscribe", account_id=aid)
    for c in (oc, mc, sc):
        await c.request("account_info", account_id=aid)
    post = await mc.request("publish", account_id=aid, title="快讯", body="正文")
    await sc.request("posts", account_id=aid)
    await sc.request("read_post", post_id=post["post_id"])
    com = await sc.request("comment", post_id=post["post_id"], text="好文章")
    await oc.request("comments", post_id=post["post_id"])
    await mc.request("comments", post_id=post["post_id"])
    await oc.request("my_accounts")
    await sc.request("my_subscriptions")
    await mc.request("report", target_type="comment", comment_id=com["comment_id"], reason="rude")

    # the operator's measures, reasons naming everyone by legal name, phone and ID number
    # (legal names only of the people around what each command acts on: the ones the contract masks;
    # phone and ID numbers of everyone, which every reason masks)
    numbers = " ".join(f"{p.phone} {p.id_number}" for p in (owner, member, stranger))

    def names(*people: Person) -> str:
        return "、".join(p.legal_name for p in people)

    await admin_ok(srv, "warn-group", gid, "--reason", f"违规：{names(owner, member)} {numbers}")
    await admin_ok(srv, "warn-account", aid, "--reason", f"违规：{names(owner, member)} {numbers}")
    await admin_ok(srv, "resolve", str(rep["report_id"]), "--outcome", "upheld", "--note",
                   f"核实：{names(owner, member)} {numbers}")
    await admin_ok(srv, "remove-comment", str(com["comment_id"]), "--reason",
                   f"删除：{names(owner, member, stranger)} {numbers}")
    await oc.request("group_log", group_id=gid)
    await oc.request("my_accounts")
    await admin_ok(srv, "suspend-admin", owner.username, "--seconds", "60", "--reason",
                   f"停权：{names(owner)} {numbers}")
    await admin_ok(srv, "notice", "--text", f"公告：{numbers}")
    for c in (oc, mc, sc):
        await c.request("my_sanctions")
        await c.request("platform_notices")
    await settle(owner, member, stranger)

    # what each read: the others' secrets never; their own only where the contract gives them
    assert leaks(owner, member, stranger) == []
    assert leaks(member, owner, stranger) == []
    assert leaks(stranger, owner, member) == []
    assert "[redacted]" in member.c.text() and "违规" in member.c.text()  # (the reasons did arrive)
    status, page = http_get(srv, f"/groups/{gid}")
    assert leaks(page, owner, member, stranger) == []
    # privacy.md: no log line of the server contains them either
    assert leaks("".join(srv.output), owner, member, stranger) == []
    await close_all(oc, mc, sc)


async def test_refusals_never_repeat_an_identity_value(server):
    """verify_identity's refusals never repeat the name or number (protocol.md), nor do the
    server's log lines; a number another account holds is refused without naming that account."""
    holder = await person(server, "欧阳娜娜")
    other = await person(server, "张伟", verify=False)
    bad_number = holder.id_number[:-1] + ("0" if holder.id_number[-1] != "0" else "1")
    for name, number in (("欧阳娜娜", bad_number), ("欧阳娜娜1", holder.id_number), ("欧阳娜娜", holder.id_number)):
        reply = await other.c.call("verify_identity", legal_name=name, id_number=number)
        assert not reply["ok"], reply
        text = dumped(reply)
        assert number not in text and "欧阳娜娜" not in text and holder.username not in text, reply
    reply = await other.c.call("request_code", phone="+86 " + holder.phone[:3] + "-" + holder.phone[3:] + "x")
    assert reply["code"] == "bad_request", reply
    await settle(holder, other)
    assert leaks("".join(server.output), holder, other) == []
    await close_all(holder.c, other.c)


# -- remove-term: the legal names around what it takes down -----------------------------------------


async def test_remove_term_masks_the_senders_legal_name_in_the_group_log(server):
    """privacy.md: an operator's reason is kept with the legal names of everyone around what the
    command acts on masked, "the author of what it takes down" among them. remove-term's reason is
    shown to the group's managers in group_log (a `remove_term` entry per group), yet it masks only
    phone and ID numbers: the sender's legal name reaches the owner."""
    owner = await person(server, "周五", verify=False)
    sender = await person(server, "李四")
    gid = await open_group(owner.c)
    await sender.c.request("join_group", group_id=gid)
    await sender.c.request("send", group_id=gid, text="快来赌博网址八八八")
    await admin_ok(server, "remove-term", "赌博网址八八八", "--reason", "李四发布赌博网址")
    log = (await owner.c.request("group_log", group_id=gid))["entries"]
    [entry] = [e for e in log if e["action"] == "remove_term"]
    assert "赌博网址" in dumped(entry), entry
    assert "李四" not in dumped(entry), entry
    await close_all(owner.c, sender.c)


async def test_remove_term_masks_the_editors_legal_name_told_to_the_accounts_owner(server):
    """A post an editor wrote taken down by remove-term: its account's owner (and other editors) get
    `post_removed` with the reason, as remove-post tells it; remove-post masks the author's and the
    managers' legal names, remove-term masks neither."""
    owner = await person(server, "王五")
    editor = await person(server, "赵六")
    aid = (await owner.c.request("create_account", name="早报", category="culture", intro="简介",
                                 subject_type="individual"))["account_id"]
    await owner.c.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await editor.c.request("publish", account_id=aid, title="快讯", body="明天停水通知")
    await admin_ok(server, "remove-term", "明天停水", "--reason", "赵六散布谣言，王五未审核")
    told = await notice(owner.c, "post_removed")
    assert "谣言" in dumped(told), told
    assert "赵六" not in dumped(told), told
    told = await notice(editor.c, "post_removed")
    assert "王五" not in dumped(told), told
    await close_all(owner.c, editor.c)


async def test_remove_term_masks_the_commenters_legal_name_told_to_the_accounts_managers(server):
    """A comment taken down by remove-term, as remove-comment takes one down: the reason is kept in
    the record (the account's export) and told to the commenter; the owner's name in it is masked
    by remove-comment, and must be by remove-term too."""
    owner = await person(server, "王五")
    commenter = await person(server, "赵六")
    aid = (await owner.c.request("create_account", name="午报", category="culture", intro="简介",
                                 subject_type="individual"))["account_id"]
    post = await owner.c.request("publish", account_id=aid, title="快讯", body="正文")
    await commenter.c.request("comment", post_id=post["post_id"], text="明天停水了")
    await admin_ok(server, "remove-term", "明天停水", "--reason", "王五的文章下谣言")
    told = await notice(commenter.c, "content_removed")
    assert "谣言" in dumped(told), told
    assert "王五" not in dumped(told), told
    await close_all(owner.c, commenter.c)


# -- blacklist: the groups and accounts that close with it ------------------------------------------


async def test_blacklist_masks_the_members_names_in_the_reason_told_to_a_closing_groups_members(server):
    """blacklist closes the groups its user owns (no admin to take them over) and tells their members
    the operator's reason (`group_closed`). Those members read it, as they read close-group's, whose
    reason masks every member's legal name; blacklist's masks only the blacklisted person's: another
    member's legal name reaches everyone in the group."""
    owner = await person(server, "周五")
    accomplice = await person(server, "孙八")
    bystander = await person(server, "吴九", verify=False)
    gid = await open_group(owner.c)
    for p in (accomplice, bystander):
        await p.c.request("join_group", group_id=gid)
    await admin_ok(server, "blacklist", owner.username, "--reason", "周五与孙八合伙诈骗")
    closed = await bystander.c.next_event("group_closed", timeout=5)
    assert "诈骗" in dumped(closed), closed
    assert "周五" not in dumped(closed), closed  # (the blacklisted person's own name is masked)
    assert "孙八" not in dumped(closed), closed
    await close_all(owner.c, accomplice.c, bystander.c)


async def test_blacklist_masks_the_members_names_in_the_group_log_of_a_group_handed_over(server):
    """A group of the blacklisted owner that passes to its longest-serving admin: the hand-over's
    `transfer_owner` entry (reason "owner blacklisted: ...") is in the group's log, which its new
    owner and admins read; a member's legal name in the reason is not masked."""
    owner = await person(server, "周五")
    admin = await person(server, "郑十", verify=False)
    accomplice = await person(server, "孙八")
    gid = await open_group(owner.c)
    for p in (admin, accomplice):
        await p.c.request("join_group", group_id=gid)
    await owner.c.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await admin_ok(server, "blacklist", owner.username, "--reason", "周五与孙八合伙诈骗")
    await notice(admin.c, "group_handover")
    log = (await admin.c.request("group_log", group_id=gid))["entries"]
    [entry] = [e for e in log if e["action"] == "transfer_owner"]
    assert "诈骗" in dumped(entry), entry
    assert "孙八" not in dumped(entry), entry
    await close_all(owner.c, admin.c, accomplice.c)


async def test_blacklist_masks_the_editors_name_told_to_a_closing_accounts_followers(server):
    """The public accounts of the blacklisted person close with it; their editors and followers are
    told (close-account masks the owner's and editors' legal names in the same notice)."""
    owner = await person(server, "周五")
    editor = await person(server, "孙八")
    fan = await person(server, "吴九", verify=False)
    aid = (await owner.c.request("create_account", name="夜报", category="culture", intro="简介",
                                 subject_type="individual"))["account_id"]
    await owner.c.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.c.request("subscribe", account_id=aid)
    await admin_ok(server, "blacklist", owner.username, "--reason", "周五与编辑孙八发布诈骗信息")
    closed = await notice(fan.c, "account_closed")
    assert "诈骗" in dumped(closed), closed
    assert "孙八" not in dumped(closed), closed
    await close_all(owner.c, editor.c, fan.c)


# -- enumeration: whether a phone number is registered ----------------------------------------------


async def test_without_the_phones_code_nothing_tells_whether_a_phone_has_an_account(server):
    """request_code, register and reset_password answer a registered phone and a fresh one alike
    until the phone's own code is given (protocol.md: told only to whoever holds the phone's code)."""
    holder = await person(server, "欧阳娜娜", verify=False)
    fresh = new_phone()
    prober = await server.client()

    def shape(reply: dict[str, Any]) -> tuple[Any, ...]:
        return reply.get("ok"), reply.get("code"), reply.get("reason"), reply.get("field")

    answers: dict[str, list[tuple[Any, ...]]] = {}
    for phone in (holder.phone, fresh):
        got = answers[phone] = []
        got.append(shape(await prober.call("request_code", phone=phone)))
        got.append(shape(await prober.call("register", username=f"probe{phone[-6:]}", password="password123",
                                           phone=phone, code="000000")))
        got.append(shape(await prober.call("reset_password", phone=phone, code="000000",
                                           new_password="password456")))
    assert answers[holder.phone] == answers[fresh], answers
    await close_all(holder.c, prober)


async def test_the_public_pages_show_no_identity(make_server):
    """The group's public information page (a group large enough: here 2 members), the invite-link
    preview and the health pages carry nobody's phone, legal name or ID number."""
    srv = make_server("[groups]\ninfo_page_min_members = 2\n")
    owner = await person(srv, "欧阳娜娜")
    member = await person(srv, "阿依古丽·买买提")
    gid = await open_group(owner.c)
    await member.c.request("join_group", group_id=gid)
    code = (await owner.c.request("create_invite_link", group_id=gid))["code"]
    await member.c.request("invite_info", invite_code=code)
    await member.c.request("group_info", group_id=gid)
    status, page = http_get(srv, f"/groups/{gid}")
    assert status == 200 and gid in page, (status, page)
    for path in ("/healthz", "/readyz", "/"):
        page += http_get(srv, path)[1]
    assert leaks(page, owner, member) == []
    assert leaks(member, owner) == []
    await close_all(owner.c, member.c)


async def test_a_barred_number_is_refused_without_naming_its_account(server):
    """verify_identity with the ID number of a blacklisted account: `blacklisted`, without naming that
    account (its username or id) or repeating the number."""
    holder = await person(server, "欧阳娜娜")
    other = await person(server, "张伟", verify=False)
    await admin_ok(server, "blacklist", holder.username, "--reason", "诈骗")
    reply = await other.c.call("verify_identity", legal_name="欧阳娜娜", id_number=holder.id_number)
    assert reply["code"] in ("blacklisted", "conflict"), reply
    text = dumped(reply)
    assert holder.username not in text and holder.user_id not in text and holder.id_number not in text, reply
    await close_all(holder.c, other.c)
