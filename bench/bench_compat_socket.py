"""fail2ban's protocol side by side: warden's ``compat_socket`` and a real fail2ban-server.

Both run the same sshd jail (a do-nothing action, temporary sockets). One connection each:
``set sshd banip`` of N addresses in one command (time to the answer and until all are
listed), then the median of 20 round trips of ``ping``, ``status sshd`` and
``get sshd banip --with-time``. Then what refusing hostile pickles costs the daemon's reader.

    .venv/bin/python bench/bench_compat_socket.py [N]
"""

from __future__ import annotations

import os
import pickle
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.test_fail2ban_client import Fail2banServer, compat_warden

from warden.daemon.f2bproto import END, load_command
from warden.errors import ProtocolError


def _ask(sock: socket.socket, command: list[str]) -> tuple[int, object]:
    sock.sendall(pickle.dumps(command, protocol=4) + END)
    data = b""
    while not data.endswith(END):
        data += sock.recv(1 << 20)
    code, result = pickle.loads(data[:-len(END)])
    return code, result


def _round_trips(path: Path, label: str, count: int) -> None:
    addrs = [f"198.51.{100 + i // 250}.{i % 250 + 1}" for i in range(count)]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(300)
        sock.connect(os.fspath(path))
        started = time.monotonic()
        code, result = _ask(sock, ["set", "sshd", "banip", *addrs])
        answered = time.monotonic() - started
        assert code == 0, result
        # fail2ban bans after answering: wait until every address is listed
        while len(_ask(sock, ["get", "sshd", "banip"])[1]) < count:  # type: ignore[arg-type]
            time.sleep(0.05)
        listed = time.monotonic() - started
        medians = []
        for command in (["ping"], ["status", "sshd"], ["get", "sshd", "banip", "--with-time"]):
            times = []
            for _ in range(20):
                start = time.monotonic()
                _ask(sock, command)
                times.append(time.monotonic() - start)
            medians.append(f"{' '.join(command)} {statistics.median(times) * 1000:.2f} ms")
    print(f"{label}: banip of {count} answered in {answered * 1000:.0f} ms, all listed in "
          f"{listed * 1000:.0f} ms; medians: " + ", ".join(medians))


def _refusals() -> None:
    doubling: object = "x"
    for _ in range(30):
        doubling = [doubling, doubling]
    cases = {
        "2**30 values through the memo": pickle.dumps(doubling, protocol=4),
        "100,000 levels deep": b"\x80\x04" + b"]" * 100_000 + b"a" * 99_999 + b".",
        "os.system by GLOBAL/REDUCE": b"cos\nsystem\n(S'true'\ntR.",
        "a 10,000-address banip (accepted)": pickle.dumps(
            ["set", "sshd", "banip", *[f"198.51.100.{i % 250}" for i in range(10_000)]], 4),
    }
    for name, data in cases.items():
        start = time.perf_counter()
        for _ in range(10):
            try:
                load_command(data)
                outcome = "accepted"
            except ProtocolError as exc:
                outcome = str(exc)
        each = (time.perf_counter() - start) / 10 * 1000
        print(f"{name}: {len(data):,} bytes, {each:.2f} ms: {outcome}")


def main() -> None:
    """Run both daemons, time them, stop them."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warden = compat_warden(root / "warden")
        oracle = Fail2banServer(root / "fail2ban")
        try:
            warden.start()
            oracle.start()
            _round_trips(root / "warden" / "f2b" / "fail2ban.sock", "warden", count)
            _round_trips(oracle.socket, "fail2ban-server", count)
        finally:
            warden.close()
            oracle.close()
    _refusals()


if __name__ == "__main__":
    main()
