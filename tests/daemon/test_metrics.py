"""The metrics registry, its text exposition (checked by Debian's promtool where installed),
the /metrics HTTP responder on real sockets, and the event hub's bounded buffers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Coroutine
from pathlib import Path

import pytest

from warden.config.metrics import MetricsEndpoint
from warden.core.addr import parse_network
from warden.core.decisions import Ban, Unban
from warden.daemon.events import EventHub, build_event, event_line
from warden.daemon.httpmetrics import MetricsServer
from warden.daemon.metrics import Histogram, Metrics, Scrape
from warden.protocol import EventsRequest, FleetInfo, decode_event, encode
from warden.protocol.events import (
    BanEvent,
    DroppedEvent,
    Event,
    FailureEvent,
    SourceEvent,
    UnbanEvent,
)
from warden.sources.base import SourceState, SourceStatus


def _ban(jail: str, addr: str, *, restored: bool = False) -> Ban:
    net = parse_network(addr)
    assert net is not None
    return Ban(jail, net, 100.0, 700.0, 600.0, restored=restored)


def _unban(jail: str, addr: str, reason: str) -> Unban:
    net = parse_network(addr)
    assert net is not None
    return Unban(jail, net, 200.0, reason)


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    hist = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        hist.observe(value)
    assert list(hist.lines("x", 'b="n",')) == [
        'x_bucket{b="n",le="0.1"} 2',
        'x_bucket{b="n",le="1"} 4',
        'x_bucket{b="n",le="+Inf"} 5',
        'x_sum{b="n"} 8.65',
        'x_count{b="n"} 5',
    ]


def _render(metrics: Metrics) -> str:
    status = [("inotify", [SourceStatus('/var/log/a"b.log', SourceState.OK, restarts=2),
                           SourceStatus("/var/log/gone.log", SourceState.MISSING)])]
    return metrics.render(Scrape({}, {"/var/log/auth.log": 1234}, status, 1, 7))


def test_bans_and_unbans_by_cause() -> None:
    metrics = Metrics(started=1_800_000_000.5)
    metrics.decided([_ban("sshd", "192.0.2.1"), _ban("sshd", "192.0.2.2"),
                     _ban("sshd", "192.0.2.3", restored=True)], [], "local")
    metrics.decided([_ban("web", "198.51.100.1")], [_unban("web", "198.51.100.9", "manual")],
                    "manual")
    metrics.decided([], [_unban("sshd", "192.0.2.1", "expired")], "local")
    metrics.decided([_ban("sshd", "203.0.113.8")], [], "fleet")
    metrics.stored(0.002, True)
    metrics.stored(0.2, False)
    metrics.committed("nftables", 0.03, True)
    metrics.committed("nftables", 31.0, False)
    text = _render(metrics)
    for line in ('warden_bans_total{jail="sshd",cause="local"} 2',
                 'warden_bans_total{jail="sshd",cause="fleet"} 1',
                 'warden_bans_total{jail="web",cause="manual"} 1',
                 'warden_unbans_total{jail="sshd",cause="expired"} 1',
                 'warden_unbans_total{jail="web",cause="manual"} 1',
                 "warden_store_errors_total 1",
                 "warden_store_write_duration_seconds_count 2",
                 'warden_store_write_duration_seconds_bucket{le="0.0025"} 1',
                 'warden_backend_errors_total{backend="nftables"} 1',
                 'warden_backend_batch_duration_seconds_bucket{backend="nftables",le="30"} 1',
                 'warden_backend_batch_duration_seconds_bucket{backend="nftables",le="+Inf"} 2',
                 'warden_lines_read_total{source="/var/log/auth.log"} 1234',
                 'warden_source_restarts_total{source="inotify"} 2',
                 'warden_source_up{source="inotify",path="/var/log/a\\"b.log"} 1',
                 'warden_source_up{source="inotify",path="/var/log/gone.log"} 0',
                 "warden_start_time_seconds 1800000000.5",
                 "warden_event_subscribers 1",
                 "warden_events_dropped_total 7"):
        assert line in text.splitlines(), line
    assert "restored" not in text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (prometheus) missing")
def test_promtool_accepts_the_exposition() -> None:
    metrics = Metrics(started=1.0)
    metrics.decided([_ban("sshd", "192.0.2.1")], [_unban("sshd", "192.0.2.1", "expired")],
                    "local")
    metrics.committed("dryrun", 0.001, True)
    metrics.stored(0.001, True)
    done = subprocess.run(["promtool", "check", "metrics"], input=_render(metrics),
                          capture_output=True, text=True, check=False, timeout=30)
    # promtool exits 0 when the format parses; it lists naming advice (lint) on stdout
    assert done.returncode == 0, done.stdout + done.stderr


# -- the HTTP responder ------------------------------------------------------------------------
async def _exchange(connect: Coroutine[object, object, tuple[asyncio.StreamReader,
                                                            asyncio.StreamWriter]],
                    request: bytes) -> bytes:
    reader, writer = await connect
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def test_http_responder_on_tcp() -> None:
    async def run() -> list[bytes]:
        server = MetricsServer(MetricsEndpoint("127.0.0.1", 0), lambda: "warden_up 1\n")
        await server.start()
        try:
            port = server.port
            out = []
            for request in (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                            b"HEAD /metrics?x=1 HTTP/1.1\r\n\r\n",
                            b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                            b"GET / HTTP/1.1\r\n\r\n",
                            b"nonsense\r\n\r\n",
                            b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n"):
                out.append(await _exchange(asyncio.open_connection("127.0.0.1", port),
                                           request))
            return out
        finally:
            await server.close()

    ok, head, post, root, bad, huge = asyncio.run(run())
    assert ok.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n" in ok
    assert b"Content-Length: 12\r\n" in ok and ok.endswith(b"\r\n\r\nwarden_up 1\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert post.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD" in post
    assert root.startswith(b"HTTP/1.1 404 ")
    assert bad.startswith(b"HTTP/1.1 400 ")
    assert huge == b""  # an oversized head is dropped without an answer


def test_http_responder_on_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "run" / "metrics.sock"

    async def run() -> tuple[bytes, int]:
        server = MetricsServer(MetricsEndpoint(path=str(path)), lambda: "a 1\n")
        await server.start()
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            answer = await _exchange(asyncio.open_unix_connection(os.fspath(path)),
                                     b"GET /metrics HTTP/1.0\r\n\r\n")
            return answer, mode
        finally:
            await server.close()

    answer, mode = asyncio.run(run())
    assert mode == 0o600
    assert answer.endswith(b"\r\n\r\na 1\n")
    assert not path.exists()  # removed at close


def test_a_port_in_use_is_an_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def run() -> None:
            await MetricsServer(MetricsEndpoint("127.0.0.1", port), str).start()

        with pytest.raises(OSError):
            asyncio.run(run())


# -- the event hub ---------------------------------------------------------------------------
class _Sink:
    """A stream writer stand-in that records what is written and never blocks."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None


