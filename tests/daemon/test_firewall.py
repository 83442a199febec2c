"""Which backends a jail's actions select, and whether its actions need log lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.config import JailConfig, load_jails
from warden.daemon.firewall import needs_matches, route_for

ACTIONS = Path("/etc/fail2ban/action.d")
pytestmark = pytest.mark.skipif(not (ACTIONS / "nftables.conf").exists(), reason="needs fail2ban")


def _jail(tmp_path: Path, action: str) -> JailConfig:
    (tmp_path / "action.d").mkdir()
    (tmp_path / "filter.d").mkdir()
    for name in ("nftables.conf", "nftables-multiport.conf", "dummy.conf"):
        (tmp_path / "action.d" / name).write_text((ACTIONS / name).read_text())
    (tmp_path / "action.d" / "lines.conf").write_text(
        "[Definition]\nactionban = echo <ip> <matches> >> /dev/null\nactionunban =\n")
    (tmp_path / "action.d" / "plain.conf").write_text(
        "[Definition]\nactionban = echo <ip> >> /dev/null\nactionunban =\n")
    (tmp_path / "filter.d" / "f.conf").write_text("[Definition]\nfailregex = ^x <HOST>$\n")
    (tmp_path / "jail.conf").write_text(
        f"[j]\nenabled = true\nfilter = f\nlogpath = /x\nport = ssh\naction = {action}\n")
    config = load_jails(tmp_path)
    assert not config.errors, config.errors
    return config.jails[0]


@pytest.mark.parametrize(("action", "backends", "matches"), [
    ("nftables-multiport", ("nftables[hook=input, priority=-1]",), False),
    # the stock dummy writes its target file, as fail2ban's does
    ("dummy", ("dryrun[init=123, target=/var/run/fail2ban/fail2ban.dummy]",), False),
    ("plain", ("action j/plain",), False),
    ("lines", ("action j/lines",), True),
    ("nftables-multiport\n       lines", ("nftables[hook=input, priority=-1]", "action j/lines"),
     True),
])
def test_routes_and_matches(tmp_path: Path, action: str, backends: tuple[str, ...],
                            matches: bool) -> None:
    cfg = _jail(tmp_path, action)
    route = route_for(cfg)
    assert route.backends == backends
    assert set(route.self_timed) == {b for b in backends if b.startswith("action ")}
    assert route.rule.jail == "j"
    assert needs_matches(cfg) is matches
