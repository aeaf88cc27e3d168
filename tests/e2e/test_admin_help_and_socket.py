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


async def test_operator_socket_answers_a_deep_request_and_caps_connections_still_sending(tmp_path, started):
    """A review of the operator channel: a request nested deeper than the JSON reader follows got no
    answer (a RecursionError, not a ValueError); and connections that send nothing were held for good,
    each allowed 4 MiB of line. Now the first is refused in words, and at most 16 connections may be
    sending their line at once (each within a minute); a 17th is answered at once."""
    from server.operator.channel import MAX_READING

    srv = started(ServerProcess(tmp_path))
    sock = str(tmp_path / "qunguan.sock")

    async def ask(payload: bytes) -> dict:
        reader, writer = await asyncio.open_unix_connection(sock)
        writer.write(payload)
        await writer.drain()
        try:
            return json.loads(await asyncio.wait_for(reader.readline(), 10))
        finally:
            writer.close()

    deep = b"[" * 200_000 + b"]" * 200_000 + b"\n"
    assert await ask(deep) == {"ok": False, "error": "malformed request: nested too deeply"}
    silent = [await asyncio.open_unix_connection(sock) for _ in range(MAX_READING)]
    for _ in range(100):  # (once the server has accepted the sixteen, each waiting for its line)
        refused = await ask(b'{"cmd": "ping"}\n')
        if not refused["ok"]:
            break
        await asyncio.sleep(0.05)
    assert refused["ok"] is False and "try again in a moment" in refused["error"], refused
    for _, writer in silent:
        writer.close()
    await asyncio.sleep(0.5)
    assert (await ask(b'{"cmd": "ping"}\n'))["ok"] is True
    assert srv.proc is not None and srv.proc.poll() is None
