"""The stock ``dummy`` action's ``target=`` file, written by warden's dry run as fail2ban does.

The stock tree is loaded by warden's config reader; ``dummy[target=FILE]`` goes through the
registry to the native dry-run backend, and the same operations run through fail2ban's own
shell commands (CommandAction over the stock dummy.conf) into a second file: both files must
read the same, line for line, at every step.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from warden.backends.base import BanEntry, FirewallBackend, JailRule, UnbanEntry
from warden.backends.commandaction import CommandAction
from warden.backends.dryrun import DryRunBackend
from warden.backends.registry import create_backend, native_action
from warden.config import load_jails
from warden.errors import BackendError

STOCK = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(not (STOCK / "action.d" / "dummy.conf").is_file(),
                                reason="fail2ban not installed")


def _jail_actions(tmp_path: Path, local: str) -> list[tuple[str, dict[str, str], str]]:
    tree = tmp_path / "conf"
    tree.parent.mkdir(exist_ok=True)
    shutil.copytree(STOCK, tree, ignore=shutil.ignore_patterns("jail.d", "*.local"))
    (tree / "jail.local").write_text(local)
    config = load_jails(tree)
    assert not config.errors, config.errors
    (jail,) = [j for j in config.jails if j.name == "sshd"]
    return [(a.file, dict(a.options), a.name) for a in jail.actions]


def _pair(tmp_path: Path) -> tuple[FirewallBackend, Path, FirewallBackend, Path]:
    ours, theirs = tmp_path / "warden.dummy", tmp_path / "fail2ban.dummy"
    jail = f"[sshd]\nenabled = true\nlogpath = {os.devnull}\naction = dummy[target={{}}]\n"
    (file, options, _), = _jail_actions(tmp_path / "ours", jail.format(ours))
    spec = native_action(file, options, jail="sshd")
    assert spec is not None and spec.kind == "dryrun"
    native = create_backend(spec)
    assert isinstance(native, DryRunBackend)
    (_, shell_options, name), = _jail_actions(tmp_path / "theirs", jail.format(theirs))
    shell = CommandAction("sshd", name, shell_options)  # fail2ban's printf and rm, run as is
    return native, ours, shell, theirs


def _ban(ip: str) -> BanEntry:
    return BanEntry("sshd", ip, time.time() + 600)


def test_dummy_target_reads_like_fail2bans(tmp_path: Path) -> None:
    native, ours, shell, theirs = _pair(tmp_path)
    def start(b: FirewallBackend) -> None:
        b.start([JailRule("sshd")])

    def bans(b: FirewallBackend) -> None:
        b.ban([_ban("192.0.2.7"), _ban("2001:db8::7")])
        b.commit(time.time())

    def again(b: FirewallBackend) -> None:  # banned already: no second line
        b.ban([_ban("192.0.2.7")])
        b.commit(time.time())

    def unban(b: FirewallBackend) -> None:
        b.unban([UnbanEntry("sshd", "192.0.2.7")])
        b.commit(time.time())

    def flush(b: FirewallBackend) -> None:
        b.flush()

    steps: list[Callable[[FirewallBackend], None]] = [start, bans, again, unban, flush]
    for step in steps:
        step(native)
        step(shell)
        assert ours.read_text() == theirs.read_text()
    assert ours.read_text() == "123\n+192.0.2.7\n+2001:db8::7\n-192.0.2.7\n-*\n"
    # an address that is not banned is not unbanned (fail2ban's unbanip refuses it)
    native.unban([UnbanEntry("sshd", "192.0.2.99")])
    native.commit(time.time())
    assert ours.read_text().endswith("-*\n")
    native.stop()
    shell.stop()
    assert not ours.exists() and not theirs.exists()


def test_unwritable_target_is_a_one_line_backend_error(tmp_path: Path) -> None:
    backend = DryRunBackend(target=str(tmp_path / "missing-dir" / "dummy"), init="123")
    with pytest.raises(BackendError, match=r"^dummy: cannot write its target .*/missing-dir/"
                                           r"dummy: No such file or directory$"):
        backend.start([JailRule("sshd")])
    # the dry run itself goes on: the jail is started and its bans are answered
    with pytest.raises(BackendError, match="cannot write its target"):
        backend.ban([_ban("192.0.2.7")])
        backend.commit(time.time())
    assert backend.banned("sshd") == {ipaddress.ip_network("192.0.2.7/32")}


def test_without_target_nothing_is_written(tmp_path: Path) -> None:
    # warden's own dummy.conf names no target: a pure dry run, as before
    spec = native_action("dummy", {"native": "true"}, jail="sshd")
    assert spec is not None and spec.settings == {}
    backend = create_backend(spec)
    assert isinstance(backend, DryRunBackend) and backend.target is None
