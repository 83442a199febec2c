"""pf (the FreeBSD default): an anchor per jail with a persistent table and a block rule.

For jail ``sshd`` the anchor ``warden/sshd`` holds::

    table <warden-sshd> persist
    block quick log proto { tcp } from <warden-sshd> to any port { 22 }

The user adds one line to ``/etc/pf.conf`` so the anchors are evaluated: ``anchor "warden/*"``.
A commit adds all of a jail's new addresses with one ``pfctl -T add`` (many addresses) and
then kills the states the banned addresses already had (``pfctl -k``), so an established
connection ends too. pf tables have no per-address timeouts: the daemon unbans.

Restart keeps bans: a table's contents are replaced whenever a ruleset defining it is loaded,
so once the table exists ``start`` reloads the anchor's filter rules only (``pfctl -R``).
This backend cannot run on Linux; its commands are checked against a recorded contract.
"""

from __future__ import annotations

import re

from warden.backends.base import BanEntry, BaseBackend, JailRule, Network, UnbanEntry, parse_network
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = ["PfBackend"]

_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_PORT = re.compile(r"[A-Za-z0-9_-]+([:-][0-9]+)?\Z")


def _address(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


class PfBackend(BaseBackend):
    """Bans in pf tables inside ``<anchor>/<jail>`` anchors; ``log`` sends hits to pflog."""

    name = "pf"

    def __init__(
        self, *, runner: Runner | None = None, anchor: str = "warden", log: bool = False,
        kill_states: bool = True, pfctl: str = "pfctl",
    ) -> None:
        super().__init__()
        if not _NAME.match(anchor):
            raise BackendError(f"pf: invalid anchor name {anchor!r}")
        self.runner = runner or SubprocessRunner()
        self.anchor = anchor
        self.log = log
        self.kill_states = kill_states
        self.pfctl = pfctl

    def table(self, jail: str) -> str:
        """The pf table of ``jail``."""
        if not _NAME.match(jail):
            raise BackendError(f"pf: jail name {jail!r} cannot name a pf table")
        return f"{self.anchor}-{jail}"

    def _in(self, jail: str) -> tuple[str, ...]:
        return (self.pfctl, "-a", f"{self.anchor}/{jail}")

    def _run(self, argv: tuple[str, ...], stdin: str | None = None) -> str:
        done = self.runner(Command(argv, stdin))
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise BackendError(f"pf: {' '.join(argv[:5])} failed: {why}")
        return done.stdout

    def ruleset(self, rule: JailRule) -> str:
        """The anchor's ruleset for ``rule`` (what ``start`` loads)."""
        table = self.table(rule.jail)
        block = "block quick log" if self.log else "block quick"
        proto = f" proto {{ {', '.join(rule.protocols)} }}" if rule.protocols else ""
        for port in rule.ports:
            if not _PORT.match(port):
                raise BackendError(f"pf: invalid port {port!r}")
        ports = ""
        if rule.ports and rule.protocols:
            ports = f" port {{ {', '.join(p.replace('-', ':') for p in rule.ports)} }}"
        return (f"table <{table}> persist\n"
                f"{block}{proto} from <{table}> to any{ports}\n")

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            tables = self.runner(Command((*self._in(rule.jail), "-s", "Tables")))
            exists = tables.returncode == 0 and self.table(rule.jail) in tables.stdout.split()
            # -R: filter rules only, so an existing table (the bans) is not redefined empty
            load = ("-R", "-f", "-") if exists else ("-f", "-")
            self._run((*self._in(rule.jail), *load), self.ruleset(rule))

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        adds: dict[str, list[Network]] = {}
        for entry in bans:
            adds.setdefault(entry.jail, []).append(entry.network)
        dels: dict[str, list[Network]] = {}
        for gone in unbans:
            dels.setdefault(gone.jail, []).append(gone.network)
        for jail, nets in dels.items():
            self._run((*self._in(jail), "-t", self.table(jail), "-T", "delete",
                       *map(_address, nets)))
        for jail, nets in adds.items():
            self._run((*self._in(jail), "-t", self.table(jail), "-T", "add", *map(_address, nets)))
        if self.kill_states:
            seen: set[Network] = set()
            for nets in adds.values():
                for net in nets:
                    if net not in seen:
                        seen.add(net)
                        # states from the address; failure only means there were none
                        self.runner(Command((self.pfctl, "-k", _address(net))))

    def banned(self, jail: str) -> set[Network]:
        """The addresses of the jail's table."""
        out = self._run((*self._in(jail), "-t", self.table(jail), "-T", "show"))
        return {parse_network(line.strip()) for line in out.splitlines() if line.strip()}

    def _flush(self, jail: str) -> None:
        self._run((*self._in(jail), "-t", self.table(jail), "-T", "flush"))

    def _stop(self, remove: bool) -> None:
        if remove:
            for jail in self.jails:
                self._run((*self._in(jail), "-F", "rules"))
                self._run((*self._in(jail), "-t", self.table(jail), "-T", "kill"))
