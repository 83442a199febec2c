"""A minimal configuration tree for starting the real daemon from service-script tests.

One jail on an empty log with a filter of its own and the dummy action (records only), its
socket, pid file and log under the given directory, and no database (``:memory:``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Tree", "environment", "warden_argv", "write_tree"]


@dataclass(frozen=True)
class Tree:
    """Where the tree and the daemon's files are."""

    conf: Path
    run: Path
    socket: Path
    pidfile: Path
    logfile: Path


def write_tree(root: Path) -> Tree:
    """Write the tree under ``root`` (``root/conf``; state under ``root/run``, not created:
    the daemon makes its own state directories)."""
    conf, run = root / "conf", root / "run"
    (conf / "filter.d").mkdir(parents=True)
    (conf / "action.d").mkdir()
    tree = Tree(conf, run, run / "warden.sock", run / "warden.pid", root / "warden.log")
    watched = root / "probe.log"
    watched.touch()
    (conf / "warden.conf").write_text(
        f"[Definition]\nsocket = {tree.socket}\npidfile = {tree.pidfile}\n"
        f"dbfile = :memory:\nlogtarget = {tree.logfile}\nloglevel = INFO\n")
    (conf / "filter.d" / "probe.conf").write_text("[Definition]\nfailregex = ^fail from <HOST>$\n")
    (conf / "action.d" / "dummy.conf").write_text(
        "[Definition]\nactionstart =\nactionstop =\nactionban =\nactionunban =\n")
    (conf / "jail.conf").write_text(
        f"[probe]\nenabled = true\nfilter = probe\nlogpath = {watched}\nbackend = polling\n"
        "banaction = dummy\naction = dummy\nmaxretry = 3\n")
    return tree


def warden_argv(*args: str) -> list[str]:
    """``warden ARGS`` as the installed command runs it (this interpreter, this checkout)."""
    return [sys.executable, "-m", "warden", *args]


def environment(**extra: str) -> dict[str, str]:
    """The test's environment with ``extra`` added and no service manager's variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    env.update(extra)
    return env
