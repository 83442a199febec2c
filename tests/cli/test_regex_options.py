"""fail2ban-regex's options that scripts use, in ``warden regex``: ``-o``, ``-m``, ``-L``,
``-e``, ``--print-all-matched``, ``--print-all-missed``, ``-V``, and ``systemd-journal`` as
LOG. Where fail2ban-regex's output is the interface (``-o``, ``-V``'s form) both programs run
on the same input and their outputs are compared."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sources.test_journal import export_at, needs_journal, write_journal
from warden import __version__

STOCK = Path("/etc/fail2ban")
F2B_REGEX = shutil.which("fail2ban-regex")
needs_f2b = pytest.mark.skipif(F2B_REGEX is None or not (STOCK / "filter.d/sshd.conf").exists(),
                               reason="needs Debian's fail2ban (fail2ban-regex, filter.d)")

AUTH = """\
Nov 27 06:14:37 gate sshd[20433]: Invalid user oracle from 203.0.113.45 port 51234
Nov 27 06:14:39 gate sshd[20433]: Failed password for invalid user oracle from 203.0.113.45 port 51234 ssh2
Nov 27 06:14:41 gate sshd[20433]: Connection closed by invalid user oracle 203.0.113.45 port 51234 [preauth]
Nov 27 06:15:02 gate sshd[20437]: Failed password for root from 198.51.100.7 port 40022 ssh2
# a comment
Nov 27 06:15:03 gate sshd[20440]: Accepted publickey for alice from 192.0.2.30 port 50000 ssh2
Nov 27 06:15:05 gate sshd[20441]: Failed password for root from 2001:db8::7 port 40022 ssh2
Nov 27 06:15:09 gate CRON[20450]: pam_unix(cron:session): session opened for user root
"""  # noqa: E501 - log lines as sshd writes them


def _warden(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", "regex", "-c", str(STOCK), *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          input=None if stdin is None else stdin.decode("latin-1"))


def _fail2ban(*args: str) -> subprocess.CompletedProcess[str]:
    assert F2B_REGEX is not None
    return subprocess.run([F2B_REGEX, *args], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def auth(tmp_path: Path) -> Path:
    log = tmp_path / "auth.log"
    log.write_text(AUTH)
    return log


@needs_f2b
@pytest.mark.parametrize("kind", ["id", "fid", "ip", "msg", "row", "user", "ip6", "nosuch",
                                  "<ip> by <F-USER>", "<fid>|<family>|<time>|<F-NOPE>|<nosuch>",
                                  "<matches><br>--", "<ip>: <msg>"])
def test_out_kinds_are_fail2ban_regexs(auth: Path, kind: str) -> None:
    ours = _warden("-o", kind, str(auth), "sshd")
    theirs = _fail2ban("-o", kind, str(auth), "sshd")
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    assert ours.stdout  # the log has failures: an empty output would compare equal too


@needs_f2b
def test_maxlines_joins_lines_for_a_multi_line_regex(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("Jan  1 00:00:01 host app[1]: first from 192.0.2.7\n"
                   "Jan  1 00:00:02 host app[1]: second step\n"
                   "Jan  1 00:00:03 host app[1]: first from 192.0.2.8\n"
                   "Jan  1 00:00:04 host app[1]: other\n")
    regex = r"first from <HOST>\n.*second step"
    for kind in ("id", "msg"):
        ours = _warden("-L", "2", "-o", kind, str(log), regex)
        assert ours.stdout == _fail2ban("-L", "2", "-o", kind, str(log), regex).stdout
        assert "192.0.2.7" in ours.stdout and "192.0.2.8" not in ours.stdout
    assert _warden("-o", "id", str(log), regex).stdout == ""  # one line at a time: no match


@needs_f2b
def test_encoding_decodes_the_log(tmp_path: Path) -> None:
    log = tmp_path / "latin.log"
    log.write_bytes(b"Jan  1 00:00:01 host sshd[1]: Failed password for jos\xe9 from "
                    b"192.0.2.7 port 22 ssh2\n")
    ours = _warden("-e", "latin-1", "-o", "user", str(log), "sshd")
    assert ours.stdout == _fail2ban("-e", "latin-1", "-o", "user", str(log), "sshd").stdout
    assert ours.stdout == "jos\u00e9\n"
    assert _warden("-o", "user", str(log), "sshd").stdout == "jos\ufffd\n"  # UTF-8 by default
    summary = _warden("--encoding", "latin-1", str(log), "sshd", "--print-all-matched")
    assert "Failed password for jos\u00e9 from" in summary.stdout


@needs_f2b
def test_print_all_matched_and_missed(auth: Path) -> None:
    out = _warden(str(auth), "sshd", "--print-all-matched", "--print-all-missed").stdout
    assert re.search(r"^Lines: 7 lines, \d+ ignored, 4 matched, \d+ missed$", out, re.M)
    matched = out.split("Matched line(s):\n")[1].split("\n\n")[0]
    assert "2001:db8::7" in matched and "198.51.100.7" in matched
    missed = out.split("Missed line(s):\n")[1]
    assert "CRON[20450]" in missed and "Failed password" not in missed
    plain = _warden(str(auth), "sshd").stdout
    assert "Matched line(s)" not in plain and "Missed line(s)" not in plain


def test_short_version_is_digits_and_dots() -> None:
    short = subprocess.run([sys.executable, "-m", "warden", "regex", "-V"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert (short.returncode, short.stdout) == (0, f"{__version__}\n")
    assert re.fullmatch(r"\d+(\.\d+)*\n", short.stdout)
    if F2B_REGEX is not None:  # the same form as fail2ban-regex's
        assert re.fullmatch(r"\d+(\.\d+)*\n", _fail2ban("-V").stdout)
    full = subprocess.run([sys.executable, "-m", "warden", "--version"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (full.returncode, full.stdout) == (0, f"warden {__version__}\n")


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "_COMM=sshd", "LOGLINE here", "x"], "-m/--journalmatch applies to LOG "
                                                "systemd-journal only"),
    (["-L", "0", "line", "x"], "-L/--maxlines must be at least 1, not 0"),
    (["-o", "id", "--json", "line", "x"], "-o/--out and --json are two output forms"),
    (["-e", "no-such-codec", "line", "x"], "unknown logencoding 'no-such-codec'"),
    (["systemd-journal[journalflags=x]", "x"], "LOG argument 'systemd-journal[journalflags=x]'"
                                               ": journalflags 'x' is not an integer"),
])
def test_wrong_options_are_one_line_usage_errors(args: list[str], message: str) -> None:
    done = _warden(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


# -- the journal as LOG -------------------------------------------------------------------

@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    start = time.time() - 3600
    path = tmp_path / "j" / "system.journal"
    path.parent.mkdir()
    write_journal(path, [
        export_at(start, "Failed password for root from 192.0.2.61 port 22 ssh2", seq=0),
        export_at(start + 1, "Accepted publickey for alice from 192.0.2.30 port 5 ssh2", seq=1),
        export_at(start + 2, "CRON ran", unit="cron.service", ident="CRON", seq=2),
        export_at(start + 3.25, "Failed password for bob from 2001:db8::61 port 22 ssh2",
                  seq=3),
        export_at(start + 4, "Failed password for eve from 192.0.2.62 port 22 ssh2",
                  unit="other.service", ident="other", seq=4),
    ])
    return path


def _fail2ban_reads_the_journal() -> bool:
    if F2B_REGEX is None:
        return False
    probe = subprocess.run(["/usr/bin/python3", "-c", "import systemd.journal"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@needs_journal
@needs_f2b
def test_the_journal_as_log(journal_file: Path) -> None:
    log = f"systemd-journal[journalfiles={journal_file}]"
    summary = _warden(log, "sshd", "--print-all-matched")
    assert summary.returncode == 0, summary.stderr
    # the filter's journalmatch (sshd.service or the sshd command) picks three entries
    assert "Log:    systemd journal (journal match: _SYSTEMD_UNIT=sshd.service + _COMM=sshd)" \
        in summary.stdout
    assert re.search(r"^Lines: 3 lines, 1 ignored, 2 matched, 0 missed$", summary.stdout, re.M)
    assert "host sshd[103]: Failed password for bob from 2001:db8::61" in summary.stdout
    assert _warden("-o", "id", log, "sshd").stdout == "192.0.2.61\n2001:db8::61\n"
    # -m replaces the filter's matches
    other = _warden("-m", "_SYSTEMD_UNIT=other.service", "-o", "user", log,
                    r"Failed password for <F-USER>\S+</F-USER> from <HOST>")
    assert other.stdout == "eve\n"
    as_json = _warden("--json", log, "sshd").stdout.splitlines()
    assert len(as_json) == 3 and '"host": "192.0.2.61"' in as_json[0]


@needs_journal
@needs_f2b
@pytest.mark.skipif(not _fail2ban_reads_the_journal(),
                    reason="fail2ban-regex needs Debian's python3-systemd to read the journal")
@pytest.mark.parametrize("kind", ["id", "msg", "row", "<ip> <F-USER> <time>"])
def test_journal_out_is_fail2ban_regexs(journal_file: Path, kind: str) -> None:
    log = f"systemd-journal[journalfiles={journal_file}]"
    ours = _warden("-o", kind, log, "sshd")
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == _fail2ban("-o", kind, log, "sshd").stdout
    assert ours.stdout
