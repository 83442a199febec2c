"""Control requests that must refuse, and the daemon staying responsive, end to end.

The daemon runs as users run it (``python -m warden server -f``); the ``warden`` command and
raw socket lines talk to it. Covered: an unreadable log path is logged once per change of
state; dangerous manual bans are refused unless forced; ``status --count`` answers with the
counts only; a ``ping`` is answered while the list of 100,000 bans is being built.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for
from warden.protocol import BanReply, BanRequest

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")

OWN = "192.0.2.77"  # the address the daemon's host name resolves to in test_refused_bans


def _server(made: list[Server], root: Path, log: Path, extra: str = "") -> Server:
    server = Server(root, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n{extra}\n")
    made.append(server)
    return server


def _count(server: Server, text: str) -> int:
    return server.log_text().count(text)


# ------------------------------------------------------------------------ item 11: log errors
def test_an_unreadable_log_is_one_warning_and_its_recovery_one_line(
        tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.mkdir()  # root reads every file whatever its mode: a directory is what fails for root
    server = _server(servers, tmp_path, log, "backend = polling")
    server.start()
    warning = f"WARNING {log}: is a directory; watching for it to become readable"
    wait_for("the warning", lambda: _count(server, warning) == 1)
    assert server.status("sshd").files[0].state == "error"
    time.sleep(4.5)  # more than four polls (one a second) of the still unreadable path
    assert _count(server, warning) == 1
    assert _count(server, "is a directory") == 1
    log.rmdir()
    append(log, "".join(failure_line("192.0.2.31") for _ in range(3)))
    wait_for("the ban", lambda: "192.0.2.31" in server.banned("sshd"))
    time.sleep(2.5)
    text = server.log_text()
    assert text.count(f"{log}: readable again") == 1
    assert re.search(rf"INFO +{re.escape(str(log))}: readable again", text)
    assert text.count("is a directory") == 1
    assert server.status("sshd").files[0].state == "ok"


# ------------------------------------------------------------------------ item 12: refusals
def _own_host(root: Path) -> list[str]:
    """A prefix that runs the daemon in its own UTS and mount namespaces, where the host name
    resolves to OWN (so "an address of this host" is one the test knows)."""
    hosts = root / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{OWN} wardenhost\n")
    return ["unshare", "--uts", "--mount", "sh", "-c",
            'hostname wardenhost && mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]


REFUSED = [
    ("0.0.0.0/0", "refusing to ban 0.0.0.0/0: it covers every IPv4 address; "
                  "use --force to ban it anyway"),
    ("::/0", "refusing to ban ::/0: it covers every IPv6 address"),
    ("10.0.0.0/7", "refusing to ban 10.0.0.0/7: its prefix /7 is shorter than /8"),
    ("2001:db8::/31", "refusing to ban 2001:db8::/31: its prefix /31 is shorter than /32"),
    ("127.0.0.1", "refusing to ban 127.0.0.1: it is a loopback address"),
    ("::1", "refusing to ban ::1: it is a loopback address"),
    (OWN, f"refusing to ban {OWN}: it is an address of this host"),
    ("192.0.2.0/24", f"refusing to ban 192.0.2.0/24: it contains {OWN}, an address of this "
                     "host"),
]


def test_refused_bans_unless_forced(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = _server(servers, tmp_path, log)
    server.start(prefix=_own_host(tmp_path))
    for addr, reason in REFUSED:
        done = server.cli("ban", "sshd", addr)
        assert done.returncode == 2, (addr, done)
        assert done.stderr.startswith(reason), (addr, done.stderr)
        assert done.stdout == ""
    # one refused address refuses the whole request: nothing of it is banned
    done = server.cli("ban", "sshd", "198.51.100.1", "127.0.0.1", "198.51.100.2")
    assert done.returncode == 2 and "127.0.0.1: it is a loopback address" in done.stderr
    assert server.banned() == {}
    # fail2ban's grammar has no force flag: the refusal says what to run instead
    done = server.cli("set", "sshd", "banip", "0.0.0.0/0")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "refusing to ban 0.0.0.0/0: it covers every IPv4 address; use --force to ban it anyway",
        "warden: 'set JAIL banip' has no force option; run 'warden ban JAIL ADDR... --force' "
        "instead",
    ]
    assert server.banned() == {}
    # --force bans it, and the log says it was forced and why it is dangerous
    done = server.cli("ban", "sshd", OWN, "198.51.100.1", "--force")
    assert (done.returncode, done.stdout.strip()) == (0, "sshd: banned 2")
    assert set(server.banned("sshd")) == {OWN, "198.51.100.1"}
    assert f"[sshd] forced manual ban of {OWN}: it is an address of this host" \
        in server.log_text()
    # harmless addresses need no force, also from a client that sends no force field
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.fspath(server.socket))
        sock.sendall(b'{"v":1,"kind":"ban","jail":"sshd","addrs":["198.51.100.9"]}\n')
        answer = json.loads(_read_line(sock))
    assert answer == {"v": 1, "kind": "ban-result", "jail": "sshd",
                      "banned": ["198.51.100.9"], "already": []}
    # ... but that client is refused a dangerous one just the same
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.fspath(server.socket))
        sock.sendall(b'{"v":1,"kind":"ban","jail":"sshd","addrs":["::/0"]}\n')
        answer = json.loads(_read_line(sock))
    assert answer["kind"] == "failed" and answer["reason"] == "refused"


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1 << 20)
        assert chunk, "the daemon closed the connection"
        data += chunk
    return data


# --------------------------------------------------------------- item 14: big status replies
BANS = 100_000


def _addrs() -> list[str]:
    return [f"2001:db8:2::{i >> 16:x}:{i & 0xFFFF:x}" for i in range(BANS)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One daemon with 100,000 bans, shared by the tests below (banning takes seconds)."""
    root = tmp_path_factory.mktemp("big")
    log = root / "auth.log"
    log.touch()
    made: list[Server] = []
    try:
        server = _server(made, root, log, "bantime = 1d")
        server.start("--dbfile", ":memory:")
        addrs = _addrs()
        for start in range(0, BANS, 10_000):
            answer = server.call(BanRequest("sshd", tuple(addrs[start:start + 10_000])),
                                 timeout=120)
            assert isinstance(answer, BanReply) and len(answer.banned) == 10_000, answer
        yield server
    finally:
        for one in made:
            one.close()


