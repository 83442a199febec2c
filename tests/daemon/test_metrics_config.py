"""``metrics`` of warden.conf: what it accepts, what it refuses, and with which message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warden.config.confset import Value
from warden.config.metrics import MetricsEndpoint, parse_metrics
from warden.config.validate import settings_problems
from warden.core.filterdef import Origin


@pytest.mark.parametrize(("text", "expected"), [
    ("", None),
    ("off", None),
    ("None", None),
    ("9191", MetricsEndpoint("127.0.0.1", 9191)),
    ("127.0.0.1:9191", MetricsEndpoint("127.0.0.1", 9191)),
    ("localhost:9191", MetricsEndpoint("127.0.0.1", 9191)),
    ("0.0.0.0:9100", MetricsEndpoint("0.0.0.0", 9100)),
    ("[::1]:9191", MetricsEndpoint("::1", 9191)),
    ("[2001:db8::5]:80", MetricsEndpoint("2001:db8::5", 80)),
    ("/run/warden/metrics.sock", MetricsEndpoint(path="/run/warden/metrics.sock")),
])
def test_accepted(text: str, expected: MetricsEndpoint | None) -> None:
    assert parse_metrics(text) == expected


@pytest.mark.parametrize(("text", "why"), [
    (":9191", "name the address"),
    ("*:9191", "name the address"),
    ("127.0.0.1:0", "port '0'"),
    ("127.0.0.1:70000", "port '70000'"),
    ("127.0.0.1:http", "port 'http'"),
    ("example.org:9191", "not an IP address"),
    ("::1:9191", "brackets"),
    ("metrics.sock", "expected PORT"),
    ("/run/warden/", "directory"),
])
def test_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_metrics(text)


def test_loopback() -> None:
    assert MetricsEndpoint("127.0.0.1", 1).loopback
    assert MetricsEndpoint("::1", 1).loopback
    assert MetricsEndpoint(path="/x").loopback
    assert not MetricsEndpoint("0.0.0.0", 1).loopback
    assert str(MetricsEndpoint("::", 9191)) == "[::]:9191"


def test_check_names_file_and_line(tmp_path: Path) -> None:
    conf = str(tmp_path / "warden.conf")
    problems = settings_problems({"metrics": Value(" :9191", Origin(conf, 7))})
    assert [(p.file, p.line) for p in problems] == [(conf, 7)]
    assert "metrics = :9191: name the address" in str(problems[0])


def test_warden_check_reports_a_bad_metrics_line(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "filter.d").mkdir(parents=True)
    (conf / "jail.conf").write_text("[DEFAULT]\nenabled = false\n")
    (conf / "warden.conf").write_text("[Definition]\nloglevel = INFO\nmetrics = 0.0.0.0:99999\n")
    done = subprocess.run([sys.executable, "-m", "warden", "check", "-c", str(conf)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (f"{conf / 'warden.conf'}:3: metrics = 0.0.0.0:99999: port '99999' is not a number "
            "from 1 to 65535") in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
