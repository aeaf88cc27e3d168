"""SMS providers: ``console`` prints the code, ``file`` appends a JSON line to the outbox,
``http`` posts it to a gateway (server/providers.py). ``send`` returns once the code is
handed over, or raises ``ContractError("internal", ...)`` when it could not be."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from server.providers import make_http_sms

if TYPE_CHECKING:
    from server.config import IdentityConfig

log = logging.getLogger("qunguan.sms")


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


class SmsProvider(Protocol):
    async def send(self, phone: str, code: str, ts_ms: int) -> None: ...

    async def aclose(self) -> None: ...


class ConsoleSms:
    async def send(self, phone: str, code: str, ts_ms: int) -> None:
        # Shown to the operator running a dev server; the number is masked.
        print(f"[sms] code {code} for {mask_phone(phone)}", flush=True)

    async def aclose(self) -> None:
        return None


class FileSms:
    """Appends each code to the outbox file on a thread of its own: ``request_code`` needs no login,
    and a slow or stuck file system (a full disk, a network mount) must not stall the event loop and
    every connection with it. One thread, so the lines are appended in the order of the calls."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qunguan-sms-outbox")

    async def send(self, phone: str, code: str, ts_ms: int) -> None:
        line = json.dumps({"phone": phone, "code": code, "ts": ts_ms}) + "\n"
        await asyncio.get_running_loop().run_in_executor(self._writer, self._append, line)

    def _append(self, line: str) -> None:
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        # Phones and live codes (a code resets a password): readable by the server's user alone, whatever
        # the process's umask (the shipped unit's is 0077; a shell's is usually 0022).
        fd = os.open(self.outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if stat.S_ISREG(os.fstat(fd).st_mode):  # (one made before, under a shell's umask, too; not a pipe)
            with contextlib.suppress(PermissionError):  # (another user's file: theirs to mind)
                os.fchmod(fd, 0o600)
        with open(fd, "a", encoding="utf-8") as f:
            f.write(line)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._writer.shutdown, wait=True)  # (the appends already handed over finish)


def make_sms(ident: IdentityConfig) -> SmsProvider:
    if ident.sms_provider == "http":
        return make_http_sms(ident)
    if ident.sms_provider == "file":
        return FileSms(ident.sms_outbox)
    return ConsoleSms()
