"""Daemon CPU per ingested line beside ``warden regex`` on the same log, in one run.

    .venv/bin/python bench/bench_ingest.py [--lines 200000] [--logs 1] [--rounds 2]
        [--settings 'workers = auto'] [--profile OUT.txt]

For each round: ``warden regex LOG sshd -c /etc/fail2ban`` in one process (``WARDEN_JOBS=1``;
its CPU from ``wait4``), then a real ``warden server -f`` (a temporary tree: fail2ban's sshd
filter, a dry-run action, one jail per log file) that is handed the same log appended to an
empty watched file, ``--logs`` files at once. The daemon's CPU (user + system, from
``/proc/PID/stat``, its worker processes included) is read from just before the append until
the last file's sentinel address (three failures written after the log) is banned: lines are
handled in order, so that is the whole log. Printed: CPU us/line of both and their ratio,
the daemon's wall-clock lines/s, CPU/wall (more than 1 means more than one core), and a check
that the daemon banned exactly the addresses with at least maxretry failure lines.

``--profile OUT`` records the daemon with py-spy (``pip install py-spy``) during the ingest,
as collapsed stacks (one line per stack, ``flamegraph.pl`` reads them).
Uses generated auth logs (``../shared/bench/genlog.py``) dated the last minute, so every
failure is within findtime.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("WARDEN_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import Server, failure_line, wait_for  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def genlog(lines: int, seed: int) -> tuple[str, set[str]]:
    """A generated auth log ending now, and the addresses with >= 3 failure lines."""
    spec = importlib.util.spec_from_file_location("genlog", SHARED / "bench" / "genlog.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    args = argparse.Namespace(lines=lines, seed=seed, attack_ratio=0.30, attackers=500,
                              ipv6_share=0.25, rate=lines / 50.0, start_epoch=time.time() - 60,
                              tsformat="bsd", hostname="web01", concurrency=6)
    em = mod.Emitter(args)
    buf = io.StringIO()
    em.generate(buf)
    return buf.getvalue(), {ip for ip, c in em.fail_by_ip.items() if c >= 3}


def regex_cpu(log: Path) -> float:
    """CPU seconds of ``warden regex`` (one process) over ``log``, less its start (the same
    over a one-line log)."""
    one = log.with_suffix(".one")
    one.write_text(log.read_text().split("\n", 1)[0] + "\n")
    return _regex_cpu(log) - _regex_cpu(one)


def _regex_cpu(log: Path) -> float:
    env = dict(os.environ, WARDEN_JOBS="1")
    proc = subprocess.Popen([sys.executable, "-m", "warden", "regex", str(log), "sshd",
                             "-c", "/etc/fail2ban"], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("warden regex failed")
    return usage.ru_utime + usage.ru_stime


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of each of its live children (worker processes)."""
    found: dict[int, float] = {}
    pids = [pid]
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        pids += [int(p) for p in fh.read().split()]
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[p] = (int(fields[11]) + int(fields[12])) / CLK
    return found


def _spent(before: dict[int, float], after: dict[int, float], pid: int) -> tuple[float, float]:
    """(main process, children) CPU seconds between two :func:`tree_cpu` readings."""
    main = after.get(pid, 0.0) - before.get(pid, 0.0)
    children = sum(t - before.get(p, 0.0) for p, t in after.items() if p != pid)
    return main, children


def sentinels(text: str, logs: int) -> list[str]:
    """One address per log that the generated log does not name (it uses all of the
    documentation ranges)."""
    found = [a for a in (f"2001:db8:fe:{i:x}::1" for i in range(1, 4096))
             if f" {a} " not in text and f"={a}" not in text]
    return found[:logs]


