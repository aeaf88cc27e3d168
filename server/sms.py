"""SMS providers: ``console`` logs the code, ``file`` appends a JSON line to the outbox."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("qunguan.sms")


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


class ConsoleSms:
    def send(self, phone: str, code: str, ts_ms: int) -> None:
        # Shown to the operator running a dev server; the number is masked.
        print(f"[sms] code {code} for {mask_phone(phone)}", flush=True)


class FileSms:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def send(self, phone: str, code: str, ts_ms: int) -> None:
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"phone": phone, "code": code, "ts": ts_ms}) + "\n")


def make_sms(provider: str, outbox: Path) -> ConsoleSms | FileSms:
    return FileSms(outbox) if provider == "file" else ConsoleSms()
