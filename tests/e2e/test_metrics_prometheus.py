"""Debian's real Prometheus server scrapes a running warden daemon (dry run) and its query API
gives the values the daemon's jails reached: bans by cause, failures, active bans, lines read,
store writes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for
from warden.protocol import BanReply, BanRequest, UnbanReply, UnbanRequest

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None,
                                reason="Debian's prometheus is not installed (scripts/setup)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Prometheus:
    def __init__(self, root: Path, target: str) -> None:
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
                [str(PROMETHEUS), f"--config.file={config}",
                 f"--storage.tsdb.path={root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=root)
        wait_for("prometheus to be ready", self._ready, 60.0, 0.2)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def query(self, expr: str) -> list[dict[str, object]]:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = json.load(answer)
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
        f'warden_lines_read_total{{source="{log}"}}': 7,
        'warden_tracked_addresses{jail="sshd"}': 0,
        'warden_store_errors_total': 0,
        'warden_backend_errors_total{backend="dryrun"}': 0,
        f'warden_source_up{{path="{log}"}}': 1,
        'up{job="warden"}': 1,
    }

    def scraped() -> bool:
        return all(prometheus.value(expr) == value for expr, value in expected.items())

    try:
        wait_for("prometheus to scrape the daemon's values", scraped, 30.0, 0.5)
    except AssertionError:
        seen = {expr: prometheus.value(expr) for expr in expected}
        raise AssertionError(f"prometheus has {seen}") from None
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
