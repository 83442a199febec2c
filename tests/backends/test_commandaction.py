"""Stock fail2ban action.d files run unchanged by CommandAction — without shell injection.

A copy of the installed /etc/fail2ban tree with a jail.local is loaded with warden's own
config reader; the actions it yields run for real (the firewall ones inside a network
namespace), and a log-controlled value full of shell metacharacters must arrive intact and
run nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from warden.backends.base import BanEntry, FirewallBackend, UnbanEntry
from warden.backends.commandaction import CommandAction
from warden.backends.runner import SubprocessRunner
from warden.config import load_jails
from warden.errors import BackendError

from .netns import netns

STOCK = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(not (STOCK / "action.d").is_dir(), reason="fail2ban not installed")

EVIL = "x'y\"z $(touch PWNED1) `touch PWNED2`; touch PWNED3 | cat & >PWNED4 <ip> ${HOME} *"


def _tree(tmp_path: Path, jail_local: str) -> Path:
    tree = tmp_path / "conf"
    shutil.copytree(STOCK, tree, ignore=shutil.ignore_patterns("jail.d", "*.local"))
    (tree / "jail.local").write_text(jail_local)
    return tree


def _actions(tree: Path, jail: str, runner: SubprocessRunner | None = None
             ) -> list[CommandAction]:
    config = load_jails(tree)
    assert not config.errors, config.errors
    found = next(j for j in config.jails if j.name == jail)
    return [CommandAction(jail, a.name, a.options, runner=runner) for a in found.actions]


def _ban(ip: str, **info: object) -> BanEntry:
    return BanEntry("sshd", ip, time.time() + 600, info)


def _pwned(where: Path) -> list[str]:
    return sorted(p.name for p in where.rglob("PWNED*"))


def test_dummy_action_lifecycle(tmp_path: Path) -> None:
    target = tmp_path / "dummy.txt"
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           f"action = dummy[target={target}]\n")
    (action,) = _actions(tree, "sshd")
    action.start([])
    assert target.read_text() == "123\n"
    assert isinstance(action, FirewallBackend)
    action.ban([_ban("192.0.2.7"), _ban("2001:db8::7")])
    action.commit(time.time())
    action.ban([_ban("192.0.2.7")])  # banned already: actionban does not run twice
    action.commit(time.time())
    action.unban([UnbanEntry("sshd", "192.0.2.7")])
    action.commit(time.time())
    action.flush()
    assert target.read_text() == "123\n+192.0.2.7\n+2001:db8::7\n-192.0.2.7\n-*\n"
    action.stop()
    assert not target.exists()


def test_log_values_reach_the_shell_only_as_variables(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.txt"
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           f"action = evil[out={out}]\n")
    (tree / "action.d" / "evil.conf").write_text(
        "[Definition]\n"
        "actionban = printf '%%s\\n' <F-USER> >> <out>\n"
        "            printf '%%s\\n' \"user=<F-USER> ip=<ip>\" >> <out>\n"
        "            printf '%%s\\n' 'single <F-USER> quoted' >> <out>\n"
        "            x=$(printf '%%s' \"<matches>\"); printf '%%s\\n' \"$x\" >> <out>\n"
        "            cat >> <out> <<EOF\n"
        "            heredoc <F-USER> <failures>\n"
        "            EOF\n"
        "[Init]\nout = /dev/null\n")
    (action,) = _actions(tree, "sshd")
    action.start([])
    monkeypatch.chdir(tmp_path)
    action.ban([_ban("192.0.2.7", fields={"user": EVIL}, matches=[EVIL, "line 2"], failures=3)])
    action.commit(time.time())
    assert out.read_text() == (
        f"{EVIL}\nuser={EVIL} ip=192.0.2.7\nsingle {EVIL} quoted\n{EVIL}\nline 2\n"
        f"heredoc {EVIL} 3\n")
    assert _pwned(tmp_path) == []


def test_sendmail_matches_with_a_fake_sendmail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    mailbox = tmp_path / "mailbox"
    fake = bindir / "sendmail"
    fake.write_text(f"#!/bin/sh\n{{ echo \"ARGS: $*\"; cat; echo '.'; }} >> {mailbox}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           "destemail = admin@example.org\nsender = warden@example.org\n"
                           "mta = sendmail\naction = %(action_mw)s\n")
    (tree / "action.d" / "sendmail-common.local").write_text(
        "[Init]\nmailcmd = sendmail -f \"<sender>\" \"<dest>\"\n")
    monkeypatch.chdir(tmp_path)
    actions = _actions(tree, "sshd")
    assert [a.name for a in actions] == ["iptables-multiport", "sendmail-whois"]
    mail = actions[1]
    mail.start([])
    mail.ban([_ban("192.0.2.7", failures=5, matches=[EVIL])])
    mail.commit(time.time())
    text = mailbox.read_text()
    assert "ARGS: -f warden@example.org admin@example.org" in text
    assert "Subject: [Fail2Ban] sshd: started on" in text
    assert "Subject: [Fail2Ban] sshd: banned 192.0.2.7 from" in text
    assert "The IP 192.0.2.7 has just been banned by Fail2Ban after\n5 attempts against sshd." \
        in text.replace("\n ", "\n")
    assert _pwned(tmp_path) == []


def test_matches_are_intact_in_the_mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    mailbox = tmp_path / "mailbox"
    (bindir / "sendmail").write_text(f"#!/bin/sh\ncat >> {mailbox}\n")
    (bindir / "sendmail").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           "action = sendmail-whois-matches[mailcmd=sendmail root]\n")
    (action,) = _actions(tree, "sshd")
    action.start([])
    action.ban([_ban("192.0.2.7", failures=2, matches=[EVIL, "second line"])])
    action.commit(time.time())
    assert f"{EVIL}\nsecond line" in mailbox.read_text()
    assert _pwned(tmp_path) == []
    # norestored: a ban restored after a restart sends no mail
    before = mailbox.read_text()
    action.reconcile([_ban("192.0.2.8", failures=2)], time.time())
    assert mailbox.read_text() == before


@pytest.mark.skipif(shutil.which("iptables") is None, reason="iptables not installed")
def test_iptables_multiport_for_real_both_families(tmp_path: Path) -> None:
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           "banaction = iptables-multiport\n")
    with netns() as ns:
        runner = SubprocessRunner(("ip", "netns", "exec", ns))
        (action,) = _actions(tree, "sshd", runner)

        def rules(tool: str) -> str:
            return subprocess.run(("ip", "netns", "exec", ns, tool, "-w", "-S"),
                                  capture_output=True, text=True, check=True).stdout

        action.start([])
        assert "f2b-sshd" not in rules("iptables")  # started on demand, per family
        action.ban([_ban("192.0.2.7"), _ban("2001:db8::7")])
        action.commit(time.time())
        assert "-A f2b-sshd -s 192.0.2.7/32 -j REJECT --reject-with icmp-port-unreachable" \
            in rules("iptables")
        assert "-A f2b-sshd -s 2001:db8::7/128 -j REJECT --reject-with icmp6-port-unreachable" \
            in rules("ip6tables")
        assert "-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd" in rules("iptables")
        # the chain vanishes behind warden's back: the failed ban runs actioncheck, which
        # fails, so the action is stopped and started again and the ban retried
        subprocess.run(("ip", "netns", "exec", ns, "sh", "-c",
                        "iptables -D INPUT -p tcp -m multiport --dports 22 -j f2b-sshd; "
                        "iptables -F f2b-sshd; iptables -X f2b-sshd"), check=True)
        action.ban([_ban("192.0.2.8")])
        action.commit(time.time())
        assert "-A f2b-sshd -s 192.0.2.8/32" in rules("iptables")
        action.unban([UnbanEntry("sshd", "2001:db8::7")])
        action.commit(time.time())
        assert "2001:db8::7" not in rules("ip6tables")
        action.stop()
        assert "f2b-sshd" not in rules("iptables") + rules("ip6tables")


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")
def test_stock_nftables_and_route_actions_for_real(tmp_path: Path) -> None:
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           "action = nftables[port=22]\n         route\n")
    with netns() as ns:
        runner = SubprocessRunner(("ip", "netns", "exec", ns))
        nft, route = _actions(tree, "sshd", runner)
        for action in (nft, route):
            action.start([])
            action.ban([_ban("192.0.2.7"), _ban("2001:db8::7")])
            action.commit(time.time())

        def show(*argv: str) -> str:
            return subprocess.run(("ip", "netns", "exec", ns, *argv), capture_output=True,
                                  text=True, check=True).stdout

        assert "192.0.2.7" in show("nft", "list", "set", "inet", "f2b-table", "addr-set-sshd")
        assert "2001:db8::7" in show("nft", "list", "set", "inet", "f2b-table", "addr6-set-sshd")
        assert "unreachable 192.0.2.7" in show("ip", "route", "show", "type", "unreachable")
        route.unban([UnbanEntry("sshd", "192.0.2.7")])
        route.commit(time.time())
        assert "192.0.2.7" not in show("ip", "route", "show", "type", "unreachable")
        nft.stop()
        assert "f2b-table" not in show("nft", "list", "tables")


def test_stock_hostsdeny(tmp_path: Path) -> None:
    deny = tmp_path / "hosts.deny"
    deny.write_text("")
    tree = _tree(tmp_path, f"[sshd]\nenabled = true\nlogpath = {os.devnull}\n"
                           f"action = hostsdeny[file={deny}]\n")
    (action,) = _actions(tree, "sshd")
    action.start([])
    action.ban([_ban("192.0.2.7"), _ban("2001:db8::7")])
    action.commit(time.time())
    assert deny.read_text() == "ALL: 192.0.2.7\nALL: [2001:db8::7]\n"
    action.unban([UnbanEntry("sshd", "2001:db8::7")])
    action.commit(time.time())
    assert deny.read_text() == "ALL: 192.0.2.7\n"


def test_failures_timeouts_and_repair(tmp_path: Path) -> None:
    marker = tmp_path / "repaired"
    options = {
        "actionban": f"test -e {marker} || exit 3",
        "actioncheck": f"test -e {marker}",
        "actionrepair": f"touch {marker}",
        "actionunban": "echo 'no such rule' >&2; exit 1",
        "timeout": "0.5",
    }
    action = CommandAction("sshd", "flaky", options)
    action.start([])
    action.ban([_ban("192.0.2.7")])
    action.commit(time.time())  # fails, check fails, repair, retried: no error
    assert marker.exists()
    action.unban([UnbanEntry("sshd", "192.0.2.7")])
    with pytest.raises(BackendError, match=r"^action flaky of jail sshd: actionunban failed: "
                                           r"no such rule$"):
        action.commit(time.time())
    slow = CommandAction("sshd", "slow", {"actionban": "sleep 30", "timeout": "0.3"})
    slow.ban([_ban("192.0.2.7")])
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"did not finish within 0\.3s"):
        slow.commit(time.time())
    assert time.monotonic() - started < 5
    prolong_log = tmp_path / "prolong"
    prolong = CommandAction("sshd", "p", {
        "actionban": f"echo ban <ip> <bantime> >> {prolong_log}",
        "actionprolong": f"echo prolong <ip> <bantime> >> {prolong_log}"})
    now = time.time()
    prolong.ban([BanEntry("sshd", "192.0.2.7", now + 60)])
    prolong.commit(now)
    prolong.ban([BanEntry("sshd", "192.0.2.7", now + 60)])  # same end: nothing
    prolong.commit(now)
    prolong.ban([BanEntry("sshd", "192.0.2.7", now + 600)])
    prolong.commit(now)
    assert prolong_log.read_text() == "ban 192.0.2.7 60\nprolong 192.0.2.7 600\n"
    with pytest.raises(BackendError, match="timeout = 'soon'"):
        CommandAction("sshd", "bad", {"timeout": "soon"})
    loop = CommandAction("sshd", "loop", {"actionban": "echo <a>", "a": "<b>", "b": "<a>"})
    loop.ban([_ban("192.0.2.7")])
    with pytest.raises(BackendError, match="refer to themselves"):
        loop.commit(time.time())
