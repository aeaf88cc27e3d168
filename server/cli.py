"""``qunguan`` / ``python -m server``: serve, check-config, admin, restore."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import sys


@functools.cache
def _build_parser() -> argparse.ArgumentParser:
    """The command line's parser, built once a process (argparse looks up a translation for each
    help text: some 9 ms of a test server's start, each built again in every fork of the tests' zygote)."""
    p = argparse.ArgumentParser(prog="qunguan", description="qunguan group-chat server")
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the server (the default)")
    serve.add_argument("--config", help="TOML config file (defaults apply without one)")
    check = sub.add_parser("check-config", help="validate a config file; exit 2 listing every problem")
    check.add_argument("path")
    admin = sub.add_parser(
        "admin", help="operator commands on a running server",
        usage="qunguan admin [-h] [--config PATH] [--json] COMMAND ...",
        description="Run one operator command on the running server, through its operator socket "
                    "([admin] socket of the config).",
        epilog="The commands: `qunguan admin` with no command lists them; `qunguan admin COMMAND --help` "
               "shows one command's options; docs/operator.md describes each.",
    )
    sub.add_parser("restore", add_help=False,
                   help="put a backup in the database's place, the server stopped (`qunguan restore --help`)")
    admin.add_argument("--config", metavar="PATH",
                       help="the server's TOML config file, to find its operator socket (default: built-in "
                            "defaults in the working directory)")
    admin.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")
    admin.add_argument("rest", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                       help="the operator command and its arguments (see below)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["serve", *argv]
    if argv[0] == "restore":  # (its own parser: server/restore.py)
        from server.restore import main as restore_main

        return restore_main(argv[1:])
    args = _build_parser().parse_args(argv)
    if args.command == "check-config":
        from server.config import check_config_main

        return check_config_main(args.path)
    if args.command == "admin":
        from server.operator.cli import main as admin_main

        return admin_main(args.config, ["--json", *args.rest] if args.json else args.rest)
    return _serve(args.config)


def _serve(path: str | None) -> int:
    from server.config import ConfigError, load_config

    # A SIGHUP before the server's own handler is in place (server/app.py: run holds one that comes
    # during the start) is ignored, not the end of the process: the config is read after this.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        cfg = load_config(path)
    except ConfigError as err:
        for problem in err.problems:
            print(f"config: {problem}", file=sys.stderr)
        return 2
    from server import logs

    logs.setup(cfg.server.log_level, cfg.server.log_json)  # one line per event on stderr; JSON if log_json
    for warning in cfg.warnings:  # valid keys that do nothing as the file stands (check-config prints them too)
        logging.getLogger("qunguan").warning("config: %s", warning)
    from server.app import CannotStart, run

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a declared dependency off Windows
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        status = runner(run(cfg))
    except CannotStart as err:
        if cfg.server.log_json:  # every line on stderr is one JSON object, this one too
            logging.getLogger("qunguan").critical("qunguan: cannot start: %s", err)
        else:
            print(f"qunguan: cannot start: {err}", file=sys.stderr)
        return 2
    return int(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
