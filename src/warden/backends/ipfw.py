"""ipfw (FreeBSD): one lookup table per jail and a deny rule that consults it.

For jail ``sshd`` (rule number from ``rule_base``)::

    ipfw table warden-sshd create type addr
    ipfw add 55000 deny tcp from table(warden-sshd) to any dst-port 22

A commit is one ``ipfw -q /dev/stdin`` process reading ``table … add|delete`` lines. ipfw
tables have no per-address timeouts: the daemon unbans. This backend cannot run on Linux;
its commands are checked against a recorded contract.
"""

from __future__ import annotations

import re
import zlib

from warden.backends.base import BanEntry, BaseBackend, JailRule, Network, UnbanEntry, parse_network
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = ["IpfwBackend"]

_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_PORT = re.compile(r"[A-Za-z0-9_-]+([:-][0-9]+)?\Z")


class IpfwBackend(BaseBackend):
    """Bans in ipfw tables; each jail's rule number is ``rule_base`` plus a stable offset."""

    name = "ipfw"

    def __init__(
        self, *, runner: Runner | None = None, prefix: str = "warden", rule_base: int = 55000,
        blocktype: str = "deny", ipfw: str = "ipfw",
    ) -> None:
        super().__init__()
        if not _NAME.match(prefix):
            raise BackendError(f"ipfw: invalid table prefix {prefix!r}")
        if blocktype not in ("deny", "reset", "unreach port"):
            raise BackendError("ipfw: blocktype must be deny, reset or 'unreach port'")
        self.runner = runner or SubprocessRunner()
        self.prefix = prefix
        self.rule_base = rule_base
        self.blocktype = blocktype
        self.ipfw = ipfw

    def table(self, jail: str) -> str:
        """The ipfw table of ``jail``."""
        if not _NAME.match(jail):
            raise BackendError(f"ipfw: jail name {jail!r} cannot name a table")
        return f"{self.prefix}-{jail}"

    def rule_number(self, jail: str) -> int:
        """The rule number of ``jail`` (stable across restarts)."""
        return self.rule_base + zlib.crc32(jail.encode()) % 1000

    def _run(self, argv: tuple[str, ...], stdin: str | None = None) -> str:
        done = self.runner(Command(argv, stdin))
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise BackendError(f"ipfw: {' '.join(argv[:4])} failed: {why}")
        return done.stdout

    def rules(self, rule: JailRule) -> list[str]:
        """The ``ipfw add`` arguments of a jail, one rule per protocol."""
        where = f"from table({self.table(rule.jail)}) to any"
        for port in rule.ports:
            if not _PORT.match(port):
                raise BackendError(f"ipfw: invalid port {port!r}")
        ports = ",".join(p.replace(":", "-") for p in rule.ports)
        ports = f" dst-port {ports}" if ports else ""
        number = self.rule_number(rule.jail)
        if not rule.protocols:
            return [f"{number} {self.blocktype} ip {where}"]
        return [f"{number} {self.blocktype} {proto} {where}{ports}" for proto in rule.protocols]

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            table = self.table(rule.jail)
            if self.runner(Command((self.ipfw, "table", table, "info"))).returncode != 0:
                self._run((self.ipfw, "table", table, "create", "type", "addr"))
            number = str(self.rule_number(rule.jail))
            wanted = self.rules(rule)
            shown = self.runner(Command((self.ipfw, "list", number)))
            present = sorted(line.strip() for line in shown.stdout.splitlines() if line.strip())
            if shown.returncode == 0 and present == sorted(wanted):
                continue
            # the rule changed (or is missing): replace it; the table (the bans) stays
            script = f"delete {number}\n" if shown.returncode == 0 and present else ""
            script += "".join(f"add {line}\n" for line in wanted)
            self._run((self.ipfw, "-q", "/dev/stdin"), script)

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        lines = [f"table {self.table(g.jail)} delete {g.network}" for g in unbans]
        lines += [f"table {self.table(e.jail)} add {e.network}" for e in bans]
        self._run((self.ipfw, "-q", "/dev/stdin"), "\n".join(lines) + "\n")

    def banned(self, jail: str) -> set[Network]:
        """The entries of the jail's table (``ipfw table NAME list``: ``addr/len value``)."""
        out = self._run((self.ipfw, "table", self.table(jail), "list"))
        found: set[Network] = set()
        for line in out.splitlines():
            words = line.split()
            if words and not line.startswith("-"):
                found.add(parse_network(words[0]))
        return found

    def _flush(self, jail: str) -> None:
        self._run((self.ipfw, "table", self.table(jail), "flush"))

    def _stop(self, remove: bool) -> None:
        if remove:
            for jail in self.jails:
                self.runner(Command((self.ipfw, "-q", "delete", str(self.rule_number(jail)))))
                self._run((self.ipfw, "table", self.table(jail), "destroy"))
