"""How nodes are set up: default node ids, and nodes sharing a database only as one cluster."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.cluster.harness import BROKER, Cluster, NatsServer, Node, free_port
from tests.e2e.harness import ROOT, ServerProcess, open_group


async def test_default_node_ids_use_the_port_each_node_listens_on(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, default_ids=True)
    host = socket.gethostname().replace(".", "-")
    assert {n.node_id for n in c.nodes} == {f"{host}-{n.port}" for n in c.nodes}  # two ids, not "host-0" twice
    [gateway] = c.gateways()
    owner, other = await gateway.user(), await c.home().user()
    gid = await open_group(owner)  # a request through the gateway, answered by the home
    await other.request("join_group", group_id=gid)
    sent = await owner.send(gid, "hello")
    assert (await other.next_event("message"))["seq"] == sent["seq"]
    await owner.close()
    await other.close()


def serve_exits(config_text: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "q.toml").write_text(config_text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "server", "serve", "--config", str(workdir / "q.toml")],
                          capture_output=True, text=True, timeout=30, cwd=workdir, env={**os.environ,
                                                                                        "PYTHONPATH": str(ROOT)})


async def test_a_lone_node_does_not_start_on_a_clusters_database(make_cluster: Callable[..., Cluster],
                                                                 tmp_path: Path) -> None:
    """The contract: broker_url is required when more than one node shares the database."""
    c = make_cluster(size=1)
    lone = c.nodes[0].config.read_text().split("\n[cluster]")[0]  # the same database, no cluster
    done = await asyncio.to_thread(serve_exits, lone, tmp_path / "lone")
    assert done.returncode == 2, done.stderr
    assert "cannot start: another qunguan node serves this database" in done.stderr
    assert "broker_url" in done.stderr.splitlines()[-1]


async def test_a_cluster_node_does_not_start_beside_a_lone_node(tmp_path: Path) -> None:
    (tmp_path / "lone-node").mkdir()
    lone = ServerProcess(tmp_path / "lone-node", backend="postgresql").start()
    try:
        joined = lone.config.read_text() + f'\n[cluster]\nbroker_url = "{BROKER}"\nname = "tlone"\n'
        done = await asyncio.to_thread(serve_exits, joined, tmp_path / "would-be-node")
        assert done.returncode == 2, done.stderr
        assert "cannot start: another qunguan node serves this database" in done.stderr
        client = await lone.user()  # the lone node serves on
        assert (await client.request("me"))["user_id"]
        await client.close()
    finally:
        await lone.cleaned_up()


async def test_a_node_of_another_name_does_not_start_on_a_services_database(make_cluster: Callable[..., Cluster],
                                                                           tmp_path: Path) -> None:
    """One database is one service. A node with a mistyped [cluster] name on a running service's
    database shared its home lease without hearing it on NATS (its subjects are under its own name):
    it took the lease at the next failover, and no gateway heard a home again. It now refuses to
    start, naming both names, and never holds the lease."""
    c = make_cluster(size=2)
    lease = c.lease()
    n1 = c.nodes[0].config.read_text()
    typo = n1.replace(f'name = "{c.name}"', 'name = "typo638"').replace('node_id = "n1"', 'node_id = "n4"')
    assert 'name = "typo638"' in typo and 'node_id = "n4"' in typo, typo
    done = await asyncio.to_thread(serve_exits, typo, tmp_path / "typo")
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert (f"cannot start: this database belongs to the cluster named {c.name!r}, not 'typo638' "
            "(this node's [cluster] name)") in last, last
    assert f"set [cluster] name = {c.name!r}" in last and "a database of its own ([storage] url)" in last, last
    assert c.lease() == lease  # never taken, not even for a moment (the home renews it on)
    assert c.db_rows("SELECT name FROM cluster_service") == [(c.name,)]
    c.wait_ready(5)  # the service serves on


async def test_a_node_does_not_start_on_a_broker_whose_message_limit_is_under_64_kib(tmp_path: Path) -> None:
    """A node cuts its NATS batches at half the broker's max_payload but never under 64 KiB: on a
    broker that allows less, every batch and every piece of a large item was refused at publish,
    after the node had started. It refuses to start now, naming the limit and the setting."""
    why = NatsServer.missing()
    if why is not None:
        pytest.skip(why)
    conf = tmp_path / "nats.conf"
    conf.write_text("max_payload: 32768\n", encoding="utf-8")
    broker = await asyncio.to_thread(NatsServer(config_file=conf).start)
    try:
        c = Cluster(tmp_path / "c", size=1, broker_url=broker.url)
        try:
            done = await asyncio.to_thread(serve_exits, c.nodes[0].config.read_text(), tmp_path / "n1")
        finally:
            c.cleanup()
    finally:
        broker.kill9()
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert f"the NATS server at nats://127.0.0.1:{broker.port} allows messages of at most 32768 bytes" in last, last
    assert "(its max_payload); a node needs at least 65536" in last, last
    assert "raise max_payload in the nats-server configuration" in last, last


async def test_two_first_nodes_of_different_names_at_once_one_name_wins(tmp_path: Path) -> None:
    """Two first nodes on a fresh database, started at once with different names: the database
    decides (one row), one name is recorded and its node becomes the home, the other exits 2."""
    c = Cluster(tmp_path, size=2)
    names = {c.nodes[0]: c.name, c.nodes[1]: c.name + "x"}
    c.nodes[1].config.write_text(c.nodes[1].config.read_text().replace(f'name = "{c.name}"', f'name = "{c.name}x"'),
                                 encoding="utf-8")

    def start(n: Node) -> str | None:
        try:
            n.start()
        except RuntimeError as err:
            return str(err)
        return None

    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(start, c.nodes))
        refused = [(n, why) for n, why in zip(c.nodes, outcomes, strict=True) if why is not None]
        assert len(refused) == 1, outcomes
        [(loser, why)] = refused
        [winner] = [n for n in c.nodes if n is not loser]
        assert loser.proc is not None and loser.proc.wait(10) == 2, why
        assert (f"cannot start: this database belongs to the cluster named {names[winner]!r}, "
                f"not {names[loser]!r}") in why, why
        assert c.db_rows("SELECT name FROM cluster_service") == [(names[winner],)]
        assert c.wait_home(20) is winner
    finally:
        c.cleanup()


async def test_a_node_stopped_with_sigterm_does_not_warn_of_its_own_disconnection(
        make_cluster: Callable[..., Cluster]) -> None:
    """A node that closes its NATS connection itself at a stop logged `disconnected from NATS;
    reconnecting` at WARNING after `shutting down`: noise that looks like a fault, and is none."""
    c = make_cluster(size=2)
    nodes = [*c.gateways(), c.home()]
    for node in nodes:
        await asyncio.to_thread(node.stop)  # SIGTERM
    for node in nodes:
        log = node.log()
        assert "shutting down" in log, log
        assert "disconnected from NATS" not in log, log


async def test_a_node_that_cannot_reach_nats_says_so_on_readyz_and_in_a_few_log_lines(tmp_path: Path) -> None:
    """A node whose broker is unreachable at its start answered /readyz "store not probed yet" (it
    waits for NATS before its first store probe), and logged `NATS: [Errno 111] Connection refused`
    twice a second without saying where. Now /readyz names the broker, and the log names its url
    (without the credentials in it) once, then once every 30 s with a count."""
    port, http = free_port(), free_port()
    c = Cluster(tmp_path, size=1, broker_url=f"nats://qunguan:s3cret@127.0.0.1:{port}")
    node = c.nodes[0]
    config = node.config.read_text(encoding="utf-8")
    node.config.write_text(config.replace("port = 0", f"port = {http}", 1), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--config", str(node.config)],
                            cwd=node.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        expected = (503, "not ready: not connected to the cluster's broker (NATS)\n")
        deadline = time.monotonic() + 30
        answers = []  # (before its first store probe, it says that as well)
        while time.monotonic() < deadline and expected not in answers:
            try:
                r = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{http}/readyz", timeout=2)
                answers.append((r.status_code, r.text))
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        assert set(answers) <= {expected, (503, expected[1].replace("\n", "; store not probed yet\n"))}, answers
        assert expected in answers, answers
        for _ in range(10):  # it stays so
            r = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{http}/readyz", timeout=2)
            assert (r.status_code, r.text) == expected
            await asyncio.sleep(0.3)
    finally:
        proc.terminate()
        out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
        c.cleanup()
    lines = [line for line in out.splitlines() if "NATS" in line and "WARNING" in line]
    assert len(lines) == 1, out
    # (the user shown, the password not: as the config shows a url)
    assert f"NATS at nats://qunguan@127.0.0.1:{port}: " in lines[0] and "s3cret" not in out, out


async def test_a_gateway_whose_enforced_settings_differ_from_the_homes_says_which(
        make_cluster: Callable[..., Cluster], monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster review: a gateway with another [limits] and [retention] took over from the home and
    served other rules, silently (a shorter retention purges for good). The home's heartbeat carries a
    digest of each section it enforces (server/cluster/settings.py): a gateway that differs says so
    in an ERROR naming the sections, and one that does not stays silent."""
    c = make_cluster(size=3)
    odd, same = c.gateways()
    odd.stop()
    monkeypatch.setenv("QUNGUAN_RETENTION_DAYS", "200")
    monkeypatch.setenv("QUNGUAN_LIMITS_MAX_TEXT_CHARS", "10")
    odd.start()
    monkeypatch.delenv("QUNGUAN_RETENTION_DAYS")
    monkeypatch.delenv("QUNGUAN_LIMITS_MAX_TEXT_CHARS")
    c.wait_ready()
    said = "enforces other settings than this node's config in [limits], [retention]"
    assert c.wait_log(said, nodes=[odd]) is odd
    await asyncio.sleep(1.0)  # two heartbeats more
    assert "enforces other settings" not in same.log() + c.home().log()
