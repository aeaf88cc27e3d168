"""Which schema migrations a database still needs, and whether this version may open it at all.

Both backends record each migration they apply in ``schema_migrations``: its number and, since
this check exists, a SHA-256 of its script. Before applying anything a store compares that record
with the migrations it carries (:func:`plan_migrations`, no I/O) and refuses, with one line for
the operator, a database it would damage:

- one upgraded by a newer version (it records migrations this version does not know: an older
  program on a newer schema writes rows the newer one does not expect);
- one made by a build whose migrations are numbered differently (a recorded migration above one
  it lacks, or a recorded script that differs from this version's of that number): applying or
  skipping by number there runs the wrong script, or none.

Rows recorded before checksums existed carry none; they are trusted (once no gap or newer number
says otherwise) and given this version's checksum, so that from then on a changed script is seen.
A released migration's script is therefore never edited: a fix is a new migration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.storage.base import StoreUnavailable


class SchemaMismatch(StoreUnavailable):
    """The database's recorded migrations do not fit this version's: it must not be opened."""


def checksum(script: str) -> str:
    """The hex SHA-256 of a migration's script, exactly as this version carries it."""
    return hashlib.sha256(script.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationPlan:
    """What a store does before it serves: apply ``to_apply`` in order, each in its own transaction
    with its checksum; record this version's checksum on the rows of ``to_stamp`` (applied before
    checksums were recorded)."""

    to_apply: list[tuple[int, str]]
    to_stamp: list[tuple[int, str]]  # (version, checksum)


def upgrade_notice(plan: MigrationPlan, upgrading: bool, where: str) -> str | None:
    """The line logged before an upgrade's migrations run (None for a new database, or nothing to
    apply): one that rebuilds an index of a large table runs for minutes without a word otherwise (an
    upgrade review's server was silent 13 s on 3 M network-log rows), and nothing is served until all are in."""
    if not upgrading or not plan.to_apply:
        return None
    first, last = plan.to_apply[0][0], plan.to_apply[-1][0]
    span = str(first) if first == last else f"{first} to {last}"
    return (f"upgrading {where}: applying schema migration(s) {span}; those that rebuild an index of a large "
            f"table (the network log, the messages) take minutes there, and the server serves once all are "
            f"applied (docs/operations.md, Upgrading)")


def _listed(versions: Sequence[int]) -> str:
    return ", ".join(str(v) for v in versions)


def plan_migrations(recorded: Mapping[int, str | None], known: Sequence[tuple[int, str]],
                    where: str) -> MigrationPlan:
    """The plan for a database whose ``schema_migrations`` holds ``recorded`` (version → checksum,
    ``None`` where none was recorded), with this version's migrations ``known`` (ascending), or
    :class:`SchemaMismatch` naming ``where`` (the database, as the operator knows it)."""
    scripts = dict(known)
    newest = max(scripts, default=0)
    newer = sorted(v for v in recorded if v > newest)
    if newer:
        raise SchemaMismatch(
            f"{where} was upgraded by a newer version of qunguan: it records schema migration(s) "
            f"{_listed(newer)}, and this version knows up to {newest}; run the newer version, or "
            f"restore the backup taken before the upgrade"
        )
    strange = sorted(v for v in recorded if v not in scripts)
    top = max(recorded, default=0)
    missing = [v for v in scripts if v not in recorded and v < top]
    if strange or missing:
        what = (f"schema migration(s) {_listed(strange)} this version does not have" if strange
                else f"schema migration {top} but not {_listed(missing)}")
        raise SchemaMismatch(
            f"{where} records {what}: it was made by a build whose migrations are numbered "
            f"differently from this version's (a development build?) and cannot be upgraded in "
            f"place; restore a backup made by a released version, or start on a new database"
        )
    changed = sorted(v for v, sha in recorded.items() if sha is not None and sha != checksum(scripts[v]))
    if changed:
        raise SchemaMismatch(
            f"{where} records schema migration(s) {_listed(changed)} with a script that differs from "
            f"this version's of the same number: it was made by another build, and upgrading it "
            f"by number would skip or repeat changes; restore a backup made by a released version, "
            f"or start on a new database"
        )
    return MigrationPlan(
        to_apply=[(v, s) for v, s in known if v not in recorded],
        to_stamp=[(v, checksum(scripts[v])) for v, sha in sorted(recorded.items()) if sha is None],
    )
