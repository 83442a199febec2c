"""JailConfig -> JailSpec (daemon/jailspec.py), including the stock fail2ban jails."""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
from ipaddress import ip_network

import pytest

from warden.config import BanTimeIncrement, JailConfig, load_jails
from warden.core.filterdef import FilterDefinition, Origin
from warden.core.jail import Jail
from warden.core.spec import IgnoreCacheSpec
from warden.daemon.jailspec import ignore_names, jail_spec, parse_ignorecache
from warden.errors import ConfigError

FLT = FilterDefinition(name="f", failregex=(r"^fail <HOST>$",))


def config(**kw: object) -> JailConfig:
    base = JailConfig(name="sshd", filter=FLT, actions=(),
                      origins={"usedns": Origin("/etc/warden/jail.local", 7),
                               "bantime.formula": Origin("/etc/warden/jail.local", 9),
                               "ignorecache": Origin("/etc/warden/jail.local", 11)})
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_values_carry_over() -> None:
    cfg = config(maxretry=5, findtime=60.0, bantime=-1.0, maxmatches=2, usedns="No",
                 ignoreip=("127.0.0.1/8", "::1", "gw.example", "192.0.2.7"),
                 ignorecommand="/bin/check <ip>", ignorecache='key="<ip>", max-time=1m',
                 bantime_increment=BanTimeIncrement(enabled=True, factor=2.0, maxtime=3600.0,
                                                    multipliers=(1.0, 2.0)))
    spec = jail_spec(cfg, ignore=[ip_network("198.51.100.1/32")],
                     self_addresses=[ip_network("203.0.113.5/32")], journal=True)
    assert (spec.name, spec.maxretry, spec.findtime, spec.bantime, spec.maxmatches) == (
        "sshd", 5, 60.0, -1.0, 2)
    assert spec.usedns == "no" and spec.journal and spec.ignorecommand
    assert spec.ignorecache == IgnoreCacheSpec("<ip>", 100, 60.0)
    assert spec.increment.enabled and spec.increment.factor == 2.0
    assert spec.increment.multipliers == (1.0, 2.0) and spec.increment.maxtime == 3600.0
    assert [str(n) for n in spec.ignore] == ["127.0.0.0/8", "::1/128", "192.0.2.7/32",
                                            "198.51.100.1/32", "203.0.113.5/32"]
    assert ignore_names(cfg)[1] == ("gw.example",)
    assert spec.filters == (FLT,)
    assert not jail_spec(config(ignoreself=False),
                         self_addresses=[ip_network("203.0.113.5/32")]).ignore
    assert jail_spec(config()).maxmatches == 5
    assert not jail_spec(config()).journal
    assert jail_spec(config(backend="systemd[journalflags=1]")).journal


@pytest.mark.parametrize(("kw", "message"), [
    ({"usedns": "sometimes"}, "/etc/warden/jail.local:7: [sshd] usedns: must be one of"),
    ({"bantime_increment": BanTimeIncrement(formula="__import__('os')")},
     "/etc/warden/jail.local:9: [sshd] bantime.formula: invalid bantime.formula"),
    ({"ignorecache": "key=<ip>, max-count=lots"},
     "/etc/warden/jail.local:11: [sshd] ignorecache: max-count is not an integer"),
    ({"ignorecache": "size=3"}, "unknown ignorecache option"),
    ({"ignorecache": "max-time=-5"}, "must not be negative"),
    ({"ignorecache": "key=<ip>, max-count"}, "ignorecache: invalid reference"),
    ({"maxretry": 0}, "[sshd] maxretry: must be at least 1, not 0"),
    ({"maxmatches": -1}, "maxmatches: must not be negative"),
    ({"findtime": -1.0}, "findtime: must not be negative"),
])
def test_errors_name_the_option_and_its_place(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        jail_spec(config(**kw))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_ignorecache_defaults() -> None:
    assert parse_ignorecache("") == IgnoreCacheSpec()
    assert parse_ignorecache("key=<ip>-<F-USER>, max-count=5") == IgnoreCacheSpec(
        "<ip>-<F-USER>", 5, 300.0)


STOCK = pathlib.Path("/etc/fail2ban")


def test_every_stock_fail2ban_jail_converts_and_builds(tmp_path: pathlib.Path) -> None:
    if not STOCK.is_dir():
        pytest.skip("no /etc/fail2ban")
    copy = tmp_path / "fail2ban"
    shutil.copytree(STOCK, copy)
    (copy / "jail.local").write_text(
        "[DEFAULT]\nenabled = true\nbantime.increment = true\n"
        "bantime.formula = ban.Time * math.exp(float(ban.Count+1)*banFactor)"
        "/math.exp(1*banFactor)\n"
        "ignorecache = key=\"<ip>\", max-count=100, max-time=5m\n")
    loaded = load_jails(copy)
    assert len(loaded.jails) > 50
    for cfg in loaded.jails:
        jail = Jail(jail_spec(cfg))
        assert jail.filters and jail.policy.increments == (cfg.bantime > 0)
        assert jail.spec.ignorecache == IgnoreCacheSpec("<ip>", 100, 300.0)
