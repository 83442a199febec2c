"""``warden regex`` shows a filter's success lines (``successregex``, issue 14), so that a
user can test the lines ``trustsuccess`` trusts: hits per regex, and the lines with
``--print-all-matched``; a filter without success lines shows nothing of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.crafted import START, sshd_log
from warden.cli import chunks
from warden.cli.main import main

OWN = Path(__file__).resolve().parents[2] / "src" / "warden" / "data" / "filter.d"
NOW = "1796200000"  # 2026-12-02

LOG = """\
Dec  2 09:00:00 h sshd[42]: Accepted publickey for al from 192.0.2.20 port 5 ssh2: ED25519 SHA256:x
Dec  2 09:00:05 host sshd[43]: Failed password for root from 192.0.2.9 port 50000 ssh2
Dec  2 09:01:00 host sshd[44]: Accepted password for bob from 2001:db8::7 port 50000 ssh2
Dec  2 09:02:00 host sshd[45]: Accepted password for bob from 192.0.2.30 port 50000 ssh2 [forged]
"""


def test_success_lines_are_counted_and_listed(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "auth.log"
    log.write_text(LOG, encoding="utf-8")
    assert main(["regex", str(log), str(OWN / "sshd.conf"), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^Successregex: 2 total \(logins", out, re.M)
    assert re.search(r"^ +1\) \[2\] \^Accepted ", out, re.M)
    assert "Success line(s):" not in out  # only with --print-all-matched
    assert main(["regex", str(log), str(OWN / "sshd.conf"), "--now", NOW,
                 "--print-all-matched"]) == 0
    listed = capsys.readouterr().out.split("Success line(s):\n")[1].splitlines()
    assert listed == ["  " + LOG.splitlines()[0], "  " + LOG.splitlines()[2]]
    # a single line given as LOG
    assert main(["regex", LOG.splitlines()[2], str(OWN / "sshd.conf"), "--now", NOW]) == 0
    assert re.search(r"^Successregex: 1 total", capsys.readouterr().out, re.M)


def test_json_marks_the_success_lines(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "auth.log"
    log.write_text(LOG, encoding="utf-8")
    assert main(["regex", str(log), str(OWN / "sshd.conf"), "--now", NOW, "--json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [row.get("success") for row in rows] == ["192.0.2.20", None, "2001:db8::7", None]
    assert [row["match"] for row in rows] == [False, True, False, False]
    assert rows[1]["host"] == "192.0.2.9"


def test_a_filter_without_success_lines_shows_none(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "auth.log"
    log.write_text(LOG, encoding="utf-8")
    flt = tmp_path / "plain.conf"
    flt.write_text("[Definition]\nfailregex = ^.*Failed password for \\S+ from <HOST>\n")
    assert main(["regex", str(log), str(flt), "--now", NOW]) == 0
    assert "Successregex" not in capsys.readouterr().out


def test_success_lines_in_parallel_chunks_equal_one_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The success lines are counted in the same pass as the failures (with their dates), in
    # every chunk of a parallel run: the hits and the listed lines are those of one run.
    monkeypatch.setattr(chunks, "MIN_PARALLEL_BYTES", 0)
    log = tmp_path / "auth.log"
    log.write_bytes(sshd_log(seed=5, count=6000))
    accepted = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines()
                if re.search(r"sshd\[\d+\]: Accepted password for \S+ from \S+ port 22 ssh2$",
                             ln)]
    assert len(accepted) > 100
    args = ["regex", str(log), str(OWN / "sshd.conf"), "--now", str(START + 1500),
            "--print-all-matched"]

    def run(jobs: int) -> str:
        monkeypatch.setenv("WARDEN_JOBS", str(jobs))
        assert main(args) == 0
        out = capsys.readouterr().out
        if "--json" not in args:  # (JSON lines have no summary to tell)
            assert ("chunks in parallel" in out) == (jobs > 1)
        return "\n".join(ln for ln in out.splitlines() if not ln.startswith("[processed"))

    one = run(1)
    assert re.search(rf"^Successregex: {len(accepted)} total", one, re.M)
    assert one.split("Success line(s):\n")[1].splitlines() == ["  " + ln for ln in accepted]
    for jobs in (2, 5):
        assert run(jobs) == one
    # and the success lines marked in --json, chunk by chunk
    args.remove("--print-all-matched")
    args.append("--json")
    rows = run(1)
    assert rows.count('"success": ') == len(accepted)
    assert run(3) == rows
