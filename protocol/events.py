"""Builders for the contract's event maps (``{"ev": NAME, ...}``) and object shapes."""

from __future__ import annotations

from typing import Any


def user_obj(user_id: str, display_name: str, role: str) -> dict[str, Any]:
    return {"user_id": user_id, "display_name": display_name, "role": role}


def message_obj(
    group_id: str, seq: int, ts: int, sender: dict[str, Any], text: str | None
) -> dict[str, Any]:
    """A message; ``text=None`` means deleted (no text, ``deleted: true``)."""
    if text is None:
        return {"group_id": group_id, "seq": seq, "ts": ts, "sender": sender, "deleted": True}
    return {"group_id": group_id, "seq": seq, "ts": ts, "sender": sender, "text": text}


def event(_name: str, /, **fields: Any) -> dict[str, Any]:
    return {"ev": _name, **fields}


def message_event(msg: dict[str, Any]) -> dict[str, Any]:
    return {"ev": "message", **msg}
