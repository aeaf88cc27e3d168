"""A short atheris run over the request decoder (``python -m bench.fuzz`` runs a million inputs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("atheris")


def test_the_seeds_are_valid_frames_of_every_op():
    from bench.fuzz import _as_frame, check, seeds
    from protocol.messages import OP_TYPES, decode_request

    ops = set()
    for s in seeds():
        check(s)  # no finding
        if s[0] in (0, 1):
            ops.add(decode_request(_as_frame(s), 1 << 20).op)
    assert ops == set(OP_TYPES)


def test_five_thousand_inputs_and_no_finding():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", "-runs=5000", "-seed=15"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Done 5000 runs" in out, out[-3000:]
