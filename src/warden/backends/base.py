"""The ``FirewallBackend`` protocol: how the daemon makes a ban real.

Interface for the daemon (one backend instance serves every jail that uses it)::

    backend = registry.create(...) or NftablesBackend(runner=SubprocessRunner())
    backend.start([JailRule("sshd", ports=("ssh",), protocols=("tcp",)), ...])
    backend.present("sshd", now)   # the kernel's evidence: element -> Held(remaining, age)
    backend.reconcile(active_bans_from_the_store, now, jails=["sshd"])  # no flush
    backend.ban([BanEntry("sshd", "192.0.2.7", until=now + 600)])      # queued
    backend.unban([UnbanEntry("sshd", "192.0.2.9")])                  # queued
    backend.commit(now)      # every queued change in one transaction (nft -f, ipset restore…)
    backend.flush("sshd")    # drop every ban of a jail (``warden unban --all``)
    backend.stop()           # release; bans stay in the kernel and expire there
    backend.stop(remove=True)  # tear warden's rules and sets down (uninstall)

Rules the daemon can rely on:

- ``start`` is idempotent and never removes existing bans: calling it again (restart, reload)
  keeps the set elements already in the kernel, so a restart opens no window.
- ``ban`` and ``unban`` only queue; ``commit(now)`` applies the queue in as few commands as the
  firewall allows (one for nftables). Banning a banned address refreshes its timeout; unbanning
  an address that is not banned is not an error.
- Where the firewall has per-element timeouts (nftables, ipset) a ban carries ``until - now`` to
  the kernel, so bans expire even while the daemon is down; elsewhere the daemon's own expiry
  must unban. ``until=None`` is a permanent ban; an entry already expired at commit is skipped.
  A backend whose kernel bounds timeouts declares ``max_timeout``; a ban with more time left
  than that goes in *without* a timeout and the daemon's expiry removes it (so a ``10y`` ban
  is enforced for ten years, and never lapses early while the daemon is down).
- ``present(jail, now)`` reports the jail's elements with what the kernel knows of their time
  (:class:`~warden.core.reconcile.Held`); the daemon decides from it what a restart adopts.
- ``reconcile(active, now, jails)`` makes the kernel agree with ``active`` for the named jails
  (every started jail if ``None``): adds missing bans, removes the others, returns what it
  changed, never flushes, and never touches the elements of a jail it was not given.
- Errors are :class:`warden.errors.BackendError` with a one-line message. A failed batch is
  retried element by element, so one bad address cannot cost the other bans.
- Every method is synchronous and quick (one short process per commit); command actions and
  notifications that may be slow have their own entry points (``commandaction``, ``notify``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from warden.core.reconcile import Held
from warden.errors import BackendError

__all__ = [
    "BanEntry",
    "BaseBackend",
    "FirewallBackend",
    "Held",
    "JailRule",
    "Network",
    "Reconciled",
    "UnbanEntry",
    "parse_network",
    "remaining",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(
    address: str | Network | ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> Network:
    """An address or CIDR as a network (a single address is a /32 or /128).

    IPv4-mapped IPv6 addresses become IPv4. Raises :class:`BackendError` naming the value.
    """
    if isinstance(address, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return address
    try:
        net = ipaddress.ip_network(address, strict=False)
    except ValueError as exc:
        raise BackendError(f"not an IP address or network: {address!s}") from exc
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen == 128:
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(mapped)
    return net


@dataclass(frozen=True, slots=True)
class JailRule:
    """What a backend blocks for one jail.

    ``ports`` empty means all ports (``*-allports``); ``protocols`` empty means all traffic
    from the address. Ports are numbers, ranges (``1000:2000`` or ``1000-2000``) or service
    names. ``blocktype`` is ``drop`` (packets vanish, connections time out) or ``reject``.
    """

    jail: str
    ports: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ("tcp",)
    blocktype: str = "drop"

    @staticmethod
    def from_options(jail: str, port: str | None, protocol: str | None,
                     blocktype: str = "drop") -> JailRule:
        """Build from fail2ban-style option text (``port = ssh,2222``, ``protocol = tcp``)."""
        ports = tuple(p for p in (port or "").replace(",", " ").split() if p)
        if any(p in ("all", "0:65535", "1:65535", "0-65535", "1-65535") for p in ports):
            ports = ()
        protos = tuple(p for p in (protocol or "tcp").replace(",", " ").split() if p)
        if protos in (("all",), ("ip",)):
            protos = ()
        return JailRule(jail, ports, protos, blocktype)


@dataclass(frozen=True, slots=True)
class BanEntry:
    """One ban to enforce: jail, address or network, end time (epoch, ``None`` = forever).

    ``info`` carries what command actions and notifications may use (``failures``,
    ``matches``, ``fields`` of the failure, ``bantime``, ``restored``...); native backends
    ignore it.
    """

    jail: str
    address: str | Network
    until: float | None = None
    info: Mapping[str, object] = field(default_factory=dict, compare=False)

    @property
    def network(self) -> Network:
        """The banned address as a network."""
        return parse_network(self.address)


@dataclass(frozen=True, slots=True)
class UnbanEntry:
    """One ban to lift."""

    jail: str
    address: str | Network

    @property
    def network(self) -> Network:
        """The address as a network."""
        return parse_network(self.address)


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What :meth:`FirewallBackend.reconcile` changed."""

    added: tuple[tuple[str, Network], ...] = ()
    removed: tuple[tuple[str, Network], ...] = ()