def test_status_count_of_100000_bans(big: Server) -> None:
    full = big.cli("status", "sshd")
    assert full.returncode == 0
    lines = full.stdout.rstrip("\n").split("\n")
    # fail2ban's layout, with the whole list
    assert lines[-3:-1] == ["   |- Currently banned:\t100000", "   |- Total banned:\t100000"]
    head, _, listed = lines[-1].partition(":\t")
    assert head == "   `- Banned IP list"
    assert listed.split(" ") == [str(ipaddress.ip_address(a)) for a in _addrs()]  # oldest first
    # --count: the same tree without the list line
    counts = big.cli("status", "sshd", "--count")
    assert counts.returncode == 0
    assert counts.stdout == "\n".join(lines[:-1]).replace(
        "   |- Total banned", "   `- Total banned") + "\n"
    data = json.loads(big.cli("status", "sshd", "--count", "--json").stdout)
    assert (data["kind"], data["currently_banned"], data["banned"]) == (
        "jail-status", BANS, None)
    every = big.cli("status", "--all", "--count")
    assert every.returncode == 0 and "Banned IP list" not in every.stdout
    assert "Currently banned:\t100000" in every.stdout


@pytest.mark.parametrize(("request_", "kind", "field"), [
    (b'{"v":1,"kind":"status","jail":"sshd"}', "jail-status", "banned"),
    (b'{"v":1,"kind":"banned","jail":"sshd"}', "banned-list", "bans"),  # get JAIL banned
])
def test_ping_is_answered_while_a_list_of_100000_bans_is_built(
        big: Server, request_: bytes, kind: str, field: str) -> None:
    with socket.socket(socket.AF_UNIX) as slow, socket.socket(socket.AF_UNIX) as quick:
        slow.connect(os.fspath(big.socket))
        quick.connect(os.fspath(big.socket))
        quick.sendall(b'{"v":1,"kind":"ping"}\n')
        assert b"pong" in _read_line(quick)  # both connections are being served
        slow.sendall(request_ + b"\n")
        time.sleep(0.05)  # the daemon is building the list now (it takes some 0.4 s)
        quick.sendall(b'{"v":1,"kind":"ping"}\n')
        assert b"pong" in _read_line(quick)
        # the pong came back before the first byte of the big reply was sent
        with pytest.raises(BlockingIOError):
            slow.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        reply = json.loads(_read_line(slow))
    assert reply["kind"] == kind
    expected = [str(ipaddress.ip_address(a)) for a in _addrs()]  # oldest first
    if kind == "jail-status":
        assert reply[field] == expected
    else:
        assert [e["addr"] for e in reply[field]] == expected
        assert {(e["jail"], e["count"]) for e in reply[field]} == {("sshd", 1)}
        assert all(86_000 < e["remaining"] <= 86_400 for e in reply[field])
        # and one address asked for by name is found among them
        data = json.loads(big.cli("banned", expected[7], "2001:db8:2::ffff:ffff",
                                  "--json").stdout)
        assert [(e["jail"], e["addr"]) for e in data["bans"]] == [("sshd", expected[7])]
