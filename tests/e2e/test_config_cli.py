"""check-config and serve as real processes: a bad list file is named by its key by check-config, at start
and on SIGHUP (not as a bare codec error)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys

from tests.e2e.harness import ROOT, ServerProcess

NOT_UTF8 = "content.lists[0].path = 'words.txt': not UTF-8 (byte 0xff at offset 0)"
WORDS = '\n[[content.lists]]\ncategory = "gambling"\npath = "words.txt"\naction = "block"\n'


def qunguan(*args: str, cwd: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUNGUAN_")}
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**env, "PYTHONPATH": str(ROOT)})


def test_check_config_and_serve_name_a_bad_list_file(tmp_path):
    (tmp_path / "words.txt").write_bytes(b"\xff\xfe\n")
    (tmp_path / "known.txt").write_text("notpem\n", encoding="utf-8")
    config = tmp_path / "q.toml"
    config.write_text(WORDS + '[[content.media_lists]]\ncategory = "known"\npath = "known.txt"\naction = "block"\n'
                      '[server]\nport = 0\n', encoding="utf-8")
    check = qunguan("check-config", str(config), cwd=tmp_path)
    assert check.returncode == 2, check
    assert check.stdout.splitlines() == [
        NOT_UTF8, "content.media_lists[0].path = 'known.txt': line 1: not a SHA-256 in hex (64 hex digits): 'notpem'"]
    serve = qunguan("serve", "--config", str(config), cwd=tmp_path)
    assert serve.returncode == 2, serve
    assert f"config: {NOT_UTF8}" in serve.stderr.splitlines(), serve.stderr
    assert "codec" not in serve.stderr


async def test_sighup_names_a_word_list_that_is_not_utf8(tmp_path, started):
    (tmp_path / "words.txt").write_text("赌博\n", encoding="utf-8")
    srv = started(ServerProcess(tmp_path, WORDS))
    (tmp_path / "words.txt").write_bytes(b"\xff\n")
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config not reloaded"), "".join(srv.output)
    line = next(line for line in srv.output if "config not reloaded" in line)
    assert NOT_UTF8 in line and "codec" not in line, line


async def test_sighup_refuses_an_identity_key_file_the_next_start_could_not_read(tmp_path, started):
    """A reload took ``identity.key_file`` naming no file, saying only that it waits for a restart
    (which then failed); check-config refused the same file. Now the reload is refused, as check-config."""
    srv = started(ServerProcess(tmp_path))
    text = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(text.replace("[identity]\n", '[identity]\nkey_file = "keys/none.key"\n', 1),
                          encoding="utf-8")
    assert qunguan("check-config", str(srv.config), cwd=tmp_path).returncode == 2
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config not reloaded"), "".join(srv.output)
    line = next(line for line in srv.output if "config not reloaded" in line)
    assert "identity.key_file" in line and "none.key" in line, line
    assert not await srv.logged("config reloaded;", timeout=0.5)


async def test_serve_warns_at_start_of_development_providers_in_production_and_of_no_agreement(tmp_path, started):
    """dev_mode = false with the checksum verifier and the file SMS provider: a WARNING for each at start,
    naming what to set instead; and one while no rules and agreement are published (nothing is gated).
    ``qunguan admin ping`` says the same; once an agreement is published, neither says it any more."""
    key = tmp_path / "identity.key"
    key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    srv = ServerProcess(tmp_path)
    text = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(text.replace("[identity]\n", f'[identity]\ndev_mode = false\nkey_file = "{key}"\n', 1),
                          encoding="utf-8")
    started(srv)
    warnings = [line for line in srv.output if " WARNING qunguan " in line]
    assert any("config: identity.id_verifier = 'checksum': with dev_mode = false" in line
               and 'id_verifier = "http"' in line for line in warnings), "".join(srv.output)
    assert any("config: identity.sms_provider = 'file': with dev_mode = false" in line
               and 'sms_provider = "http"' in line for line in warnings), "".join(srv.output)
    assert any("no platform rules and service agreement are published yet" in line
               and "set-agreement" in line for line in warnings), "".join(srv.output)
    rc, out, err = await srv.admin("ping")
    status = json.loads(out)
    assert rc == 0 and status["agreement"] is None, (out, err)
    assert [w.split(" =")[0] for w in status["warnings"][:2]] == ["identity.id_verifier", "identity.sms_provider"]
    assert "no platform rules and service agreement are published yet" in status["warnings"][2], status
    (tmp_path / "rules.txt").write_text("rules\n", encoding="utf-8")
    (tmp_path / "agreement.txt").write_text("agreement\n", encoding="utf-8")
    rc, _, err = await srv.admin("set-agreement", "--version", "v1", "--rules-file", str(tmp_path / "rules.txt"),
                                 "--agreement-file", str(tmp_path / "agreement.txt"))
    assert rc == 0, err
    status = json.loads((await srv.admin("ping"))[1])
    assert status["agreement"] == "v1" and len(status["warnings"]) == 2, status
    await srv.stopped()
    started(srv)
    assert not any("agreement" in line for line in srv.output if " WARNING " in line), "".join(srv.output)
