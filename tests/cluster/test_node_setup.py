"""How nodes are set up: default node ids, and nodes sharing a database only as one cluster."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.cluster.harness import BROKER, Cluster
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
