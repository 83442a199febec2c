"""``warden replay``: the grammar here, the work in ``python -m warden.daemon.replay``.

Replay builds the jails exactly as the daemon does (the daemon is the composition root and
the CLI must not import it, DESIGN.md layers), so, like ``warden server``, the command
becomes that module with the same, already parsed, options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

__all__ = ["add_replay_parser", "exec_replay"]


def add_replay_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                      common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``warden replay`` to the subcommands ``sub``."""
    replay = sub.add_parser(
        "replay", help="run the whole jail logic offline on old logs",
        description="Replay logs through the jails (maxretry, findtime, bantime.increment, "
                    "recidive, ignoreip) with the logs' own time: which addresses would have "
                    "been banned, when and for how long. Nothing touches the firewall or the "
                    "state database.")
    common(replay)
    replay.add_argument("logs", nargs="+", metavar="LOG",
                        help="log files (.gz too); each is read by the jails whose logpath "
                             "names it, or by --jail")
    replay.add_argument("--jail", action="append", default=[], metavar="JAIL",
                        help="the jail(s) that read every LOG (repeatable)")
    replay.add_argument("--json", action="store_true", help="one JSON document")
    replay.add_argument("--since", default=None, metavar="T",
                        help="count failures from T (epoch or 2026-12-02T09:30)")
    replay.add_argument("--until", default=None, metavar="T",
                        help="count failures before T")
    replay.add_argument("--compare", default=None, metavar="DIR2",
                        help="replay with the configuration DIR2 too and print the difference")


def exec_replay(args: argparse.Namespace) -> int:
    """Become ``python -m warden.daemon.replay`` with ``args``."""
    argv = [sys.executable, "-m", "warden.daemon.replay", "-c", str(args.config_dir)]
    for jail in args.jail:
        argv += ["--jail", jail]
    for flag, value in (("--since", args.since), ("--until", args.until),
                        ("--compare", args.compare)):
        if value is not None:
            argv += [flag, str(value)]
    if args.json:
        argv.append("--json")
    argv += ["--", *args.logs]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
    return 1  # pragma: no cover - execv does not return
