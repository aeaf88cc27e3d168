"""In-memory caches of what the hot path needs. The store is the truth.

Loaded once at start; every handler that writes the store updates these in the
same step. ``Group.online`` holds the live sessions of its members so fan-out
never walks the member list looking for connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governance.ratelimit import TokenBucket
    from server.session import Session


@dataclass(slots=True, eq=False)
class User:
    user_id: str
    username: str
    display_name: str
    credit_score: int
    id_verified: bool
    created_at: int
    blacklisted: bool = False
    deleted: bool = False
    powers_suspended_until: int = 0
    create_revoked: bool = False
    accepted_version: str | None = None  # of the platform rules and service agreement
    groups: set[str] = field(default_factory=set)
    sessions: set[Session] = field(default_factory=set)
    bucket: TokenBucket | None = None

    @property
    def active(self) -> bool:
        return not (self.blacklisted or self.deleted)


@dataclass(slots=True)
class Member:
    role: str
    joined_seq: int
    muted_until: int = 0


@dataclass(slots=True, eq=False)
class Group:
    group_id: str
    name: str
    category: str
    join_policy: str
    owner_id: str
    created_at: int
    announcement: str = ""
    mute_all: bool = False
    last_seq: int = 0
    dissolved_at: int | None = None
    closed_at: int | None = None
    closed_reason: str | None = None
    suspended_until: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    online: set[Session] = field(default_factory=set)
    join_requests: dict[str, int] = field(default_factory=dict)
    invited: set[str] = field(default_factory=set)
    daily: dict[int, int] = field(default_factory=dict)  # day number -> messages, for activity classes

    @property
    def alive(self) -> bool:
        return self.dissolved_at is None and self.closed_at is None


@dataclass(slots=True)
class SentMessage:
    """A ``client_msg_id`` seen recently: retries get the first seq (and wait for its commit)."""

    seq: int
    ts: int
    committed: bool
    waiters: list[Any] = field(default_factory=list)
    held: bool = False

    def reply(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "held": True} if self.held else {"seq": self.seq, "ts": self.ts}


@dataclass(frozen=True, slots=True)
class Agreement:
    """The current platform rules and service agreement (Art. 5)."""

    version: str
    rules: str
    agreement: str
    created_at: int


class State:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.by_username: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.sent: dict[tuple[str, str, str], SentMessage] = {}
