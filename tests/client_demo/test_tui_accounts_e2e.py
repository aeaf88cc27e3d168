"""The terminal client's public-account commands end to end: a real server process on each storage
backend, the TUI driven through a pipe. What one client does is checked by what the others see
(the ``post`` and ``comment`` events, lists), and the server's refusals by the code printed."""

from __future__ import annotations

import asyncio
import re
import uuid

from governance.public_accounts import org_check_char
from tests.client_demo import test_tui_v2_e2e as v2
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_v2_e2e import expect_all, make_user
from tests.e2e.harness import ServerProcess, new_id_number

server = v2.server  # one server per backend for this module, [sqlite] and [postgresql]
tui = v2.tui
T = r"\d\d:\d\d"  # the time at the head of an event line


def verify(server: ServerProcess, user: tuple[str, str]) -> None:
    """Verify ``user``'s identity with the client library (the TUI's /verify is tested once, below)."""
    async def go() -> None:
        c = await server.client()
        try:
            await c.auth(user[1])
            await c.request("verify_identity", legal_name="张三", id_number=new_id_number())
        finally:
            await c.close()

    asyncio.run(go())


def unique(prefix: str) -> str:
    """An account name no other test takes (names are unique on the server, closed ones too)."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def open_account(t: TUI, name: str, category: str = "culture", tail: str = "individual -- 关于我们") -> str:
    return t.command(f"/newaccount {name} {category} {tail}",
                     rf"^\* opened public account {re.escape(name)} \((\d{{9,12}})\); you own it$").group(1)


def test_open_follow_publish_comment_and_moderate(server, tui):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob Li")
    a, b = tui(alice), tui(bob)
    name = unique("茶馆")

    # only an ID-verified user may open an account
    a.command(f"/newaccount {name} culture individual", r"^! verification_required: ")
    a.command(f"/verify 张三 {new_id_number()}", r"^\* identity verified$")
    aid = open_account(a, name)
    acct = re.escape(f"{name} ({aid})")
    a.command(f"/account {aid}", rf"^\* public account {aid}: {re.escape(name)}$")
    a.expect(r"^  category culture, run by a verified person, credit level \d, 0 subscribers$")
    a.expect(r"^  intro: 关于我们$")

    # a follower sees each new post as it is published
    b.command(f"/follow {aid}", rf"^\* following {acct}: its new posts show here")
    a.send(f"/publish {aid} open 开张 -- 第一行 \\n 第二行")
    pid = a.expect(rf"^\* published post (\d+) in {acct} \(comments open\)$").group(1)
    b.expect(rf"^{T} \[{aid} post {pid}\] new post in {acct}: 开张 \(/post {pid}\)$")

    b.command(f"/post {pid}", rf"^\* post {pid} of {acct}, {T}: 开张$")
    b.expect(r"^  \(\d+ reads?, 0 comments, comments open\)$")
    b.expect(r"^    第一行$")
    b.expect(r"^    第二行$")
    b.expect(rf"^\* comments on post {pid}: 0$")

    # comments reach the owner as events; the owner hides one
    b.send(f"/comment {pid} 好文章")
    cid = b.expect(rf"^\* comment (\d+) on post {pid}$").group(1)
    a.expect(rf"^{T} \[{aid} post {pid}\] comment {cid} in {acct} by Bob Li \({bob[0]}\): 好文章$")
    b.send(f"/recomment {pid} {cid} 补充一句")
    rid = b.expect(rf"^\* comment (\d+) on post {pid}$").group(1)
    a.expect(rf"^{T} \[{aid} post {pid}\] comment {rid} in {acct} by Bob Li \({bob[0]}\): ↪ comment {cid} 补充一句$")
    a.command(f"/modcomment {pid} {cid} hide", rf"^\* comment {cid} hidden from public view$")
    b.command(f"/comments {pid}", rf"^\* comments on post {pid}: 1$")
    b.expect(rf"^  comment {rid}  {T}  Bob Li \({bob[0]}\): ↪ comment {cid} 补充一句$")
    a.command(f"/comments {pid}", rf"^\* comments on post {pid}: 2$")
    expect_all(a, rf"^  comment {cid}  \(hidden\)  {T}  Bob Li \({bob[0]}\): 好文章$", rf"^  comment {rid}  ")

    a.command(f"/posts {aid}", rf"^\* posts of {acct}: 1$")
    a.expect(rf"^  post {pid}  {T}  \(1 read, 1 comment, comments open\)  开张$")
    a.command("/accounts", r"^\* accounts you run: 1$")
    a.expect(rf"^  {aid}  \[owner\]  {re.escape(name)}$")
    b.command("/accounts", r"^\* accounts you run: 0$")
    b.expect(r"^\* accounts you follow: 1$")
    b.expect(rf"^  {aid}  \[follower\]  {re.escape(name)}$")

    # what a follower may not do
    b.command(f"/publish {aid} open 冒名 -- 正文", r"^! forbidden: ")
    b.command(f"/modcomment {pid} {rid} delete", r"^! forbidden: ")
    b.command(f"/editaccount {aid} name 抢名", r"^! forbidden: ")
    b.command(f"/newaccount {unique('号')} culture individual", r"^! verification_required: ")
    b.command(f"/closeaccount {aid}", rf"^\* close public account {acct} for good\?")
    b.command("yes", r"^! forbidden: ")
    b.command(f"/comment {pid} x", rf"^\* comment \d+ on post {pid}$")  # the session goes on
    b.command(f"/post 99999999{pid}", r"^! not_found: ")

    # reports on each kind of target
    for line in (f"/report account {aid} fraud 冒充", f"/report post {pid} rumour", f"/report comment {rid} abuse"):
        b.command(line, r"^\* report filed \(id \d+\)$")
    b.command("/report post 99999999 rumour", r"^! not_found: ")

    b.command(f"/unfollow {aid}", rf"^\* no longer following {acct}$")
    a.send(f"/publish {aid} open 第二篇 -- 正文")
    a.expect(r"^\* published post \d+ ")
    start = len(b.output)
    b.command("/accounts", r"^\* accounts you follow: 0$")  # a post event would have come before the reply
    assert not any("new post" in line for line in b.output[start:])


def test_licences_editors_review_closed_comments_and_closing(server, tui):
    alice, bob, carol = make_user(server, "Alice"), make_user(server, "Bob Li"), make_user(server, "Carol")
    verify(server, alice)
    verify(server, bob)  # an editor needs a verified identity
    verify(server, carol)
    a, b, c = tui(alice), tui(bob), tui(carol)

    # a news account publishes only once the platform grants it the news label
    news = open_account(a, unique("日报"), "news")
    a.command(f"/publish {news} open 头条 -- 正文", r"^! forbidden: .*news")
    # a government account is for organizations only; an organization shows its name
    a.command(f"/newaccount {unique('政务')} government individual", r"^! forbidden: ")
    first17 = f"91110108MA{int(uuid.uuid4().hex[:6], 16) % 10_000_000:07d}"
    org_name = unique("北京某文化公司")
    check = org_check_char(first17)
    org = open_account(c, unique("文化"), "culture", f"organization {org_name} {first17}{check}")
    a.command(f"/account {org}", rf"^\* public account {org}: ")
    a.expect(rf"^  category culture, run by the organization {org_name}, ")
    wrong = "0" if check != "0" else "1"
    c.command(f"/newaccount {unique('坏码')} culture organization 某公司 {first17}{wrong}", r"^! bad_request: ")

    # an editor publishes; a post whose comments wait for approval
    name = unique("读书")
    aid = open_account(a, name)
    acct = re.escape(f"{name} ({aid})")
    a.command(f"/editor {aid} {bob[0]} on", rf"^\* {bob[0]} is now an editor of {acct}$")
    b.command("/accounts", r"^\* accounts you run: 1$")
    b.expect(rf"^  {aid}  \[editor\]  {re.escape(name)}$")
    c.command(f"/follow {aid}", r"^\* following ")
    b.send(f"/publish {aid} review 征文 -- 欢迎投稿")
    pid = b.expect(rf"^\* published post (\d+) in {acct} \(comments after approval\)$").group(1)
    c.expect(rf"^{T} \[{aid} post {pid}\] new post in {acct}: 征文")
    cid = c.command(f"/comment {pid} 我来投稿", rf"^\* comment (\d+) on post {pid} is held: ").group(1)
    a.expect(rf"^{T} \[{aid} post {pid}\] comment {cid} \(held\) in {acct} by Carol \({carol[0]}\): 我来投稿$")
    b.expect(rf"^{T} \[{aid} post {pid}\] comment {cid} \(held\) in {acct} by Carol \({carol[0]}\): 我来投稿$")
    c.command(f"/comments {pid}", rf"^\* comments on post {pid}: 1$")  # the author sees their held comment
    c.expect(rf"^  comment {cid}  \(held\)  {T}  Carol \({carol[0]}\): 我来投稿$")
    b.command(f"/modcomment {pid} {cid} approve", rf"^\* comment {cid} approved: everyone sees it$")
    a.command(f"/comments {pid}", rf"^\* comments on post {pid}: 1$")
    a.expect(rf"^  comment {cid}  {T}  Carol \({carol[0]}\): 我来投稿$")

    # comments closed; a post taken down
    a.send(f"/publish {aid} closed 公告 -- 本帖不开放评论")
    closed = a.expect(r"^\* published post (\d+) .*\(comments closed\)$").group(1)
    c.command(f"/comment {closed} 说两句", r"^! forbidden: ")
    a.command(f"/delpost {closed}", rf"^\* deleted post {closed}$")
    c.command(f"/post {closed}", r"^! not_found: ")
    a.command(f"/editor {aid} {bob[0]} off", rf"^\* {bob[0]} is no longer an editor of {acct}$")
    b.command(f"/publish {aid} open 还能发吗 -- 不能", r"^! forbidden: ")

    # the owner renames, then closes after saying yes; a closed account takes no followers or posts
    renamed = unique("书")
    a.command(f"/editaccount {aid} name {renamed}", rf"^\* updated {re.escape(renamed)} \({aid}\)$")
    a.command(f"/editaccount {aid} intro 新简介", r"^\* updated ")
    acct = re.escape(f"{renamed} ({aid})")
    a.command(f"/closeaccount {aid}", rf"^\* close public account {acct} for good\? ")
    a.command("no", rf"^\* /closeaccount {aid} not done$")
    a.command(f"/account {aid}", rf"^\* public account {aid}: {re.escape(renamed)}$")  # still active
    a.command(f"/closeaccount {aid}", r"^\* close public account ")
    a.command("yes", rf"^\* closed {acct}: it publishes nothing more$")
    a.command(f"/account {aid}", rf"^\* public account {aid}: {re.escape(renamed)} \[closed: ")
    a.command(f"/publish {aid} open 还在吗 -- 正文", r"^! forbidden: ")
    d = tui(make_user(server, "Dan"))
    d.command(f"/follow {aid}", r"^! forbidden: ")
    c.command(f"/unfollow {aid}", rf"^\* no longer following .*\({aid}\)$")  # c knows the old name
