"""Every jail of the shipped jail.conf takes its log from a paths-*.conf variable, so that
``warden init`` on FreeBSD gives FreeBSD's places and every jail, enabled, checks clean."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from warden.cli.check import check_config, lint_config, run_check
from warden.cli.init import HostFacts, run_init
from warden.config import load_jails

DATA = Path(__file__).resolve().parents[2] / "src" / "warden" / "data"
LINUX = HostFacts(system="Linux", auth_log=True, journald=True)
FREEBSD = HostFacts(system="FreeBSD", auth_log=True, journald=False)


def _logpaths(facts: HostFacts, tmp_path: Path) -> dict[str, list[str]]:
    target = tmp_path / facts.system
    assert run_init(target, io.StringIO(), io.StringIO(), facts=facts) == 0
    (target / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    config, problems = check_config(target)
    assert config is not None and problems == []
    assert lint_config(config) == []
    out, err = io.StringIO(), io.StringIO()
    assert run_check(target, out, err) == 0, err.getvalue()
    return {j.name: [p.pattern for p in j.logpath] for j in load_jails(target).jails}


@pytest.fixture(scope="module")
def logpaths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[str]]]:
    """Jail -> log paths of a fresh init tree, all jails enabled and checked, per system (one
    init and check per system for the whole module: each takes seconds)."""
    tmp = tmp_path_factory.mktemp("init")
    return {facts.system: _logpaths(facts, tmp) for facts in (LINUX, FREEBSD)}


def test_no_jail_names_a_literal_log_path() -> None:
    literal = [line for line in (DATA / "jail.conf").read_text().splitlines()
               if re.match(r"logpath\s*=\s*/", line)]
    assert literal == []


@pytest.mark.parametrize(("jail", "linux", "freebsd"), [
    ("gitlab", "/var/log/gitlab/gitlab-rails/application.log",
     "/usr/local/www/gitlab/log/application.log"),
    ("murmur", "/var/log/mumble-server/mumble-server.log", "/var/log/murmur/murmur.log"),
    ("portsentry", "/var/lib/portsentry/portsentry.history", "/usr/local/etc/portsentry.history"),
    ("znc-adminlog", "/var/lib/znc/moddata/adminlog/znc.log",
     "/usr/local/etc/znc/moddata/adminlog/znc.log"),
    ("squid", "/var/log/squid/access.log", "/var/log/squid/access.log"),
    ("stunnel", "/var/log/stunnel4/stunnel.log", "/var/log/stunnel.log"),
    ("suhosin", "/var/log/user.log", "/var/log/messages"),
    ("recidive", "/var/log/warden.log", "/var/log/warden.log"),
])
def test_init_gives_each_system_its_own_places(logpaths: dict[str, dict[str, list[str]]],
                                               jail: str, linux: str, freebsd: str) -> None:
    assert logpaths["Linux"][jail] == [linux]
    assert logpaths["FreeBSD"][jail] == [freebsd]


def test_every_jail_has_a_log_on_both_systems(logpaths: dict[str, dict[str, list[str]]]
                                               ) -> None:
    linux, bsd = logpaths["Linux"], logpaths["FreeBSD"]
    assert set(linux) == set(bsd) and len(linux) >= 90
    assert all(paths and all(p.startswith("/") for p in paths)
               for paths in [*linux.values(), *bsd.values()])
