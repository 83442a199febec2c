"""contrib/prometheus and contrib/grafana: the alerting rules load and behave (Debian's
promtool runs their unit tests), and every warden series they name is one the daemon serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from warden.core.addr import parse_network
from warden.core.decisions import Ban
from warden.daemon.metrics import Metrics, Scrape
from warden.sources.base import SourceState, SourceStatus

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
RULES = CONTRIB / "prometheus" / "warden-alerts.yml"
DASHBOARD = CONTRIB / "grafana" / "warden-dashboard.json"
_SERIES = re.compile(r"\bwarden_[a-z_]+")
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool (Debian's prometheus) is not installed")


def _served() -> set[str]:
    metrics = Metrics(started=1.0)
    net = parse_network("192.0.2.1")
    assert net is not None
    metrics.decided([Ban("sshd", net, 1.0, 2.0, 1.0)], [], "local")
    metrics.committed("nftables", 0.01, True)
    text = metrics.render(Scrape({}, {"/var/log/auth.log": 1},
                                 [("inotify", [SourceStatus("/x", SourceState.OK)])]))
    names = {line.split("{")[0].split()[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    # series of every jail are declared (# TYPE) even with no jail running
    names |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    return names


def _expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return [*exprs, RULES.read_text()]


def test_every_series_named_is_served() -> None:
    served = _served()
    named = {m for text in _expressions() for m in _SERIES.findall(text)}
    assert named, "no warden series found in contrib"
    assert named <= served, sorted(named - served)


def test_dashboard_layout() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]


@needs_promtool
def test_rules_load_and_their_unit_tests_pass() -> None:
    for args in (["check", "rules", RULES.name], ["test", "rules", "warden-alerts.test.yml"]):
        done = subprocess.run(["promtool", *args], cwd=RULES.parent, capture_output=True,
                              text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
