"""``metrics`` of warden.conf / fail2ban.conf: where the daemon serves Prometheus' ``/metrics``.

Off unless set. ``PORT`` alone means loopback (``127.0.0.1:PORT``); any other interface must
be named: ``0.0.0.0:9191``, ``[::]:9191``, ``192.0.2.10:9191``. An absolute path is a Unix
socket (created 0600 like the control socket).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from warden.config.confset import Value
from warden.errors import ConfigError

__all__ = ["METRICS_OFF", "MetricsEndpoint", "metrics_endpoint", "parse_metrics"]

#: values of ``metrics`` that leave it off (as leaving it unset does)
METRICS_OFF = ("none", "off", "false", "no")
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class MetricsEndpoint:
    """A TCP ``host`` and ``port``, or a Unix socket ``path`` (then ``host`` is empty)."""

    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def loopback(self) -> bool:
        """True for a Unix socket or a loopback address: nobody off this host can scrape."""
        return bool(self.path) or ipaddress.ip_address(self.host).is_loopback

    def __str__(self) -> str:
        if self.path:
            return self.path
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= _MAX_PORT:
        raise ValueError(f"port {text!r} is not a number from 1 to {_MAX_PORT}")
    return int(text)


def parse_metrics(text: str) -> MetricsEndpoint | None:
    """The endpoint ``text`` names (None: off); ValueError saying what is wrong."""
    text = text.strip()
    if not text or text.lower() in METRICS_OFF:
        return None
    if text.startswith("/"):
        if text.endswith("/"):
            raise ValueError("names a directory; give the socket's file name")
        return MetricsEndpoint(path=text)
    if text.isdigit():
        return MetricsEndpoint("127.0.0.1", _port(text))
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError("expected PORT, HOST:PORT, [IPv6]:PORT or an absolute socket path")
    if host in ("", "*"):
        raise ValueError("name the address to listen on (127.0.0.1:PORT for this host only, "
                         "0.0.0.0:PORT for every interface)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (a host name is not accepted: "
                         "it could resolve to another interface)") from None
    if isinstance(address, ipaddress.IPv6Address) and not text.startswith("["):
        raise ValueError("write an IPv6 address in brackets: [::1]:PORT")
    return MetricsEndpoint(str(address), _port(port))


def metrics_endpoint(value: Value | None) -> MetricsEndpoint | None:
    """``metrics`` as the daemon serves it; :class:`ConfigError` with file:line if wrong."""
    if value is None:
        return None
    try:
        return parse_metrics(value.text)
    except ValueError as exc:
        raise ConfigError(f"metrics = {value.text.strip()}: {exc}", file=value.origin.file,
                          line=value.origin.line) from None
