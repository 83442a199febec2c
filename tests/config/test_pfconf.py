"""The pf.conf anchor check: which anchors a ruleset evaluates, and the warnings of ``warden
check`` for pf jails whose anchor it never reaches (pf.conf(5): ``anchor "a/*"`` evaluates
the anchors directly under ``a``; inline ``anchor a { ... }`` blocks nest names)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warden.cli.init import HostFacts, run_init
from warden.config import load_jails
from warden.config.pfconf import (
    WARDEN_ANCHOR_LINE,
    evaluated_anchors,
    evaluates,
    jail_anchors,
    pf_rules_path,
    report_pf_anchors,
)

STOCK = Path("/etc/fail2ban")


@pytest.mark.parametrize(("text", "anchors"), [
    ('anchor "warden/*"\n', ["warden/*"]),
    ("anchor warden/*\n", ["warden/*"]),
    ('block in all\npass out all keep state\nanchor "f2b/*" in on em0 proto tcp\n', ["f2b/*"]),
    ('# anchor "warden/*"\npass all # anchor "x"\n', []),
    ('anchor "f2b/*" \\\n    in on em0\n', ["f2b/*"]),
    ("anchor f2b {\n  anchor sshd\n  anchor postfix\n}\nanchor other\n",
     ["f2b", "f2b/sshd", "f2b/postfix", "other"]),
    ('anchor "outer" {\n anchor {\n  anchor "*"\n }\n}\n', ["outer", "outer/*"]),
    ('anchor "x" { block all }\nanchor "y"\n', ["x", "y"]),
    ('anchor "x"{\n pass in proto tcp to port { 22 80 }\n anchor "z"\n}\n', ["x", "x/z"]),
    ('load anchor "warden" from "/etc/pf-warden.conf"\nnat-anchor "warden/*"\n'
     'rdr-anchor "warden/*"\n', []),
])
def test_evaluated_anchors(text: str, anchors: list[str]) -> None:
    assert evaluated_anchors(text) == anchors


@pytest.mark.parametrize(("rule", "anchor", "expected"), [
    ("warden/*", "warden/sshd", True),
    ("warden/sshd", "warden/sshd", True),
    ("warden/postfix", "warden/sshd", False),
    ("warden", "warden/sshd", False),  # the parent's own rules, not its children
    ("*", "warden/sshd", False),
    ("*", "warden", True),
    ("f2b/*", "warden/sshd", False),
    ("warden/*", "warden/a/b", False),  # one level only
])
def test_evaluates(rule: str, anchor: str, expected: bool) -> None:
    assert evaluates(rule, anchor) is expected


def test_pf_rules_path_follows_rc_conf() -> None:
    assert pf_rules_path([]) == "/etc/pf.conf"
    assert pf_rules_path(['pf_enable="YES"\npf_rules="/usr/local/etc/pf.conf"\n',
                          "pf_rules=/etc/pf.local.conf # mine\n"]) == "/etc/pf.local.conf"
    assert pf_rules_path(['#pf_rules="/nope"\n']) == "/etc/pf.conf"


def _own_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "warden"
    assert run_init(tree, io.StringIO(), io.StringIO(),
                    facts=HostFacts("FreeBSD", auth_log=True, journald=False)) == 0
    (tree / "jail.local").write_text(
        f"[DEFAULT]\nlogpath = {os.devnull}\n[recidive]\nenabled = true\n"
        "[nginx-http-auth]\nenabled = true\naction = pf[native=false]\n")
    return tree


def _warnings(tree: Path, root: Path, system: str = "FreeBSD") -> list[str]:
    config = load_jails(tree)
    assert not config.errors, config.errors
    out = io.StringIO()
    report_pf_anchors(config, out, root=root, system=system)
    return out.getvalue().splitlines()


def _host(tmp_path: Path, pf_conf: str | None, rc_conf: str = 'pf_enable="YES"\n') -> Path:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "rc.conf").write_text(rc_conf)
    if pf_conf is not None:
        (root / "etc" / "pf.conf").write_text(pf_conf)
    return root


def test_own_tree_with_the_documented_line_evaluates_every_jail(tmp_path: Path) -> None:
    tree = _own_tree(tmp_path)
    # native pf jails only: the command action runs its own pfctl lines
    assert jail_anchors(load_jails(tree)) == {"sshd": "warden/sshd",
                                              "recidive": "warden/recidive"}
    pf_conf = f"set skip on lo0\nblock in all\n{WARDEN_ANCHOR_LINE}\npass out all\n"
    assert _warnings(tree, _host(tmp_path, pf_conf)) == []


def test_own_tree_without_the_anchor_line_warns_with_the_fix(tmp_path: Path) -> None:
    tree = _own_tree(tmp_path)
    lines = _warnings(tree, _host(tmp_path, 'block in all\nanchor "other/*"\npass out all\n'))
    assert lines == [
        "warning: /etc/pf.conf: no anchor rule evaluates the pf rules of jail(s) recidive "
        "(warden/recidive), sshd (warden/sshd): bans would block nothing; add the line "
        'anchor "warden/*" to its filter section (before any pass quick rule) and reload pf']


def test_rc_conf_pf_rules_and_includes_are_followed(tmp_path: Path) -> None:
    tree = _own_tree(tmp_path)
    root = _host(tmp_path, "block in all\n",
                 'pf_enable="YES"\npf_rules="/usr/local/etc/pf.conf"\n')
    (root / "usr" / "local" / "etc").mkdir(parents=True)
    (root / "usr" / "local" / "etc" / "pf.conf").write_text('include "/etc/pf.warden"\n')
    assert _warnings(tree, root)[0].startswith("warning: /usr/local/etc/pf.conf: no anchor")
    (root / "etc" / "pf.warden").write_text(WARDEN_ANCHOR_LINE + "\n")
    assert _warnings(tree, root) == []


def test_missing_pf_conf_warns_on_bsd_only(tmp_path: Path) -> None:
    tree = _own_tree(tmp_path)
    root = _host(tmp_path, None)
    (line,) = _warnings(tree, root)
    assert line.startswith("warning: /etc/pf.conf: cannot be read") and WARDEN_ANCHOR_LINE in line
    assert _warnings(tree, root, system="Linux") == []


@pytest.mark.skipif(not (STOCK / "action.d" / "pf.conf").is_file(), reason="needs fail2ban")
def test_stock_tree_needs_fail2ban_anchor_line(tmp_path: Path) -> None:
    tree = tmp_path / "fail2ban"
    shutil.copytree(STOCK, tree, ignore=shutil.ignore_patterns("jail.d", "*.local"))
    (tree / "jail.local").write_text(
        f"[DEFAULT]\nbanaction = pf\nlogpath = {os.devnull}\n[sshd]\nenabled = true\n"
        "[postfix]\nenabled = true\naction = pf[pfctl=\"pfctl -a mail/<name>\"]\n")
    lines = _warnings(tree, _host(tmp_path, f"{WARDEN_ANCHOR_LINE}\n"))
    assert [line.split("jail(s) ")[1].split(":")[0] for line in lines] == [
        "sshd (f2b/sshd)", "postfix (mail/postfix)"]
    assert 'add the line anchor "f2b/*"' in lines[0]
    assert 'add the line anchor "mail/*"' in lines[1]
    # fail2ban's documented forms: the wildcard, or an inline block naming the jails
    assert _warnings(tree, _host(tmp_path / "a", 'anchor "f2b/*"\nanchor "mail/*"\n')) == []
    assert _warnings(tree, _host(tmp_path / "b", "anchor f2b {\n anchor sshd\n}\n"
                                 "anchor mail {\n anchor postfix\n}\n")) == []


def _check_in_own_etc(tree: Path, etc: Path) -> subprocess.CompletedProcess[str]:
    """``warden check`` in a mount namespace whose /etc holds only the files of ``etc``
    (the host has no pf.conf, and the test must not give it one)."""
    script = ('mount --make-rprivate / && mount -t tmpfs tmpfs /etc && cp -r "$1"/. /etc && '
              'shift && exec "$@"')
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(etc), sys.executable, "-m",
         "warden", "check", "-c", str(tree)],
        capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare for a private /etc")
def test_warden_check_warns_for_the_hosts_pf_conf(tmp_path: Path) -> None:
    tree = _own_tree(tmp_path)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pf.conf").write_text("block in all\npass out all\n")
    done = _check_in_own_etc(tree, etc)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if "pf.conf" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: /etc/pf.conf: no anchor")
    assert 'anchor "warden/*"' in warnings[0]
    (etc / "pf.conf").write_text(f"block in all\n{WARDEN_ANCHOR_LINE}\npass out all\n")
    done = _check_in_own_etc(tree, etc)
    assert done.returncode == 0 and "warning:" not in done.stdout, done.stdout + done.stderr


def test_contrib_example_evaluates_the_own_tree(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "contrib" / "freebsd" / "pf.conf"
    tree = _own_tree(tmp_path)
    assert _warnings(tree, _host(tmp_path, example.read_text())) == []
