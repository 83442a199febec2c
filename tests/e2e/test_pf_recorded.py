"""The seed's story with pf, recorded: the real ``warden server`` daemon on Debian's stock
``/etc/fail2ban`` with ``banaction = pf``, and a ``pfctl`` stand-in first on PATH.

pf cannot run on Linux. The stand-in records every argv and standard input and keeps the
tables and anchor rules in a state file (through the model in ``tests/backends/fakes.py``), so
``-s Tables`` and ``-T show`` answer as pfctl(8) would and the daemon's restart and reconcile
take their real paths. The expected commands are written from fail2ban's ``action.d/pf.conf``
(anchor ``f2b/<name>``, table ``<f2b-<name>> persist counters``, ``<block> proto <protocol>
from <table> to <actiontype>``) and pfctl(8).

Story: the sshd jail (3 failures) and the sendmail-auth jail (1 failure, a week, every port via
``pf[actiontype=<allports>]``) start; three attackers are banned with one ``-T add`` and their
states killed; a mail failure gives the week-long ban; a restart reloads only the rules (``-R``)
and keeps the tables; ``warden unban`` deletes the address from the table.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for

STOCK = Path("/etc/fail2ban")
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (STOCK / "action.d" / "pf.conf").is_file(),
                                reason="needs Debian's fail2ban (its stock tree and filters)")

_STAND_IN = """#!{python}
# pfctl stand-in: records argv and stdin, answers from a model of pf's tables and anchors
import fcntl, json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.backends.fakes import FakePfctl
from warden.backends.runner import Command

