"""fail2ban's annotated corpus through warden's *own* filters (src/warden/data/filter.d).

Runs the shared harness (``../shared/compat/score.py --config-dir``): for every corpus filter
that warden's library also has, every annotated line must agree with fail2ban's annotation,
except the cases listed with a reason as ``@corpus-diff`` in the filter's data file - no more
(a regression) and no fewer (a stale entry).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.filters.test_filters import DATA, SCRIPTS, library_filters, parse_script

ROOT = Path(__file__).resolve().parents[2]
SCORE = Path(os.environ.get("WARDEN_COMPAT_DIR", ROOT.parent / "shared" / "compat")) / "score.py"
CORPUS = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")

# the filters of the issue that fail2ban's corpus covers (postgresql, openvpn and wordpress
# have no corpus: their data files are their only test)
COVERED = {
    "sshd", "sendmail-auth", "sendmail-reject", "postfix", "dovecot", "courier-auth",
    "cyrus-imap", "exim", "exim-spam", "nginx-http-auth", "nginx-limit-req", "nginx-botsearch",
    "apache-auth", "apache-badbots", "apache-noscript", "apache-overflows", "vsftpd", "proftpd",
    "pure-ftpd", "named-refused", "mysqld-auth", "gitlab", "grafana", "roundcube-auth",
    "dropbear", "traefik-auth", "haproxy-http-auth", "selinux-ssh", "pam-generic", "recidive",
    # filter library part B (issue 15)
    "mssql-auth", "3proxy", "apache-botsearch", "apache-fakegooglebot", "apache-modsecurity",
    "apache-nohome", "apache-pass", "apache-shellshock", "assp", "bitwarden", "centreon",
    "asterisk", "counter-strike", "courier-smtp", "directadmin", "domino-smtp", "drupal-auth",
    "ejabberd-auth", "freeswitch", "froxlor-auth", "groupoffice", "gssftpd", "guacamole",
    "horde", "kerio", "lighttpd-auth", "mongodb-auth", "monit", "monitorix", "murmur", "nagios",
    "nginx-bad-request", "nsd",
    # filter library part A (issue 15)
    "zoneminder", "znc-adminlog", "xinetd-fail", "wuftpd", "webmin-auth", "uwimap-auth",
    "tine20", "suhosin", "stunnel", "squirrelmail", "squid", "solid-pop3d", "sogo-auth",
    "softethervpn", "slapd", "sieve", "screensharingd", "scanlogd", "qmail", "portsentry",
    "phpmyadmin-syslog", "php-url-fopen", "perdition", "oracleims", "openwebmail", "openhab",
}


def accepted_differences() -> dict[str, str]:
    """Corpus case id -> reason, from every data file."""
    found: dict[str, str] = {}
    for path in SCRIPTS:
        found.update(parse_script(path).corpus_diffs)
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason="fail2ban's corpus is not installed")
def test_own_filters_agree_with_the_corpus(tmp_path: Path) -> None:
    if not SCORE.is_file():
        pytest.skip(f"conformance harness not found at {SCORE} (set WARDEN_COMPAT_DIR)")
    assert set(library_filters()) >= COVERED
    summary, results = tmp_path / "summary.json", tmp_path / "results.jsonl"
    tool = f"{shlex.quote(sys.executable)} -m warden"
    proc = subprocess.run(
        [sys.executable, str(SCORE), "--tool", tool, "--config-dir", str(DATA),
         "--summary-json", str(summary), "--results", str(results), "--quiet-table",
         "--show", "40"],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "WARDEN_COMPAT_CACHE": os.environ.get(
            "WARDEN_COMPAT_CACHE", str(tmp_path / "cache"))},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    per_filter = json.loads(summary.read_text())["per_filter"]
    assert set(per_filter) == COVERED, set(per_filter) ^ COVERED

    disagree = set()
    for line in results.read_text().splitlines():
        case = json.loads(line)
        if not case["agree"]:
            disagree.add(case["id"])
    accepted = accepted_differences()
    unexpected = sorted(disagree - set(accepted))
    stale = sorted(set(accepted) - disagree)
    assert not unexpected, "new disagreements:\n" + "\n".join(unexpected) + proc.stdout[-4000:]
    assert not stale, "accepted differences that no longer occur: " + ", ".join(stale)

    # the per-filter numbers: everything agrees but the accepted differences
    expected_misses = Counter(ident.split("|", 1)[0] for ident in accepted)
    for name, (agree, total) in per_filter.items():
        assert total - agree == expected_misses.get(name, 0), (name, agree, total)
    assert sum(t for _, t in per_filter.values()) >= 1000  # the corpus really ran
