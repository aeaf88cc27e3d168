"""The in-memory index of stored media: what ``send`` and ``publish`` check attachments against.

Loaded from the ``media`` table at start and kept by the handlers that write it,
so attaching needs no await. ``last_used`` is when the row was made or last
attached (memory only; the row's ``created_at`` after a restart): the cleanup
never removes a file that was attached within ``media.unattached_ttl_seconds``,
which covers a message still on its way to the database. ``attached`` is set
once anything carried it (and at start for what something carries); the
frequent cleanup looks only at media never attached, retention's at the rest.
``placing`` counts
files being moved into place whose row is not in the index yet, so the cleanup
never deletes a file an upload is about to name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class MediaEntry:
    media_id: str
    sha256: str
    uploader: str
    mime: str
    kind: str
    size: int
    name: str | None
    width: int | None
    height: int | None
    created_at: int
    last_used: int = 0
    # The SHA-256 of the bytes as they were sent when the stored file differs (an image's metadata
    # removed), else None: a list of known files names a photo as it circulates, metadata and all.
    received: str | None = None
    attached: bool = False  # a message or post carries it (or one on its way to the database does)
    removing: bool = False  # chosen by a cleanup whose delete is in flight: not attachable

    def __post_init__(self) -> None:
        self.last_used = max(self.last_used, self.created_at)

    @property
    def digests(self) -> tuple[str, ...]:
        """The digests a list of known files may name it by: as sent, and as stored."""
        return (self.sha256,) if self.received is None else (self.received, self.sha256)


class MediaIndex:
    __slots__ = ("_by_sha", "entries", "placing")

    def __init__(self) -> None:
        self.entries: dict[str, MediaEntry] = {}
        self._by_sha: dict[str, int] = {}
        self.placing: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, media_id: str) -> MediaEntry | None:
        return self.entries.get(media_id)

    def add(self, e: MediaEntry) -> None:
        if e.media_id in self.entries:
            raise ValueError(f"media {e.media_id} is indexed already")
        self.entries[e.media_id] = e
        self._by_sha[e.sha256] = self._by_sha.get(e.sha256, 0) + 1

    def remove(self, media_id: str) -> MediaEntry | None:
        e = self.entries.pop(media_id, None)
        if e is not None:
            n = self._by_sha[e.sha256] - 1
            if n:
                self._by_sha[e.sha256] = n
            else:
                del self._by_sha[e.sha256]
        return e

    def file_in_use(self, sha256: str) -> bool:
        """Does any row, or an upload moving its file into place, name this content?"""
        return sha256 in self._by_sha or sha256 in self.placing

    def claim_placing(self, sha256: str) -> None:
        self.placing[sha256] = self.placing.get(sha256, 0) + 1

    def release_placing(self, sha256: str) -> None:
        n = self.placing.get(sha256, 0) - 1
        if n > 0:
            self.placing[sha256] = n
        else:
            self.placing.pop(sha256, None)
