"""``resolve`` of several reports of one incident charges the person once, for the content: a report
about the person beside a content report is spared. It was spared from a read made before any write,
so when the content report was not resolved by the command after all (another operator resolved it
meanwhile), the person was charged nothing for an upheld report."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from protocol.errors import ContractError
from server.app import App
from server.operator.channel import CURRENT, Operator
from server.storage import changes as ch
from tests.server.lookups import user


async def test_a_report_about_the_person_charges_when_the_content_report_beside_it_fails(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    sender, reporter = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = (await sender.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await reporter.request("join_group", group_id=gid)
    seq = (await sender.request("send", group_id=gid, text="abuse"))["seq"]
    about_user = int((await reporter.request("report", target_type="user", user_id=sender.user_id,
                                             group_id=gid, reason="harassment"))["report_id"])
    about_message = int((await reporter.request("report", target_type="message", group_id=gid, seq=seq,
                                                reason="harassment"))["report_id"])
    before = app.state.users[sender.user_id].credit_score
    real = app.store.apply

    def apply(*changes: Any, audit: Any = None) -> Any:
        if any(isinstance(c, ch.ResolveReport) and c.report_id == about_message for c in changes):
            # another operator resolved the content report (rejected) just before this write
            refused = asyncio.get_running_loop().create_future()
            refused.set_exception(ContractError("conflict", f"report {about_message} is not open"))
            return refused
        return real(*changes, audit=audit)

    monkeypatch.setattr(app.store, "apply", apply)
    CURRENT.set(Operator("op", "admin", 0, False))
    done = await app.operator.run(json.dumps({"cmd": "resolve", "args": {
        "report_id": [about_user, about_message], "outcome": "upheld", "note": "属实"}}).encode())
    assert done["exit"] == 2 and f"report {about_message} is already resolved" in "\n".join(done["lines"]), done
    rows = {r["report_id"]: r["status"] for r in await app.store.reports(open_only=False)}
    assert rows == {about_user: "resolved", about_message: "open"}
    assert app.state.users[sender.user_id].credit_score == before - app.cfg.credit.penalty_report_upheld
    await sender.close()
    await reporter.close()
