"""The runtime pipeline with real parts, for the tests that drive it: fail2ban's sshd filter
in a jail of its own, the in-memory store, the dry-run firewall and a fake clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from warden.backends.base import JailRule
from warden.backends.dryrun import DryRunBackend
from warden.config import load_jails
from warden.core.jail import Jail
from warden.daemon.enforcer import Enforcer, Route
from warden.daemon.jailspec import jail_spec
from warden.daemon.runtime import JailSlot, Runtime
from warden.store import MemoryBanStore

__all__ = ["FILTERS", "Clock", "pipeline", "sshd_tree"]

FILTERS = Path("/etc/fail2ban/filter.d")


class Clock:
    """A clock the test moves by setting ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sshd_tree(root: Path, *, findtime: str = "1h", bantime: str = "60") -> Path:
    """A configuration directory under ``root``: one sshd jail (fail2ban's filter, maxretry
    3, the dummy action) reading ``root/auth.log``."""
    conf = root / "conf"
    (conf / "filter.d").mkdir(parents=True)
    (conf / "action.d").mkdir()
    for name in ("sshd.conf", "common.conf"):
        (conf / "filter.d" / name).write_text((FILTERS / name).read_text())
    (conf / "action.d" / "dummy.conf").write_text("[Definition]\nactionban =\n")
    (conf / "jail.conf").write_text(
        f"[sshd]\nenabled = true\nfilter = sshd\naction = dummy\nlogpath = {root}/auth.log\n"
        f"maxretry = 3\nfindtime = {findtime}\nbantime = {bantime}\nignoreself = false\n")
    return conf


async def pipeline(root: Path, clock: Clock
                   ) -> tuple[Runtime, MemoryBanStore, DryRunBackend, asyncio.Task[None]]:
    """The runtime over :func:`sshd_tree` (bantime 60 s) and its running enforcer task."""
    cfg = load_jails(sshd_tree(root)).jails[0]
    store, firewall = MemoryBanStore(), DryRunBackend()
    enforcer = Enforcer({"dryrun": firewall}, clock=clock)
    await enforcer.start_jails({"sshd": Route(JailRule("sshd"), ("dryrun",))})
    runtime = Runtime(store, enforcer, clock=clock)
    runtime.add_jail(JailSlot(cfg, Jail(jail_spec(cfg)), (f"{root}/auth.log",)))
    return runtime, store, firewall, asyncio.create_task(enforcer.run())
