"""An operator command typed on a gateway whose home dies with it (a chaos reviewer): the home took the
command and never answered, and the gateway waited out the two minutes a command may take while a new
home served after one second. It now answers as soon as it hears the home gone or replaced, saying
that the command may or may not have run."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

from tests.cluster.harness import Cluster


async def test_a_command_whose_home_dies_before_answering_is_answered_when_the_home_is_gone(
        make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2)
    home = c.home()
    c.wait_ready()
    [gw] = c.gateways()
    assert home.proc is not None
    home.proc.send_signal(signal.SIGSTOP)  # (the command reaches it and waits: no answer comes)
    try:
        asking = asyncio.ensure_future(gw.admin("ping"))
        await asyncio.sleep(1.0)
        home.kill9()
        gone = time.monotonic()
        rc, out, err = await asyncio.wait_for(asking, 60)
    finally:
        if home.alive:
            home.proc.send_signal(signal.SIGCONT)
    took = time.monotonic() - gone
    assert rc == 2 and "went away before it answered: it may or may not have run" in err, (rc, out, err)
    assert took < 15, f"answered {took:.1f} s after the home died"
