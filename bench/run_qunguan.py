"""Start qunguan for the benchmark: raise RLIMIT_NOFILE, then run ``server.cli.main``.

    python -m bench.run_qunguan serve --config PATH

10,000 connections need more file descriptors than the usual soft limit of
1,024, so the soft limit is raised to the hard limit before the server starts.

``QUNGUAN_BENCH_PROFILE=NAME[,NAME...]``: a server whose working folder has one of these
names (``qunguan`` in the usual runs; ``sqlite``, ``postgres``, ``n1`` (the home), ``n2``,
``n3`` in ``--cluster`` runs) runs under
cProfile and writes ``profile.pstats`` there when it stops (use ``--keep``). The
profile counts the event loop thread's CPU time (``time.thread_time``), not wall time,
so time the process spends waiting for a CPU on a busy machine is not charged to
whatever function happened to be running.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.baseline import raise_nofile


def main() -> int:
    raise_nofile()
    from server.cli import main as qunguan_main

    if Path.cwd().name in os.environ.get("QUNGUAN_BENCH_PROFILE", "").split(","):
        import cProfile
        import time

        prof = cProfile.Profile(time.thread_time)
        prof.enable()
        try:
            return qunguan_main(sys.argv[1:])
        finally:
            prof.disable()
            prof.dump_stats("profile.pstats")
    return qunguan_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
