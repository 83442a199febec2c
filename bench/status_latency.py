"""Benchmark: ``status JAIL`` of a jail with many bans, and how long a ``ping`` waits meanwhile.

    .venv/bin/python bench/status_latency.py [--bans N] [--rounds N]

Starts ``warden server -f`` (dry-run action, ``--dbfile :memory:``) in a temporary tree, bans
N addresses (default 100,000 IPv6 addresses) through the control socket, then, ``--rounds``
times: sends ``status sshd`` on one connection while another process sends ``ping`` every 2 ms on a
second connection, and reports the time until the whole status reply has arrived, and the
median / worst ping round trip while it was being produced. It also times the commands
``warden status sshd`` and ``warden status sshd --count`` (interpreter start-up included).
Not a test: numbers for the README and reports.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

_FILTERS = Path("/etc/fail2ban/filter.d")


def _tree(root: Path) -> tuple[Path, Path]:
    conf, run = root / "conf", root / "run"
    (conf / "filter.d").mkdir(parents=True)
    (conf / "action.d").mkdir()
    run.mkdir()
    for name in ("sshd.conf", "common.conf"):
        shutil.copy(_FILTERS / name, conf / "filter.d" / name)
    (conf / "action.d" / "dummy.conf").write_text(
        "[Definition]\nactionstart =\nactionstop =\nactionban =\nactionunban =\n")
    sock = run / "warden.sock"
    (conf / "warden.conf").write_text(
        f"[Definition]\nloglevel = WARNING\nlogtarget = {run / 'warden.log'}\n"
        f"socket = {sock}\npidfile = {run / 'warden.pid'}\ndbfile = :memory:\n")
    log = root / "auth.log"
    log.touch()
    (conf / "jail.conf").write_text(
        "[DEFAULT]\nbanaction = dummy\naction = %(banaction)s\nignoreself = false\n"
        f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\nbantime = 1d\n")
    return conf, sock


def _ask(sock: socket.socket, request: dict[str, object]) -> bytes:
    sock.sendall(json.dumps({"v": 1, **request}).encode() + b"\n")
    chunks: list[bytes] = []
    while not chunks or not chunks[-1].endswith(b"\n"):
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("the daemon closed the connection")
        chunks.append(chunk)
    return b"".join(chunks)


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.fspath(path))
    return sock


def _wait_ready(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}")
        try:
            with _connect(path) as sock:
                if b"pong" in _ask(sock, {"kind": "ping"}):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the daemon did not answer within 30 s")


def _pinger(path: Path, done: EventType, out: Queue[list[float]]) -> None:
    """Ping every 2 ms until ``done``; put the round trips on ``out`` (its own process, so
    that receiving the big reply in this one does not delay the pings)."""
    pings: list[float] = []
    with _connect(path) as sock:
        while not done.is_set():
            started = time.perf_counter()
            _ask(sock, {"kind": "ping"})
            pings.append(time.perf_counter() - started)
            time.sleep(0.002)
    out.put(pings)


def _round(path: Path, request: dict[str, object]) -> tuple[float, list[float], int]:
    """One status request with pings beside it: (status seconds, ping round trips, bytes)."""
    done = multiprocessing.Event()
    out: Queue[list[float]] = multiprocessing.Queue()
    pinger = multiprocessing.Process(target=_pinger, args=(path, done, out))
    with _connect(path) as sock:
        pinger.start()
        time.sleep(0.2)  # the pinger is connected and running
        started = time.perf_counter()
        reply = _ask(sock, request)
        took = time.perf_counter() - started
    done.set()
    pings = out.get(timeout=30)
    pinger.join()
    return took, pings, len(reply)


def _command(conf: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "warden", "status", "sshd", *args, "-c", str(conf)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        conf, path = _tree(Path(tmp))
        proc = subprocess.Popen(
            [sys.executable, "-m", "warden", "server", "-f", "-c", str(conf)],
            stdin=subprocess.DEVNULL)
        try:
            _wait_ready(path, proc)
            with _connect(path) as sock:
                for start in range(0, args.bans, 10_000):
                    addrs = [f"2001:db8:2::{i >> 16:x}:{i & 0xFFFF:x}"
                             for i in range(start, min(args.bans, start + 10_000))]
                    answer = json.loads(_ask(sock, {"kind": "ban", "jail": "sshd",
                                                    "addrs": addrs}))
                    if answer["kind"] != "ban-result":
                        raise SystemExit(f"ban refused: {answer}")
            print(f"{args.bans} bans in jail sshd")
            requests: list[tuple[str, dict[str, object]]] = [
                ("status", {"kind": "status", "jail": "sshd"})]
            if "--count" in subprocess.run(
                    [sys.executable, "-m", "warden", "status", "--help"], check=True,
                    capture_output=True, text=True).stdout:
                requests.append(("status counts only",
                                 {"kind": "status", "jail": "sshd", "counts_only": True}))
            for name, request in requests:
                for n in range(args.rounds):
                    took, pings, size = _round(path, request)
                    print(f"{name} round {n + 1}: reply {size / 1e6:.1f} MB in "
                          f"{took * 1000:.0f} ms; {len(pings)} pings beside it: median "
                          f"{statistics.median(pings) * 1000:.1f} ms, worst "
                          f"{max(pings) * 1000:.1f} ms")
            for extra in ((), ("--count",)) if len(requests) > 1 else ((),):
                times = [_command(conf, *extra) for _ in range(args.rounds)]
                print(f"warden status sshd {' '.join(extra)}: best {min(times) * 1000:.0f} ms, "
                      f"median {statistics.median(times) * 1000:.0f} ms")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
