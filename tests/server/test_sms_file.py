"""The ``file`` SMS provider (server/sms.py): its appends run off the event loop, in the order of the calls."""

from __future__ import annotations

import asyncio
import json
import os
import threading

from server.sms import FileSms


async def test_the_outbox_is_written_off_the_event_loop(tmp_path):
    """request_code needs no login: an outbox whose write does not return at once (here a FIFO that
    nobody reads for a second; a full or slow disk in earnest) held the event loop, and every
    connection, for as long as it took."""
    outbox = tmp_path / "sms.jsonl"
    os.mkfifo(outbox)
    got: list[bytes] = []

    def read() -> None:
        with open(outbox, "rb") as f:
            got.append(f.read())

    reader = threading.Timer(1.0, read)
    reader.start()
    sms = FileSms(outbox)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.wait_for(sms.send("13800138000", "123456", 7), 10)
    finally:
        ticker.cancel()
        reader.join(10)
        await sms.aclose()
    assert ticks >= 30, ticks  # the loop went on while the append waited (about 100 ticks a second)
    assert json.loads(got[0]) == {"phone": "13800138000", "code": "123456", "ts": 7}


async def test_concurrent_codes_are_appended_in_the_order_of_the_calls(tmp_path):
    outbox = tmp_path / "out" / "sms.jsonl"  # (its folder is made on the first append)
    sms = FileSms(outbox)
    try:
        await asyncio.gather(*(sms.send(f"139{i:08d}", f"{i:06d}", i) for i in range(300)))
    finally:
        await sms.aclose()
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert [e["ts"] for e in lines] == list(range(300))


async def test_the_console_provider_masks_the_number(capsys) -> None:
    """G6 (compliance.md): the development console provider prints the code for the operator, with
    the phone number masked: a server log is not a place for it."""
    from server.sms import ConsoleSms, mask_phone

    await ConsoleSms().send("13812348000", "123456", 0)
    out = capsys.readouterr().out
    assert out == "[sms] code 123456 for 138****8000\n"
    assert "13812348000" not in out
    assert mask_phone("123") == "****"


async def test_the_outbox_is_made_readable_by_the_servers_user_alone(tmp_path):
    """It holds phones and live codes, which reset a password: it was made under the process's umask,
    0644 from a shell."""
    old = os.umask(0o022)
    try:
        sms = FileSms(tmp_path / "out" / "sms.jsonl")
        await sms.send("13800138000", "123456", 7)
        await sms.aclose()
    finally:
        os.umask(old)
    outbox = tmp_path / "out" / "sms.jsonl"
    assert outbox.stat().st_mode & 0o777 == 0o600
    assert json.loads(outbox.read_text(encoding="utf-8"))["code"] == "123456"
    outbox.chmod(0o644)  # (one made by an earlier version, under that umask)
    sms = FileSms(outbox)
    await sms.send("13800138000", "654321", 8)
    await sms.aclose()
    assert outbox.stat().st_mode & 0o777 == 0o600
