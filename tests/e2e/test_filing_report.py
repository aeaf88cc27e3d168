"""The filing report (G7, P7): `qunguan admin filing-report` on a server with groups, users,
sanctions and complaints, and its figures checked one by one."""

from __future__ import annotations

import hashlib
import json

from tests.e2e.harness import open_group
from tests.e2e.test_content import word_server


async def _scene(server, tmp_path):
    o1 = await server.user("owner1", verify_id=True)
    o2 = await server.user("owner2")
    o3 = await server.user("owner3")
    m1 = await server.user("member1")
    g1 = await open_group(o1, name="读书会", category="friends")
    g2 = await open_group(o1, name="茶话会", category="friends")
    g3 = await open_group(o2, name="study room", category="study")
    g4 = await open_group(o3, name="work room", category="work")
    for gid in (g1, g3):
        await m1.request("join_group", group_id=gid)
    for i in range(7):  # 7 messages in a 7-day window: one a day, the "quiet" class
        await o1.request("send", group_id=g1, text=f"hello {i}")
    await o3.request("dissolve_group", group_id=g4)
    assert (await server.admin("warn-group", g2, "--reason", "整改"))[0] == 0
    assert (await server.admin("close-group", g2, "--reason", "赌博"))[0] == 0            # owner1 -20
    assert (await server.admin("suspend-group", g3, "--seconds", "3600", "--reason", "spam"))[0] == 0
    assert (await server.admin("suspend-admin", "owner2", "--seconds", "3600", "--reason", "abuse"))[0] == 0  # -20
    assert (await server.admin("credit", "member1", "--delta", "-50", "--reason", "violations"))[0] == 0
    r_user = await m1.request("report", target_type="user", user_id=o3.user_id, reason="spammer")
    r_group = await m1.request("report", target_type="group", group_id=g1, reason="bad group")
    await m1.request("report", target_type="message", group_id=g1, seq=1, reason="spam")  # left open
    assert (await server.admin("resolve", str(r_user["report_id"]), "--outcome", "upheld", "--note", "ok"))[0] == 0
    assert (await server.admin("resolve", str(r_group["report_id"]), "--outcome", "rejected", "--note", "no"))[0] == 0
    (tmp_path / "rules.txt").write_text("群规\n", encoding="utf-8")
    (tmp_path / "agreement.txt").write_text("服务协议\n", encoding="utf-8")
    assert (await server.admin("set-agreement", "--version", "v1", "--rules-file", str(tmp_path / "rules.txt"),
                               "--agreement-file", str(tmp_path / "agreement.txt")))[0] == 0
    await m1.request("accept_agreement", version="v1")
    return [o1, o2, o3, m1]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_filing_report_figures(server, tmp_path):
    clients = await _scene(server, tmp_path)
    out = tmp_path / "filing"
    rc, stdout, err = await server.admin("filing-report", "--out", str(out))
    assert rc == 0, err
    report = json.loads((out / "filing-report.json").read_text(encoding="utf-8"))
    page = (out / "filing-report.html").read_text(encoding="utf-8")
    assert f"filing-report.json: sha256 {_sha(out / 'filing-report.json')}" in stdout
    assert f"filing-report.html: sha256 {_sha(out / 'filing-report.html')}" in stdout

    g = report["groups"]
    assert (g["live"], g["dissolved"], g["closed_by_platform"], g["suspended_now"]) == (2, 1, 1, 1)
    cats = {c["category"]: (c["live"], c["members"]) for c in g["by_category"]}
    assert cats["friends"] == (1, 2) and cats["study"] == (1, 2) and cats["work"] == (0, 0)
    assert set(cats) >= {"family", "friends", "work", "study", "interest", "business", "public_affairs", "other"}
    assert {s["name"]: s["groups"] for s in g["by_size_class"]} == {"small": 2, "medium": 0, "large": 0}
    assert {a["name"]: a["groups"] for a in g["by_activity_class"]} == {"dormant": 1, "quiet": 1, "active": 0,
                                                                        "busy": 0}
    assert report["public_accounts"]["count"] == 0 and report["public_accounts"]["by_category"][0]["live"] == 0
    assert report["public_accounts"]["by_subject"] == []

    a = report["accounts"]
    assert (a["registered"], a["active"], a["id_verified"], a["blacklisted"]) == (4, 4, 1, 0)
    assert a["admin_powers_suspended_now"] == 1
    # owner1 80 (close-group), owner2 80 (suspend-admin), owner3 90 (report upheld), member1 50 (credit -50)
    assert [lvl["accounts"] for lvl in report["credit"]["levels"]] == [1, 3, 0, 0]
    assert [lvl["min_score"] for lvl in report["credit"]["levels"]] == [0, 60, 100, 150]

    rules = report["rules"]
    assert rules["caps"]["max_members"] == 500 and rules["caps"]["max_groups_created"] == 10
    assert rules["agreement_versions"][0]["version"] == "v1" and rules["agreement_versions"][0]["accepted_by"] == 1
    assert rules["current_agreement"] == "v1" and rules["retention_days"] == 190

    kinds = {(s["kind"], s["target_type"]): s["count"] for s in report["sanctions"]["by_kind"]}
    assert kinds == {("warning", "group"): 1, ("close_group", "group"): 1, ("suspend_group", "group"): 1,
                     ("suspend_admin", "user"): 1}
    assert report["sanctions"]["total"] == 4
    comp = report["complaints"]
    assert (comp["received"], comp["open"], comp["resolved"]) == (3, 1, 2)
    assert comp["by_target_type"] == {"group": 1, "message": 1, "user": 1}
    assert comp["by_outcome"] == {"rejected": 1, "upheld": 1}
    assert comp["resolved_within_24_hours"] == 2 and comp["hours_to_resolution"]["max"] < 1
    assert report["operators"]["mode"] == "single operator" and report["generated_by"] == "operator"
    assert "single operator" in page

    # The printable page: no script, Chinese headings with English, the same figures.
    assert "<script" not in page.lower() and "@media print" in page
    for heading in ("按类别 <small>Groups by category", "信用等级与分布 <small>Credit levels",
                    "处置统计 <small>Sanctions in the period", "投诉举报统计 <small>Complaints in the period",
                    "公众账号 <small>Public accounts", "运营人员与角色 <small>Operators and roles"):
        assert heading in page, heading
    assert "<td>suspend_admin</td><td>user</td><td class=\"n\">1</td>" in page
    # Nothing identifies a user: no phone number, no username, no legal name.
    for c in clients:
        for text in (c.phone, c.username):
            assert text not in page and text not in json.dumps(report, ensure_ascii=False)
    assert "张三" not in page

    # The period applies to sanctions and complaints; a period before all of it has none.
    early = tmp_path / "early"
    rc, _, err = await server.admin("filing-report", "--out", str(early), "--until", "2001-01-01")
    assert rc == 0, err
    old = json.loads((early / "filing-report.json").read_text(encoding="utf-8"))
    assert old["sanctions"]["total"] == 0 and old["complaints"]["received"] == 0
    assert old["groups"]["live"] == 2  # counts are as of generation

    # Writing it is on the record, and the record is still whole.
    rc, _, _ = await server.admin("verify-audit")
    assert rc == 0
    # A folder that is not empty is refused (a report is never overwritten).
    rc, _, err = await server.admin("filing-report", "--out", str(out))
    assert rc == 2 and "not empty" in err
    for c in clients:
        await c.close()


