"""Blackhole routes (fail2ban's ``route`` action): the host stops answering banned addresses.

Routes carry no ports and no timeouts, so this backend blocks all traffic back to an address
and relies on the daemon to unban. Warden's routes are marked with their own routing protocol
number (``proto``, default 250) and each jail gets its own metric (derived from its name), so
two jails can ban the same address and ``banned``/``flush`` see only their own routes.
All changes of a commit go through one ``ip -batch -``.
"""

from __future__ import annotations

import json
import zlib

from warden.backends.base import BanEntry, BaseBackend, JailRule, Network, UnbanEntry, parse_network
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = ["RouteBackend"]

_TYPES = ("blackhole", "unreachable", "prohibit")


class RouteBackend(BaseBackend):
    """Bans as ``blackhole`` (or ``unreachable``/``prohibit``) routes."""

    name = "route"

    def __init__(
        self, *, runner: Runner | None = None, blocktype: str = "blackhole", proto: int = 250,
        ip: str = "ip",
    ) -> None:
        super().__init__()
        if blocktype not in _TYPES:
            raise BackendError(f"route: blocktype must be one of {', '.join(_TYPES)}")
        if not 1 <= proto <= 255:
            raise BackendError(f"route: proto must be a number from 1 to 255, not {proto}")
        self.runner = runner or SubprocessRunner()
        self.blocktype = blocktype
        self.proto = proto
        self.ip = ip

    @staticmethod
    def metric(jail: str) -> int:
        """The route metric that marks ``jail``'s routes (stable across restarts)."""
        return 1000 + zlib.crc32(jail.encode()) % 60000

    def _run(self, argv: tuple[str, ...], stdin: str | None = None) -> str:
        done = self.runner(Command(argv, stdin))
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            why = lines[0] if lines else f"exit status {done.returncode}"
            raise BackendError(f"route: {' '.join(argv)} failed: {why}")
        return done.stdout

    def _start(self, rules: list[JailRule]) -> None:
        """Nothing to create: routes need no table or chain."""

    def _line(self, verb: str, jail: str, net: Network) -> str:
        return f"route {verb} {self.blocktype} {net} proto {self.proto} metric {self.metric(jail)}"

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        lines = [self._line("replace", entry.jail, entry.network) for entry in bans]
        present: dict[str, set[Network]] = {}
        for gone in unbans:
            if gone.jail not in present:
                present[gone.jail] = self.banned(gone.jail)
            # "route del" of an absent route is an error: delete only what is there
            if gone.network in present[gone.jail]:
                lines.append(self._line("del", gone.jail, gone.network))
        if lines:
            self._run((self.ip, "-batch", "-"), "\n".join(lines) + "\n")

    def banned(self, jail: str) -> set[Network]:
        """The jail's routes, read from the kernel."""
        metric = self.metric(jail)
        found: set[Network] = set()
        for family in ("-4", "-6"):
            out = self._run((self.ip, "-j", family, "route", "show", "proto", str(self.proto)))
            for route in json.loads(out or "[]"):
                if route.get("metric") == metric and route.get("type") == self.blocktype:
                    found.add(parse_network(route["dst"]))
        return found

    def _flush(self, jail: str) -> None:
        routes = self.banned(jail)
        if routes:
            lines = [self._line("del", jail, net) for net in routes]
            self._run((self.ip, "-batch", "-"), "\n".join(lines) + "\n")

    def _stop(self, remove: bool) -> None:
        if remove:
            for jail in list(self.jails):
                self._flush(jail)
