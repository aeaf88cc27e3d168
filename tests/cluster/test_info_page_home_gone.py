"""A group's public page asked of a gateway while no home answers (a failover) said 404, "no public
information for this group": a crawler or a cache keeps that as the page gone. It says 503 with
Retry-After, and neither answer is kept (Cache-Control: no-store)."""

from __future__ import annotations

import asyncio
import signal
import urllib.error
import urllib.request
from collections.abc import Callable

from tests.cluster.harness import Cluster


def _get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


async def test_a_page_asked_while_no_home_answers_is_503_not_404(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, extra_config="[groups]\ninfo_page_min_members = 1\n")
    home = c.home()
    c.wait_ready()
    [gw] = c.gateways()
    owner = await gw.user()
    gid = (await owner.request("create_group", name="公开群", category="work", join_policy="open"))["group_id"]
    url = f"http://127.0.0.1:{gw.port}/groups/{gid}"
    status, _ = await asyncio.to_thread(_get, url)
    assert status == 200
    status, headers = await asyncio.to_thread(_get, f"http://127.0.0.1:{gw.port}/groups/1234567890")
    assert (status, headers.get("Cache-Control")) == (404, "no-store")  # no such page: not kept either
    assert home.proc is not None
    home.proc.send_signal(signal.SIGSTOP)  # (the home answers nothing: a gateway's request times out)
    try:
        status, headers = await asyncio.to_thread(_get, url)
    finally:
        home.proc.send_signal(signal.SIGCONT)
    assert (status, headers.get("Retry-After"), headers.get("Cache-Control")) == (503, "5", "no-store"), headers
    await owner.close()
