"""A gateway waits for a request that calls an outside provider as long as the home gives the
provider (a reviewer's case: with the defaults the home may wait 15.6 s for an SMS provider or an ID
verifier, the gateway gave up at ``request_timeout_seconds``, 10 s, and answered ``internal``, retry,
while the home went on: the code was sent, or the identity verified, all the same, and the retry sent
a second SMS or was refused as a conflict)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cluster.harness import Cluster
from tests.e2e.fake_provider import Answer, FakeProvider
from tests.e2e.harness import new_id_number

MATCH = {"result": "match"}


def test_a_slow_id_check_through_a_gateway_is_answered_as_on_one_node(tmp_path: Path) -> None:
    fake = FakeProvider(tmp_path / "provider").start()
    c = Cluster(tmp_path / "cluster", size=2, request_timeout_seconds=1.0)
    try:
        for node in c.nodes:  # each attempt 1 s at most, one retry: up to 2.2 s at the home
            text = node.config.read_text(encoding="utf-8")
            node.config.write_text(text.replace("[identity]\n", "[identity]\n" + fake.config(
                id_verifier=True, timeout=1.0, retries=1), 1), encoding="utf-8")
        c.start()
        [gateway] = c.gateways()

        async def verify() -> dict:
            user = await gateway.user()
            fake.default = Answer(200, MATCH)
            fake.plan.append(Answer(200, MATCH, delay=1.6))  # the first attempt times out, the retry answers
            checking = asyncio.create_task(user.call("verify_identity", legal_name="张三", id_number=new_id_number()))
            await asyncio.sleep(0.1)
            # sent while the check runs: the home takes it after the check, so it waits as long
            behind = await user.call("me")
            reply = await checking
            me = await user.request("me")
            await user.close()
            return {**reply, "me_verified": me["id_verified"], "behind": behind}

        reply = asyncio.run(verify())
        assert (reply["ok"], reply.get("id_verified"), reply["me_verified"]) == (True, True, True), reply
        assert reply["behind"]["ok"], reply["behind"]
        assert len([s for s in fake.seen if s.path == "/id"]) == 2
    finally:
        c.cleanup()
        fake.stop()
