"""fail2ban's annotated corpus through warden's *own* filters (src/warden/data/filter.d).

The same check as the shared harness's ``score.py --config-dir src/warden/data``, run in this
process by ``tests/compat/corpus.py``. For every corpus filter that warden's library also has,
every annotated line must agree with fail2ban's annotation, except the cases listed with a
reason as ``@corpus-diff`` in the filter's data file - no more (a regression) and no fewer (a
stale entry). scripts/filter-table still runs score.py itself.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.compat.corpus import harness_missing, score
from tests.filters.test_filters import DATA, SCRIPTS, library_filters, parse_script

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


def test_own_filters_agree_with_the_corpus(tmp_path: Path) -> None:
    missing = harness_missing()
    if missing:
        pytest.skip(missing)
    assert set(library_filters()) >= COVERED
    result = score(tmp_path, DATA)
    per_filter, disagree = result.per_filter, result.disagree
    assert set(per_filter) == COVERED, set(per_filter) ^ COVERED

    accepted = accepted_differences()
    unexpected = sorted(set(disagree) - set(accepted))
    stale = sorted(set(accepted) - set(disagree))
    assert not unexpected, "new disagreements:\n" + "\n".join(
        f"{ident}: {'; '.join(disagree[ident])}" for ident in unexpected)
    assert not stale, "accepted differences that no longer occur: " + ", ".join(stale)

    # the per-filter numbers: everything agrees but the accepted differences
    expected_misses = Counter(ident.split("|", 1)[0] for ident in accepted)
    for name, (agree, total) in per_filter.items():
        assert total - agree == expected_misses.get(name, 0), (name, agree, total)
    assert sum(t for _, t in per_filter.values()) >= 1000  # the corpus really ran
