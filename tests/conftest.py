"""Settings for the whole test session (loaded before any test module, in every xdist worker)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PYCACHE = Path(tempfile.gettempdir()) / "qunguan-test-pycache"


def _bytecode_for_child_processes() -> None:
    """The tests start well over a thousand Python processes (``python -m server serve`` and ``admin``,
    the terminal client, the benchmark). Where ``PYTHONDONTWRITEBYTECODE`` is set, as on this project's
    shared machines, each of them compiled the project's hundred-odd modules from source again: a third
    of a server's start-up. The children inherit this environment: they now write and reuse their
    bytecode in a cache directory outside the source tree (``PYTHONPYCACHEPREFIX``), so the tree stays
    as clean as that setting keeps it. A prefix already chosen is kept."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", ""):
        os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))


_bytecode_for_child_processes()


def _hypothesis_without_deadlines() -> None:
    """Hypothesis fails an example that takes over 200 ms as "flaky" when it passes on its rerun. The
    suite runs CPU-bound on two cores beside server processes and a browser, where a parser's example
    is sometimes that slow for no fault of the parser: the property tests here check what a parser
    answers, not how fast (the benchmark measures speed)."""
    from hypothesis import settings

    settings.register_profile("qunguan", deadline=None)
    settings.load_profile("qunguan")


_hypothesis_without_deadlines()
