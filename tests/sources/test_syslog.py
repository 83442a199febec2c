"""The syslog socket source: real datagrams on a Unix socket and on UDP over loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import stat

import pytest

from warden.errors import SourceError
from warden.sources.base import SourceState
from warden.sources.syslog import SyslogSource, parse_address, syslog_line

from .helpers import collect


@pytest.mark.parametrize(("data", "line"), [
    (b"<38>Nov 27 21:00:01 sshd[42]: Failed password for root from 192.0.2.1 port 22 ssh2",
     "Nov 27 21:00:01 sshd[42]: Failed password for root from 192.0.2.1 port 22 ssh2"),
    (b"<13>Nov 27 21:00:01 host su: ok\n", "Nov 27 21:00:01 host su: ok"),
    (b"<165>1 2026-11-27T21:00:01.003Z mail.example.org sshd 42 ID47 - Failed password",
     "2026-11-27T21:00:01.003Z mail.example.org sshd[42]: Failed password"),
    (b'<165>1 2026-11-27T21:00:01Z h app - - [ex@1 k="a\\]b"][x@2 y="z"] \xef\xbb\xbfmsg',
     "2026-11-27T21:00:01Z h app: msg"),
    (b"<165>1 - - - - - -", ""),
    (b"no priority at all", "no priority at all"),
    (b"<4>multi\nline\r\n\0", "multi\\nline"),
    (b"<4>bad \xff byte", "bad \ufffd byte"),
])
def test_syslog_line_table(data, line):
    assert syslog_line(data) == line


@pytest.mark.parametrize(("address", "parsed"), [
    ("unix:/run/x.sock", (socket.AF_UNIX, "/run/x.sock")),
    ("udp:127.0.0.1:514", (socket.AF_INET, ("127.0.0.1", 514))),
    ("udp:[::1]:5514", (socket.AF_INET6, ("::1", 5514))),
])
def test_addresses(address, parsed):
    assert parse_address(address) == parsed


@pytest.mark.parametrize("address", ["tcp:1.2.3.4:5", "udp:host", "udp::514", "unix:",
                                     "udp:127.0.0.1:99999", "/dev/log"])
def test_bad_addresses(address):
    with pytest.raises(SourceError, match="use unix:/path/to/socket or udp:HOST:PORT"):
        parse_address(address)


def test_unix_socket_messages_in_batches(tmp_path):
    path = tmp_path / "log.sock"

    async def main() -> None:
        src = SyslogSource(f"unix:{path}")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
        it = src.batches()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.setblocking(False)

            async def send() -> None:
                for i in range(500):
                    msg = f"<38>Nov 27 21:00:01 sshd[{i}]: attempt {i}".encode()
                    while True:
                        try:
                            client.sendto(msg, str(path))
                            break
                        except BlockingIOError:  # the queue is full: let the reader run
                            await asyncio.sleep(0)

            async with asyncio.TaskGroup() as tg:
                tg.create_task(send())
                got = await collect(it, 500)
        assert got == [f"Nov 27 21:00:01 sshd[{i}]: attempt {i}" for i in range(500)]
        assert src.status()[0].state is SourceState.OK and src.received == 500
        src.close()
        src.close()
        assert not path.exists()
        assert src.status()[0].state is SourceState.STOPPED

    asyncio.run(main())


def test_stale_socket_is_replaced_but_a_file_is_not(tmp_path):
    path = tmp_path / "log.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()  # the file stays behind, as after a crash
    src = SyslogSource(f"unix:{path}")
    src.close()
    regular = tmp_path / "notes"
    regular.write_text("keep me")
    with pytest.raises(SourceError, match="exists and is not a socket"):
        SyslogSource(f"unix:{regular}")
    assert regular.read_text() == "keep me"


def test_udp_over_loopback_and_a_busy_port():
    async def main() -> None:
        src = SyslogSource("udp:127.0.0.1:0", max_line=20)
        bound = src.address
        assert isinstance(bound, tuple)
        host, port = bound
        it = src.batches()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"<165>1 2026-11-27T21:00:01Z relay sshd 7 - - Failed password for x",
                          (host, port))
            got = await collect(it, 1)
        assert got == ["2026-11-27T21:00:01Z"]  # cut at max_line
        with pytest.raises(SourceError, match=r"cannot listen on syslog address.*in use"):
            SyslogSource(f"udp:127.0.0.1:{port}")
        src.close()

    asyncio.run(main())


@pytest.mark.parametrize(("mode", "owner"), [(0o777, 0), (0o755, 65534)])
def test_a_socket_directory_others_can_change_is_refused(tmp_path, mode, owner):
    # whoever can swap names in the directory could put a symlink where the socket is made
    # and have the root daemon's chmod open the file it points at to everyone
    where = tmp_path / "shared"
    where.mkdir()
    os.chown(where, owner, owner)
    where.chmod(mode)
    with pytest.raises(SourceError, match=rf"{where}.*(writable by others|owned by uid)"):
        SyslogSource(f"unix:{where}/log.sock")
    assert not (where / "log.sock").exists()


def test_a_sticky_directory_is_accepted_and_the_socket_is_born_0666(tmp_path):
    where = tmp_path / "sticky"
    where.mkdir()
    where.chmod(0o1777)  # like /tmp: others cannot rename or remove the daemon's entries
    before = os.umask(0o27)
    try:
        src = SyslogSource(f"unix:{where}/log.sock")
        try:
            assert stat.S_IMODE(os.stat(where / "log.sock").st_mode) == 0o666
        finally:
            src.close()
        assert os.umask(0o27) == 0o27  # the process umask is left as it was
    finally:
        os.umask(before)



def test_a_sender_that_never_pauses_does_not_hold_the_event_loop(tmp_path):
    # A flood keeps the socket queue non-empty at every read: the listener must still let
    # the daemon's other tasks (bans, control socket, timers) run between its batches.
    path = tmp_path / "log.sock"

    async def main() -> None:
        src = SyslogSource(f"unix:{path}")
        ticks = 0

        async def other_task() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.get_running_loop().create_task(other_task())
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.connect(str(path))
            client.send(b"<13>flood")
            batches = 0
            async for _ in src.batches():
                client.send(b"<13>flood")  # refill before the source looks again
                batches += 1
                if batches == 50:
                    break
        ticker.cancel()
        src.close()
        assert ticks >= 40, f"other tasks ran {ticks} times during 50 batches"

    asyncio.run(main())
