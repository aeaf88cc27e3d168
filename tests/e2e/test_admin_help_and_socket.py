"""`qunguan admin --help` explains its arguments; the operator socket reads its request lines as UTF-8."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from tests.e2e.harness import ROOT, ServerProcess


def test_admin_help_names_its_arguments_and_where_the_commands_are(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUNGUAN_")}
    out = subprocess.run([sys.executable, "-m", "server", "admin", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env={**env, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out
    text = out.stdout
    assert text.startswith("usage: qunguan admin [-h] [--config PATH] [--json] COMMAND ..."), text
    assert "rest" not in text and "--config CONFIG" not in text, text
    assert "the server's TOML config file" in text and "COMMAND ..." in text, text
    assert "`qunguan admin` with no command lists them" in text, text


async def test_operator_socket_refuses_a_line_that_is_not_utf8(tmp_path, started):
    srv = started(ServerProcess(tmp_path))
    for payload in (b"\xff\xfe\n", b'{"cmd": "ping"\xff}\n'):
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "qunguan.sock"))
        writer.write(payload)
        await writer.drain()
        reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
        writer.close()
        assert reply == {"ok": False, "error": "malformed request: not UTF-8 JSON"}, (payload, reply)
    assert srv.proc is not None and srv.proc.poll() is None
