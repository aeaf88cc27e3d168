"""A small filesystem of its own for a test that fills it (tmpfs: needs root to mount, as the
project's machines and CI run; skipped with the reason elsewhere)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def mounted(where: Path, size: str) -> Iterator[Path]:
    """``where`` (made if missing) as a tmpfs of ``size`` (``"48m"``) while the block runs."""
    import pytest

    where.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"a small filesystem could not be mounted (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path) -> Path:
    """A file taking every byte left on ``where``'s filesystem."""
    filler = where / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):  # (the last bytes, smaller than a chunk, too)
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler
