"""The operator channel refuses awkward input with a one-line reason, never an internal error."""

from __future__ import annotations

import asyncio
import json
import os
import secrets

from tests.e2e.harness import open_group


async def raw_request(server, payload: bytes) -> dict:
    reader, writer = await asyncio.open_unix_connection(str(server.dir / "qunguan.sock"), limit=1 << 20)
    try:
        writer.write(payload)
        await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server answered and closed before reading it all: the answer is still there
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return json.loads(line)


async def test_oversized_and_malformed_requests_get_a_clear_error(server):
    huge = json.dumps({"cmd": "ping", "args": {"pad": "x" * (5 << 20)}}).encode() + b"\n"
    reply = await raw_request(server, huge)
    assert reply == {"ok": False, "error": "the request is over 4 MiB"}
    for args in ([1, 2], "text", 5):
        reply = await raw_request(server, json.dumps({"cmd": "ping", "args": args}).encode() + b"\n")
        assert reply["ok"] is False and "args must be an object" in reply["error"], args
    # A rules file of 240 KB is settable (set-agreement sends the text in the request line).
    rules = server.dir / "rules.txt"
    rules.write_text("规则。" * 80_000, encoding="utf-8")  # 240,000 bytes in UTF-8
    (server.dir / "agreement.txt").write_text("协议", encoding="utf-8")
    rc, out, err = await server.admin("set-agreement", "--version", "v1", "--rules-file", str(rules),
                                      "--agreement-file", str(server.dir / "agreement.txt"))
    assert rc == 0, err


async def test_out_of_range_values_exit_2_with_one_line(server):
    owner = await server.user()
    gid = await open_group(owner)
    cases = [
        ("suspend-group", gid, "--seconds", str(10**12), "--reason", "x"),
        ("suspend-admin", owner.username, "--seconds", str(2**62), "--reason", "x"),
        ("credit", owner.username, "--delta", str(10**15), "--reason", "x"),
        ("credit", owner.username, "--delta", str(-(10**15)), "--reason", "x"),
        ("warn-group", gid, "--reason", "x", "--deadline", "2001-01-01T00:00:00+08:00"),
    ]
    for args in cases:
        rc, out, err = await server.admin(*args)
        assert rc == 2, (args, out, err)
        assert len(err.strip().splitlines()) == 1 and "internal" not in err, (args, err)
    assert (await owner.request("me"))["credit_score"] == 100  # nothing was applied


async def test_ids_past_what_a_store_holds_exit_2_with_one_line(server):
    """A row id larger than any the database can hold (2**63 - 1, SQLite INTEGER and PostgreSQL
    BIGINT) names nothing: the command is refused with its usual reason, not passed to the database
    (where SQLite raised OverflowError: "internal error; see the server log")."""
    owner = await server.user()
    gid = await open_group(owner)
    huge = str(2**63)
    cases = [
        ("lift", huge, "--reason", "x"),
        ("decide-appeal", huge, "--outcome", "upheld", "--note", "x"),
        ("release-hold", huge, "--reason", "x"),
        ("remove-post", huge, "--reason", "x"),
        ("resolve", huge, "--outcome", "upheld", "--note", "x"),
        ("decide", huge, "--decision", "keep", "--note", "x"),
        ("remove-message", gid, huge, "--reason", "x"),
        ("remove-comment", huge, "--reason", "x"),
        ("warn-group", gid, "--reason", "x", "--report", huge),
        ("suspend-group", gid, "--seconds", "60", "--reason", "x", "--report", str(10**30)),
    ]
    for args in cases:
        rc, out, err = await server.admin(*args)
        assert rc == 2 and out == "", (args, out, err)
        assert len(err.strip().splitlines()) == 1 and "internal" not in err, (args, err)
    assert "operator command failed" not in "".join(server.output)
    rc, out, err = await server.admin("sanctions", "--group", gid)
    assert rc == 0 and out == "", err  # nothing was applied


