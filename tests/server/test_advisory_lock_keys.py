"""Every PostgreSQL advisory-lock namespace is its own: two features that picked the same
key would block each other (or, worse, one would think it holds the other's lock)."""

from __future__ import annotations

import importlib
import pkgutil

import server.storage


def test_each_advisory_lock_namespace_is_used_once() -> None:
    seen: dict[int, str] = {}
    for mod in pkgutil.iter_modules(server.storage.__path__):
        module = importlib.import_module(f"server.storage.{mod.name}")
        for name, value in vars(module).items():
            if name.startswith("LOCK_") and isinstance(value, int):
                owner = f"{module.__name__}.{name}"
                if value in seen and seen[value].rsplit(".", 1)[1] != name:
                    raise AssertionError(f"{owner} and {seen[value]} share the advisory-lock key {value:#x}")
                seen.setdefault(value, owner)
    assert len(seen) >= 8
