"""Debian's real Prometheus server scrapes a running warden daemon and its query API gives the
values the daemon's jails reached: bans by cause, failures, active bans, lines read, store
writes (a dry run); and, with nftables in a network namespace of its own, the commit rounds
of the real backend."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns
from tests.e2e.harness import Server, append, failure_line, wait_for
from warden.protocol import BanReply, BanRequest, UnbanReply, UnbanRequest

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None,
                                reason="Debian's prometheus is not installed (scripts/setup)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# fetch a URL from inside the namespace the test runs a server in (none: this one)
_FETCH = ("import sys, urllib.request\n"
          "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")


class _Prometheus:
    def __init__(self, root: Path, target: str, prefix: Sequence[str] = ()) -> None:
        self.prefix = tuple(prefix)
        self.port = _free_port()
        root.mkdir(parents=True, exist_ok=True)
        config = root / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: warden\n    scrape_interval: 1s\n"
            "    scrape_timeout: 1s\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        self.log = root / "prometheus.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*self.prefix, str(PROMETHEUS), f"--config.file={config}",
                 f"--storage.tsdb.path={root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=root)
        wait_for("prometheus to be ready", self._ready, 60.0, 0.2)

    def _get(self, path: str) -> str | None:
        done = subprocess.run([*self.prefix, sys.executable, "-c", _FETCH,
                               f"http://127.0.0.1:{self.port}{path}"],
                              capture_output=True, text=True, check=False, timeout=20)
        return done.stdout if done.returncode == 0 else None

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
        return self._get("/-/ready") is not None

    def query(self, expr: str) -> list[dict[str, object]]:
        text = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert text is not None, f"query {expr!r} failed"
        body = json.loads(text)
        assert body["status"] == "success", body
        result: list[dict[str, object]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        if not result:
            return None
        sample = result[0]["value"]
        assert isinstance(sample, list)
        return float(sample[1])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemon(tmp_path: Path, servers: list[Server]) -> tuple[Server, Path, int]:
    log = tmp_path / "auth.log"
    log.write_text("")
    port = _free_port()
    server = Server(tmp_path / "warden",
                    f"[sshd]\nenabled = true\nport = ssh\nfilter = sshd\nlogpath = {log}\n",
                    settings=f"metrics = 127.0.0.1:{port}\n")
    servers.append(server.start())
    return server, log, port


@pytest.fixture
def prometheus(tmp_path: Path, daemon: tuple[Server, Path, int]) -> Iterator[_Prometheus]:
    prom = _Prometheus(tmp_path / "prometheus", f"127.0.0.1:{daemon[2]}")
    try:
        yield prom
    finally:
        prom.stop()


def test_prometheus_scrapes_what_the_jails_did(daemon: tuple[Server, Path, int],
                                                prometheus: _Prometheus) -> None:
    server, log, _ = daemon
    for addr in ("192.0.2.7", "198.51.100.9"):
        append(log, "".join(failure_line(addr) for _ in range(3)))
    append(log, "Dec  2 10:00:00 host sshd[77]: Connection closed by 192.0.2.99 port 22\n")
    wait_for("two bans", lambda: len(server.banned("sshd")) == 2)
    assert isinstance(server.call(BanRequest("sshd", ("203.0.113.5",))), BanReply)
    assert server.call(UnbanRequest("sshd", ("198.51.100.9",))) == UnbanReply(1)

    expected = {
        'warden_bans_total{jail="sshd",cause="local"}': 2,
        'warden_bans_total{jail="sshd",cause="manual"}': 1,
        'warden_unbans_total{jail="sshd",cause="manual"}': 1,
        'warden_bans_active{jail="sshd"}': 2,
        'warden_failures_total{jail="sshd"}': 6,
        # the six failure lines; the closed connection is matched, but no failure by itself
        'warden_lines_matched_total{jail="sshd"}': 6,
        'warden_lines_ignored_total{jail="sshd"}': 1,
        f'warden_lines_read_total{{source="{log}"}}': 7,
        'warden_tracked_addresses{jail="sshd"}': 0,
        'warden_store_errors_total': 0,
        'warden_backend_errors_total{backend="dryrun"}': 0,
        f'warden_source_up{{path="{log}"}}': 1,
        'up{job="warden"}': 1,
    }

    _until_scraped(prometheus, expected)
    # store writes: two local bans (one batch or two), a manual ban, a manual unban
    writes = prometheus.value("warden_store_write_duration_seconds_count")
    assert writes is not None and writes >= 3
    assert prometheus.value('warden_store_write_duration_seconds_bucket{le="+Inf"}') == writes
    info = prometheus.query("warden_build_info")
    assert len(info) == 1
    labels = info[0]["metric"]
    assert isinstance(labels, dict) and labels["version"]
    started = prometheus.value("warden_start_time_seconds")
    assert started is not None and started > 1.7e9


def _until_scraped(prometheus: _Prometheus, expected: Mapping[str, float]) -> None:
    def scraped() -> bool:
        return all(prometheus.value(expr) == value for expr, value in expected.items())

    try:
        wait_for("prometheus to scrape the daemon's values", scraped, 30.0, 0.5)
    except AssertionError:
        seen = {expr: prometheus.value(expr) for expr in expected}
        raise AssertionError(f"prometheus has {seen}") from None


@pytest.mark.skipif(not can_use_netns() or shutil.which("nft") is None
                    or not Path("/etc/fail2ban/action.d/nftables-multiport.conf").exists(),
                    reason="needs root, iproute2, nft and fail2ban's nftables actions")
def test_prometheus_sees_the_nftables_commits(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    port = _free_port()
    server = Server(tmp_path / "warden",
                    f"[sshd]\nenabled = true\nport = ssh\nfilter = sshd\nlogpath = {log}\n",
                    settings=f"metrics = {port}\n", action="nftables-multiport")
    for name in ("nftables.conf", "nftables-multiport.conf"):
        shutil.copy(Path("/etc/fail2ban/action.d") / name, server.conf / "action.d" / name)
    with netns("wmet") as ns:
        prefix = ("ip", "netns", "exec", ns)
        server.start(prefix=prefix)
        prom = None
        try:
            prom = _Prometheus(tmp_path / "prometheus", f"127.0.0.1:{port}", prefix)
            append(log, failure_line("192.0.2.2") * 3 + failure_line("2001:db8::2") * 3)
            wait_for("both bans", lambda: len(server.banned()) == 2)
            wait_for("the ban in the nftables set", lambda: "192.0.2.2" in subprocess.run(
                [*prefix, "nft", "list", "set", "inet", "warden", "sshd4"],
                capture_output=True, text=True, check=False).stdout)
            _until_scraped(prom, {
                'warden_bans_active{jail="sshd"}': 2,
                'warden_bans_total{jail="sshd",cause="local"}': 2,
                'sum(warden_backend_errors_total{backend=~"nftables.*"})': 0,
                'up{job="warden"}': 1,
            })
            # the commit rounds of the real backend: at least the one with both bans (one
            # round or two), each observed in the histogram's buckets
            # (the backend label is the backend with its settings: nftables[table=...])
            series = 'warden_backend_batch_duration_seconds_{}{{backend=~"nftables.*"{}}}'
            rounds = prom.value(series.format("count", ""))
            assert rounds is not None and rounds >= 1
            assert prom.value(series.format("bucket", ',le="+Inf"')) == rounds
            took = prom.value(series.format("sum", ""))
            assert took is not None and 0 < took < 30 * rounds
        finally:
            if prom is not None:
                prom.stop()
            server.close()
