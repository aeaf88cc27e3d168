"""Server processes for the benchmark: the baseline and qunguan, each in its own process.

Also the benchmark's qunguan config (temporary folder, SQLite, cheap argon2,
limits sized for 2,000-member groups, a 10,000-term word list) and the
``/proc`` readers for a process's CPU time and resident memory.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")

WORD_LIST_TERMS = 10_000

QUNGUAN_CONFIG = """\
# Written by `python -m bench` for one run; the folder is deleted afterwards.
[server]
host = "127.0.0.1"
port = 0
log_level = "WARNING"

[storage]
url = "sqlite:///qunguan.db"

[limits]
# Scenario (c) needs a 2,000-member group; the platform cap and the owner's
# credit level (below) must both allow it.
max_members = 3000

[rate_limits]
# The benchmark measures throughput, so the per-user send limit is off (0).
# The limits below only guard sign-up and login, which the setup does in bulk
# from one address.
messages_per_second = 0
code_requests_per_phone_per_hour = 0
code_requests_per_ip_per_hour = 0
code_requests_per_hour = 0
logins_per_account_per_hour = 0
failed_logins_per_ip_per_hour = 0
connections_per_ip_per_minute = 0
unauthenticated_connections_per_ip = 0  # thousands of clients connect from this one address before logging in
password_checks_per_ip = 0  # ... and log in at once
joins_per_minute = 0  # each member joins all its groups in a row
managing_per_minute = 0  # the setup opens its groups in a row

[groups]
# One size class: groups of any size need no ID verification of their owner.
[[groups.size_classes]]
name = "any"
min_members = 0

[identity]
sms_provider = "file"
sms_outbox = "sms.jsonl"
argon2_time_cost = 1
argon2_memory_kib = 1024
require_id_to_create = false

[credit]
# Every account starts at the top level, whose cap allows 3,000-member groups.
initial_score = 150
[[credit.levels]]
min_score = 0
max_groups_created = 0
max_groups_joined = 20
[[credit.levels]]
min_score = 60
max_members = 200
max_groups_created = 2
[[credit.levels]]
min_score = 100
[[credit.levels]]
min_score = 150
max_members = 3000
max_groups_created = 20

# 10,000 prohibited terms (Art. 10). The config accepts the list now; the
# server matches against it once the content-filter issue lands.
[[content.lists]]
category = "bench"
path = "words.txt"
action = "block"
"""


def write_word_list(path: Path, n: int = WORD_LIST_TERMS, seed: int = 2017) -> str:
    """``n`` distinct terms of 2 to 4 CJK characters (none can match the bench's ASCII texts).

    Returns one of them, for checking that the filter is enforced.
    """
    rng = random.Random(seed)
    terms: set[str] = set()
    while len(terms) < n:
        terms.add("".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4))))
    ordered = sorted(terms)
    path.write_text("\n".join(ordered) + "\n", encoding="utf-8")
    return ordered[n // 2]


# Handshake pacing (server/admission.py) would make the scenarios' set-up, which opens
# thousands of connections from one address, wait; only --flood measures it (at its defaults).
NO_PACING = "handshakes_per_ip_per_second = 0\nhandshakes_per_second = 0\n"


def write_qunguan_config(workdir: Path, storage_url: str | None = None, pacing: bool = False,
                         qunguan_root: Path | None = None) -> tuple[Path, str]:
    """The config file and one listed term; ``storage_url`` replaces the SQLite file (e.g. PostgreSQL).

    ``pacing``: keep the handshake pacing's defaults; else turn it off (where the server at
    ``qunguan_root`` has it: older checkouts, compared with ``--qunguan-root``, do not).
    """
    term = write_word_list(workdir / "words.txt")
    cfg = workdir / "qunguan.toml"
    text = QUNGUAN_CONFIG
    if storage_url is not None:
        text = text.replace('url = "sqlite:///qunguan.db"', f'url = "{storage_url}"', 1)
    server_config = (qunguan_root or ROOT) / "server" / "config.py"
    if not pacing and "handshakes_per_ip_per_second" in server_config.read_text(encoding="utf-8"):
        text = text.replace('log_level = "WARNING"\n', 'log_level = "WARNING"\n' + NO_PACING, 1)
    cfg.write_text(text, encoding="utf-8")
    return cfg, term


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) and of its live child processes, in
    seconds. The children count because they are part of the server: qunguan's WAL sync helper
    runs the fsyncs that a thread of the server itself used to run."""
    total = _own_cpu_seconds(pid)
    for child in child_pids(pid):
        try:
            total += _own_cpu_seconds(child)
        except OSError:
            pass  # it ended meanwhile
    return total


def _own_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK  # fields 14 (utime) and 15 (stime)


