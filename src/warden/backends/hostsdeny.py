"""``/etc/hosts.deny`` (TCP wrappers, fail2ban's ``hostsdeny`` action).

Each jail owns one block of the file between two comment lines, so warden never touches
what the administrator wrote::

    # warden begin sshd
    sshd: 192.0.2.7
    sshd: [2001:db8::7]
    # warden end sshd

A commit rewrites the file once, atomically (temporary file + rename), keeping its mode.
There are no timeouts: the daemon unbans.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile

from warden.backends.base import BanEntry, BaseBackend, JailRule, Network, UnbanEntry, parse_network
from warden.errors import BackendError

__all__ = ["HostsDenyBackend"]

_DAEMON = re.compile(r"[A-Za-z0-9_.@,\- ]+\Z")


def _format(net: Network) -> str:
    if isinstance(net, ipaddress.IPv4Network):
        return str(net.network_address) if net.prefixlen == 32 else (
            f"{net.network_address}/{net.netmask}")
    return f"[{net.network_address}]" + ("" if net.prefixlen == 128 else f"/{net.prefixlen}")


def _parse(text: str) -> Network:
    text = text.strip()
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        return parse_network(address + rest)
    return parse_network(text)


class HostsDenyBackend(BaseBackend):
    """Bans as lines of a TCP wrappers deny file; ``daemons`` is the daemon list (``ALL``)."""

    name = "hostsdeny"

    def __init__(self, *, path: str = "/etc/hosts.deny", daemons: str = "ALL") -> None:
        super().__init__()
        if not _DAEMON.match(daemons):
            raise BackendError(f"hostsdeny: invalid daemon list {daemons!r}")
        self.path = path
        self.daemons = daemons

    # -- the file -------------------------------------------------------------------------
    def _read(self) -> tuple[list[str], dict[str, list[Network]]]:
        """The file's own lines (outside warden's blocks) and each jail's addresses."""
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            lines = []
        except OSError as exc:
            raise BackendError(f"hostsdeny: cannot read {self.path}: {exc.strerror}") from exc
        own: list[str] = []
        blocks: dict[str, list[Network]] = {}
        jail: str | None = None
        for line in lines:
            if line.startswith("# warden begin "):
                jail = line[len("# warden begin "):].strip()
                blocks.setdefault(jail, [])
            elif jail is not None and line.strip() == f"# warden end {jail}":
                jail = None
            elif jail is not None:
                _, _, address = line.rpartition(":") if "[" not in line else line.partition(":")
                try:
                    blocks[jail].append(_parse(address))
                except BackendError:
                    continue
            else:
                own.append(line)
        return own, blocks

    def _write(self, own: list[str], blocks: dict[str, list[Network]]) -> None:
        text = "\n".join(own) + ("\n" if own else "")
        for jail, nets in blocks.items():
            if not nets:
                continue
            text += f"# warden begin {jail}\n"
            text += "".join(f"{self.daemons}: {_format(net)}\n" for net in nets)
            text += f"# warden end {jail}\n"
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            mode = os.stat(self.path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        try:
            fd, temp = tempfile.mkstemp(prefix=".hosts.deny.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temp, mode)
                os.replace(temp, self.path)
            except BaseException:
                os.unlink(temp)
                raise
        except OSError as exc:
            raise BackendError(f"hostsdeny: cannot write {self.path}: {exc.strerror}") from exc

    # -- the backend ----------------------------------------------------------------------
    def _start(self, rules: list[JailRule]) -> None:
        """Nothing to create: a jail's block appears with its first ban."""

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        own, blocks = self._read()
        for entry in bans:
            nets = blocks.setdefault(entry.jail, [])
            if entry.network not in nets:
                nets.append(entry.network)
        for gone in unbans:
            nets = blocks.get(gone.jail, [])
            if gone.network in nets:
                nets.remove(gone.network)
        self._write(own, blocks)

    def banned(self, jail: str) -> set[Network]:
        """The addresses of the jail's block."""
        return set(self._read()[1].get(jail, []))

    def _flush(self, jail: str) -> None:
        own, blocks = self._read()
        if blocks.pop(jail, None):
            self._write(own, blocks)

    def _stop(self, remove: bool) -> None:
        if remove:
            own, blocks = self._read()
            for jail in self.jails:
                blocks.pop(jail, None)
            self._write(own, blocks)