def daemon_round(work: Path, text: str, logs: int, settings: str,
                 profile: str | None) -> tuple[float, float, float, dict[str, set[str]]]:
    """(CPU s of the main process, of its workers, wall s, banned addresses per jail) of the
    daemon ingesting ``text`` in each of ``logs`` files."""
    marks = sentinels(text, logs)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    paths = [work / f"auth{i}.log" for i in range(logs)]
    jails = "".join(f"[sshd{i}]\nenabled = true\nfilter = sshd\nlogpath = {p}\n"
                    "maxretry = 3\n\n" for i, p in enumerate(paths))
    for p in paths:
        p.touch()
    server = Server(work, jails)
    # --settings replaces the harness's own value of an option (dbfile = :memory:)
    names = {line.split("=", 1)[0].strip() for line in settings.splitlines() if "=" in line}
    conf = server.conf / "warden.conf"
    kept = [line for line in conf.read_text().splitlines()
            if line.split("=", 1)[0].strip() not in names]
    conf.write_text("\n".join(kept) + "\n" + settings)
    spy = None
    try:
        server.start(timeout=60)
        assert server.proc is not None
        pid = server.proc.pid
        # one line first: worker processes (``workers``) start on a file's first lines
        first = text.split("\n", 1)[0] + "\n"
        for p in paths:
            with open(p, "a") as fh:
                fh.write(first)
        time.sleep(2.0)
        datas = [(text + "".join(failure_line(marks[i]) for _ in range(3))
                  ).encode() for i in range(logs)]
        if profile:
            spy = subprocess.Popen([str(ROOT / ".venv" / "bin" / "py-spy"), "record",
                                    "--subprocesses", "-r", "200", "--format", "raw", "-o",
                                    profile, "-p", str(pid)], stdout=subprocess.DEVNULL)
            time.sleep(1.0)
        cpu0 = tree_cpu(pid)
        t0 = time.monotonic()
        fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
        chunk = 1 << 20
        for off in range(0, max(len(d) for d in datas), chunk):
            for fd, data in zip(fds, datas, strict=True):
                os.write(fd, data[off:off + chunk])
        for fd in fds:
            os.close(fd)
        for i in range(logs):
            # the daemon's own log says so (asking its socket would cost it CPU)
            wait_for("the sentinel ban", lambda i=i: f"[sshd{i}] Ban {marks[i]}\n"
                     in server.log_text(), timeout=600, interval=0.05)
        wall = time.monotonic() - t0
        main, workers = _spent(cpu0, tree_cpu(pid), pid)
        banned = {f"sshd{i}": set(server.banned(f"sshd{i}")) - {marks[i]}
                  for i in range(logs)}
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        server.close()
    return main, workers, wall, banned


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--logs", type=int, default=1, help="busy log files (one jail each)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settings", default="", help="lines for warden.conf [Definition]")
    ap.add_argument("--profile", help="py-spy collapsed stacks of the daemon (first round)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    settings = a.settings.replace("\\n", "\n")
    if settings and not settings.endswith("\n"):
        settings += "\n"
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        text, expect = genlog(a.lines, a.seed)
        log = tmp / "auth.log"
        log.write_text(text)
        n = a.lines + 3
        for r in range(a.rounds):
            rcpu = regex_cpu(log)
            main, workers, wall, banned = daemon_round(tmp / "daemon", text, a.logs, settings,
                                                       a.profile if r == 0 else None)
            dcpu = main + workers
            same = all({str(ip) for ip in got} == {_norm(e) for e in expect}
                       for got in banned.values())
            total = n * a.logs
            print(f"round {r}: warden regex {rcpu / n * 1e6:.2f} us/line (1 process); "
                  f"daemon {dcpu / total * 1e6:.2f} us/line ({dcpu / total / (rcpu / n):.2f}x), "
                  f"{total / wall:,.0f} lines/s over {a.logs} log(s), CPU/wall "
                  f"{dcpu / wall:.2f} (main {main / total * 1e6:.2f} us/line, workers "
                  f"{workers / total * 1e6:.2f}); bans {'identical' if same else 'DIFFER'} "
                  f"({len(expect)} per jail)", flush=True)
            if not same:
                return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _norm(addr: str) -> str:
    return str(ipaddress.ip_address(addr))


if __name__ == "__main__":
    raise SystemExit(main())
