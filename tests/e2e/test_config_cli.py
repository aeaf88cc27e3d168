"""check-config and serve as real processes: a bad list file is named by its key by check-config, at start
and on SIGHUP (not as a bare codec error)."""

from __future__ import annotations

import os
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
