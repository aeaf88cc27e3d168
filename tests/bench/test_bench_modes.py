"""``python -m bench --tail --quick``, ``--flood --quick`` and scenario (g), so they cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(tmp_path: Path, *args: str) -> tuple[str, Path]:
    out = tmp_path / "results"
    retries = [] if {"--tail", "--flood"} & set(args) else ["--retries", "0"]  # (read by the scenarios only)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *retries, "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, out


def test_tail_quick(tmp_path: Path) -> None:
    stdout, out = bench(tmp_path, "--tail")
    assert "| round | server | group |" in stdout
    res = json.loads((out / "tail-latest.json").read_text(encoding="utf-8"))
    assert not (out / "latest.json").exists()  # the scenarios' latest result is not overwritten
    tail = res["tail"]
    sat = tail["saturation"]
    assert sat["baseline"]["msgs"] > 0 and sat["qunguan"]["msgs"] > 0
    assert sat["qunguan"]["wal_mib"] is not None  # the WAL exists and was measured
    kinds = [r["kind"] for r in tail["rounds"]]
    assert kinds == ["baseline", "qunguan"]  # interleaved, baseline first
    for r in tail["rounds"]:
        for g in ("small", "large"):
            assert r[g]["samples"] > 0 and r[g]["p99_ms"] is not None, (r["kind"], g)
            assert r[g]["unfinished"] == 0, (r["kind"], g)  # every delivery of the phase recorded
            assert r[g]["achieved_msgs_per_s"] > 0
        assert "others_cpu_pct" in r and "gen_max_lag_ms" in r
    q = tail["rounds"][1]
    assert "stalls" in q and "longest_stall_ms" in q
    assert {t["target"].split(":")[0] for t in res["targets"]} >= {"paced, group of 3", "paced, group of 6"}


def test_flood_quick(tmp_path: Path) -> None:
    stdout, out = bench(tmp_path, "--flood")
    res = json.loads((out / "flood-latest.json").read_text(encoding="utf-8"))
    f = res["flood"]
    assert f["unauth"] == 20 and f["idle"] == 20
    for kind in ("baseline", "qunguan"):
        r = f[kind]
        assert r["unloaded"]["samples"] > 0 and r["loaded"]["samples"] > 0, kind
        status = r["flood_status"]
        assert status["ready"] and status["idle_open"] == 20 and status["failed"] == 0, (kind, status)
        assert status["unauth_open"] + status["reopened"] >= 20, (kind, status)
        assert r["group_readers_closed"] == 0
        assert r["rss_peak_mib"] >= r["rss_unloaded_mib"] > 0
        assert r["p99_loaded_over_unloaded"] is not None
    assert res["targets"][0]["value"] == f["qunguan"]["p99_loaded_over_unloaded"]


def test_an_option_the_run_does_not_read_is_refused(tmp_path: Path) -> None:
    """``--postgres`` with ``--tail`` ran qunguan on SQLite all the same, ``--qunguan-root`` with
    ``--cluster`` ran this checkout: an option the chosen run ignores is now an error."""
    for args, says in [(["--tail", "--postgres"], "--postgres: not read by --tail"),
                       (["--flood", "--retries", "0"], "--retries: not read by --flood"),
                       (["--cluster", "--qunguan-root", str(tmp_path)], "--qunguan-root: not read by --cluster"),
                       (["--rounds", "3"], "--rounds: not read by the scenarios")]:
        proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr)


def test_scenario_g_quick(tmp_path: Path) -> None:
    stdout, out = bench(tmp_path, "--scenarios", "g")
    res = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    g = res["scenarios"]["g"]
    for kind in ("baseline", "qunguan"):
        r = g[kind]
        assert "error" not in r, r
        assert r["senders"] == 1 and r["window"] == 10
        assert r["deliveries_per_s"] > 0 and r["latency_samples"] > 0
        assert not r["send_errors"]
    assert g["ratio"]["deliveries_per_s"] > 0
    assert any(t["target"].startswith("(g)") for t in res["targets"])


def test_a_servers_cpu_includes_its_child_processes():
    """qunguan's WAL sync helper is a child process doing work a server thread used to do: the
    bench counts it as the server's CPU."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from bench.servers import child_pids, cpu_seconds

    busy_child = "import time\nt = time.process_time()\nwhile time.process_time() - t < 20: pass\n"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {busy_child!r}])\n"
        "time.sleep(30)\n")])
    try:
        deadline = time.monotonic() + 15
        while cpu_seconds(parent.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)  # the parent sleeps: only its busy child's CPU can get there
        assert cpu_seconds(parent.pid) >= 0.4
    finally:
        for child in child_pids(parent.pid):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_the_generators_cpu_leaves_out_the_servers_it_started() -> None:
    """The bench starts every server as its own child process: a busy child (a node under
    test) is the server's CPU, not the generator's, and not "others" once metered as a part."""
    import signal
    import time

    from bench.servers import Meters, cpu_seconds

    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 20: pass\n"
    node = subprocess.Popen([sys.executable, "-c", busy])  # a child of this process, as nodes are
    try:
        meters = Meters(os.getpid(), parts={"node": [node.pid]})
        meters.start()
        # This process sleeps: only the child burns CPU, as much of it as a busy machine leaves it
        # (with the suite beside, a third of a core or less): metered until it has had 0.3 s.
        deadline = time.monotonic() + 15
        while cpu_seconds(node.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        result = meters.stop()
        assert result["cpu_pct"]["node"] > 0, result
        # before: the child's CPU counted as the generator's
        assert result["gen_cpu_pct"] < result["cpu_pct"]["node"] / 2, result
    finally:
        os.kill(node.pid, signal.SIGKILL)
        node.wait()


def test_state_load_small(tmp_path: Path) -> None:
    """``python -m bench.state_load`` on a few thousand rows of the machine's PostgreSQL: every
    row loaded back (the dissolved groups' none of them), and the per-row memory figures it
    reports are there and plausible."""
    from tests import pgtools

    reason = pgtools.unavailable()
    if reason is not None:
        import pytest

        pytest.skip(reason)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.state_load", "--users", "3000", "--ended", "200", "--rounds", "1",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines[0]["users"] == 3000 and lines[0]["groups"] == 300 and lines[0]["members"] == 3000
    assert lines[-1]["ended"] == 200
    summary = lines[-1]
    assert summary["rows_per_s_best"] > 0
    assert 100 < summary["bytes_per_user"] < 5000 and 100 < summary["bytes_per_group"] < 10_000
    assert 0 < summary["bytes_per_member"] < 5000
    assert list(tmp_path.glob("state-load-*.json"))


def test_takeover_small(tmp_path: Path) -> None:
    """``python -m bench.takeover`` on a few thousand users with the machine's PostgreSQL and NATS:
    each round's new home took the lease well within the lease (it learnt of the kill from the
    home's lock, not from the lease running out) and served; the new home's phases are reported."""
    from tests.cluster.harness import unavailable

    reason = unavailable()
    if reason is not None:
        import pytest

        pytest.skip(reason)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.takeover", "--users", "3000", "--rounds", "2", "--lease", "6",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    *rounds, summary = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["killed"] for r in rounds] == ["n1", "n2"]
    for r in rounds:
        assert r["noticed_by_lock"] and r["took_lease_s"] < 3.0 and r["took_lease_s"] <= r["served_s"], (
            r, proc.stderr[-4000:])
        assert "identity keys" in r["home_says"] and "state" in r["home_says"], r
    assert summary["users"] == 3000 and len(summary["served_s"]) == 2
    assert list(tmp_path.glob("takeover-*.json"))
