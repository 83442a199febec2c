"""What answering requests needs from the daemon, as two narrow protocols.

:func:`warden.daemon.service.handle` answers the control socket and the fail2ban-compatible
socket alike; it sees the daemon only through :class:`RequestContext`. Reloading (which builds
and starts jails) sees it through :class:`ReloadContext`. :class:`warden.daemon.app.Daemon`
provides both; tests give the handler a small fake instead. Neither protocol names the daemon
class, so ``service`` never imports ``app``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from warden.config import JailConfig, JailsConfig
from warden.core.addr import Network
from warden.core.decisions import Decision
from warden.daemon.runtime import JailSlot
from warden.protocol import FleetInfo, Response
from warden.sources.base import SourceStatus
from warden.store import StoredBan

__all__ = ["FleetView", "ReloadContext", "RequestContext"]


@dataclass(frozen=True, slots=True)
class FleetView:
    """The fleet as a request shows it: the link's state, and who decided each ban this host
    took from the fleet, by (jail, address as :func:`~warden.core.addr.format_target` writes
    it). An entry may outlive its ban (an expiry does not remove it): check the jail."""

    info: FleetInfo
    origins: Mapping[tuple[str, str], str] = field(default_factory=dict)


class RequestContext(Protocol):
    """The daemon as one request sees it."""

    #: the configuration tree (``set JAIL addaction`` reads its action.d)
    config_dir: Path

    @property
    def jails(self) -> Mapping[str, JailSlot]:
        """The running jails by name (a reload may replace the mapping's entries)."""
        ...

    @property
    def self_addresses(self) -> Sequence[Network]:
        """This host's own addresses, which a manual ban refuses without ``force``."""
        ...

    def now(self) -> float:
        """The daemon's clock."""
        ...

    def source_states(self) -> Iterable[tuple[str, Sequence[SourceStatus]]]:
        """Each log source's key (a watcher kind, or ``journal:JAIL``) and its entries."""
        ...

    def fleet_view(self) -> FleetView | None:
        """The fleet's state and the origins of remote bans (None: no fleet runs)."""
        ...

    async def carry_out(self, decisions: Sequence[Decision]) -> None:
        """Record ``decisions`` in the store and the firewall; return once committed."""
        ...

    async def reload(self, jail: str | None, restart: bool, unban: bool) -> Response:
        """Re-read the configuration (one at a time) and say what happened."""
        ...

    def request_stop(self) -> None:
        """Ask the daemon to stop once the answer is sent (bans stay in the firewall)."""
        ...

    def stored_matches(self, addr: str) -> Sequence[StoredBan]:
        """The latest ban of ``addr`` in each jail that kept its matched lines (the store's
        ``matches_of``: ``warden explain``)."""
        ...

    async def reconfigure_jail(self, cfg: JailConfig) -> str | None:
        """Run the running jail ``cfg.name`` on ``cfg`` from now on (a runtime ``set``,
        already checked by config.validate), keeping its failures and bans; its log sources
        follow a changed ``logpath``, ``logencoding`` or ``journalmatch``. None, or why it
        cannot."""
        ...

    def server_option(self, name: str) -> object:
        """A setting of the running daemon as fail2ban's ``get NAME`` returns it
        (``loglevel``, ``logtarget``, ``syslogsocket``, ``dbfile``, ``dbmaxmatches``,
        ``dbpurgeage``)."""
        ...

    def set_loglevel(self, text: str) -> str | None:
        """Log at ``text`` (a level name or number) from now on; None, or why not."""
        ...

    def set_log(self, option: str, value: str) -> str | None:
        """``set logtarget`` / ``set syslogsocket`` (``option``): log to ``value`` from now
        on, until the next reload; None, or why not (the log then stays where it was)."""
        ...

    def change_setting(self, name: str, value: int) -> None:
        """Use ``value`` for the store's setting ``name`` (``dbpurgeage`` in seconds,
        ``dbmaxmatches``) from now on, until the daemon restarts."""
        ...

    def flush_logs(self) -> str:
        """Reopen the log file (after a rotation): ``rolled over``, or ``flushed`` when the
        log is no file."""
        ...

    async def stop_jail(self, name: str) -> None:
        """Stop the running jail ``name``: its bans leave the firewall, the store keeps
        them (a start or reload brings them back)."""
        ...

    async def start_jail(self, name: str) -> str | None:
        """Start the configured jail ``name`` that is not running; None, or why not."""
        ...


class ReloadContext(RequestContext, Protocol):
    """The daemon as a reload sees it: the request view plus building and starting jails."""

    config: JailsConfig

    async def build_jail(self, cfg: JailConfig) -> JailSlot | None:
        """A runnable jail for ``cfg``, or None (reported) if it cannot run."""
        ...

    def remove_jail(self, name: str) -> JailSlot | None:
        """Stop running the jail ``name`` and hand it back."""
        ...

    async def start_jails(self, slots: list[JailSlot]) -> None:
        """Start ``slots``: firewall rules, restored bans, reconciliation for these only."""
        ...

    def sync_sources(self) -> None:
        """Start, restart or stop log sources to match the running jails."""
        ...
