"""The enforcement record's hash chain (Art. 11: keep records; tamper-evident).

Each entry's hash is SHA-256 over the previous entry's hash and the entry's
fields in a canonical JSON form, so editing, deleting or reordering any entry
breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64
FIELDS = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        [prev_hash, *(entry.get(f) for f in FIELDS)], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def first_broken(entries: Iterable[Mapping[str, Any]]) -> int | None:
    """The ``id`` of the first entry whose links do not hold, or ``None`` when the chain is whole.

    ``entries`` come in ``id`` order, each with ``prev_hash`` and ``hash`` besides :data:`FIELDS`.
    """
    prev = GENESIS
    for e in entries:
        if e["prev_hash"] != prev or entry_hash(prev, e) != e["hash"]:
            broken: int = e["id"]
            return broken
        prev = e["hash"]
    return None
