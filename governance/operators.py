"""Named operators (P5): the platform roles and which ``qunguan admin`` commands each may run.

``PERMISSIONS`` is the single source: command -> the roles that may run it.
docs/operator.md carries the table generated from :func:`permission_rows`
(``python -m tests.test_operator_roles`` rewrites it; a test compares).

Besides commands there are *actions* finer than a command: ``lift`` of a
``blacklist`` sanction reopens a closed account and lifts the bar on its
identity, so it is its own action (:data:`LIFT_BLACKLIST`), held by the content
safety officer alone.

With no operators configured the server runs in single-operator mode: whoever
can open the operator socket is :data:`SINGLE_OPERATOR`, role ``operator``
with every permission (:func:`may` is not consulted then).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "COMMANDS",
    "LIFT_BLACKLIST",
    "PERMISSIONS",
    "SINGLE_OPERATOR",
    "OperatorRole",
    "may",
    "permission_rows",
    "refusal",
]


class OperatorRole(StrEnum):
    CONTENT_SAFETY_OFFICER = "content_safety_officer"  # 安全管理负责人 (P5): answers for the platform
    OPERATOR = "operator"  # day-to-day enforcement
    REVIEWER = "reviewer"  # content review and complaints, read-only otherwise


SINGLE_OPERATOR = "operator"  # the name recorded when no operators are configured

LIFT_BLACKLIST = "lift (a blacklist)"

_CSO, _OP, _RV = OperatorRole.CONTENT_SAFETY_OFFICER, OperatorRole.OPERATOR, OperatorRole.REVIEWER
_ALL = frozenset({_CSO, _OP, _RV})
_ENFORCE = frozenset({_CSO, _OP})
_OFFICER = frozenset({_CSO})

# command -> roles that may run it. Commands not listed are refused to every named operator.
PERMISSIONS: dict[str, frozenset[OperatorRole]] = {
    # looking
    "ping": _ALL,
    "reports": _ALL,
    "show-report": _ALL,
    "report-stats": _ALL,
    "review-queue": _ALL,
    "sanctions": _ALL,
    "appeals": _ALL,
    "holds": _ALL,
    "verify-audit": _ALL,
    # content review and complaints (Art. 10, 12)
    "decide": _ALL,
    "resolve": _ALL,
    "remove-message": _ALL,
    "remove-text": _ALL,
    "remove-comment": _ALL,
    "take-down-file": _ALL,
    "release-file": _ENFORCE,  # (lets a file the platform judged illegal spread again)
    # sanctions on groups and people (Art. 11)
    "warn-group": _ENFORCE,
    "suspend-group": _ENFORCE,
    "close-group": _ENFORCE,
    "suspend-admin": _ENFORCE,
    "revoke-create": _ENFORCE,
    "credit": _ENFORCE,
    "unlock-login": _ENFORCE,  # (support: a person locked out by someone else's guesses, a shared address)
    "blacklist": _ENFORCE,
    "lift": _ENFORCE,
    LIFT_BLACKLIST: _OFFICER,
    "decide-appeal": _ENFORCE,
    # measures on public accounts (P7, P8, P10-P13)
    "accounts": _ALL,
    "warn-account": _ENFORCE,
    "restrict-account": _ENFORCE,
    "suspend-account": _ENFORCE,
    "close-account": _ENFORCE,
    "license-account": _ENFORCE,
    "grant-name": _ENFORCE,
    "account-credit": _ENFORCE,
    "remove-post": _ENFORCE,
    # emergencies (Art. 5)
    "notice": _ENFORCE,
    "freeze-category": _ENFORCE,
    "remove-term": _ENFORCE,
    # records (Art. 13) and filing (P7)
    "hold": _ENFORCE,
    "filing-report": _ENFORCE,
    "export": _OFFICER,  # carries decrypted identity data
    "release-hold": _OFFICER,
    "purge": _OFFICER,
    "backup": _OFFICER,  # a copy of everything, sealed identity data included
    "seal-record": _OFFICER,  # vouches that entries without a MAC are the record's own, from before its key
    # the platform's rules and keys
    "set-agreement": _OFFICER,
    "rotate-key": _OFFICER,
}

COMMANDS: tuple[str, ...] = tuple(PERMISSIONS)
ROLE_ORDER: tuple[OperatorRole, ...] = (_CSO, _OP, _RV)


def may(role: OperatorRole | str, action: str) -> bool:
    """Whether a named operator of ``role`` may run ``action`` (a command, or :data:`LIFT_BLACKLIST`)."""
    return role in PERMISSIONS.get(action, frozenset())


def refusal(name: str, role: OperatorRole | str, action: str) -> str | None:
    """None when allowed; otherwise the one-line reason the operator is shown."""
    if may(role, action):
        return None
    allowed = [str(r) for r in ROLE_ORDER if r in PERMISSIONS.get(action, frozenset())]
    who = " or ".join(allowed) if allowed else "no role"
    return f"{name} ({role}) may not run {action}: it needs {who}"


def permission_rows() -> list[tuple[str, dict[OperatorRole, bool]]]:
    """(action, {role: allowed}) for every action, in table order."""
    return [(action, {r: r in roles for r in ROLE_ORDER}) for action, roles in PERMISSIONS.items()]
