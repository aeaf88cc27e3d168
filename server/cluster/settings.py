"""The settings a cluster's home enforces for the whole service, as digests its heartbeat carries.

Every limit, cap, word-list setting and period a home decides by is its own config's: nodes whose
configs differ serve other rules after a takeover, silently (a shorter ``retention.days`` purges for
good). The home puts a digest of each section of :data:`ENFORCED` in its heartbeat; a gateway whose
config differs logs an ERROR naming the sections (server/cluster/node.py). Paths are left out (each
node names its own files), but what the word-list, media-list and reserved-name files held when the
node loaded them is compared (different lists filter differently), as are the sections each node keeps
for itself (``[server]``, ``[storage]``, ``[cluster]``, ``[admin]``, ``[metrics]``) and
``[[operators]]``, which the home checks on each operator command.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from server.config import Config

ENFORCED = ("limits", "rate_limits", "groups", "retention", "reports", "identity", "credit", "content", "media",
            "public_accounts", "audit")

_cached: tuple[Config, dict[str, str]] | None = None


def digests(cfg: Config) -> dict[str, str]:
    """``{section: digest}`` of :data:`ENFORCED` in ``cfg`` (kept for the config object it was made of:
    a reload makes a new one)."""
    global _cached
    if _cached is None or _cached[0] is not cfg:
        _cached = cfg, {name: _digest(getattr(cfg, name)) for name in ENFORCED}
    return _cached[1]


def differing(mine: dict[str, str], theirs: object) -> list[str]:
    """The sections whose digests differ, of those both name (a heartbeat of a home of the previous
    version carries none: nothing differs)."""
    if not isinstance(theirs, dict):
        return []
    return sorted(name for name, digest in mine.items() if name in theirs and theirs[name] != digest)


def _digest(section: object) -> str:
    text = json.dumps(_plain(section), sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it, the same in every process (a set sorted, no path)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(v) for f in dataclasses.fields(value)
                if not isinstance(v := getattr(value, f.name), Path)}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value if not isinstance(v, Path)]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not isinstance(v, Path)}
    return value
