"""``warden server`` end to end: real files, real subprocess, real socket, the dry-run firewall.

Each test starts the daemon as a user would (``python -m warden server -f -c DIR``), writes
sshd log lines in the real format to real files and checks through the client which addresses
are banned, and when.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for
from warden.protocol import BanInfo, BanReply, BanRequest, SourceInfo, UnbanReply, UnbanRequest

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")


def sshd_jail(log: Path, *, bantime: str = "1h", name: str = "sshd", extra: str = "") -> str:
    return (f"[{name}]\nenabled = true\nfilter = sshd\nlogpath = {log}\nbantime = {bantime}\n"
            f"{extra}\n")


def _server(made: list[Server], root: Path, jails: str, **kwargs: str) -> Server:
    server = Server(root, jails, **kwargs)
    made.append(server)
    return server


def _bans(server: Server, count: int) -> dict[str, BanInfo] | None:
    found = server.banned()
    return found if len(found) == count else None


def _restarting(server: Server, jail: str) -> SourceInfo | None:
    files = server.status(jail).files
    return files[0] if files and files[0].state == "restarting" else None


def _wait_failed(server: Server, count: int) -> None:
    wait_for(f"{count} failures", lambda: server.status("sshd").total_failed == count)


def _fail(log: Path, addr: str, times: int = 3) -> None:
    append(log, "".join(failure_line(addr) for _ in range(times)))


def test_ban_then_unban_after_bantime(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log, bantime="2"))
    server.start()
    _fail(log, "192.0.2.10", times=2)
    wait_for("two failures counted", lambda: server.status("sshd").total_failed == 2)
    assert server.banned() == {}
    _fail(log, "192.0.2.10", times=1)
    entry = wait_for("the ban", lambda: server.banned().get("192.0.2.10"))
    assert entry.jail == "sshd" and entry.remaining is not None and entry.remaining <= 2.0
    banned_at = time.time()
    status = server.status("sshd")
    assert (status.currently_banned, status.total_banned, status.banned) == (1, 1, ("192.0.2.10",))
    assert [f.path for f in status.files] == [str(log)]
    wait_for("the unban", lambda: not server.banned(), timeout=6)
    # the ban lasted about bantime (2 s, from the failure's second-resolution log time)
    assert time.time() - banned_at < 3.5
    assert "[sshd] Ban 192.0.2.10" in server.log_text()
    assert "[sshd] Unban 192.0.2.10" in server.log_text()
    assert server.status("sshd").total_banned == 1
    assert server.stop() == 0
    assert not server.socket.exists() and not server.pidfile.exists()


def _rotate(log: Path, kind: str) -> None:
    if kind == "rename":
        os.rename(log, log.with_suffix(".log.1"))
        log.touch()
    elif kind == "copytruncate":
        data = log.read_bytes()
        log.with_suffix(".log.1").write_bytes(data)
        with open(log, "r+b") as fh:
            fh.truncate(0)
    elif kind == "delete":
        log.unlink()
        log.touch()
    else:  # pragma: no cover
        raise ValueError(kind)


@pytest.mark.parametrize("backend", ["auto", "polling"])
@pytest.mark.parametrize("kind", ["rename", "copytruncate", "delete"])
def test_rotation_while_lines_keep_coming(tmp_path: Path, servers: list[Server],
                                          kind: str, backend: str) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path,
                     sshd_jail(log, extra=f"backend = {backend}\n"))
    server.start()
    addrs = [f"198.51.100.{i}" for i in range(1, 41)]
    # Each address fails once before, once around and once after the rotation: only a
    # reader that follows the rotation sees all three and bans.
    for addr in addrs:
        append(log, failure_line(addr))
    wait_for("the first round", lambda: server.status("sshd").total_failed == len(addrs))
    for n, addr in enumerate(addrs):
        append(log, failure_line(addr))
        if n == len(addrs) // 2:
            if kind == "copytruncate":
                # Lines copied away before the reader saw them are gone for every reader
                # (fail2ban's too): that is copytruncate's own race, so let it catch up.
                _wait_failed(server, len(addrs) + n + 1)
            _rotate(log, kind)
    for addr in addrs:
        append(log, failure_line(addr))
    banned = wait_for("every address banned", lambda: _bans(server, len(addrs)), timeout=20)
    assert sorted(banned) == sorted(addrs)


def test_restart_restores_bans_with_their_remaining_time(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log, bantime="40"))
    server.start()
    _fail(log, "203.0.113.5")
    answer = server.call(BanRequest("sshd", ("2001:db8::66", "203.0.113.0/28")))
    assert isinstance(answer, BanReply) and len(answer.banned) == 2
    before = wait_for("three bans", lambda: _bans(server, 3))
    assert server.stop() == 0
    time.sleep(1.0)  # the downtime itself is what is measured here
    server.start()
    after = server.banned()
    assert sorted(after) == sorted(before)
    for addr, entry in after.items():
        old = before[addr].remaining
        assert old is not None and entry.remaining is not None
        # the daemon was down about a second: the bans lost that, not their whole time
        assert old - 6.0 < entry.remaining < old - 0.9, (addr, old, entry.remaining)
    assert server.status("sshd").currently_banned == 3
    assert "Restore Ban 203.0.113.5" in server.log_text()


def test_kill_9_during_a_burst_loses_no_reported_ban(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log, bantime="1h"))
    server.start()
    addrs = [f"2001:db8:1::{i:x}" for i in range(1, 3001)]
    reported: set[str] = set()
    # Write the burst in chunks, ask what is banned between chunks, and kill the daemon
    # without warning halfway through, while it still has lines to handle.
    for n in range(0, len(addrs), 100):
        append(log, "".join(failure_line(a) for a in addrs[n:n + 100] for _ in range(3)))
        reported |= set(server.banned())
        if n == 1500:
            break
    assert reported
    server.kill9()
    append(log, "".join(failure_line(a) for a in addrs[1600:] for _ in range(3)))
    server.start()
    restored = set(server.banned())
    assert reported <= restored
    # and the restart finishes the burst from the stored log position
    wait_for("the whole burst banned", lambda: len(server.banned()) == len(addrs), 30)


def test_status_of_10000_bans_is_fast(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log))
    server.start()
    addrs = tuple(f"2001:db8:2::{i:x}" for i in range(10_000))
    answer = server.call(BanRequest("sshd", addrs))
    assert isinstance(answer, BanReply) and len(answer.banned) == 10_000
    started = time.perf_counter()
    status = server.status("sshd")
    in_process = time.perf_counter() - started
    assert status.currently_banned == 10_000 and len(status.banned or ()) == 10_000
    started = time.perf_counter()
    done = server.cli("status", "sshd")
    command = time.perf_counter() - started
    assert done.returncode == 0
    assert "Currently banned:\t10000" in done.stdout
    print(f"status of 10,000 bans: {in_process * 1000:.0f} ms in process, "
          f"{command * 1000:.0f} ms as a command")
    assert in_process < 0.5
    assert command < 1.5  # includes the interpreter's start-up
    answer = server.call(UnbanRequest(all=True))
    assert isinstance(answer, UnbanReply) and answer.count == 10_000


def test_one_broken_jail_is_reported_and_the_others_run(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    jails = (sshd_jail(log)
             + "[broken]\nenabled = true\nfilter = sshd\nlogpath = /x\nmaxretry = many\n\n"
             + "[nolog]\nenabled = true\nfilter = sshd\nlogpath =\n")
    server = _server(servers, tmp_path, jails)
    server.start()
    err = server.stderr_path.read_text()
    assert "jail.local:" in err and "maxretry" in err and "Traceback" not in err
    # the log-less jail is reported on the terminal too, located at its logpath line
    assert "jail.local:16: [nolog] has no logpath; the jail is skipped" in err
    status = server.cli("status")
    assert status.returncode == 0
    assert "Jail list:\tsshd" in status.stdout
    _fail(log, "192.0.2.77")
    wait_for("the good jail bans", lambda: "192.0.2.77" in server.banned())


def test_no_runnable_jail_is_a_configuration_error(tmp_path: Path) -> None:
    server = Server(tmp_path, "[broken]\nenabled = true\nfilter = nosuchfilter\nlogpath = /x\n")
    done = server.cli("server", "-f")
    assert done.returncode == 2
    assert "nosuchfilter" in done.stderr and "Traceback" not in done.stderr


def test_sighup_reload_keeps_unchanged_jails(tmp_path: Path,
                                             servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    other = tmp_path / "other.log"
    log.touch()
    other.touch()
    jails = sshd_jail(log) + sshd_jail(other, name="second")
    server = _server(servers, tmp_path, jails)
    server.start()
    _fail(log, "192.0.2.1")
    _fail(other, "192.0.2.2")
    append(log, failure_line("192.0.2.9"))
    wait_for("both bans", lambda: len(server.banned()) == 2)
    wait_for("the pending failure", lambda: server.status("sshd").currently_failed == 1)
    # change only the second jail, add a third
    third = tmp_path / "third.log"
    third.touch()
    server.write_config(sshd_jail(log) + sshd_jail(other, name="second", extra="maxretry = 2")
                        + sshd_jail(third, name="third"))
    server.signal(signal.SIGHUP)
    wait_for("the third jail", lambda: "third" in server.cli("status").stdout)
    sshd = server.status("sshd")
    assert sshd.currently_failed == 1 and sshd.total_failed == 4  # counters kept
    second = server.status("second")
    assert second.banned == ("192.0.2.2",)  # rebuilt, ban restored from the store
    # the rebuilt jail runs its new configuration
    append(other, failure_line("192.0.2.3") * 2)
    wait_for("maxretry 2 applies", lambda: "192.0.2.3" in server.banned("second"))
    # reload through the client too
    done = server.cli("reload")
    assert done.returncode == 0 and "OK" in done.stdout


def test_sigusr1_reopens_the_log_file(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log))
    server.start()
    rotated = server.logfile.with_suffix(".log.1")
    os.rename(server.logfile, rotated)
    server.signal(signal.SIGUSR1)
    wait_for("a new log file", server.logfile.exists)
    _fail(log, "192.0.2.44")
    wait_for("the ban in the new log", lambda: "Ban 192.0.2.44" in server.log_text())
    assert "Ban 192.0.2.44" not in rotated.read_text()


def test_cli_grammar_and_exit_codes(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log))
    assert server.cli("status").returncode == 3  # not running yet
    server.start()
    assert server.cli("ping").stdout.strip() == "Server replied: pong"
    done = server.cli("set", "sshd", "banip", "192.0.2.50", "192.0.2.51")
    assert (done.returncode, done.stdout.strip()) == (0, "2")
    done = server.cli("get", "sshd", "banned")
    assert done.stdout.strip() == "['192.0.2.50', '192.0.2.51']"
    done = server.cli("ban", "sshd", "192.0.2.52")
    assert done.returncode == 0 and "banned 1" in done.stdout
    done = server.cli("banned", "192.0.2.52", "--json")
    assert done.returncode == 0 and '"addr": "192.0.2.52"' in done.stdout
    done = server.cli("set", "sshd", "unbanip", "192.0.2.50")
    assert (done.returncode, done.stdout.strip()) == (0, "1")
    done = server.cli("unban", "192.0.2.51")
    assert done.returncode == 0 and "unbanned 1" in done.stdout
    assert server.cli("status", "nojail").returncode == 2
    assert server.cli("ban", "sshd", "not-an-address").returncode == 2
    assert server.cli("set", "sshd").returncode == 2  # no property: a usage error
    # a runtime set of a jail option (fail2ban-client's grammar) lasts until the next reload
    done = server.cli("set", "sshd", "bantime", "10")
    assert (done.returncode, done.stdout.strip()) == (0, "10")
    assert server.cli("get", "sshd", "bantime").stdout.strip() == "10"
    done = server.cli("unban", "--all")
    assert (done.returncode, done.stdout.strip()) == (0, "1")
    done = server.cli("status", "sshd", "--json")
    assert '"kind": "jail-status"' in done.stdout
    done = server.cli("stop")
    assert (done.returncode, done.stdout.strip()) == (0, "Shutdown successful")
    assert server.proc is not None
    assert server.proc.wait(20) == 0
    server.proc = None


def test_detached_daemon_with_pidfile(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, sshd_jail(log))
    done = server.cli("server")
    try:
        assert done.returncode == 0, done.stderr
        pid = int(server.pidfile.read_text())
        assert server.cli("ping").returncode == 0
        # a second start is refused while the first runs
        again = server.cli("server")
        assert again.returncode == 1 and "already runs" in again.stderr
    finally:
        server.cli("stop")
    wait_for("the daemon to exit", lambda: not _alive(pid))
    assert not server.pidfile.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_command_action_runs_with_log_values_as_data(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    record = tmp_path / "record.txt"
    canary = tmp_path / "pwned"
    server = _server(servers, tmp_path, sshd_jail(log, bantime="2", extra="action = record"))
    (server.conf / "action.d" / "record.conf").write_text(
        "[Definition]\nactionstart = echo start >> <file>\nactionstop = echo stop >> <file>\n"
        "actionban = echo ban <ip> <F-USER> >> <file>\n"
        "actionunban = echo unban <ip> >> <file>\n"
        f"[Init]\nfile = {record}\n")
    server.start()
    evil = f"$(touch {canary})"
    append(log, "".join(failure_line("192.0.2.66", user=evil) for _ in range(3)))
    wait_for("the ban command", lambda: "ban 192.0.2.66" in _read(record))
    assert f"ban 192.0.2.66 {evil}" in _read(record)  # the value, as text
    assert not canary.exists()  # never run as shell
    wait_for("the unban command", lambda: "unban 192.0.2.66" in _read(record), timeout=8)
    assert _read(record).splitlines()[0] == "start"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_a_failing_source_is_restarted_and_shown(tmp_path: Path,
                                                 servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    jails = (sshd_jail(log)
             + "[journal]\nenabled = true\nfilter = sshd\nbackend = systemd\n"
               "journalmatch = this-is-no-match\n\n"
             + sshd_jail(log, name="latin", extra="logencoding = no-such-codec"))
    server = _server(servers, tmp_path, jails)
    server.start()
    # the journal jail's source fails and is retried with backoff; status says so
    source = wait_for("the restarting source", lambda: _restarting(server, "journal"))
    assert "journalmatch" in source.error
    assert "(restarting: " in server.cli("status", "journal").stdout
    # a jail with an unusable encoding is skipped at start; the file jail runs
    assert "no-such-codec" in server.log_text()
    assert server.cli("status", "latin").returncode == 2
    _fail(log, "192.0.2.88")
    wait_for("the file jail bans", lambda: "192.0.2.88" in server.banned("sshd"))


def test_ban_time_increment_remembers_across_restart(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(
        log, bantime="2", extra="bantime.increment = true\nbantime.maxtime = 1h\n"))
    server.start()
    _fail(log, "203.0.113.77")
    first = wait_for("the first ban", lambda: server.banned().get("203.0.113.77"))
    assert first.remaining is not None and first.remaining <= 2.0
    wait_for("the first unban", lambda: not server.banned(), timeout=6)
    assert server.stop() == 0
    server.start()
    _fail(log, "203.0.113.77")
    second = wait_for("the second ban", lambda: server.banned().get("203.0.113.77"))
    # the history came back from the store: the repeat offender's ban doubled
    assert second.count == 2
    assert second.remaining is not None and 2.5 < second.remaining <= 4.0


def test_reload_restart_and_unban(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log))
    server.start()
    _fail(log, "192.0.2.31")
    append(log, failure_line("192.0.2.32"))
    wait_for("the ban and a pending failure",
             lambda: (s := server.status("sshd")).currently_banned == 1 and s.currently_failed)
    # --restart rebuilds the jail: counters start again, the ban comes back from the store
    done = server.cli("reload", "sshd", "--restart")
    assert done.returncode == 0, done.stderr
    status = server.status("sshd")
    assert (status.currently_failed, status.total_failed, status.banned) == (
        0, 0, ("192.0.2.31",))
    # --unban lifts the reloaded jail's bans
    assert server.cli("reload", "--unban").returncode == 0
    assert server.banned() == {}
    assert server.cli("reload", "nojail").returncode == 2


def test_an_unusable_socket_is_one_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, sshd_jail(log))
    blocker = tmp_path / "file"
    blocker.touch()  # a file where the socket's directory should be
    done = server.cli("server", "-f", "--socket", str(blocker / "warden.sock"))
    assert done.returncode == 1
    assert "cannot serve on" in done.stderr and "Traceback" not in done.stderr
    assert not server.pidfile.exists()


def test_ignorecommand_decides_off_the_detection_path(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    canary = tmp_path / "pwned"
    answers = tmp_path / "answers"
    # ignore the friend's address; the user name (from the log) is only ever data
    command = (f"echo '<ip>' >> {answers}; "
               "test '<ip>' = 192.0.2.200 || test \"<F-USER>\" = friend")
    server = _server(servers, tmp_path,
                     sshd_jail(log, extra=f"ignorecommand = {command}"))
    server.start()
    evil = f"x\"; touch {canary}; echo \""
    append(log, failure_line("192.0.2.200") * 3 + failure_line("192.0.2.201") * 3
           + failure_line("192.0.2.202", user=evil) * 3)
    wait_for("the strangers' bans", lambda: {"192.0.2.201", "192.0.2.202"} <= set(server.banned()))
    assert not canary.exists()  # the user name was compared as text, never run
    wait_for("the friend's answer", lambda: "192.0.2.200" in _read(answers))
    # the friend's answers said "ignore": it stays unbanned (a negative: watch it a moment)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert "192.0.2.200" not in server.banned()
    assert server.status("sshd").total_failed == 6


def test_a_broken_reload_keeps_the_running_jail(tmp_path: Path,
                                                servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, sshd_jail(log))
    server.start()
    _fail(log, "192.0.2.41")
    wait_for("the ban", lambda: "192.0.2.41" in server.banned())
    server.write_config(sshd_jail(log, extra="maxretry = lots"))
    done = server.cli("reload")
    # refused: exit 1, the problem on the terminal (issue 8, item 8)
    assert done.returncode == 1 and "1 configuration problem" in done.stderr
    # the jail runs on, with its ban, on the configuration it had
    assert "192.0.2.41" in server.banned()
    assert "keeps running on its previous configuration" in server.log_text()
    _fail(log, "192.0.2.42")
    wait_for("the old maxretry still bans", lambda: "192.0.2.42" in server.banned())


def test_mail_action_sends_one_mail_per_ban(tmp_path: Path, servers: list[Server],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    outbox = tmp_path / "outbox"
    # a sendmail of our own: it keeps the argv and the message it was given
    fake = bin_dir / "sendmail"
    fake.write_text(f"#!/bin/sh\n{{ echo \"ARGS $*\"; cat; echo; }} >> {outbox}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    server = _server(servers, tmp_path, sshd_jail(
        log, extra="action = dummy\n         sendmail-whois[dest=admin@example.org]"))
    for name in ("sendmail-common.conf", "sendmail-whois.conf", "mail-whois-common.conf"):
        (server.conf / "action.d" / name).write_text(
            (Path("/etc/fail2ban/action.d") / name).read_text())
    server.start()
    _fail(log, "198.51.100.23")
    wait_for("the mail", lambda: "198.51.100.23" in _read(outbox))
    mail = _read(outbox)
    assert "admin@example.org" in mail.splitlines()[0]
    assert mail.count("ARGS ") == 1
    assert "198.51.100.23" in server.banned()  # the dry-run firewall got it as well
