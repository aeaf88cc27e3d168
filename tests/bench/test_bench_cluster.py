"""``python -m bench --cluster --quick``: one scenario on the three setups and the paced group, so it cannot rot.

Needs the machine's PostgreSQL and NATS (as the cluster's own tests do); skips without them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import cluster
from tests import pgtools

ROOT = Path(__file__).resolve().parents[2]
NATS = os.environ.get("QUNGUAN_TEST_NATS", "nats://127.0.0.1:4222")


def _nats_unavailable() -> str | None:
    host, _, port = NATS.split("://", 1)[1].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        return f"NATS is not reachable at {NATS} ({exc}); set QUNGUAN_TEST_NATS to one that is"
    return None


def _run_quick(out: Path, *extra: str) -> tuple[str, dict[str, Any]]:
    """``--cluster --quick --scenarios a`` (plus ``extra``) writing to ``out``: (its stdout, its JSON)."""
    why = pgtools.unavailable() or _nats_unavailable()
    if why:
        pytest.skip(why)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--cluster", "--quick", "--scenarios", "a", "--retries", "0", *extra,
         "--postgres", pgtools.ADMIN_URL, "--nats", NATS, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads((out / "cluster-latest.json").read_text(encoding="utf-8"))


def test_cluster_quick_at_a_fixed_paced_rate(tmp_path: Path) -> None:
    """One run of the three setups (a run is the heaviest thing the suite does, so there is one):
    scenario (a) at half of its saturation, the group (t) at the fixed rate ``--cluster-paced-rate``
    asks, on every setup; the run does not report the half-of-saturation target it did not measure."""
    out = tmp_path / "results"
    stdout, res = _run_quick(out, "--cluster-paced-rate", "40")
    assert "| scen. | setup |" in stdout
    assert not (out / "latest.json").exists()
    assert set(res["scenarios"]) == {"a", "t"}
    assert res["meta"]["paced_rate"] == 40
    for key, sc in res["scenarios"].items():
        for setup in ("sqlite", "postgres", "cluster"):
            r = sc[setup]
            assert "error" not in r, (key, setup, r)
            assert r["deliveries_per_s"] > 0 and r["latency_samples"] > 0, (key, setup)
            assert r["readers_closed"] == 0 and not r["send_errors"], (key, setup, r)
        assert set(sc["postgres"]["cpu_pct"]) == {"postgres"}
        assert {"n2", "n3", "postgres"} <= set(sc["cluster"]["cpu_pct"])
        assert sc["postgres_over_sqlite"] > 0 and sc["cluster_over_sqlite"] > 0
    for setup in ("sqlite", "postgres", "cluster"):
        assert res["scenarios"]["t"][setup]["paced_msgs_per_s"] == 40
        assert res["scenarios"]["a"][setup]["paced_msgs_per_s"] != 40  # (a) keeps half of its saturation
    c = res["meta"]["cluster"]
    assert c["home"] == "n1" and c["home_lease"][0].startswith("n1/")
    assert c["home_lease_at_end"] == c["home_lease"]  # no failover during the run
    assert [t["target"][:3] for t in res["targets"]] == ["(a)"]
    # Without a fixed rate the group was paced at half of its saturation, and its target is reported:
    unpaced = {**res, "meta": {**res["meta"], "paced_rate": None}}
    assert [t["target"][:3] for t in cluster.targets(unpaced)] == ["(a)", "3 n"]
