"""Start qunguan for the benchmark: raise RLIMIT_NOFILE, then run ``server.cli.main``.

    python -m bench.run_qunguan serve --config PATH

10,000 connections need more file descriptors than the usual soft limit of
1,024, so the soft limit is raised to the hard limit before the server starts.
"""

from __future__ import annotations

import sys

from bench.baseline import raise_nofile


def main() -> int:
    raise_nofile()
    from server.cli import main as qunguan_main

    return qunguan_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
