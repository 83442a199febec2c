"""iptables + ipset: one ipset per jail and family (``hash:net`` with timeouts).

``start`` creates the sets (``-exist``: an existing set keeps its elements) and inserts one
``-m set --match-set`` rule per protocol and family into the chain (default ``INPUT``) only if
``iptables -C`` does not find it already. Bans and unbans of a commit go to the kernel in one
``ipset -exist restore`` per commit; ``-exist`` makes adding a present element refresh its
timeout and deleting an absent one a no-op, so the batch is idempotent.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import socket

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

__all__ = ["IpsetBackend"]

_PORT = re.compile(r"[A-Za-z0-9_-]+([:-][0-9]+)?\Z")
_WORD = re.compile(r"[A-Za-z0-9_-]+\Z")
_MAX_SETNAME = 31  # IPSET_MAXNAMELEN - 1
#: ipset's longest timeout (seconds, about 24.8 days); longer bans go in without one
MAX_TIMEOUT = 2_147_483


def _port(text: str) -> str:
    """A port for ``--dports``: ranges with ``:``, names as numbers (iptables looks names
    up per protocol, so ``ssh`` would fail for udp although the jail means port 22)."""
    if text[0].isdigit():
        return text.replace("-", ":")
    try:
        return str(socket.getservbyname(text))
    except OSError:
        return text


class IpsetBackend(BaseBackend):
    """Bans in ipsets matched by iptables/ip6tables rules (fail2ban's iptables-ipset-proto6).

    ``chain`` is where the rules go, ``blocktype`` overrides the jail's (an iptables target
    such as ``REJECT`` or ``DROP``), ``maxelem`` bounds each set.
    """

    name = "ipset"
    max_timeout = MAX_TIMEOUT

    def __init__(
        self,
        *,
        runner: Runner | None = None,
        chain: str = "INPUT",
        prefix: str = "warden",
        maxelem: int = 1_000_000,
        iptables: str = "iptables",
        ip6tables: str = "ip6tables",
        ipset: str = "ipset",
    ) -> None:
        super().__init__()
        for what, value in (("chain", chain), ("prefix", prefix)):
            if not _WORD.match(value):
                raise BackendError(f"ipset: invalid {what} {value!r}")
        self.runner = runner or SubprocessRunner()
        self.chain = chain
        self.prefix = prefix
        self.maxelem = maxelem
        self.tools = {4: iptables, 6: ip6tables}
        self.ipset = ipset

    def setname(self, jail: str, version: int) -> str:
        """The ipset of ``jail`` for IP ``version`` (at most 31 characters)."""
        name = f"{self.prefix}{version}-{jail}"
        if len(name) > _MAX_SETNAME or not _WORD.match(jail):
            digest = hashlib.sha1(jail.encode()).hexdigest()[:8]
            name = f"{self.prefix}{version}-{re.sub(r'[^A-Za-z0-9_-]', '_', jail)}"
            name = name[: _MAX_SETNAME - 9] + "-" + digest
        return name

    def _run(self, argv: tuple[str, ...], stdin: str | None = None) -> str:
        done = self.runner(Command(argv, stdin))
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            why = lines[0] if lines else f"exit status {done.returncode}"
            raise BackendError(f"ipset: {' '.join(argv[:2])} failed: {why}")
        return done.stdout

    def _rules(self, rule: JailRule, version: int) -> list[tuple[str, ...]]:
        """The iptables rule specifications (after the chain name) of a jail."""
        target = ("-j", *rule.blocktype.upper().split())
        if target[1:] == ("REJECT",) and version == 6:
            target = ("-j", "REJECT", "--reject-with", "icmp6-port-unreachable")
        match = ("-m", "set", "--match-set", self.setname(rule.jail, version), "src")
        ports: tuple[str, ...] = ()
        if rule.ports:
            for port in rule.ports:
                if not _PORT.match(port):
                    raise BackendError(f"ipset: invalid port {port!r}")
            ports = ("-m", "multiport", "--dports", ",".join(map(_port, rule.ports)))
        protocols = rule.protocols or ("",)
        specs = []
        for proto in protocols:
            if proto and not _WORD.match(proto):
                raise BackendError(f"ipset: invalid protocol {proto!r}")
            head = ("-p", proto) if proto else ()
            specs.append((*head, *(ports if proto else ()), *match, *target))
        return specs

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            for version in (4, 6):
                family = "inet" if version == 4 else "inet6"
                self._run((self.ipset, "create", self.setname(rule.jail, version), "hash:net",
                           "family", family, "timeout", "0", "maxelem", str(self.maxelem),
                           "-exist"))
                tool = self.tools[version]
                for spec in self._rules(rule, version):
                    check = self.runner(Command((tool, "-w", "-C", self.chain, *spec)))
                    if check.returncode != 0:
                        self._run((tool, "-w", "-I", self.chain, "1", *spec))

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        lines = []
        for entry in bans:
            net = entry.network
            # "timeout 0" is ipset's element without a timeout (lifted by the daemon)
            seconds = self.kernel_timeout(entry, now) or 0
            lines.append(f"add {self.setname(entry.jail, net.version)} {net} timeout {seconds}")
        for gone in unbans:
            net = gone.network
            lines.append(f"del {self.setname(gone.jail, net.version)} {net}")
        self._run((self.ipset, "-exist", "restore"), "\n".join(lines) + "\n")

    def banned(self, jail: str) -> set[Network]:
        """The members of the jail's two sets."""
        return set(self.present(jail, 0.0))

    def present(self, jail: str, now: float) -> dict[Network, Held]:
        """The members of the jail's two sets with the timeout they have left (ipset keeps
        no start time, so their age is unknown; ``timeout 0`` means none)."""
        found: dict[Network, Held] = {}
        for version in (4, 6):
            out = self._run((self.ipset, "save", self.setname(jail, version)))
            for line in out.splitlines():
                words = line.split()
                if len(words) >= 3 and words[0] == "add":
                    found[parse_network(words[2])] = _held(words[3:])
        return found

    def _flush(self, jail: str) -> None:
        for version in (4, 6):
            self._run((self.ipset, "flush", self.setname(jail, version)))

    def _stop(self, remove: bool) -> None:
        if not remove:
            return
        for rule in self.jails.values():
            for version in (4, 6):
                tool = self.tools[version]
                for spec in self._rules(rule, version):
                    # a rule inserted twice by hand is deleted twice; bounded, never a hang
                    for _ in range(8):
                        delete = Command((tool, "-w", "-D", self.chain, *spec))
                        if self.runner(delete).returncode != 0:
                            break
                self._run((self.ipset, "destroy", self.setname(rule.jail, version)))


def _held(options: list[str]) -> Held:
    """What ``timeout N`` among an ``ipset save`` line's options says of the element."""
    for key, value in itertools.pairwise(options):
        if key == "timeout" and value.isdigit() and int(value) > 0:
            return Held(float(value))
    return Held()