def child_pids(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux: /proc/PID/task/*/children)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


def cpu_seconds_sum(pids: list[int]) -> float:
    """:func:`cpu_seconds` over several processes; one that has gone counts 0."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    return 0


def tcp_backlogs(server_port: int, client_ports: set[int]) -> dict[int, tuple[int, int]]:
    """For each client port: (bytes in the server socket's send queue, bytes in the client
    socket's receive queue), from ``/proc/net/tcp`` (IPv4 loopback).

    A client that stops reading backs data up there first: its own receive
    buffer, then the server's kernel send buffer (both autotuned, up to
    net.ipv4.tcp_rmem / tcp_wmem's max), and only then the server's outbox.
    """
    tx: dict[int, int] = {}
    rx: dict[int, int] = {}
    with open("/proc/net/tcp", encoding="ascii") as f:
        next(f)
        for line in f:
            parts = line.split()
            lport = int(parts[1].rsplit(":", 1)[1], 16)
            rport = int(parts[2].rsplit(":", 1)[1], 16)
            txq, rxq = (int(x, 16) for x in parts[4].split(":", 1))
            if lport == server_port and rport in client_ports:
                tx[rport] = txq
            elif rport == server_port and lport in client_ports:
                rx[lport] = rxq
    return {p: (tx.get(p, 0), rx.get(p, 0)) for p in client_ports}


def machine_cpu_seconds() -> tuple[float, float, float, float]:
    """All cores since boot, in seconds: (busy, softirq, user+nice+system, steal).

    busy excludes idle and iowait; softirq is mostly loopback TCP work, which no
    process is charged for.
    """
    with open("/proc/stat", "rb") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return ((sum(v[:8]) - v[3] - v[4]) / CLK_TCK, v[6] / CLK_TCK, (v[0] + v[1] + v[2]) / CLK_TCK, v[7] / CLK_TCK)


class Meters:
    """CPU over a phase, each as % of one core (so up to 100 x cores for the machine).

    ``server_cpu_pct``: the server process (all its threads, and its child processes: the
    WAL sync helper). ``gen_cpu_pct``: this process alone. The servers the bench starts are
    this process's children too, so counting its children here would count every node under
    test (and every idle one) as the generator's. ``machine_cpu_pct``: all busy time on the machine;
    ``softirq_cpu_pct``: its part in softirq (loopback TCP); ``others_cpu_pct``:
    user+system time of every other process (anything else running disturbs the run);
    ``steal_cpu_pct``: time the hypervisor ran something else while this VM's CPUs had work
    (every thread of the machine stops meanwhile: a stall no process causes).
    ``parts``: more processes of the system under test by name (``--cluster``: the other
    nodes, PostgreSQL's backends, NATS), each reported as ``cpu_pct[name]`` and not
    counted among the others.
    """

    def __init__(self, server_pid: int, gen_pid: int | None = None,
                 parts: dict[str, list[int]] | None = None) -> None:
        self.pids = (server_pid, gen_pid or os.getpid())
        self.parts = {k: v for k, v in (parts or {}).items() if v}
        self._start: tuple[float, ...] = ()
        self.result: dict[str, Any] = {}

    def _read(self) -> tuple[float, ...]:
        return (cpu_seconds(self.pids[0]), _own_cpu_seconds(self.pids[1]), *machine_cpu_seconds(),
                *(cpu_seconds_sum(p) for p in self.parts.values()), time.monotonic())

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, Any]:
        end = self._read()
        dt = end[-1] - self._start[-1]
        d = [100.0 * (end[i] - self._start[i]) / dt if dt > 0 else 0.0 for i in range(len(end) - 1)]
        self.result = {
            "server_cpu_pct": round(d[0], 1),
            "gen_cpu_pct": round(d[1], 1),
            "machine_cpu_pct": round(d[2], 1),
            "softirq_cpu_pct": round(d[3], 1),
            "others_cpu_pct": round(max(0.0, d[4] - d[0] - d[1] - sum(d[6:])), 1),
            "steal_cpu_pct": round(d[5], 1),
        }
        if self.parts:
            self.result["cpu_pct"] = {k: round(v, 1) for k, v in zip(self.parts, d[6:], strict=True)}
        return self.result


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the driver dies, so no server is left behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class ServerProc:
    """A server child process that prints ``listening on ws://HOST:PORT/ws`` when ready."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.dir = workdir
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.host = "127.0.0.1"
        self.port = 0
        self.lines: list[str] = []
        self.listed_term = ""  # qunguan: a term of its word list
        self.parts: dict[str, list[int]] = {}  # more processes to meter (see Meters)
        self._log = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0, pythonpath: list[Path] | None = None) -> ServerProc:
        self._log = open(self.dir / f"{self.name}.log", "w", encoding="utf-8")
        paths = [str(p) for p in (pythonpath or [])] + [str(ROOT)]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        self.proc = subprocess.Popen(
            self.argv, cwd=self.dir, env=env, text=True,
            stdout=subprocess.PIPE, stderr=self._log,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        ready = threading.Event()
        threading.Thread(target=self._read_stdout, args=(ready,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                why = "exited" if self.proc.returncode is not None else f"timed out after {timeout:.0f} s"
                raise RuntimeError(
                    f"{self.name} did not start ({why}):\n{''.join(self.lines)}{self.log_tail()}"
                )
        return self

    def _read_stdout(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if len(self.lines) < 1000:
                self.lines.append(line)
            if not ready.is_set() and "listening on ws://" in line:
                self.url = line.split("listening on ", 1)[1].strip()
                hostport = self.url.split("://", 1)[1].split("/", 1)[0]
                self.host, port = hostport.rsplit(":", 1)
                self.port = int(port)
                ready.set()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return (self.dir / f"{self.name}.log").read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def port_for(self, member: int, senders: int) -> int:
        """The port a group's ``member``-th connection goes to (the first ``senders`` send)."""
        return self.port

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def start_baseline(workdir: Path) -> ServerProc:
    d = workdir / "baseline"
    d.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "bench.baseline", "--host", "127.0.0.1", "--port", "0"]
    return ServerProc("baseline", argv, d).start()


def start_qunguan(workdir: Path, qunguan_root: Path | None = None, storage_url: str | None = None,
                  pacing: bool = False) -> ServerProc:
    """qunguan from this checkout, or from ``qunguan_root`` (another checkout, to compare versions)."""
    d = workdir / "qunguan"
    d.mkdir(parents=True, exist_ok=True)
    cfg, term = write_qunguan_config(d, storage_url, pacing, qunguan_root)
    argv = [sys.executable, "-m", "bench.run_qunguan", "serve", "--config", str(cfg)]
    srv = ServerProc("qunguan", argv, d)
    srv.listed_term = term
    return srv.start(pythonpath=[qunguan_root] if qunguan_root else None)
