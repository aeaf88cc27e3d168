"""Contract error codes (docs/protocol.md, "Error codes") and the exception that carries one."""

from __future__ import annotations

ERROR_CODES = frozenset(
    {
        "bad_request",
        "unknown_op",
        "unauthenticated",
        "forbidden",
        "not_found",
        "not_member",
        "conflict",
        "bad_code",
        "verification_required",
        "member_cap_reached",
        "create_cap_reached",
        "join_cap_reached",
        "admin_cap_reached",
        "credit_too_low",
        "muted",
        "group_suspended",
        "group_closed",
        "blacklisted",
        "content_blocked",
        "rate_limited",
        "too_large",
        "storage_quota_reached",
        "internal",
    }
)


class ContractError(Exception):
    """A refusal the client sees as ``{"ok": false, "code": code, "reason": reason}``.

    ``extra`` carries additional reply fields (e.g. ``retry_after_ms`` for
    ``rate_limited``).
    """

    def __init__(self, code: str, reason: str, **extra: object) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"not a contract error code: {code!r}")
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.extra = extra


class FrameError(ContractError):
    """A frame that is not a valid request (``bad_request`` or ``unknown_op``).

    ``rid`` is the frame's ``rid`` when it could be read (a 64-bit integer), else
    ``None``: the reply's ``re``. It is not a reply field (``extra`` stays empty).
    """

    def __init__(self, code: str, reason: str, *, rid: int | None = None) -> None:
        super().__init__(code, reason)
        self.rid = rid