@runtime_checkable
class FirewallBackend(Protocol):
    """A firewall that enforces bans (see the module docstring for the contract)."""

    name: str

    def start(self, jails: Sequence[JailRule]) -> None:
        """Create (or keep) what the jails need; never removes existing bans."""

    def ban(self, entries: Iterable[BanEntry]) -> None:
        """Queue bans."""

    def unban(self, entries: Iterable[UnbanEntry]) -> None:
        """Queue unbans."""

    def commit(self, now: float) -> None:
        """Apply every queued change, batched."""

    def flush(self, jail: str | None = None) -> None:
        """Remove every ban of ``jail`` (all started jails if ``None``) at once."""

    def banned(self, jail: str) -> set[Network]:
        """The addresses the firewall currently blocks for ``jail``."""

    def present(self, jail: str, now: float) -> dict[Network, Held]:
        """The elements of ``jail`` with their kernel timeout and age, where known."""

    def reconcile(self, active: Iterable[BanEntry], now: float,
                  jails: Collection[str] | None = None) -> Reconciled:
        """Make the firewall match ``active`` for ``jails`` (all started jails if ``None``)."""

    def stop(self, *, remove: bool = False) -> None:
        """Stop using the firewall; with ``remove`` also delete warden's rules and sets."""


class BaseBackend:
    """Queueing, validation and reconciliation shared by the backends.

    A subclass implements ``_start``, ``_apply(bans, unbans, now)``, ``banned``,
    ``_flush(jail)`` and ``_stop(remove)``.
    """

    name = "base"
    #: the longest kernel timeout in seconds (``None``: no limit, or no kernel timeouts)
    max_timeout: int | None = None

    def __init__(self) -> None:
        self.jails: dict[str, JailRule] = {}
        self._bans: dict[tuple[str, Network], BanEntry] = {}
        self._unbans: dict[tuple[str, Network], UnbanEntry] = {}

    # -- the protocol -------------------------------------------------------------------
    def start(self, jails: Sequence[JailRule]) -> None:
        """Create (or keep) what the jails need; never removes existing bans."""
        rules = list(jails)
        self._start(rules)
        self.jails.update((rule.jail, rule) for rule in rules)

    def ban(self, entries: Iterable[BanEntry]) -> None:
        """Queue bans (a later ban or unban of the same address replaces an earlier one)."""
        for entry in entries:
            self._check_jail(entry.jail)
            key = (entry.jail, entry.network)
            self._unbans.pop(key, None)
            self._bans[key] = entry

    def unban(self, entries: Iterable[UnbanEntry]) -> None:
        """Queue unbans."""
        for entry in entries:
            self._check_jail(entry.jail)
            key = (entry.jail, entry.network)
            self._bans.pop(key, None)
            self._unbans[key] = entry

    def commit(self, now: float) -> None:
        """Apply every queued change (expired bans are dropped)."""
        bans = [e for e in self._bans.values() if e.until is None or e.until > now]
        unbans = list(self._unbans.values())
        self._bans.clear()
        self._unbans.clear()
        if bans or unbans:
            self._apply(bans, unbans, now)

    def flush(self, jail: str | None = None) -> None:
        """Remove every ban of ``jail`` (every started jail if ``None``)."""
        for name in [jail] if jail is not None else list(self.jails):
            self._check_jail(name)
            self._flush(name)

    def reconcile(self, active: Iterable[BanEntry], now: float,
                  jails: Collection[str] | None = None) -> Reconciled:
        """Add the missing bans of ``active``, remove the others, for ``jails`` only (every
        started jail if ``None``); never flush. Bans of other jails in ``active`` are an
        error: they would be added to a jail that was not reconciled."""
        names = list(self.jails) if jails is None else list(dict.fromkeys(jails))
        for name in names:
            self._check_jail(name)
        wanted: dict[str, dict[Network, BanEntry]] = {name: {} for name in names}
        for entry in active:
            if entry.until is not None and entry.until <= now:
                continue
            if entry.jail not in wanted:
                raise BackendError(f"{self.name}: a ban of jail {entry.jail!r} was given to "
                                   f"the reconciliation of {', '.join(names) or 'no jail'}")
            wanted[entry.jail][entry.network] = entry
        added: list[tuple[str, Network]] = []
        removed: list[tuple[str, Network]] = []
        for jail, entries in wanted.items():
            present = self.banned(jail)
            # Re-adding every active ban (not only the missing ones) also restores the
            # remaining time of elements whose kernel timeout differs from the store's.
            self.ban(entries.values())
            added += [(jail, net) for net in entries if net not in present]
            stale = [net for net in present if net not in entries]
            self.unban(UnbanEntry(jail, net) for net in stale)
            removed += [(jail, net) for net in stale]
        self.commit(now)
        return Reconciled(tuple(added), tuple(removed))

    def stop(self, *, remove: bool = False) -> None:
        """Stop; with ``remove`` delete warden's rules and sets from the firewall."""
        self._stop(remove)
        if remove:
            self.jails.clear()

    def banned(self, jail: str) -> set[Network]:  # pragma: no cover - abstract
        """The addresses the firewall currently blocks for ``jail``."""
        raise NotImplementedError

    def present(self, jail: str, now: float) -> dict[Network, Held]:
        """The elements of ``jail``; this default knows nothing of their time (a firewall
        without per-element timeouts, or one that cannot be asked)."""
        return {net: Held() for net in self.banned(jail)}

    def kernel_timeout(self, entry: BanEntry, now: float) -> int | None:
        """The timeout to give ``entry`` in the kernel: its whole seconds left, or ``None``
        (no timeout) for a permanent ban or one longer than ``max_timeout``."""
        seconds = remaining(entry, now)
        if seconds is None or (self.max_timeout is not None and seconds > self.max_timeout):
            return None
        return seconds

    # -- for subclasses -----------------------------------------------------------------
    def _check_jail(self, jail: str) -> None:
        if jail not in self.jails:
            raise BackendError(f"{self.name}: jail {jail!r} was not started on this backend")

    def _start(self, rules: list[JailRule]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _flush(self, jail: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _stop(self, remove: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def remaining(entry: BanEntry, now: float) -> int | None:
    """Whole seconds left of a ban (at least 1), ``None`` if permanent."""
    if entry.until is None:
        return None
    return max(1, int(entry.until - now + 0.999))
