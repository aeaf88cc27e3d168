"""SMS providers: ``console`` prints the code, ``file`` appends a JSON line to the outbox,
``http`` posts it to a gateway (server/providers.py). ``send`` returns once the code is
handed over, or raises ``ContractError("internal", ...)`` when it could not be."""

from __future__ import annotations

import json
import logging
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
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, phone: str, code: str, ts_ms: int) -> None:
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"phone": phone, "code": code, "ts": ts_ms}) + "\n")

    async def aclose(self) -> None:
        return None


def make_sms(ident: IdentityConfig) -> SmsProvider:
    if ident.sms_provider == "http":
        return make_http_sms(ident)
    if ident.sms_provider == "file":
        return FileSms(ident.sms_outbox)
    return ConsoleSms()
