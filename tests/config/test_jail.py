"""load_jails on small trees, and against fail2ban's jail reader on the stock tree."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from warden.config.jail import JailConfig, load_jails

STOCK = pathlib.Path("/etc/fail2ban")
ORACLE = pathlib.Path(__file__).with_name("f2b_jail_oracle.py")

FILTER = "[Definition]\nfailregex = ^fail from <HOST>$\n"
ACTION = """\
[Definition]
actionban = ban <ip> on <port>/<protocol> in <chain>
actionunban = unban <ip>
[Init]
chain = INPUT
port = 0
protocol = tcp
"""
JAIL = """\
[DEFAULT]
bantime = 1h
findtime = 10m
maxretry = 5
banaction = demo
port = 0:65535
protocol = tcp
action_ = %(banaction)s[port="%(port)s", protocol="%(protocol)s"]
action = %(action_)s
enabled = false
filter = %(__name__)s

[demo]
enabled = true
port = ssh
logpath = /var/log/a.log
          /var/log/b*.log tail
ignoreip = 127.0.0.1/8 ::1,10.0.0.1
bantime.increment = true
bantime.multipliers = 1 2 4
bantime.maxtime = 1w
custom = kept

[off]
filter = nothere
"""


def make_tree(root: pathlib.Path, jail: str = JAIL) -> pathlib.Path:
    (root / "filter.d").mkdir(parents=True)
    (root / "action.d").mkdir()
    (root / "filter.d" / "demo.conf").write_text(FILTER)
    (root / "action.d" / "demo.conf").write_text(ACTION)
    (root / "jail.conf").write_text(jail)
    return root


def test_enabled_jail_fully_resolved(tmp_path: pathlib.Path) -> None:
    config = load_jails(make_tree(tmp_path))
    assert config.errors == ()
    assert config.disabled == ("off",)
    (jail,) = config.jails
    assert jail.name == "demo"
    assert jail.filter is not None and jail.filter.failregex == ("^fail from <HOST>$",)
    assert (jail.bantime, jail.findtime, jail.maxretry) == (3600, 600, 5)
    assert [(p.pattern, p.start) for p in jail.logpath] == [
        ("/var/log/a.log", "head"),
        ("/var/log/b*.log", "tail"),
    ]
    assert jail.ignoreip == ("127.0.0.1/8", "::1", "10.0.0.1")
    assert jail.bantime_increment.enabled
    assert jail.bantime_increment.multipliers == (1.0, 2.0, 4.0)
    assert jail.bantime_increment.maxtime == 7 * 86400
    (action,) = jail.actions
    assert (action.name, action.file) == ("demo", "demo")
    assert action.params["port"] == "ssh"
    assert action.options["actionban"] == "ban <ip> on ssh/tcp in INPUT"
    assert jail.port == "ssh" and jail.extra == {"custom": "kept"}
    assert jail.origins["bantime"] == type(jail.origins["bantime"])(str(tmp_path / "jail.conf"), 2)


@pytest.mark.parametrize(
    ("override", "line", "message"),
    [
        ("bantime = 1 fortnight", 2, "bantime = '1 fortnight': not a valid time value"),
        ("maxretry = lots", 2, "maxretry = 'lots': not an integer"),
        ("filter = nothere", 2, "filter 'nothere' not found"),
        ("action = nothere[x=1]", 2, "action 'nothere' not found"),
        ("action = %(undefined)s", 2, "%(undefined)s is not defined"),
        ("filter = demo[broken", 2, "invalid filter reference"),
    ],
)
def test_jail_errors_name_file_and_line(
    tmp_path: pathlib.Path, override: str, line: int, message: str
) -> None:
    make_tree(tmp_path)
    (tmp_path / "jail.local").write_text(f"[demo]\n{override}\n")
    config = load_jails(tmp_path)
    assert config.jails == ()
    assert len(config.errors) == 1
    error = config.errors[0]
    assert (error.file, error.line) == (str(tmp_path / "jail.local"), line)
    assert message in str(error)
    assert "[demo]" in str(error)


def test_disabled_jails_are_not_resolved(tmp_path: pathlib.Path) -> None:
    config = load_jails(make_tree(tmp_path))
    assert "off" in config.disabled  # its filter does not exist, but it is disabled


def _compare(config_dir: pathlib.Path) -> list[str]:
    done = subprocess.run(
        ["/usr/bin/python3", str(ORACLE), str(config_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("fail2ban not importable")
    expected = json.loads(done.stdout)
    config = load_jails(config_dir)
    assert config.errors == ()
    ours = {jail.name: jail for jail in config.jails}
    assert sorted(ours) == sorted(expected)
    return [
        f"{name}: {diff}"
        for name, want in expected.items()
        for diff in _differences(ours[name], want)
    ]


def _differences(jail: JailConfig, want: dict[str, object]) -> list[str]:
    flt = jail.filter
    assert flt is not None
    got: dict[str, object] = {
        "failregex": list(flt.failregex),
        "ignoreregex": list(flt.ignoreregex),
        "prefregex": flt.prefregex,
        "datepattern": flt.datepattern,
        "maxlines": flt.maxlines,
        "maxretry": jail.maxretry,
        "backend": jail.backend,
        "usedns": jail.usedns,
        "logencoding": jail.logencoding,
        "ignorecommand": jail.ignorecommand or "",
        "bantime": jail.bantime,
        "findtime": jail.findtime,
        "ignoreip": list(jail.ignoreip),
        "logpath": [
            p.pattern if p.start == "head" else f"{p.pattern} {p.start}" for p in jail.logpath
        ],
    }
    diffs = [key for key, value in got.items() if value != want.get(key)]
    actions = want["actions"]
    assert isinstance(actions, dict)
    ours = {action.name: action.options for action in jail.actions}
    if sorted(ours) != sorted(actions):
        diffs.append(f"action names {sorted(ours)} != {sorted(actions)}")
    for name, options in actions.items():
        for key, value in options.items():
            mine = ours.get(name, {}).get(key)
            if isinstance(value, bool) and mine is not None:
                mine = mine.lower() in ("1", "on", "true", "yes")  # type: ignore[assignment]
            if mine != value:
                diffs.append(f"action {name} {key}")
    return diffs


def test_stock_tree_matches_fail2ban() -> None:
    if not STOCK.is_dir():
        pytest.skip("no /etc/fail2ban")
    assert _compare(STOCK) == []


def test_stock_tree_all_jails_enabled_matches_fail2ban(tmp_path: pathlib.Path) -> None:
    if not STOCK.is_dir():
        pytest.skip("no /etc/fail2ban")
    copy = tmp_path / "fail2ban"
    shutil.copytree(STOCK, copy)
    (copy / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    assert _compare(copy) == []


def test_jail_overrides_of_filter_options_match_fail2ban(tmp_path: pathlib.Path) -> None:
    """known/ filter options in a jail, jail-level regex options, systemd logtype default."""
    if not STOCK.is_dir():
        pytest.skip("no /etc/fail2ban")
    copy = tmp_path / "fail2ban"
    shutil.copytree(STOCK, copy)
    (copy / "jail.local").write_text(
        "[sshd]\nfailregex = %(known/failregex)s\n            ^extra <HOST>$\nmaxlines = 3\n"
        "[postfix]\nenabled = true\nbackend = systemd\nignoreregex = ^x$\n"
        "[recidive]\nenabled = true\ndatepattern = {^LN-BEG}\n"
    )
    assert _compare(copy) == []
    sshd = next(jail for jail in load_jails(copy).jails if jail.name == "sshd")
    assert sshd.filter is not None
    assert sshd.filter.failregex[-1] == "^extra <HOST>$"
    assert sshd.filter.maxlines == 3


def test_every_stock_action_matches_fail2ban(tmp_path: pathlib.Path) -> None:
    """Each action.d/*.conf, used with parameters by a jail, resolves as in fail2ban."""
    if not STOCK.is_dir():
        pytest.skip("no /etc/fail2ban")
    copy = tmp_path / "fail2ban"
    shutil.copytree(STOCK, copy)
    jails = [
        f"[act-{path.stem}]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n"
        f'action = {path.stem}[name=test, port="22,80"]\n'
        for path in sorted((copy / "action.d").glob("*.conf"))
    ]
    (copy / "jail.local").write_text("\n".join(jails))
    assert _compare(copy) == []


def test_conditional_init_sections_are_kept_for_actions(tmp_path: pathlib.Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "action.d" / "demo.local").write_text("[Init?family=inet6]\nchain = INPUT6\n")
    (jail,) = load_jails(tmp_path).jails
    (action,) = jail.actions
    assert action.options["chain"] == "INPUT"
    assert action.options["chain?family=inet6"] == "INPUT6"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"fail2ban.conf": "[Definition]\nloglevel = INFO\n"}, "INFO"),
        (
            {
                "fail2ban.conf": "[Definition]\nloglevel = INFO\n",
                "warden.conf": "[Definition]\nloglevel = DEBUG\n",
            },
            "DEBUG",
        ),
        (
            {
                "fail2ban.conf": "[Definition]\nloglevel = INFO\n",
                "fail2ban.local": "[Definition]\nloglevel = NOTICE\n",
            },
            "NOTICE",
        ),
    ],
)
def test_settings_prefer_warden_conf(
    tmp_path: pathlib.Path, files: dict[str, str], expected: str
) -> None:
    make_tree(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert load_jails(tmp_path).settings["loglevel"].text == expected


def test_jail_without_filter_has_none(tmp_path: pathlib.Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "jail.local").write_text("[demo]\nfilter =\n")
    (jail,) = load_jails(tmp_path).jails
    assert jail.filter is None


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("-1", -1.0), ("1d 12h", 129600.0)])
def test_bantime_values(tmp_path: pathlib.Path, text: str, seconds: float) -> None:
    make_tree(tmp_path)
    (tmp_path / "jail.local").write_text(f"[demo]\nbantime = {text}\n")
    (jail,) = load_jails(tmp_path).jails
    assert jail.bantime == seconds


def test_each_problem_reported_once(tmp_path: pathlib.Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "jail.local").write_text("[demo]\nfilter = %(undefined)s\n")
    errors = load_jails(tmp_path).errors
    assert [(e.line, "%(undefined)s is not defined" in str(e)) for e in errors] == [(2, True)]
