"""An answer larger than the broker's payload limit (a `history` page of long messages) reaches a
client on a gateway whole: the home sends it in pieces that the gateway puts together again."""

from __future__ import annotations

from collections.abc import Callable

from tests.cluster.harness import Cluster
from tests.e2e.harness import open_group

LONG = 4000  # limits.max_text_chars: 4,000 CJK characters are 12,000 bytes of UTF-8
COUNT = 120  # about 1.4 MB of text in one page: over NATS's default max_payload (1 MiB)


async def test_a_history_page_over_the_payload_limit_reaches_a_gateway_client(
        make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2)
    home, [gw] = c.home(), c.gateways()
    owner = await home.user()
    gid = await open_group(owner)
    reader = await gw.user()
    await reader.request("join_group", group_id=gid)  # (history shows what came after joining)
    for i in range(COUNT):
        text = f"{i:04d}" + "长" * (LONG - 4)
        assert (await owner.call("send", group_id=gid, text=text, client_msg_id=f"m{i}"))["ok"]
    page = await reader.call("history", timeout=15.0, group_id=gid, limit=COUNT + 10)
    assert page["ok"], page
    texts = [m["text"] for m in page["messages"] if m.get("text", "").startswith(("0", "1"))]
    assert [t[:4] for t in texts] == [f"{i:04d}" for i in range(COUNT)]
    assert all(len(t) == LONG for t in texts)
