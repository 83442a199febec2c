"""The options of issue 14 in jail files: banprefix/countprefix, escalate, trust; successregex."""

from __future__ import annotations

import pathlib

import pytest

from warden.config.jail import load_jails
from warden.core.escalate import Escalation
from warden.daemon.jailspec import jail_spec

STOCK = pathlib.Path("/etc/fail2ban")
OWN = pathlib.Path(__file__).parents[2] / "src" / "warden" / "data"

FILTER = """\
[Definition]
failregex = ^fail from <HOST>$
successregex = ^welcome <F-USER>\\S+</F-USER> from <HOST>$
"""


def tree(root: pathlib.Path, jail: str, flt: str = FILTER) -> pathlib.Path:
    (root / "filter.d").mkdir(parents=True)
    (root / "filter.d" / "demo.conf").write_text(flt)
    (root / "jail.conf").write_text(
        "[demo]\nenabled = true\nfilter = demo\nlogpath = /var/log/a.log\n" + jail)
    return root


def test_the_options_reach_the_jail_spec(tmp_path: pathlib.Path) -> None:
    cfg = load_jails(tree(tmp_path, "banprefix6 = 64\ncountprefix4 = 24\n"
                                    "escalate = 3 in /24, 3 in /48\ntrustsuccess = 1d\n"
                                    "maxretry = 4\n"))
    assert cfg.errors == ()
    (jail,) = cfg.jails
    assert jail.filter is not None
    assert jail.filter.successregex == (r"^welcome <F-USER>\S+</F-USER> from <HOST>$",)
    spec = jail_spec(jail)
    assert (spec.banprefix4, spec.banprefix6, spec.countprefix4, spec.countprefix6) == (
        32, 64, 24, None)
    assert spec.prefixes(6) == (64, 64)
    assert spec.escalate == (Escalation(3, 24, 4), Escalation(3, 48, 6))
    assert spec.trustsuccess == 86400
    assert spec.trust_limit == 12
    assert not [w for w in cfg.warnings if "banprefix" in w.message or "trust" in w.message]


def test_defaults_are_fail2ban(tmp_path: pathlib.Path) -> None:
    (jail,) = load_jails(tree(tmp_path, "")).jails
    spec = jail_spec(jail)
    assert not spec.by_network and not spec.trusting and spec.escalate == ()


@pytest.mark.parametrize(("line", "message"), [
    ("banprefix6 = 129", "banprefix6 = '129': not a prefix length from 1 to 128"),
    ("banprefix4 = wide", "banprefix4 = 'wide': not a prefix length from 1 to 32"),
    ("countprefix6 = 0", "countprefix6 = '0': not a prefix length from 1 to 128"),
    ("escalate = 3 of /24", "escalate = '3 of /24': '3 of /24' is not a rule like"),
    ("escalate = 3 in /4", "must be /8 to /31"),
    ("escalate = 3 in v6/64", "3 in v6/64 is not wider than the bans themselves "
                              "(banprefix6 = 64)"),
    ("trustsuccess = sometimes", "trustsuccess = 'sometimes': not a valid time value"),
    ("trustmaxretry = 0", "trustmaxretry = '0': at least 1"),
])
def test_bad_values_name_file_and_line(tmp_path: pathlib.Path, line: str, message: str
                                       ) -> None:
    cfg = load_jails(tree(tmp_path, f"banprefix6 = 64\n{line}\n"
                          if not line.startswith("banprefix6") else f"{line}\n"))
    assert cfg.jails == ()
    (error,) = [e for e in cfg.errors if message in e.message]
    assert error.file is not None and error.file.endswith("jail.conf")
    assert error.line == (6 if not line.startswith("banprefix6") else 5)


def test_trustsuccess_no_is_off(tmp_path: pathlib.Path) -> None:
    (jail,) = load_jails(tree(tmp_path, "trustsuccess = no\n")).jails
    assert jail.trustsuccess is None


def test_a_successregex_without_host_is_refused_at_its_line(tmp_path: pathlib.Path) -> None:
    flt = "[Definition]\nfailregex = ^fail from <HOST>$\nsuccessregex = ^welcome$\n"
    cfg = load_jails(tree(tmp_path, "", flt))
    assert cfg.jails == ()
    (error,) = cfg.errors
    assert "successregex" in error.message
    assert error.file is not None and error.file.endswith("demo.conf")
    assert error.line == 3


@pytest.mark.skipif(not STOCK.is_dir(), reason="needs fail2ban's stock tree")
def test_the_stock_fail2ban_tree_keeps_fail2ban_behaviour() -> None:
    for jail in load_jails(STOCK).jails:
        spec = jail_spec(jail)
        assert not spec.by_network and not spec.trusting and spec.escalate == ()
        assert jail.filter is None or jail.filter.successregex == ()