async def test_filing_report_names_the_operators_and_their_roles(make_server, tmp_path):
    srv = make_server('[[operators]]\nname = "王主编"\nrole = "content_safety_officer"\nunix_user = "root"\n'
                      '[[operators]]\nname = "李审核"\nrole = "reviewer"\nunix_user = "65534"\n')
    out = tmp_path / "named"
    rc, _, err = await srv.admin("filing-report", "--out", str(out))
    assert rc == 0, err
    report = json.loads((out / "filing-report.json").read_text(encoding="utf-8"))
    ops = report["operators"]
    assert ops["mode"] == "named operators"
    assert ops["operators"] == [{"name": "王主编", "role": "content_safety_officer"},
                                {"name": "李审核", "role": "reviewer"}]
    roles = {r["role"]: r["may_run"] for r in ops["roles"]}
    assert "export" in roles["content_safety_officer"] and "export" not in roles["reviewer"]
    assert report["generated_by"] == "王主编"  # the person at the socket (root maps to 王主编)
    page = (out / "filing-report.html").read_text(encoding="utf-8")
    assert "王主编" in page and "李审核" in page and "content_safety_officer" in page


async def test_filing_report_counts_review_decisions_by_kind_of_item(make_server, tmp_path):
    """The review queue holds messages, posts, comments, group names, announcements and display
    names: the report counts them and their decisions per kind, and keeps the totals by action."""
    srv = word_server(make_server, tmp_path)
    owner = await srv.user(verify_id=True)
    member = await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    assert (await member.request("send", group_id=gid, text="刷单返利 加我"))["held"] is True    # message, review
    await member.request("send", group_id=gid, text="vpn下载 这里")                              # message, flag
    assert (await owner.request("update_group", group_id=gid, name="刷单返利群"))["held"] is True  # group_name
    assert (await owner.request("set_announcement", group_id=gid, text="刷单返利 今晚"))["held"] is True
    assert (await member.request("set_profile", display_name="刷单返利 老手"))["held"] is True   # display_name
    aid = (await owner.request("create_account", name="晨报", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    assert (await owner.request("publish", account_id=aid, title="刷单返利", body="b"))["held"] is True  # post
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    items = {(i["kind"], i["action"]): i["item_id"] for i in map(json.loads, out.splitlines())}
    assert set(items) == {("message", "review"), ("message", "flag"), ("group_name", "review"),
                          ("announcement", "review"), ("display_name", "review"), ("post", "review")}
    for key, decision in ((("message", "review"), "release"), (("message", "flag"), "keep"),
                          (("announcement", "review"), "reject"), (("display_name", "review"), "release"),
                          (("post", "review"), "reject")):  # the group name stays open
        rc, _, err = await srv.admin("decide", str(items[key]), "--decision", decision, "--note", "checked")
        assert rc == 0, (key, err)

    out_dir = tmp_path / "filing"
    rc, _, err = await srv.admin("filing-report", "--out", str(out_dir))
    assert rc == 0, err
    report = json.loads((out_dir / "filing-report.json").read_text(encoding="utf-8"))
    by_kind = {(r["kind"], r["action"], r["status"], r["decision"]): r["count"]
               for r in report["content_review_by_kind"]}
    assert by_kind == {("message", "review", "decided", "release"): 1, ("message", "flag", "decided", "keep"): 1,
                       ("announcement", "review", "decided", "reject"): 1,
                       ("display_name", "review", "decided", "release"): 1,
                       ("post", "review", "decided", "reject"): 1, ("group_name", "review", "open", None): 1}
    # the totals by action over every kind, as before
    totals = {(r["action"], r["status"], r["decision"]): r["count"] for r in report["content_review"]}
    assert totals == {("review", "decided", "release"): 2, ("review", "decided", "reject"): 2,
                      ("review", "open", None): 1, ("flag", "decided", "keep"): 1}
    page = (out_dir / "filing-report.html").read_text(encoding="utf-8")
    assert "内容审核(按对象) <small>Content review by kind of item" in page
    assert '<td>display_name</td><td>review</td><td>decided</td><td>release</td><td class="n">1</td>' in page


async def test_a_filing_report_whose_record_entry_fails_leaves_nothing_and_can_be_written_again(server, tmp_path):
    """The report's files are written, then its record entry, which the database refuses here: the
    files went unrecorded and the folder, no longer empty, refused the retry. As an export, the
    folder is emptied; once the record takes entries again the same folder takes the report, its
    files readable by the server's user alone."""
    if server.backend == "postgresql":
        server.db_rows("ALTER TABLE audit ADD CONSTRAINT no_filing CHECK (action <> 'filing_report') NOT VALID")
    else:
        server.db_rows("CREATE TRIGGER no_filing BEFORE INSERT ON audit WHEN NEW.action = 'filing_report'"
                       " BEGIN SELECT RAISE(ABORT, 'no filing'); END")
    out = tmp_path / "filing"
    rc, _, err = await server.admin("filing-report", "--out", str(out))
    assert rc != 0, err
    assert list(out.iterdir()) == []
    server.db_rows("ALTER TABLE audit DROP CONSTRAINT no_filing" if server.backend == "postgresql"
                   else "DROP TRIGGER no_filing")
    rc, _, err = await server.admin("filing-report", "--out", str(out))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["filing-report.html", "filing-report.json"]
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o600}
