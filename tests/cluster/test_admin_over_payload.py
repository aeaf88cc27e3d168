"""A request typed on a gateway is forwarded to the home in one NATS message: one over the broker's
max_payload (1 MiB by default; the operator socket takes up to 4 MiB) raised MaxPayloadError in the
gateway, uncaught, and the operator got no answer at all. It is refused in one line now, and the
gateway goes on serving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cluster.harness import Cluster


async def test_a_request_over_the_broker_limit_is_refused_plainly_on_a_gateway(
        make_cluster: Callable[..., Cluster], tmp_path: Path) -> None:
    c = make_cluster(size=2)
    [gw] = c.gateways()
    text = tmp_path / "rules.txt"
    text.write_text("rules " * 120_000, encoding="utf-8")  # 720 KB, twice in the request: 1.4 MB
    rc, out, err = await gw.admin("set-agreement", "--version", "v-big", "--rules-file", str(text),
                                  "--agreement-file", str(text))
    assert rc == 2 and out == "" and "over the broker's message limit" in err and "nothing ran" in err, (rc, err)
    rc, out, err = await gw.admin("ping")
    assert rc == 0, err
