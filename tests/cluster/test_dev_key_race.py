"""The shared development key (ShareDevKey, IdentityVault.bind), from a review: nodes in folders of
their own starting *together* on a new database, as the contract's "any number of qunguan serve
processes form one service" has them. Each made its own key and wrote it to its file; the loser's
opened nothing the winner sealed, and it was refused at that start and every later one. The first
copy stored now wins before any file is written, and every node takes it."""

from __future__ import annotations

import threading

import pytest

from tests.cluster.test_contract_cluster import ready, register, service  # noqa: F401


async def test_two_nodes_in_own_folders_starting_together_both_start(service):  # noqa: F811
    nodes = [service("n1"), service("n2")]
    errors: dict[str, str] = {}

    def go(n, errors=errors):
        try:
            n.start()
        except Exception as exc:  # noqa: BLE001
            errors[n.dir.name] = str(exc)[-600:]

    threads = [threading.Thread(target=go, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = {}
    for n in nodes:  # a refused node started once more, alone: it must start now at least
        if n.dir.name in errors:
            try:
                n.start()
            except Exception as exc:  # noqa: BLE001
                again[n.dir.name] = str(exc)[-300:]
    if errors:
        pytest.fail(f"a node starting together with another did not start: {errors}; "
                    f"started again alone: {again or 'it started'}")
    await ready(*nodes)
    keys = {(n.dir / "identity.key").read_text(encoding="utf-8") for n in nodes}
    assert len(keys) == 1  # (one key: the first copy stored, taken by the other)