def test_a_full_buffer_drops_and_counts() -> None:
    hub = EventHub(lambda: 5.0, capacity=3, jails=lambda: ("sshd", "web"))
    hub.subscribers.clear()

    async def run() -> None:
        reader = asyncio.StreamReader()
        sink = _Sink()
        task = asyncio.create_task(hub.serve(EventsRequest("sshd", follow=True), reader,
                                             sink))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        (sub,) = hub.subscribers
        assert hub.wants_failures
        # published in one go, without yielding: the reader's buffer holds 3 of these
        hub.decided([_ban("sshd", f"192.0.2.{i}") for i in range(1, 6)], [], "local")
        hub.decided([_ban("web", "198.51.100.1")], [], "local")  # not this reader's jail
        assert (sub.dropped, len(sub.buffer)) == (2, 3)
        assert hub.dropped == 2
        await asyncio.sleep(0.01)
        reader.feed_eof()  # the client hangs up
        await asyncio.wait_for(task, 2)
        lines = sink.data.decode().splitlines()
        assert lines[0].startswith('{"v":1,"kind":"dropped"') and '"dropped":2' in lines[0]
        assert [line.count('"kind":"ban"') for line in lines[1:]] == [1, 1, 1]
        assert not hub.subscribers

    asyncio.run(run())


