"""The benchmark in its tiny configuration, so it cannot rot: `python -m bench --quick`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MESSAGING_KEYS = {
    "deliveries_per_s", "msgs_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "gen_cpu_pct",
    "machine_cpu_pct", "rss_mib", "paced_msgs_per_s", "paced_achieved_msgs_per_s", "latency_samples",
    "paced_skipped", "paced_unfinished",
}


def test_quick_benchmark_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scenarios", "a,d,e,f", "--retries", "0",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=55,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| scen. | server |" in proc.stdout

    latest = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    stamped = [p for p in out.glob("bench-*.json")]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text(encoding="utf-8")) == latest

    assert latest["meta"]["quick"] is True
    assert latest["meta"]["workdir_filesystem"] not in ("", None)
    assert latest["setup"]["qunguan"]["users"] > 0
    assert latest["meta"]["qunguan_config"]["content_filter"] != "not checked"
    scenarios = latest["scenarios"]
    assert set(scenarios) == {"a", "d", "e", "f"}
    for key in ("a", "d", "f"):
        sc = scenarios[key]
        for kind in ("baseline", "qunguan"):
            r = sc[kind]
            assert "error" not in r, r
            assert MESSAGING_KEYS <= set(r), (key, kind, MESSAGING_KEYS - set(r))
            assert r["deliveries_per_s"] > 0, (key, kind)
            assert r["latency_samples"] > 0, (key, kind)
            assert r["readers_closed"] == 0, (key, kind)
            assert not r["send_errors"], (key, kind, r["send_errors"])
        assert sc["ratio"]["deliveries_per_s"] > 0
    for kind in ("baseline", "qunguan"):
        e = scenarios["e"][kind]
        assert e["connections"] == 20 and e["closed_during_hold"] == 0
        assert "rss_per_conn_kib" in e
        f = scenarios["f"][kind]
        assert f["slow_members"] == 2 and len(f["slow_outcomes"]) == 2
        assert "rss_growth_mib" in f and "slow_server_tx_kib" in f and "slow_client_rx_kib" in f
    assert latest["targets"] and all("met" in t for t in latest["targets"])
