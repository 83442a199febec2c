"""Bad configuration is always a clear error, the same one everywhere (issue 8: 7, 8, 9, 13).

Every case runs the real commands on a real tree: ``warden check`` and ``warden server -f``
(tests/e2e/harness.py) and, for reload, ``warden reload`` against the running daemon. What
``check`` prints as ``file:line: message`` the daemon prints as ``warden: file:line:
message`` for the same configuration, and refuses the jail.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")

# (jail name, option lines of the jail, a fragment of its one problem)
BROKEN = [
    ("maybe", "enabled = maybe", "enabled = 'maybe': not a truth value"),
    ("badignore", "ignoreip = 127.0.0.1/8 192.0.2.300 gw..example",
     "ignoreip: '192.0.2.300', 'gw..example': not an address"),
    ("badport", "port = 99999,abc", "port: '99999,abc': '99999' is beyond 65535; 'abc' is not"),
    ("negative", "maxretry = -5", "maxretry: must be at least 1, not -5"),
    ("nohost", "prefregex =\nfailregex = ^nothing to ban here$",
     "failregex #1 has no <HOST>, <ADDR>, <F-ID> or <F-MLFID>"),
    ("dns", "usedns = sometimes", "usedns: must be one of yes, warn, no, raw"),
    ("cache", "ignorecache = size=3", "ignorecache: unknown ignorecache option(s): size"),
    ("formula", "bantime.increment = true\nbantime.formula = __import__('os')",
     "bantime.formula: invalid bantime.formula"),
    ("selfish", "ignoreself = perhaps", "ignoreself = 'perhaps': not a truth value"),
    ("watcher", "backend = inotifyy", "backend: unknown backend 'inotifyy'"),
    ("wide", "logencoding = utf-16", "logencoding 'utf-16' does not write a newline"),
    ("slow", r"failregex = ^user (\w+)+ from <HOST>$",
     "failregex #1: nested quantifier: the loop '([..]+)' repeats nothing but another"),
]


def jail(name: str, log: Path, lines: str = "") -> str:
    enabled = "" if "enabled" in lines else "enabled = true\n"
    return f"[{name}]\n{enabled}filter = sshd\nlogpath = {log}\n{lines}\n\n"


def _limited() -> None:
    # a runaway expansion must fail the test, not exhaust the machine
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run(server: Server, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``warden ARGS -c TREE``, with a memory limit and a deadline."""
    return subprocess.run(server.argv(*args), capture_output=True, text=True, timeout=timeout,
                          check=False, preexec_fn=_limited)


def check_lines(server: Server) -> tuple[int, list[str], list[str]]:
    """``warden check``: exit code, problem lines (without the summary), warning lines."""
    done = run(server, "check")
    assert "Traceback" not in done.stderr + done.stdout
    problems = [line for line in done.stderr.splitlines() if "problem(s) found in" not in line]
    warnings = [line.removeprefix("warning: ") for line in done.stdout.splitlines()
                if line.startswith("warning: ")]
    return done.returncode, problems, warnings


def server_lines(server: Server) -> tuple[list[str], list[str]]:
    """What the started daemon printed: problem lines and warning lines (prefix removed)."""
    text = server.stderr_path.read_text()
    assert "Traceback" not in text
    lines = [line.removeprefix("warden: ") for line in text.splitlines()
             if line.startswith("warden: ")]
    warnings = [line.removeprefix("warning: ") for line in lines if line.startswith("warning: ")]
    return [line for line in lines if not line.startswith("warning: ")], warnings