async def test_times_past_what_a_store_holds_are_refused_on_the_socket(server):
    """qunguan admin sends only times of years 1 to 9999; a script on the socket (docs/operator.md: times in
    ms) could send any integer, and one past 2**63 reached the database or the wire: internal errors."""
    owner = await server.user()
    gid = await open_group(owner)
    out = str(server.dir / "out")
    far = 10**30
    past_9998 = 253_370_764_800_000  # 9999-01-01T00:00Z: shown in a zone east of UTC, it is past year 9999
    cases = [
        ({"cmd": "purge", "args": {"now": -far}}, "--now must be a time"),
        ({"cmd": "warn-group", "args": {"group_id": gid, "reason": "x", "deadline": far}},
         "--deadline must be a time in the future"),
        ({"cmd": "warn-group", "args": {"group_id": gid, "reason": "x", "deadline": past_9998}},
         "--deadline must be a time in the future"),
        ({"cmd": "export", "args": {"group_id": gid, "since": -far, "until": far, "out": out}},
         "--since must be a time"),
        ({"cmd": "export", "args": {"group_id": gid, "since": -1, "out": out}}, "--since must be a time"),
        ({"cmd": "filing-report", "args": {"since": 0, "until": far, "out": out}}, "--until must be a time"),
    ]
    span = "(from 1970-01-01T00:00Z, 08:00 in UTC+8, to 9998-12-31)"
    cases = [(request, f"{reason} {span}") for request, reason in cases]
    for request, reason in cases:
        reply = await raw_request(server, json.dumps(request).encode() + b"\n")
        assert reply == {"ok": False, "error": reason}, (request, reply)
    assert "operator command failed" not in "".join(server.output)


async def test_a_relative_backup_path_on_the_socket_is_refused_as_the_docs_say(server):
    """docs/operator.md: ``out`` must be an absolute path on the socket, the server resolves nothing against
    its own folder. export refused a relative one; backup wrote it in the server's working directory."""
    reply = await raw_request(server, json.dumps({"cmd": "backup", "args": {"out": "copy.db"}}).encode() + b"\n")
    assert reply == {"ok": False, "error": "--out must be an absolute path (qunguan admin makes it one)"}, reply
    assert not (server.dir / "copy.db").exists()
    rc, out, err = await server.admin("backup", "--out", "copy.db")  # the CLI makes it absolute: its own folder
    assert (rc == 0 and (server.dir / "copy.db").is_file()) if server.backend == "sqlite" else rc == 2, err


async def test_times_no_date_can_show_are_refused_with_a_reason(server, tmp_path):
    """A --deadline past year 9999 in some time zone was accepted and stored: every export of the group
    then failed ("year 10000 is out of range") and ``sanctions`` ended in a traceback (exit 1).
    ``export --since 0001-01-01`` failed with a cryptic error and left an empty folder. Times are
    bounded to 1970-01-01 .. 9998-12-31: exit 2 with the reason, nothing stored, no folder made."""
    owner = await server.user()
    gid = await open_group(owner)
    out = tmp_path / "since-year-1"
    for args in (("warn-group", gid, "--reason", "x", "--deadline", "9999-12-31T23:00:00-08:00"),
                 ("export", "--group", gid, "--since", "0001-01-01", "--out", str(out)),
                 ("filing-report", "--until", "9999-06-01", "--out", str(out))):
        rc, stdout, err = await server.admin(*args)
        said = "out of range: times go from 1970-01-01T00:00Z, 08:00 in UTC+8, to 9998-12-31"
        assert rc == 2 and stdout == "" and said in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    rc, stdout, err = await server.admin("sanctions", "--group", gid)
    assert rc == 0 and stdout == "", err
    # The last moment accepted is shown and exported like any other.
    rc, _, err = await server.admin("warn-group", gid, "--reason", "x", "--deadline", "9998-12-31T23:59:59+00:00")
    assert rc == 0, err
    rc, stdout, err = await server.admin("sanctions", "--group", gid)
    assert rc == 0 and ("9998" in stdout or "9999" in stdout), (stdout, err)
    rc, _, err = await server.admin("export", "--group", gid, "--out", str(tmp_path / "ok"))
    assert rc == 0, err


def test_a_stored_time_no_date_can_show_is_printed_not_a_traceback():
    """Deadlines stored before the bound: listings and exports show them without failing."""
    from server.operator.cli import local_time
    from server.operator.export import iso

    assert local_time(10**15) == f"out of range ({10**15})"
    assert iso(10**15) is None and iso(0) == "1970-01-01T08:00:00.000+08:00"


