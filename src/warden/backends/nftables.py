"""nftables: warden's own table, per-jail sets for each family, kernel-side timeouts.

Layout (table ``inet warden`` by default)::

    table inet warden {
        set sshd4 { type ipv4_addr; flags timeout; }              # single addresses
        set sshd4n { type ipv4_addr; flags interval, timeout; }   # networks (CIDR bans)
        set sshd6 { type ipv6_addr; flags timeout; }
        set sshd6n { type ipv6_addr; flags interval, timeout; }
        chain sshd { type filter hook input priority -1; policy accept;
            meta l4proto { tcp } th dport { ssh } ip saddr @sshd4 drop
            meta l4proto { tcp } th dport { ssh } ip saddr @sshd4n drop
            ... the same for ip6 } }

Why two sets per family: nft 1.0.x deletes elements of an interval set in time proportional
to the set's size (measured: 10,000 unbans from a 10,000-element interval set take ~13 s,
from a hash set 0.03 s). Bans of the same bantime expire together, so the daemon does unban
thousands at once; single addresses therefore live in a hash set with timeouts and only
network bans (rare) in the interval set. Both have per-element timeouts.

Each jail has its own base chain, so jails with different hooks or priorities never share
state. Every change goes through ``nft -f -`` (argv, batch on stdin): one transaction, applied
atomically by the kernel. ``start`` rebuilds a jail's chain in one transaction (its rules
only) and never touches set elements, so a restart keeps every ban. Elements carry their
remaining time as a timeout, so bans expire in the kernel even with the daemon down.

nft 1.0.6 refuses timeouts of 100,000,000 s (about 3.2 years) and more ("value too large",
found by trying in a network namespace: 99,999,999 s is accepted). Bans with more time left
than :data:`MAX_TIMEOUT` go in without a timeout and the daemon's expiry removes them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable

from warden.backends.base import (
    BanEntry,
    BaseBackend,
    Held,
    JailRule,
    Network,
    UnbanEntry,
    parse_network,
)
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = ["MAX_TIMEOUT", "NftablesBackend"]

#: the longest element timeout warden gives nft: 1,000 days, well below nft 1.0.6's limit
MAX_TIMEOUT = 86_400_000

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_PORT = re.compile(r"[A-Za-z0-9_-]+([:-][0-9]+)?\Z")
_PROTO = re.compile(r"[a-z0-9]+\Z")
_HOOKS = ("input", "forward", "prerouting", "output")


def _ident(jail: str) -> str:
    """A jail name as an nft identifier (``nginx-http-auth`` → ``nginx_http_auth``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", jail)
    if not name or not name[0].isalpha():
        name = "j_" + name
    return name


def _port(text: str) -> str:
    if not _PORT.match(text):
        raise BackendError(f"nftables: invalid port {text!r}")
    # fail2ban writes ranges as 1000:2000 (iptables style); nft wants 1000-2000
    return text.replace(":", "-")


class NftablesBackend(BaseBackend):
    """Bans in nftables sets with kernel timeouts (the Linux default backend).

    ``table`` and ``family`` name warden's table; ``hook`` and ``priority`` place every jail
    chain (fail2ban's nftables action: input, -1); ``runner`` runs ``nft`` (give it a
    namespace prefix to work in another network namespace).
    """

    name = "nftables"
    max_timeout = MAX_TIMEOUT

    def __init__(
        self,
        *,
        runner: Runner | None = None,
        table: str = "warden",
        family: str = "inet",
        hook: str = "input",
        priority: int = -1,
        nft: str = "nft",
    ) -> None:
        super().__init__()
        if not _IDENT.match(table):
            raise BackendError(f"nftables: invalid table name {table!r}")
        if family not in ("inet", "ip", "ip6"):
            raise BackendError(f"nftables: family must be inet, ip or ip6, not {family!r}")
        if hook not in _HOOKS:
            raise BackendError(f"nftables: hook must be one of {', '.join(_HOOKS)}, not {hook!r}")
        self.runner = runner or SubprocessRunner()
        self.table = table
        self.family = family
        self.hook = hook
        self.priority = int(priority)
        self.nft = nft

    # -- transactions ---------------------------------------------------------------------
    def _run(self, script: str) -> None:
        done = self.runner(Command((self.nft, "-f", "-"), script))
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()
            why = detail[0] if detail else f"exit status {done.returncode}"
            raise BackendError(f"nftables: nft -f failed: {why}")

    def _where(self) -> str:
        return f"{self.family} {self.table}"

    def _sets(self, jail: str) -> list[tuple[int, str, bool]]:
        """The jail's sets of this table: ``(IP version, name, is the network set)``."""
        ident = _ident(jail)
        return [(v, f"{ident}{v}{'n' if net else ''}", net)
                for v in self._families() for net in (False, True)]

    def _families(self) -> tuple[int, ...]:
        return {"inet": (4, 6), "ip": (4,), "ip6": (6,)}[self.family]

    def _rules(self, rule: JailRule) -> list[str]:
        matches = ""
        if rule.protocols:
            for proto in rule.protocols:
                if not _PROTO.match(proto):
                    raise BackendError(f"nftables: invalid protocol {proto!r}")
            matches += f"meta l4proto {{ {', '.join(rule.protocols)} }} "
            if rule.ports:
                matches += f"th dport {{ {', '.join(_port(p) for p in rule.ports)} }} "
        verdict = "reject" if rule.blocktype.lower().startswith("reject") else "drop"
        chain = _ident(rule.jail)
        return [
            f"add rule {self._where()} {chain} {matches}{'ip' if v == 4 else 'ip6'} saddr @{name} "
            f"{verdict}"
            for v, name, _ in self._sets(rule.jail)
        ]

    def _start(self, rules: list[JailRule]) -> None:
        where = self._where()
        script = [f"add table {where}"]
        for rule in rules:
            chain = _ident(rule.jail)
            for version, name, net in self._sets(rule.jail):
                flags = "interval, timeout" if net else "timeout"
                kind = f"type ipv{version}_addr; flags {flags};"
                script.append(f"add set {where} {name} {{ {kind} }}")
            # Re-create the jail's chain inside the transaction: its hook or priority may have
            # changed, and its rules are rebuilt whole. The sets (the bans) are not touched.
            script += [
                f"add chain {where} {chain}",
                f"flush chain {where} {chain}",
                f"delete chain {where} {chain}",
                f"add chain {where} {chain} {{ type filter hook {self.hook} "
                f"priority {self.priority}; policy accept; }}",
                *self._rules(rule),
            ]
        self._run("\n".join(script) + "\n")

    def _element(self, net: Network, seconds: int | None) -> str:
        text = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        return text if seconds is None else f"{text} timeout {seconds}s"

    def _statements(
        self, bans: Iterable[BanEntry], unbans: Iterable[UnbanEntry], now: float
    ) -> list[str]:
        adds: dict[str, list[str]] = {}
        keys: dict[str, list[str]] = {}
        dels: dict[str, list[str]] = {}
        for entry in bans:
            net = entry.network
            name = self._set_for(entry.jail, net)
            adds.setdefault(name, []).append(self._element(net, self.kernel_timeout(entry, now)))
            keys.setdefault(name, []).append(self._element(net, None))
        for gone in unbans:
            net = gone.network
            name = self._set_for(gone.jail, net)
            dels.setdefault(name, []).append(self._element(net, None))
        where = self._where()
        lines: list[str] = []
        # add + delete + add: "add" alone would keep an existing element's old timeout, and a
        # "delete" of an absent element fails the whole transaction; this sequence is
        # idempotent and refreshes the timeout, atomically.
        for name, elements in adds.items():
            joined = ", ".join(elements)
            lines.append(f"add element {where} {name} {{ {joined} }}")
            lines.append(f"delete element {where} {name} {{ {', '.join(keys[name])} }}")
            lines.append(f"add element {where} {name} {{ {joined} }}")
        for name, elements in dels.items():
            joined = ", ".join(elements)
            lines.append(f"add element {where} {name} {{ {joined} }}")
            lines.append(f"delete element {where} {name} {{ {joined} }}")
        return lines

    def _set_for(self, jail: str, net: Network) -> str:
        if net.version not in self._families():
            raise BackendError(f"nftables: table {self._where()} has no IPv{net.version} sets")
        suffix = "" if net.prefixlen == net.max_prefixlen else "n"
        return f"{_ident(jail)}{net.version}{suffix}"

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        try:
            self._run("\n".join(self._statements(bans, unbans, now)) + "\n")
            return
        except BackendError:
            pass
        # The batch was refused (e.g. an address inside a banned network: "interval
        # overlaps"). Apply element by element so one bad entry costs nothing else.
        failed: list[str] = []
        for entry in bans:
            try:
                self._run("\n".join(self._statements([entry], [], now)) + "\n")
            except BackendError as exc:
                if not self._covered(entry):
                    failed.append(f"{entry.address} ({exc})")
        for unban in unbans:
            try:
                self._run("\n".join(self._statements([], [unban], now)) + "\n")
            except BackendError as exc:
                if parse_network(unban.address) in self.banned(unban.jail):
                    failed.append(f"{unban.address} ({exc})")
        if failed:
            raise BackendError(f"nftables: could not apply {len(failed)} change(s): {failed[0]}")

    def _covered(self, entry: BanEntry) -> bool:
        """Whether a network already banned for the jail contains ``entry``'s address."""
        net = entry.network
        return any(
            net.version == other.version and net.subnet_of(other)  # type: ignore[arg-type]
            for other in self.banned(entry.jail)
        )

    def banned(self, jail: str) -> set[Network]:
        """The elements of the jail's sets, read from the kernel."""
        return set(self.present(jail, 0.0))

    def present(self, jail: str, now: float) -> dict[Network, Held]:
        """The elements of the jail's sets with their timeout left and age (from
        ``timeout`` and ``expires``; an element without timeout knows neither)."""
        found: dict[Network, Held] = {}
        for _, name, _ in self._sets(jail):
            done = self.runner(
                Command((self.nft, "-j", "list", "set", self.family, self.table, name))
            )
            if done.returncode != 0:
                raise BackendError(f"nftables: cannot list set {name}: {done.stderr.strip()}")
            found.update(_elements(done.stdout))
        return found

    def _flush(self, jail: str) -> None:
        where = self._where()
        self._run("".join(f"flush set {where} {name}\n" for _, name, _ in self._sets(jail)))

    def _stop(self, remove: bool) -> None:
        if remove:
            self._run(f"add table {self._where()}\ndelete table {self._where()}\n")


def _elements(text: str) -> dict[Network, Held]:
    """Parse ``nft -j list set`` output into networks and what nft says of their time
    (``timeout`` is the element's whole timeout, ``expires`` what is left, in seconds)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BackendError("nftables: nft -j printed something that is not JSON") from exc
    found: dict[Network, Held] = {}
    for item in document.get("nftables", []):
        for elem in item.get("set", {}).get("elem", []):
            held = Held()
            value = elem
            if isinstance(elem, dict) and "elem" in elem:
                value = elem["elem"]["val"]
                held = _held(elem["elem"])
            if isinstance(value, str):
                found[parse_network(value)] = held
            elif "prefix" in value:
                found[parse_network(f"{value['prefix']['addr']}/{value['prefix']['len']}")] = held
            elif "range" in value:
                first, last = value["range"]
                low = ipaddress.ip_address(first)
                high = ipaddress.ip_address(last)
                found.update((net, held) for net in ipaddress.summarize_address_range(low, high))
    return found


def _held(elem: dict[str, object]) -> Held:
    timeout, expires = elem.get("timeout"), elem.get("expires")
    if not isinstance(expires, int | float):
        return Held()
    age = timeout - expires if isinstance(timeout, int | float) else None
    return Held(float(expires), None if age is None else float(max(0, age)))
