"""``qunguan admin backup --out FILE``: a consistent copy of the live database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.operator.channel import OperatorError, Result, command
from server.storage.base import BackupUnsupported

if TYPE_CHECKING:
    from server.context import Context


@command("backup")
async def backup(app: Context, args: dict[str, Any]) -> Result:
    """SQLite: the online backup API, while the server runs; other backends name their own tool."""
    out = args.get("out")
    if not isinstance(out, str) or not out:
        raise OperatorError("backup needs --out FILE")
    dest = Path(out)
    if dest.is_dir():
        raise OperatorError(f"--out names a folder, not a file: {dest}")
    if not dest.parent.is_dir():
        raise OperatorError(f"no such folder: {dest.parent}")
    started = time.monotonic()
    try:
        await app.store.backup(dest)
    except BackupUnsupported as err:
        raise OperatorError(str(err)) from None
    except OSError as err:
        raise OperatorError(f"cannot write {dest}: {err.strerror or err}") from None
    size = dest.stat().st_size
    return Result([f"backed up to {dest} ({size} bytes in {time.monotonic() - started:.2f} s)"])
