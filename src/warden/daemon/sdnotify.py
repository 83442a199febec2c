"""Telling systemd how the daemon is doing (sd_notify(3)), without a dependency.

A unit with ``Type=notify`` sets ``$NOTIFY_SOCKET`` to a datagram socket; each state is one
datagram of ``KEY=VALUE`` lines (``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=…``).
A name starting with ``@`` is in Linux's abstract namespace (the ``@`` stands for a leading
NUL byte). Without the variable (started by hand, by rc.d, by a test) nothing is sent.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["ServiceNotifier"]


class ServiceNotifier:
    """The daemon's line to its service manager; every method is a no-op without one."""

    def __init__(self, address: str | None) -> None:
        """``address``: the value of ``$NOTIFY_SOCKET`` (None or empty: nobody listens)."""
        self._address: str | bytes | None = None
        if address:
            # abstract names carry no NUL in the variable: '@' stands for it
            self._address = b"\0" + address[1:].encode() if address.startswith("@") \
                else address

    @classmethod
    def from_environment(cls) -> ServiceNotifier:
        """The notifier ``$NOTIFY_SOCKET`` names; the variable is removed so that the
        commands the daemon runs (fail2ban actions) do not speak for it."""
        return cls(os.environ.pop("NOTIFY_SOCKET", None))

    @property
    def active(self) -> bool:
        """True when a service manager listens."""
        return self._address is not None

    def send(self, *states: str) -> bool:
        """Send ``states`` as one datagram; True if it was sent.

        Failure is not an error for the daemon (the manager may have gone away); it only
        returns False.
        """
        if self._address is None:
            return False
        message = "\n".join(states).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self._address)
        except OSError:
            return False
        return True

    def ready(self) -> bool:
        """The control socket serves (``After=warden.service`` units may start now)."""
        return self.send("READY=1", f"MAINPID={os.getpid()}", "STATUS=serving")

    def reloading(self) -> bool:
        """A reload began; systemd's notify-reload units also want the monotonic time."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self) -> bool:
        """The daemon is shutting down."""
        return self.send("STOPPING=1", "STATUS=stopping")