here = Path(__file__).parent
stdin = sys.stdin.read() if not sys.stdin.isatty() else ""
with open(here / "pf.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = here / "pf-state.json"
    saved = json.loads(state.read_text()) if state.exists() else {{"tables": [], "rules": {{}}}}
    fake = FakePfctl({{(a, t): set(v) for a, t, v in saved["tables"]}}, saved["rules"])
    done = fake(Command(("pfctl", *sys.argv[1:]), stdin or None))
    state.write_text(json.dumps({{
        "tables": [[a, t, sorted(v)] for (a, t), v in fake.tables.items()],
        "rules": fake.rules}}))
    with open(here / "pfctl.jsonl", "a") as log:
        log.write(json.dumps({{"argv": sys.argv[1:], "stdin": stdin or None}}) + "\\n")
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
sys.exit(done.returncode)
"""

MAIL_FAILURE = ("{stamp} mx2 sendmail[20417]: 2B243kQ9020417: AUTH failure (PLAIN): "
                "authentication failure (-13) SASL(-13): authentication failure: Password "
                "verification failed, user=admin, relay=client.example.net [198.51.100.23]\n")

SSHD_RULES = ("table <f2b-sshd> persist counters\n"
              "block quick proto tcp from <f2b-sshd> to any port { ssh }\n")
MAIL_RULES = ("table <f2b-sendmail-auth> persist counters\n"
              "block quick proto tcp from <f2b-sendmail-auth> to any\n")
SSHD = ["-a", "f2b/sshd"]
MAIL = ["-a", "f2b/sendmail-auth"]
ATTACKERS = ["192.0.2.10", "192.0.2.11", "2001:db8::12"]


class StockServer(Server):
    """The daemon on a copy of the stock fail2ban tree plus a jail.local."""

    def write_config(self, jails: str, *, settings: str = "", action: str = "dummy") -> None:
        if not self.conf.exists():
            shutil.copytree(STOCK, self.conf, ignore=shutil.ignore_patterns("jail.d", "*.local"))
        self.run.mkdir(parents=True, exist_ok=True)
        # warden.conf beside fail2ban.conf: the daemon's files stay in the test's directory
        (self.conf / "warden.conf").write_text(
            f"[Definition]\nloglevel = INFO\nlogtarget = {self.logfile}\n"
            f"socket = {self.socket}\npidfile = {self.pidfile}\ndbfile = {self.db}\n")
        (self.conf / "jail.local").write_text(jails)


Call = tuple[list[str], str | None]


def _calls(bin_dir: Path) -> list[Call]:
    log = bin_dir / "pfctl.jsonl"
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [(row["argv"], row["stdin"]) for row in rows]


def _tables(bin_dir: Path) -> dict[str, set[str]]:
    saved = json.loads((bin_dir / "pf-state.json").read_text())
    return {f"{anchor}:{table}": set(members) for anchor, table, members in saved["tables"]}


def _of(calls: list[Call], anchor: list[str]) -> list[Call]:
    return [c for c in calls if c[0][:2] == anchor]


def _added(calls: list[Call], anchor: list[str]) -> list[list[str]]:
    return [argv[6:] for argv, _ in _of(calls, anchor) if argv[4:6] == ["-T", "add"]]


@pytest.fixture
def pfctl_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pfctl"
    script.write_text(_STAND_IN.format(python=sys.executable, root=str(ROOT)))
    script.chmod(0o755)
    # the daemon inherits this environment and runs "pfctl" from PATH, as it would on FreeBSD
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


def test_seed_story_with_pf(tmp_path: Path, pfctl_on_path: Path) -> None:
    bins = pfctl_on_path
    authlog, maillog = tmp_path / "auth.log", tmp_path / "mail.log"
    authlog.touch()
    maillog.touch()
    server = StockServer(tmp_path, (
        "[DEFAULT]\nbanaction = pf\nbanaction_allports = pf[actiontype=<allports>]\n\n"
        f"[sshd]\nenabled = true\nlogpath = {authlog}\nbackend = auto\nmaxretry = 3\n"
        "findtime = 1h\nbantime = 1h\n\n"
        f"[sendmail-auth]\nenabled = true\nlogpath = {maillog}\nbackend = auto\n"
        "maxretry = 1\nfindtime = 1d\nbantime = 1w\nbanaction = pf[actiontype=<allports>]\n"))
    try:
        server.start()
        # start: each jail's anchor gets fail2ban's table and rule, as one ruleset from stdin
        wait_for("both anchors loaded", lambda: len(
            [c for c in _calls(bins) if c[0][2:] == ["-f", "-"]]) == 2)
        calls = _calls(bins)
        assert _of(calls, SSHD)[:2] == [([*SSHD, "-s", "Tables"], None),
                                        ([*SSHD, "-f", "-"], SSHD_RULES)]
        assert _of(calls, MAIL)[:2] == [([*MAIL, "-s", "Tables"], None),
                                        ([*MAIL, "-f", "-"], MAIL_RULES)]

        # three attackers in one read block: one batched -T add, then their states killed
        append(authlog, "".join(failure_line(a) for a in ATTACKERS for _ in range(3)))
        wait_for("three sshd bans", lambda: set(server.banned("sshd")) == set(ATTACKERS))
        wait_for("the kills", lambda: {argv[1] for argv, _ in _calls(bins)
                                       if argv[0] == "-k"} >= set(ATTACKERS))
        calls = _calls(bins)
        assert _added(calls, SSHD) == [ATTACKERS] or sorted(
            a for add in _added(calls, SSHD) for a in add) == sorted(ATTACKERS)
        assert len(_added(calls, SSHD)) < len(ATTACKERS), _added(calls, SSHD)  # batched
        for argv, _ in _of(calls, SSHD):
            if argv[4:6] == ["-T", "add"]:
                assert argv[:4] == [*SSHD, "-t", "f2b-sshd"]
        assert _tables(bins)["f2b/sshd:f2b-sshd"] == set(ATTACKERS)

        # one AUTH failure: a week's ban in the all-ports table
        append(maillog, MAIL_FAILURE.format(stamp=time.strftime("%b %d %H:%M:%S")))
        ban = wait_for("the sendmail-auth ban",
                       lambda: server.banned("sendmail-auth").get("198.51.100.23"))
        assert ban.remaining is not None and 7 * 86400 - 60 < ban.remaining <= 7 * 86400
        wait_for("the mail ban in pf", lambda: (
            [*MAIL, "-t", "f2b-sendmail-auth", "-T", "add", "198.51.100.23"], None)
            in _calls(bins))
        wait_for("its states killed", lambda: (["-k", "198.51.100.23"], None) in _calls(bins))

        # restart: the tables exist, so only the rules are reloaded (-R) and the bans stay
        assert server.stop() == 0
        before = len(_calls(bins))
        server.start()
        wait_for("bans restored", lambda: set(server.banned("sshd")) == set(ATTACKERS)
                 and "198.51.100.23" in server.banned("sendmail-auth"))
        wait_for("both rulesets reloaded", lambda: len(
            [c for c in _calls(bins)[before:] if c[0][2:] == ["-R", "-f", "-"]]) == 2)
        after = _calls(bins)[before:]
        assert ([*SSHD, "-R", "-f", "-"], SSHD_RULES) in after
        assert ([*MAIL, "-R", "-f", "-"], MAIL_RULES) in after
        assert not [c for c in after if c[0][2:] == ["-f", "-"]]  # no table redefined empty
        assert _tables(bins)["f2b/sshd:f2b-sshd"] == set(ATTACKERS)
        assert _tables(bins)["f2b/sendmail-auth:f2b-sendmail-auth"] == {"198.51.100.23"}

        # unban: the address leaves the table, nothing else does
        done = server.cli("unban", "sshd", "192.0.2.10")
        assert done.returncode == 0, done.stderr
        wait_for("the delete", lambda: (
            [*SSHD, "-t", "f2b-sshd", "-T", "delete", "192.0.2.10"], None) in _calls(bins))
        assert _tables(bins)["f2b/sshd:f2b-sshd"] == {"192.0.2.11", "2001:db8::12"}
        assert set(server.banned("sshd")) == {"192.0.2.11", "2001:db8::12"}
        # every command went to one of the two anchors, or killed a banned host's states
        for argv, _ in _calls(bins):
            assert argv[:2] in (SSHD, MAIL) or (argv[0] == "-k" and len(argv) == 2), argv
    finally:
        server.close()
