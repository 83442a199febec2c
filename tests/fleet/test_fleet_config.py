"""The [Fleet] section and the jail's fleet option, as `warden check` and the daemon load them."""

from __future__ import annotations

import io
import os
import pathlib

import pytest

from warden.cli.check import run_check
from warden.config import load_jails
from warden.config.fleet import fleet_mode

FILTER = "[Definition]\nfailregex = ^fail from <HOST>$\n"
ACTION = "[Definition]\nactionban = ban <ip>\nactionunban = unban <ip>\n"
JAIL = """\
[DEFAULT]
action = demo
filter = %(__name__)s

[demo]
enabled = true
logpath = /var/log/demo.log
"""


def tree(root: pathlib.Path, warden_conf: str | None, jail_local: str = "") -> pathlib.Path:
    (root / "filter.d").mkdir(parents=True)
    (root / "action.d").mkdir()
    (root / "filter.d" / "demo.conf").write_text(FILTER)
    (root / "action.d" / "demo.conf").write_text(ACTION)
    (root / "jail.conf").write_text(JAIL)
    if jail_local:
        (root / "jail.local").write_text(jail_local)
    if warden_conf is not None:
        (root / "warden.conf").write_text(warden_conf)
    return root


def check(root: pathlib.Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_check(root, out, err)
    return code, out.getvalue(), err.getvalue()


def test_no_fleet_section_means_no_fleet(tmp_path: pathlib.Path) -> None:
    config = load_jails(tree(tmp_path, "[Definition]\nloglevel = INFO\n"))
    assert config.fleet is None
    assert fleet_mode(config.jails[0], config.fleet) == "none"


@pytest.mark.parametrize("url", [
    "redis://warden:secret@192.0.2.5:6379/0", "rediss://192.0.2.5", "unix:///run/redis.sock",
    "redis://[2001:db8::5]:6380/3"])
def test_a_fleet_section_shares_bans_by_default(tmp_path: pathlib.Path, url: str) -> None:
    config = load_jails(tree(tmp_path, f"[Fleet]\nredis = {url}\nname = mail1\n"))
    assert config.errors == ()
    assert config.fleet is not None
    assert (config.fleet.redis, config.fleet.name) == (url, "mail1")
    assert fleet_mode(config.jails[0], config.fleet) == "bans"
    assert "secret" not in config.fleet.shown


def test_warden_local_overrides_and_the_jail_chooses(tmp_path: pathlib.Path) -> None:
    root = tree(tmp_path, "[Fleet]\nredis = redis://192.0.2.5\n",
                "[demo]\nfleet = both\n")
    (root / "warden.local").write_text("[Fleet]\nname = web7\nsentinels = 192.0.2.8:26379, "
                                       "192.0.2.9:26379\nservice = wardenmaster\n")
    config = load_jails(root)
    assert config.errors == () and config.warnings == ()  # `fleet` is a known option
    assert config.fleet is not None
    assert config.fleet.name == "web7"
    assert config.fleet.sentinels == (("192.0.2.8", 26379), ("192.0.2.9", 26379))
    assert config.fleet.service == "wardenmaster"
    assert fleet_mode(config.jails[0], config.fleet) == "both"


def test_the_host_name_is_the_default_name(tmp_path: pathlib.Path) -> None:
    config = load_jails(tree(tmp_path, "[Fleet]\nredis = unix:///run/r.sock\n"))
    assert config.fleet is not None and config.fleet.name == os.uname().nodename


# (warden.conf, jail.local, expected 'file:line: message' fragment)
BROKEN = [
    ("[Fleet]\nname = a\n", "", "warden.conf:2: [Fleet] redis: missing"),
    ("[Fleet]\nredis = http://192.0.2.5\n", "", "warden.conf:2: [Fleet] redis: the scheme 'http'"),
    ("[Fleet]\nredis = redis://192.0.2.5:99999\n", "", "warden.conf:2: [Fleet] redis: not a URL"),
    ("[Fleet]\nredis = redis:///0\n", "", "[Fleet] redis: the URL names no host"),
    ("[Fleet]\nredis = redis://h/zero\n", "", "[Fleet] redis: the database 'zero' is not a number"),
    ("[Fleet]\nredis = unix://relative.sock\n", "", "needs an absolute socket path"),
    ("[Fleet]\nredis = redis://h\nsentinels = h1\nservice = m\n", "",
     "warden.conf:3: [Fleet] sentinels: 'h1' is not HOST:PORT"),
    ("[Fleet]\nredis = redis://h\nsentinels = h1:26379\n", "",
     "[Fleet] sentinels: the sentinels need the master's name in service ="),
    ("[Fleet]\nredis = redis://h\nmaxlen = 5\n", "", "warden.conf:3: [Fleet] maxlen:"),
    ("[Fleet]\nredis = redis://h\nreddis = x\n", "",
     "warden.conf:3: [Fleet] unknown option 'reddis'"),
    ("[Fleet]\nredis = redis://h\ncafile = /etc/hostname\n", "",
     "[Fleet] cafile: certificates are only used with a rediss:// (TLS) URL"),
    ("[Fleet]\nredis = redis://h\npassword_file = /nonexistent/pw\n", "",
     "warden.conf:3: [Fleet] password_file: cannot read /nonexistent/pw"),
    ("[Fleet]\nredis = redis://h\n", "[demo]\nfleet = everything\n",
     "jail.local:2: [demo] fleet: must be one of bans, failures, both, none, not 'everything'"),
]


@pytest.mark.parametrize(("conf", "local", "expected"), BROKEN)
def test_problems_are_reported_at_their_line(tmp_path: pathlib.Path, conf: str, local: str,
                                             expected: str) -> None:
    code, _out, err = check(tree(tmp_path, conf, local))
    assert code == 2
    assert expected in err, err


def test_a_password_file_others_can_read_is_refused(tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    root = tree(tmp_path / "t", f"[Fleet]\nredis = redis://h\npassword_file = {secret}\n")
    code, _out, err = check(root)
    assert code == 2 and "may be read by others (mode 644)" in err
    secret.chmod(0o600)
    code, _out, err = check(root)
    assert (code, err) == (0, "")
    config = load_jails(root)
    assert config.fleet is not None and config.fleet.password_file == str(secret)


def test_a_broken_fleet_leaves_the_jails_running(tmp_path: pathlib.Path) -> None:
    config = load_jails(tree(tmp_path, "[Fleet]\nredis = ftp://h\n"))
    assert config.fleet is None
    assert [j.name for j in config.jails] == ["demo"]
    assert len(config.errors) == 1
