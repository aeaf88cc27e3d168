"""The small typed face of the running server that handlers and operator commands see.

``server.app.App`` satisfies it; handlers import this, never ``server.app``, so
there is no import circle between the composition root and what it composes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from governance.codes import CodeBook
    from governance.content import ContentFilter
    from governance.ratelimit import AddressWindow, WindowCounter
    from server.config import Config
    from server.loopmon import LoopMonitor
    from server.media.service import MediaService
    from server.netlog import QuietConnections
    from server.providers import IdVerifier
    from server.security import IdentityVault, Passwords
    from server.session import Session
    from server.sms import SmsProvider
    from server.state import Agreement, State, User
    from server.storage.base import Store


class Context(Protocol):
    cfg: Config
    # Called with (group id, seq) when a message is edited, recalled or removed: a new cluster home
    # does not send it to connections it re-attaches later as the previous home left it
    # (server/cluster/home.py: Tail.forget); does nothing otherwise.
    forget_owed: Callable[[str, int], None]
    now_ms: Callable[[], int]
    randbelow: Callable[[int], int]
    store: Store
    state: State
    agreement: Agreement | None
    content: ContentFilter
    vault: IdentityVault
    passwords: Passwords
    sms: SmsProvider
    id_verifier: IdVerifier
    codes: CodeBook
    codes_per_phone: WindowCounter
    codes_per_ip: AddressWindow  # keyed by the network of the address it is given (governance/ratelimit.py)
    codes_per_service: WindowCounter  # every code sent, under the one key limits.SERVICE_WIDE
    logins_per_account: WindowCounter  # login requests naming an account, whatever their outcome
    failed_logins_per_ip: AddressWindow
    failed_codes_per_ip: AddressWindow  # wrong SMS codes given to register and reset_password
    failed_logins_per_user: WindowCounter  # wrong passwords given to delete_account, per account
    failed_logins_per_account: WindowCounter  # wrong passwords given to login, per account (or unknown name)
    reports_per_user: WindowCounter
    reports_when_mostly_rejected: WindowCounter
    appeals_per_user: WindowCounter
    mention_all_per_group: WindowCounter  # send with mention_all, per group id
    renames_per_user: WindowCounter  # set_profile with a new display name, per user id
    joins_per_user: WindowCounter  # join_group that joins or asks to join, per user id
    managing_per_user: WindowCounter  # the acts of limits.MANAGING_OPS, per user id
    sessions: set[Session]
    monitor: LoopMonitor
    quiet_connections: QuietConnections  # closed without logging in, counted per address (server/netlog.py)
    media: MediaService  # uploads in progress, media lists, signed URLs (server/media/)
    purge_refused: str | None  # why the background retention purge will not run now (server/retention.py)
    purges_by_hand: int  # `qunguan admin purge` runs as of now in this process (server/retention.py)
    orphans_swept_at: float | None  # this process's last sweep of unnamed media files (monotonic; media/cleanup.py)

    async def media_from_home(self, sha256: str, size: int) -> bytes | None:
        """A stored file this node's [media] path lacks, read from a cluster's home: its bytes, or None
        (none there either, or not a cluster's gateway). HomeUnreachable during a failover."""
        ...

    def attach(self, sess: Session, user: User, token_hash: bytes) -> None: ...
    def detach(self, sess: Session) -> None: ...
    def arm_auth_timer(self, sess: Session) -> bool: ...