def test_the_admin_tool_and_the_server_bound_times_alike():
    from server.operator import cli, common

    assert (cli._MIN_MS, cli._MAX_MS, cli._TIME_RANGE) == (common.MIN_TIME_MS, common.MAX_TIME_MS, common.TIME_RANGE)


async def test_a_command_the_database_fails_exits_3_not_2(server):
    """Exit 2 says the operator's request was wrong (docs/operator.md); a command that failed inside the
    server (here the database refuses its record entry, as a failing disk would) is exit 3, one line
    naming an internal error, its traceback in the server's log."""
    owner = await server.user()
    gid = await open_group(owner)
    if server.backend == "postgresql":
        server.db_rows("ALTER TABLE audit ADD CONSTRAINT no_warning CHECK (action <> 'warn_group') NOT VALID")
    else:
        server.db_rows("CREATE TRIGGER no_warning BEFORE INSERT ON audit WHEN NEW.action = 'warn_group'"
                       " BEGIN SELECT RAISE(ABORT, 'no warning'); END")
    rc, out, err = await server.admin("warn-group", gid, "--reason", "x")
    assert rc == 3 and out == "" and err.strip() == "qunguan admin: internal error; see the server log", (rc, err)
    rc, out, err = await server.admin("--json", "warn-group", gid, "--reason", "x")
    assert rc == 3 and json.loads(err) == {"ok": False, "error": "internal error; see the server log", "exit": 3}
    assert "operator command failed: warn-group" in "".join(server.output)
    rc, _, err = await server.admin("warn-group", "999999999", "--reason", "x")
    assert rc == 2 and "unknown group" in err


