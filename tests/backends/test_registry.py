"""banaction names of a stock jail.conf resolve to native backends with the jail's ports."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from warden.backends.base import JailRule
from warden.backends.dryrun import DryRunBackend
from warden.backends.nftables import NftablesBackend
from warden.backends.pf import PfBackend
from warden.backends.registry import NATIVE_ACTIONS, NativeAction, create_backend, native_action
from warden.backends.runner import RecordingRunner
from warden.config import load_jails

STOCK = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(not (STOCK / "jail.conf").is_file(), reason="needs fail2ban")

LOCAL = f"""
[DEFAULT]
banaction = nftables-multiport
banaction_allports = nftables-allports
destemail = admin@example.org
sender = warden@example.org
logpath = {os.devnull}

[sshd]
enabled = true
action = %(action_mwl)s

[nginx-http-auth]
enabled = true
banaction = iptables-ipset-proto6
chain = FORWARD

[recidive]
enabled = true
logpath = {os.devnull}

[postfix]
enabled = true
action = pf[port="smtp,465,submission"]
         route
         hostsdeny[file=/tmp/x.deny, daemon_list=sshd]
         dummy
         iptables-multiport[native=false]
         abuseipdb[abuseipdb_apikey=x]
"""


def _specs(tmp_path: Path) -> dict[str, list[tuple[str, NativeAction | None]]]:
    tree = tmp_path / "conf"
    shutil.copytree(STOCK, tree, ignore=shutil.ignore_patterns("jail.d", "*.local"))
    (tree / "jail.local").write_text(LOCAL)
    config = load_jails(tree)
    assert not config.errors, config.errors
    return {
        jail.name: [(a.file, native_action(a.file, a.options, jail=jail.name, port=jail.port,
                                           protocol=jail.protocol)) for a in jail.actions]
        for jail in config.jails
    }


def test_stock_shortcuts_map_to_native_backends(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    assert specs["sshd"] == [
        ("nftables-multiport", NativeAction("nftables", JailRule("sshd", ("ssh",), ("tcp",),
                                                                 "reject"),
                                            {"hook": "input", "priority": -1})),
        ("sendmail-whois-lines", NativeAction("mail", JailRule("sshd", (), ("tcp",), "drop"), {
            "dest": ("admin@example.org",), "sender": "warden@example.org",
            "sendername": "Fail2Ban", "whois": True})),
    ]
    assert specs["nginx-http-auth"] == [(
        "iptables-ipset-proto6",
        NativeAction("ipset", JailRule("nginx-http-auth", ("http", "https"), ("tcp",), "REJECT"),
                     {"chain": "FORWARD"}))]
    (recidive,) = specs["recidive"]
    assert recidive[0] == "nftables-allports"
    assert recidive[1] is not None and recidive[1].rule.ports == ()
    postfix = specs["postfix"]
    assert [(f, s.kind if s else None) for f, s in postfix] == [
        ("pf", "pf"), ("route", "route"), ("hostsdeny", "hostsdeny"), ("dummy", "dryrun"),
        ("iptables-multiport", None), ("abuseipdb", None)]
    pf = postfix[0][1]
    assert pf is not None and pf.rule.ports == ("smtp", "465", "submission")
    hostsdeny = postfix[2][1]
    assert hostsdeny is not None
    assert hostsdeny.settings == {"path": "/tmp/x.deny", "daemons": "sshd"}


def test_every_native_name_is_a_stock_action_or_warden_own() -> None:
    stock = {p.stem for p in (STOCK / "action.d").glob("*.conf")}
    own = {p.stem for p in (Path(__file__).parents[2] / "src" / "warden" / "data" / "action.d"
                            ).glob("*.conf")}
    assert set(NATIVE_ACTIONS) - stock - own <= {"dryrun", "iptables-ipset", "webhook"}
    # every action warden ships that says native = true has a native backend
    for name in own:
        text = (Path(__file__).parents[2] / "src/warden/data/action.d" / f"{name}.conf"
                ).read_text()
        if "native = true" in text or name.endswith("-allports"):
            assert name in NATIVE_ACTIONS, name


def test_create_backend(tmp_path: Path) -> None:
    spec = native_action("nftables", {"chain_hook": "forward", "chain_priority": "5"},
                         jail="sshd", port="22")
    assert spec is not None
    backend = create_backend(spec, RecordingRunner())
    assert isinstance(backend, NftablesBackend)
    assert (backend.hook, backend.priority) == ("forward", 5)
    pf = native_action("pf", {"log": "yes"}, jail="sshd")
    assert pf is not None
    pf_backend = create_backend(pf)
    assert isinstance(pf_backend, PfBackend)
    assert pf_backend.ruleset(pf.rule).count("block quick log") == 1
    dummy = native_action("dummy", {}, jail="sshd")
    assert dummy is not None and isinstance(create_backend(dummy), DryRunBackend)
    same = native_action("nftables-multiport", {"port": "80"}, jail="web")
    other = native_action("nftables-multiport", {"chain_hook": "forward"}, jail="web")
    base = native_action("nftables-multiport", {"port": "22"}, jail="sshd")
    assert same and other and base
    assert same.key() == base.key() != other.key()  # sshd and web share one table


@pytest.mark.parametrize(("actiontype", "ports", "target"), [
    ("<multiport>", ("ssh", "2222"), "any port $port"),
    ("<allports>", (), "any"),
    ("any port 25", (), "any port 25"),
], ids=["multiport", "allports", "custom"])
def test_pf_actiontype_decides_the_ports(actiontype: str, ports: tuple[str, ...],
                                         target: str) -> None:
    # the options of fail2ban's pf action as the reader gives them (tags unresolved)
    options = {"actiontype": actiontype, "multiport": "any port $port", "allports": "any",
               "port": "ssh,2222", "protocol": "tcp", "tablename": "f2b",
               "block": "block quick",
               "actionban": "pfctl -a f2b/sshd -t f2b-sshd -T add <ip>"}
    spec = native_action("pf", options, jail="sshd")
    assert spec is not None
    assert spec.rule.ports == ports
    assert spec.settings["target"] == target
    assert (spec.settings["anchor"], spec.settings["table"]) == ("f2b/<name>", "f2b-<name>")
