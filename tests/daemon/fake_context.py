"""A stand-in for the daemon as the request handler sees it (warden.daemon.handler).

Real jails (fail2ban's sshd filter, a real core Jail), a settable clock, and records of what the
handler asked for instead of a store, a firewall and a reload.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from warden.config import JailConfig, load_jails
from warden.core.addr import Network, parse_network
from warden.core.decisions import Decision
from warden.core.jail import Jail
from warden.daemon.handler import FleetView
from warden.daemon.jailspec import jail_spec
from warden.daemon.logtarget import parse_level
from warden.daemon.runtime import JailSlot
from warden.errors import WardenError
from warden.protocol import DoneReply, Response
from warden.sources.base import SourceState, SourceStatus
from warden.store import StoredBan

FILTERS = Path("/etc/fail2ban/filter.d")

__all__ = ["FILTERS", "FakeContext", "fake_context"]


@dataclass
class FakeContext:
    """What :func:`warden.daemon.service.handle` needs, and what it did."""

    jails: dict[str, JailSlot]
    clock: float = 1_000_000.0
    self_addresses: tuple[Network, ...] = ()
    sources: list[tuple[str, Sequence[SourceStatus]]] = field(default_factory=list)
    carried: list[Decision] = field(default_factory=list)
    reloads: list[tuple[str | None, bool, bool]] = field(default_factory=list)
    stops: int = 0
    #: the fleet the handler sees (None: a host without a fleet)
    fleet: FleetView | None = None
    #: what ``get loglevel`` and the other server gets answer
    settings: dict[str, object] = field(default_factory=lambda: {
        "loglevel": "INFO", "logtarget": "/var/log/warden.log", "syslogsocket": "auto",
        "dbfile": "/var/lib/warden/warden.db", "dbmaxmatches": 10, "dbpurgeage": 86400})
    #: jails moved onto a new configuration at run time, in order
    reconfigured: list[str] = field(default_factory=list)
    #: jails stopped by ``stop JAIL`` (``start JAIL`` brings them back)
    stopped: dict[str, JailSlot] = field(default_factory=dict)
    flushes: int = 0
    #: the bans whose matched lines "the store" kept (warden explain, banned ADDR)
    stored: list[StoredBan] = field(default_factory=list)
    #: the configuration tree (``addaction`` reads its action.d)
    config_dir: Path = Path("/nonexistent")

    def now(self) -> float:
        return self.clock

    def source_states(self) -> Iterable[tuple[str, Sequence[SourceStatus]]]:
        return self.sources

    def fleet_view(self) -> FleetView | None:
        return self.fleet

    def stored_matches(self, addr: str) -> Sequence[StoredBan]:
        return [b for b in self.stored if b.addr == addr]

    async def carry_out(self, decisions: Sequence[Decision]) -> None:
        self.carried.extend(decisions)

    async def reload(self, jail: str | None, restart: bool, unban: bool) -> Response:
        self.reloads.append((jail, restart, unban))
        return DoneReply("OK (fake)")

    def request_stop(self) -> None:
        self.stops += 1

    async def reconfigure_jail(self, cfg: JailConfig) -> str | None:
        slot = self.jails.get(cfg.name)
        if slot is None:
            return f"the jail {cfg.name!r} is not running"
        try:
            spec = jail_spec(cfg, self_addresses=self.self_addresses)
            slot.jail.reconfigure(spec)
        except (WardenError, ValueError) as exc:
            return str(exc)
        slot.config = cfg
        slot.patterns = tuple(lp.pattern for lp in cfg.logpath)
        self.reconfigured.append(cfg.name)
        return None

    def server_option(self, name: str) -> object:
        return self.settings.get(name)

    def set_loglevel(self, text: str) -> str | None:
        try:
            self.settings["loglevel"] = logging.getLevelName(parse_level(text))
        except ValueError as exc:
            return str(exc)
        return None

    def set_log(self, option: str, value: str) -> str | None:
        if value.startswith("/nonexistent/"):
            return f"Failed to change {option}: {value}: No such file or directory"
        self.settings[option] = value
        return None

    def change_setting(self, name: str, value: int) -> None:
        self.settings[name] = value

    def flush_logs(self) -> str:
        self.flushes += 1
        return "rolled over"

    async def stop_jail(self, name: str) -> None:
        self.stopped[name] = self.jails.pop(name)

    async def start_jail(self, name: str) -> str | None:
        if name in self.jails:
            return None
        if name not in self.stopped:
            return f"the jail {name!r} is not in the configuration"
        self.jails[name] = self.stopped.pop(name)
        return None


def fake_context(tmp_path: Path, *names: str, own: Sequence[str] = ("127.0.0.0/8",)
                 ) -> FakeContext:
    """A context running one sshd jail per name in ``names``, each on ``tmp_path/auth.log``."""
    conf = tmp_path / "conf"
    (conf / "filter.d").mkdir(parents=True, exist_ok=True)
    (conf / "action.d").mkdir(exist_ok=True)
    for name in ("sshd.conf", "common.conf"):
        (conf / "filter.d" / name).write_text((FILTERS / name).read_text())
    (conf / "action.d" / "dummy.conf").write_text("[Definition]\nactionban =\n")
    log = tmp_path / "auth.log"
    log.touch()
    (conf / "jail.conf").write_text("".join(
        f"[{name}]\nenabled = true\nfilter = sshd\naction = dummy\nlogpath = {log}\n"
        "maxretry = 3\nfindtime = 1h\nbantime = 600\nignoreself = false\n" for name in names))
    slots = {cfg.name: JailSlot(cfg, Jail(jail_spec(cfg)), (str(log),))
             for cfg in load_jails(conf).jails}
    nets = tuple(n for a in own if (n := parse_network(a)) is not None)
    return FakeContext(slots, self_addresses=nets,
                       sources=[("auto", [SourceStatus(str(log), SourceState.OK)])],
                       config_dir=conf)
