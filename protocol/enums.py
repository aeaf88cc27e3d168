"""Closed sets of the contract, as ``StrEnum``s: each member *is* its wire string.

``Role.ADMIN == "admin"``, ``str(Role.ADMIN) == "admin"`` and both encoders
write the plain string, so these can be used anywhere a string was before.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CommentAction", "CommentsMode", "JoinPolicy", "NewRole", "ReportTarget", "Role", "SubjectType"]


class Role(StrEnum):
    """A member's role in one group."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class NewRole(StrEnum):
    """The roles ``set_role`` may assign (ownership moves only by ``transfer_owner``)."""

    ADMIN = "admin"
    MEMBER = "member"

    @property
    def role(self) -> Role:
        return Role(self.value)


class JoinPolicy(StrEnum):
    """How a group is joined: at once, after an owner's or admin's approval, or by invitation only."""

    OPEN = "open"
    APPROVAL = "approval"
    INVITE = "invite"


class ReportTarget(StrEnum):
    """What a ``report`` is about."""

    MESSAGE = "message"
    USER = "user"
    GROUP = "group"
    ACCOUNT = "account"  # a public account (P15)
    POST = "post"
    COMMENT = "comment"


class SubjectType(StrEnum):
    """Who runs a public account: a verified person or a verified organisation."""

    INDIVIDUAL = "individual"
    ORGANIZATION = "organization"


class CommentsMode(StrEnum):
    """A post's comments: anyone may comment, comments wait for the account's approval, or none."""

    OPEN = "open"
    REVIEW = "review"
    CLOSED = "closed"


class CommentAction(StrEnum):
    """What an account's owner or editor does with a comment."""

    APPROVE = "approve"
    HIDE = "hide"
    DELETE = "delete"