def test_source_changes_are_events_but_a_start_is_not() -> None:
    hub = EventHub(lambda: 1.0)
    ok = [("inotify", [SourceStatus("/var/log/a.log", SourceState.OK)])]
    hub.sources_seen(ok)
    hub.sources_seen([*ok, ("journal:sshd", [SourceStatus("journal", SourceState.OK)])])
    assert not hub.recent()
    hub.sources_seen([("inotify", [SourceStatus("/var/log/a.log", SourceState.MISSING,
                                                error="gone")])])
    hub.sources_seen(ok)
    assert [(e.state, e.error) for e in hub.recent() if isinstance(e, SourceEvent)] == [
        ("missing", "gone"), ("ok", "")]


def test_failures_and_unknown_requests() -> None:
    hub = EventHub(lambda: 2.0, jails=lambda: ("sshd",))
    hub.failures("sshd", [("192.0.2.1", 1.5)])
    (event,) = hub.recent()
    assert isinstance(event, FailureEvent) and (event.addr, event.at, event.seq) == \
        ("192.0.2.1", 1.5, 1)

    async def ask(request: EventsRequest) -> str:
        sink = _Sink()
        await hub.serve(request, asyncio.StreamReader(), sink)  # type: ignore[arg-type]
        return sink.data.decode()

    assert "the jail 'web' does not exist (jails: sshd)" in asyncio.run(ask(EventsRequest("web")))
    assert "unknown event kind(s) 'x'" in asyncio.run(ask(EventsRequest(kinds=("x",))))
    recent = asyncio.run(ask(EventsRequest(kinds=("ban",))))
    assert recent == ""  # the failure is not a ban
    assert '"kind":"failure"' in asyncio.run(ask(EventsRequest("sshd")))


def test_event_lines_are_the_codecs() -> None:
    ban = _ban("sshd", "2001:db8::7")
    events: list[Event] = [
              BanEvent(1, 2.5, "sshd", "2001:db8::7", None, -1.0, 3, 4, "manual"),
              UnbanEvent(2, 3.0, "sshd", "192.0.2.1", "expired"),
              FailureEvent(3, 4.0, "web", 'a"b\\c', 3.5),
              SourceEvent(4, 5.0, "inotify", "/var/log/\u00e9.log", "missing", "gone"),
              DroppedEvent(5, 6.0, 12),
              build_event(("ban", "sshd", 6, 7.0, ban, "local"))]
    for event in events:
        assert event_line(event) == encode(event)
        assert decode_event(event_line(event)) == event


def test_fleet_series_only_with_a_fleet() -> None:
    metrics = Metrics(started=1.0)
    assert "warden_fleet" not in metrics.render(Scrape({}, {}, []))
    fleet = FleetInfo("web1", True, ("web2", "web3"), 0.25, 4, 10, 7, 1)
    text = metrics.render(Scrape({}, {}, [], fleet=fleet)).splitlines()
    for line in ('warden_fleet_connected{host="web1"} 1', 'warden_fleet_peers{host="web1"} 2',
                 'warden_fleet_lag_seconds{host="web1"} 0.25',
                 'warden_fleet_outbox{host="web1"} 4',
                 'warden_fleet_published_total{host="web1"} 10',
                 'warden_fleet_applied_total{host="web1"} 7',
                 'warden_fleet_refused_total{host="web1"} 1'):
        assert line in text, line
    if shutil.which("promtool"):
        done = subprocess.run(["promtool", "check", "metrics"], input="\n".join(text) + "\n",
                              capture_output=True, text=True, check=False, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
