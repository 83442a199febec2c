"""firewalld: a firewalld ipset per jail and family, matched by a direct rule.

For jail ``sshd``::

    firewall-cmd --direct --new-ipset=warden-sshd --type=hash:net --option=timeout=0
    firewall-cmd --direct --add-rule ipv4 filter INPUT_direct 0 -p tcp -m multiport
                 --dports 22 -m set --match-set warden-sshd src -j REJECT

(and ``warden6-sshd`` with ``--option=family=inet6`` for IPv6). A commit feeds all new
entries of a set to one ``firewall-cmd --ipset=NAME --add-entries-from-file=/dev/stdin``.
firewalld sets no per-entry timeout: the daemon unbans. This backend is checked against a
recorded command contract, not a running firewalld.
"""

from __future__ import annotations

import re

from warden.backends.base import BanEntry, BaseBackend, JailRule, Network, UnbanEntry, parse_network
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = ["FirewalldBackend"]

_WORD = re.compile(r"[A-Za-z0-9_-]+\Z")
_PORT = re.compile(r"[A-Za-z0-9_-]+([:-][0-9]+)?\Z")


class FirewalldBackend(BaseBackend):
    """Bans in firewalld ipsets (fail2ban's firewallcmd-ipset with ``ipsettype=firewalld``)."""

    name = "firewalld"

    def __init__(
        self, *, runner: Runner | None = None, chain: str = "INPUT_direct",
        blocktype: str = "REJECT", prefix: str = "warden", firewall_cmd: str = "firewall-cmd",
    ) -> None:
        super().__init__()
        for what, value in (("chain", chain), ("prefix", prefix)):
            if not _WORD.match(value):
                raise BackendError(f"firewalld: invalid {what} {value!r}")
        self.runner = runner or SubprocessRunner()
        self.chain = chain
        self.blocktype = blocktype
        self.prefix = prefix
        self.cmd = firewall_cmd

    def ipset(self, jail: str, version: int) -> str:
        """The firewalld ipset of ``jail`` for IP ``version``."""
        if not _WORD.match(jail):
            raise BackendError(f"firewalld: jail name {jail!r} cannot name an ipset")
        return f"{self.prefix}-{jail}" if version == 4 else f"{self.prefix}6-{jail}"

    def _run(
        self, argv: tuple[str, ...], stdin: str | None = None, ok: tuple[str, ...] = ()
    ) -> str:
        done = self.runner(Command(argv, stdin))
        if done.returncode != 0 and not any(word in done.stderr for word in ok):
            lines = done.stderr.strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise BackendError(f"firewalld: {' '.join(argv[:3])} failed: {why}")
        return done.stdout

    def direct_rules(self, rule: JailRule, version: int) -> list[tuple[str, ...]]:
        """The ``--direct --add-rule`` arguments of a jail for IP ``version``."""
        family = "ipv4" if version == 4 else "ipv6"
        match = ("-m", "set", "--match-set", self.ipset(rule.jail, version), "src",
                 "-j", *self.blocktype.split())
        specs = []
        for port in rule.ports:
            if not _PORT.match(port):
                raise BackendError(f"firewalld: invalid port {port!r}")
        for proto in rule.protocols or ("",):
            head: tuple[str, ...] = ("-p", proto) if proto else ()
            if proto and rule.ports:
                head += ("-m", "multiport", "--dports",
                         ",".join(p.replace("-", ":") for p in rule.ports))
            specs.append((family, "filter", self.chain, "0", *head, *match))
        return specs

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            for version in (4, 6):
                family = () if version == 4 else ("--option=family=inet6",)
                self._run((self.cmd, "--direct", f"--new-ipset={self.ipset(rule.jail, version)}",
                           "--type=hash:net", "--option=timeout=0", *family),
                          ok=("NAME_CONFLICT", "ALREADY_EXISTS"))
                for spec in self.direct_rules(rule, version):
                    self._run((self.cmd, "--direct", "--add-rule", *spec), ok=("ALREADY_ENABLED",))

    def _entries(self, nets: list[Network]) -> str:
        return "".join(f"{net}\n" for net in nets)

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        adds: dict[str, list[Network]] = {}
        dels: dict[str, list[Network]] = {}
        for entry in bans:
            adds.setdefault(self.ipset(entry.jail, entry.network.version), []).append(entry.network)
        for gone in unbans:
            dels.setdefault(self.ipset(gone.jail, gone.network.version), []).append(gone.network)
        for name, nets in dels.items():
            self._run((self.cmd, f"--ipset={name}", "--remove-entries-from-file=/dev/stdin"),
                      self._entries(nets))
        for name, nets in adds.items():
            self._run((self.cmd, f"--ipset={name}", "--add-entries-from-file=/dev/stdin"),
                      self._entries(nets))

    def banned(self, jail: str) -> set[Network]:
        """The entries of the jail's two ipsets."""
        return self.banned_in(self.ipset(jail, 4)) | self.banned_in(self.ipset(jail, 6))

    def _flush(self, jail: str) -> None:
        for version in (4, 6):
            name = self.ipset(jail, version)
            present = sorted(self.banned_in(name), key=str)
            if present:
                self._run((self.cmd, f"--ipset={name}", "--remove-entries-from-file=/dev/stdin"),
                          self._entries(present))

    def banned_in(self, name: str) -> set[Network]:
        """The entries of one ipset."""
        out = self._run((self.cmd, f"--ipset={name}", "--get-entries"))
        return {parse_network(word) for word in out.split()}

    def _stop(self, remove: bool) -> None:
        if remove:
            for rule in self.jails.values():
                for version in (4, 6):
                    for spec in self.direct_rules(rule, version):
                        self._run((self.cmd, "--direct", "--remove-rule", *spec),
                                  ok=("NOT_ENABLED",))
                    self._run((self.cmd, "--direct",
                               f"--delete-ipset={self.ipset(rule.jail, version)}"))