async def request(server, cmd: str, args) -> dict:
    return await raw_request(server, json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")


async def test_every_argument_must_be_of_its_kind_on_the_socket(server):
    """Each command's arguments are checked against what ``qunguan admin`` declares for it, in the one place
    every request passes: a reason given as a list was stored and told to the members as ``['a']``, a
    number as ``5``; rules given as a number published a new agreement every user had to accept; an
    argument no command takes (``subject`` for ``accounts``, whose filter is ``username``) was ignored, so
    the listing was not filtered at all; ``"args": []`` counted as no arguments."""
    owner = await server.user()
    gid = await open_group(owner)
    cases = [
        ("warn-group", {"group_id": gid, "reason": ["a"]}, "--reason must be text, not an array"),
        ("warn-group", {"group_id": gid, "reason": 5}, "--reason must be text, not a number"),
        ("warn-group", {"group_id": 5, "reason": "x"}, "group_id (GID) must be text, not a number"),
        ("set-agreement", {"version": "v9", "rules": 5, "agreement": "协议"},
         "rules (--rules-file) must be text, not a number"),
        ("set-agreement", {"version": ["v9"], "rules": "规则", "agreement": "协议"},
         "--version must be text, not an array"),
        ("accounts", {"subject": 5}, "accounts takes no argument 'subject' (it takes username (--subject))"),
        ("accounts", {"username": 5}, "username (--subject) must be text, not a number"),
        ("reports", {"open": "no"}, "--open must be true or false, not text"),
        ("suspend-group", {"group_id": gid, "seconds": "600", "reason": "x"},
         "--seconds must be a whole number, not text"),
        ("suspend-group", {"group_id": gid, "seconds": True, "reason": "x"},
         "--seconds must be a whole number, not true/false"),
        ("resolve", {"report_id": 1, "outcome": "maybe", "note": "x"}, "--outcome must be upheld or rejected"),
        ("verify-audit", {"checkpoints": [{"ts": 1, "count": "2", "last_id": 1, "mac": ""}]},
         "checkpoints (--manifest)[0] count must be a whole number, not text"),
        ("ping", {"json": False}, "ping takes no argument 'json' (it takes none)"),
        # no database text type takes a NUL; a lone surrogate (a terminal in another encoding) is no text
        ("warn-group", {"group_id": gid, "reason": "a\x00b"}, "--reason contains a NUL character"),
        ("set-agreement", {"version": "v9", "rules": "规\x00则", "agreement": "协议"},
         "rules (--rules-file) contains a NUL character"),
        ("warn-group", {"group_id": gid, "reason": "ab\udcb9"},
         "--reason is not valid text at character 3 (bytes in another encoding than UTF-8?); give it as UTF-8"),
    ]
    for cmd, args, error in cases:
        reply = await request(server, cmd, args)
        assert reply == {"ok": False, "error": error}, (cmd, args, reply)
    for args in ([], "", 0, False, None):
        reply = await request(server, "ping", args)
        assert reply == {"ok": False, "error": "malformed request: args must be an object"}, (args, reply)
    # Nothing was stored or sent: no warning, no agreement; null is an argument left out.
    assert owner.drain_events() == []
    rc, out, err = await server.admin("sanctions", "--group", gid)
    assert rc == 0 and out == "", err
    assert server.db_rows("SELECT version FROM agreements") == []
    assert (await request(server, "reports", {"open": None}))["ok"]
    assert (await request(server, "ping", {}))["ok"] and (await raw_request(server, b'{"cmd": "ping"}\n'))["ok"]
    assert "operator command failed" not in "".join(server.output)


async def test_rotate_key_takes_only_a_key_as_the_server_writes_them(server, tmp_path):
    """A 6-byte file was taken as the new identity key (hashed as a passphrase): every phone, legal name
    and ID number would have been sealed under a key anyone could guess. A key is 64 hex digits, as the
    server's own key file and `secrets.token_hex(32)` hold."""
    short = tmp_path / "short.key"
    short.write_text("abc123", encoding="utf-8")
    long_ = tmp_path / "long.key"
    long_.write_text("ab" * 40 + "\n", encoding="utf-8")
    spaced = tmp_path / "spaced.key"
    spaced.write_text(" ".join(["abcd"] * 16) + "\n", encoding="utf-8")
    for path in (short, long_, spaced):  # (what a file holds is not described: the server reads files others can't)
        rc, out, err = await server.admin("rotate-key", "--new-key-file", str(path))
        assert rc == 2 and out == "", err
        assert err.strip() == (f"qunguan admin: --new-key-file {path} is not an identity key: it must hold 64 hex "
                               "digits (32 random bytes, as `python -c \"import secrets; print(secrets.token_hex(32))"
                               "\"` writes)"), err
    for pattern in ("00" * 32, "ab" * 32, "0123" * 16):  # (64 hex digits a person typed, not drew)
        typed = tmp_path / "typed.key"
        typed.write_text(pattern + "\n", encoding="utf-8")
        rc, out, err = await server.admin("rotate-key", "--new-key-file", str(typed))
        assert rc == 2 and out == "" and "holds no random key" in err and len(err.strip().splitlines()) == 1, err
    fifo = tmp_path / "pipe.key"
    os.mkfifo(fifo)  # (opened without waiting for a writer: the server's loop is never held by it)
    for not_a_file in (tmp_path, fifo):
        rc, _, err = await server.admin("rotate-key", "--new-key-file", str(not_a_file))
        assert rc == 2 and err.strip() == f"qunguan admin: --new-key-file {not_a_file} is not a file", err
    assert len(server.db_rows("SELECT * FROM vault_keys")) == 1  # still the one key
    assert [r[0] for r in server.db_rows("SELECT action FROM audit WHERE action = 'rotate_key'")] == []
    good = tmp_path / "good.key"
    good.write_text(secrets.token_hex(32).upper() + "\n", encoding="utf-8")  # either case, a line
    rc, out, err = await server.admin("rotate-key", "--new-key-file", str(good), "--reason", "ticket 13900004094")
    assert rc == 0 and "identity key id 2 is now current" in out, err
    # (it said the old key was "no longer needed": a backup made before needs it to be restored)
    assert "the backups made before now do: keep it" in out and "no longer needed" not in out, out
    # its reason is masked as every command's is (a reviewer found a phone number kept in it in clear)
    assert server.db_rows("SELECT reason FROM audit WHERE action = 'rotate_key'") == [("ticket [redacted]",)]
    # The switch is on the record with the key id, in its own transaction; the counts once re-sealed.
    [(switch,)] = server.db_rows("SELECT detail FROM audit WHERE action = 'rotate_key'")
    [(done,)] = server.db_rows("SELECT detail FROM audit WHERE action = 'rotate_key_done'")
    assert json.loads(switch) == {"key_id": 2, "new_key": True}
    assert json.loads(done)["key_id"] == 2 and json.loads(done)["accounts_left"] == 0


async def test_verify_audit_says_why_a_manifest_cannot_be_read(server, tmp_path):
    """``--manifest`` named a missing file "not an export manifest" and others with Python's words
    ("list indices must be integers or slices, not str", "'record_head'")."""
    def file(name: str, text: str | bytes) -> str:
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)

    head = {"ts": 1, "count": 0, "last_id": 0, "mac": "0" * 64}
    cases = [
        (str(tmp_path / "missing.json"), "no such file"),
        (str(tmp_path), "is a folder, not a file (give the export's manifest.json)"),
        (file("latin.json", b'{"a": "\xe9"}'), "not an export manifest: not UTF-8 text (byte 7)"),
        (file("broken.json", '{"record_head": '),
         "not an export manifest: not JSON (line 1, column 17: Expecting value)"),
        (file("list.json", "[1, 2]"), "not an export manifest: it holds an array, not an object"),
        (file("other.json", '{"format": 1}'), "not an export manifest: it has no record_head"),
        (file("head.json", json.dumps({"record_head": [1]})),
         "record_head must be an object with ts, count, last_id, mac, not an array"),
        (file("nomac.json", json.dumps({"record_head": {**head, "mac": 1}})),
         "record_head mac must be text, not a number"),
        (file("nocount.json", json.dumps({"record_head": {"ts": 1, "last_id": 0, "mac": ""}})),
         "record_head has no count"),
        (file("shortmac.json", json.dumps({"record_head": {**head, "mac": "ab12"}})),
         "record_head mac must be 64 hex digits (0-9, a-f), not 4 characters"),
    ]
    for path, why in cases:
        for json_mode in (False, True):
            rc, out, err = await server.admin(*(["--json"] if json_mode else []), "verify-audit", "--manifest", path)
            assert rc == 2 and out == "", (path, err)
            reason = json.loads(err)["error"] if json_mode else err.strip().removeprefix("qunguan admin: ")
            assert reason == f"--manifest {path}: {why}", (path, reason)
    if os.geteuid() != 0:  # (root reads any file)
        locked = file("locked.json", json.dumps({"record_head": head}))
        os.chmod(locked, 0)
        rc, _, err = await server.admin("verify-audit", "--manifest", locked)
        assert rc == 2 and err.strip() == f"qunguan admin: --manifest {locked}: cannot read it (Permission denied)"
    # A manifest no export wrote (the record's export entries name each one's digest): exit 1, said so.
    rc, out, err = await server.admin("verify-audit", "--manifest", file("ok.json", json.dumps({"record_head": head})))
    assert rc == 1 and "enforcement record whole" in out and "is not one an export wrote" in out, (out, err)