def test_check_and_server_refuse_the_same_jails_with_the_same_messages(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    jails = jail("good", log) + "".join(jail(name, log, lines) for name, lines, _ in BROKEN)
    server = Server(tmp_path, jails)
    servers.append(server)
    code, problems, _ = check_lines(server)
    assert code == 2
    local = f"{server.conf}/jail.local:"
    for name, _, fragment in BROKEN:
        mine = [line for line in problems if f"[{name}]" in line]
        assert len(mine) == 1, (name, problems)
        assert mine[0].startswith(local) and fragment in mine[0], (name, mine[0])
    assert len(problems) == len(BROKEN)
    server.start()
    printed, _ = server_lines(server)
    assert printed == problems  # the same lines, in the same order
    status = server.cli("status")
    assert status.returncode == 0 and "Jail list:\tgood\n" in status.stdout + "\n"
    # the daemon logs the same lines too
    logged = server.log_text()
    assert all(line in logged for line in problems)


def test_an_unknown_option_is_a_warning_with_the_closest_name(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, "[DEFAULT]\nbantme = 2h\n\n" + jail("sshd", log, "maxretyr = 7"))
    servers.append(server)
    code, problems, warnings = check_lines(server)
    assert (code, problems) == (0, [])
    local = f"{server.conf}/jail.local"
    assert warnings == [
        f"{local}:2: [DEFAULT] unknown option 'bantme' (did you mean bantime?); it has no effect",
        f"{local}:8: [sshd] unknown option 'maxretyr' (did you mean maxretry?); it has no "
        "effect",
    ]
    server.start()
    printed, said = server_lines(server)
    assert (printed, said) == ([], warnings)
    # the jail runs on the default (maxretry = 3 in the harness's jail.conf)
    append(log, failure_line("192.0.2.60") * 3)
    wait_for("the ban at the default maxretry", lambda: "192.0.2.60" in server.banned())


def test_a_reload_with_errors_changes_nothing_and_exits_1(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, jail("sshd", log))
    servers.append(server)
    server.start()
    append(log, failure_line("192.0.2.61") * 3 + failure_line("192.0.2.62"))
    wait_for("the ban", lambda: "192.0.2.61" in server.banned())
    wait_for("four failures", lambda: server.status("sshd").total_failed == 4)
    before = server.status("sshd")
    # a good change to sshd, a new good jail, and one broken jail
    server.write_config(jail("sshd", log, "maxretry = 2") + jail("third", log)
                        + jail("negative", log, "maxretry = -5"))
    _, expected, _ = check_lines(server)
    done = server.cli("reload")
    assert done.returncode == 1
    assert done.stderr.splitlines()[:-1] == expected
    assert done.stderr.splitlines()[-1] == ("reload refused, nothing changed: 1 configuration "
                                            "problem(s)")
    # nothing changed: no new jail, sshd kept its counters, ban and old maxretry
    assert "Jail list:\tsshd\n" in server.cli("status").stdout + "\n"
    sshd = server.status("sshd")
    assert (sshd.currently_failed, sshd.total_failed) == (before.currently_failed, 4)
    assert "192.0.2.61" in server.banned()
    append(log, failure_line("192.0.2.63") * 2)
    wait_for("two more failures", lambda: server.status("sshd").total_failed == 6)
    assert "192.0.2.63" not in server.banned()  # maxretry is still 3
    # SIGHUP refuses it the same way, in the log
    refused = "reload refused (1 configuration problem(s))"
    assert server.log_text().count(refused) == 1
    server.signal(signal.SIGHUP)
    wait_for("the SIGHUP refusal", lambda: server.log_text().count(refused) == 2)
    assert "Jail list:\tsshd\n" in server.cli("status").stdout + "\n"


def _laughs(levels: int = 10, width: int = 10) -> str:
    lines = ["[DEFAULT]", "lol0 = lol"]
    lines += [f"lol{i} = " + f"%(lol{i - 1})s" * width for i in range(1, levels)]
    return "\n".join(lines) + "\n\n"


def test_a_billion_laughs_is_an_error_not_a_hang(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, _laughs() + jail("sshd", log, "ignorecommand = /bin/true %(lol9)s"))
    started = time.monotonic()
    code, problems, _ = check_lines(server)
    assert time.monotonic() - started < 10
    assert code == 2
    assert problems == [f"{server.conf}/jail.local:17: [sshd] ignorecommand: interpolation "
                        "of ignorecommand grows beyond 1048576 bytes (references that "
                        "multiply at every level?)"]
    done = run(server, "server", "-f")
    assert done.returncode == 2
    assert [line.removeprefix("warden: ") for line in done.stderr.splitlines()][:-1] == problems


def test_a_thousand_nested_includes_name_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, "[INCLUDES]\nbefore = inc/f1.conf\n\n" + jail("sshd", log))
    (server.conf / "inc").mkdir()
    for i in range(1, 1001):
        (server.conf / "inc" / f"f{i}.conf").write_text(f"[INCLUDES]\nbefore = f{i + 1}.conf\n")
    (server.conf / "inc" / "f1001.conf").write_text("[DEFAULT]\n")
    code, problems, _ = check_lines(server)
    assert code == 2
    assert problems == [
        f"{server.conf}/inc/f63.conf:2: includes nest deeper than 64 files: jail.local -> "
        "inc/f1.conf -> inc/f2.conf -> ... (59 more) -> inc/f62.conf -> inc/f63.conf -> "
        "inc/f64.conf"]
    done = run(server, "server", "-f")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"warden: {problems[0]}"]


SLOW_FILTER = "[Definition]\n{optin}failregex = ^user (\\w+)+ from <HOST>$\n"


def test_an_exponential_regex_is_refused_unless_the_filter_allows_it(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    other = tmp_path / "slow.log"
    log.touch()
    other.touch()
    jails = jail("sshd", log) + f"[slow]\nenabled = true\nfilter = slow\nlogpath = {other}\n"
    server = Server(tmp_path, jails)
    servers.append(server)
    flt = server.conf / "filter.d" / "slow.conf"
    flt.write_text(SLOW_FILTER.format(optin=""))
    code, problems, _ = check_lines(server)
    assert code == 2
    assert problems == [
        f"{flt}:2: [slow] filter slow: failregex #1: nested quantifier: the loop '([..]+)' "
        "repeats nothing but another unbounded loop, so the same text splits between them in "
        "exponentially many ways; refused, as one log line could stall every jail (rewrite "
        "it, e.g. with an atomic group (?>...), or set backtracking = allow in the filter's "
        "[Definition])"]
    server.start()
    assert server_lines(server)[0] == problems
    assert "Jail list:\tsshd\n" in server.cli("status").stdout + "\n"
    server.stop()
    # the filter opts in: check passes (with the finding as a warning) and the jail runs
    flt.write_text(SLOW_FILTER.format(optin="backtracking = allow\n"))
    code, problems, warnings = check_lines(server)
    assert (code, problems) == (0, [])
    assert any(w.startswith(f"{flt}:3: [slow] filter slow: failregex #1: nested quantifier")
               for w in warnings)
    server.start()
    assert "Jail list:\tsshd, slow\n" in server.cli("status").stdout + "\n"