async def test_release_hold_says_whether_the_target_is_still_held(server):
    """Releasing one of two holds on a group said "the next purge treats group G by age again", while the
    other hold still kept everything."""
    owner = await server.user()
    gid = await open_group(owner)
    ids = []
    for case in ("case 1", "case 2", "case 3"):
        rc, out, err = await server.admin("hold", "--group", gid, "--reason", case)
        assert rc == 0, err
        ids.append(out.split()[1])
    rc, out, err = await server.admin("release-hold", ids[0], "--reason", "closed")
    assert rc == 0 and out.strip() == (f"hold {ids[0]} released; group {gid} is still held by holds {ids[1]}, "
                                       f"{ids[2]}: its records stay past retention until those are released too")
    rc, out, err = await server.admin("release-hold", ids[1], "--reason", "closed")
    assert out.strip() == (f"hold {ids[1]} released; group {gid} is still held by hold {ids[2]}: its records stay "
                           "past retention until that is released too"), out
    rc, out, err = await server.admin("release-hold", ids[2], "--reason", "closed")
    assert out.strip() == (f"hold {ids[2]} released; no hold names group {gid} any more: the next purge removes "
                           "its records past retention, except those another hold, an open report or a sanction "
                           "in force keeps"), out
    rc, out, err = await server.admin("hold", "--user", owner.username, "--reason", "case 4")
    user_hold = out.split()[1]
    rc, out, err = await server.admin("release-hold", user_hold, "--reason", "closed")
    assert f"no hold names user {owner.username} ({owner.user_id}) any more" in out, out


async def test_verify_audit_heads_sent_ahead_must_all_be_there(server):
    """verify-audit sends the heads of a long checkpoint file ahead under a token and verifies once with
    the last batch, which says how many it sent ahead: when the server no longer holds them all (it
    restarted, or a cluster's home changed between the requests) the check is refused with the reason,
    never reported whole against a part of the heads. A token is used once."""
    owner = await server.user()
    await owner.request("set_announcement", group_id=await open_group(owner), text="群规")  # (a record entry)
    [row] = server.db_rows("SELECT id, mac FROM audit ORDER BY id DESC LIMIT 1")
    head = {"ts": 1, "count": 1, "last_id": row[0], "mac": row[1]}
    token = secrets.token_hex(16)
    ahead = await request(server, "verify-audit", {"stage": token, "checkpoints": [head, {**head, "ts": 2}]})
    assert ahead == {"ok": True, "lines": ["2 record heads kept for the check"], "exit": 0}, ahead
    reply = await request(server, "verify-audit", {"stage": token, "staged": 3, "checkpoints": [head]})
    assert reply == {"ok": False, "error": (
        "3 record heads were sent ahead of this check, and the server holds 2 of them (it restarted, another node "
        "became the home, or they waited over 600 s): run verify-audit again")}, reply
    reply = await request(server, "verify-audit", {"stage": token, "staged": 2, "checkpoints": [head]})
    assert not reply["ok"] and "the server holds 0 of them" in reply["error"], reply
    await request(server, "verify-audit", {"stage": token, "checkpoints": [head, {**head, "mac": "0" * 64}]})
    reply = await request(server, "verify-audit", {"stage": token, "staged": 2, "checkpoints": [head]})
    assert reply["exit"] == 1 and f"broken at entry {row[0]}" in reply["lines"][0], reply
    reply = await request(server, "verify-audit", {"stage": 7, "checkpoints": [head]})
    assert reply == {"ok": False, "error": "stage must be text, not a number"}, reply


def test_a_one_line_outcome_spells_every_time_the_server_takes_as_local_time():
    """A reviewer's case: only 13 digits starting with 1 were spelled (times before 2033-05), so a
    suspension or deadline past then was printed as raw milliseconds. Ids and digests stay as they are."""
    from server.operator.cli import _render, local_time

    for ms in (1796414911072, 2111990847203, 253370764799999):
        assert _render(f"suspended group 482109331 until {ms}", True) == \
            f"suspended group 482109331 until {local_time(ms)}"
    assert _render("digest 0a2111990847203f, group 4821093312, 48365568 bytes", True) == \
        "digest 0a2111990847203f, group 4821093312, 48365568 bytes"


async def test_a_reason_is_at_most_a_thousand_characters_without_control_characters(server):
    """A reason is told to people (here the group's members) and kept in the record: 100 KB of it was
    accepted, and so was an escape sequence that repaints a terminal client's screen. A line break and
    a tab stay allowed (a paragraph of reasons)."""
    owner = await server.user()
    gid = await open_group(owner)
    for reason, why in (("x" * 1001, "must be at most 1000 characters (it has 1001)"),
                        ("spam \x1b[2J\x1b[H", "must not hold a control character (it holds U+001B)"),
                        ("sp\ram", "(it holds U+000D)"), ("a\x85b", "(it holds U+0085)")):
        rc, out, err = await server.admin("warn-group", gid, "--reason", reason)
        assert rc == 2 and out == "" and why in err and len(err.strip().splitlines()) == 1, (reason, err)
        rc, out, err = await server.admin("credit", owner.username, "--delta", "-1", "--reason", reason)
        assert rc == 2 and why in err, (reason, err)
    assert server.db_rows("SELECT count(*) FROM audit WHERE action IN ('warn_group', 'credit')") == [(0,)]
    rc, out, err = await server.admin("warn-group", gid, "--reason", "第一条。\n\t第二条。" + "x" * 990)
    assert rc == 0, err
    notice = await owner.next_event("notice", timeout=10)
    assert notice["kind"] == "warning" and notice["text"].startswith("第一条。\n\t第二条。")
    assert len(notice["text"]) == 1000


async def test_seal_record_takes_a_blank_reason_as_none_as_rotate_key_does(server):
    """An optional reason left blank is no reason for both commands that take one (seal-record refused
    it as "--reason is required"; rotate-key took it as none)."""
    rc, out, err = await server.admin("seal-record", "--reason", "   ")
    assert "--reason is required" not in err, err
    assert rc == 2 and "nothing to seal" in err, err
