"""fail2ban's annotated corpus through warden's *own* filters (src/warden/data/filter.d).

The same check as the shared harness's ``score.py --config-dir src/warden/data`` (its expected
results, its streams and its per-line verdict ``compat_common.compare``), but every stream runs
through ``warden regex --json`` in this one process instead of one ``python -m warden`` each:
the 120 interpreter starts were nine tenths of this test's time. For every corpus filter that
warden's library also has, every annotated line must agree with fail2ban's annotation, except
the cases listed with a reason as ``@corpus-diff`` in the filter's data file - no more (a
regression) and no fewer (a stale entry). scripts/filter-table still runs score.py itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.filters.test_filters import DATA, SCRIPTS, library_filters, parse_script
from warden.cli.main import main as warden_main

ROOT = Path(__file__).resolve().parents[2]
COMPAT = Path(os.environ.get("WARDEN_COMPAT_DIR", ROOT.parent / "shared" / "compat"))
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


def _harness() -> ModuleType:
    """The shared harness's compat_common (standard library only, never writes next to itself)."""
    spec = importlib.util.spec_from_file_location("compat_common", COMPAT / "compat_common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _zone(tz: str) -> Iterator[None]:
    """TZ=tz for this process, as score.py sets it for each tool run."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def _run_stream(cases: list[dict[str, Any]], log: Path, now: float) -> dict[int, Any]:
    """``warden regex --json`` over one stream's lines; line number -> its JSON object."""
    log.write_text("".join(c["line"] + "\n" for c in cases), encoding="utf-8")
    argv = ["regex", "--json", "--config-dir", str(DATA), "--now", str(now)]
    argv += ["--journal"] if cases[0]["journal"] else []
    argv += [str(log), cases[0]["filter_spec"]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = warden_main(argv)
    assert code == 0, f"warden {' '.join(argv)}: exit {code}: {err.getvalue()}"
    return {int(o["line"]): o for o in map(json.loads, out.getvalue().splitlines())}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="fail2ban's corpus is not installed")
def test_own_filters_agree_with_the_corpus(tmp_path: Path) -> None:
    if not (COMPAT / "compat_common.py").is_file():
        pytest.skip(f"conformance harness not found in {COMPAT} (set WARDEN_COMPAT_DIR)")
    cc = _harness()
    assert set(library_filters()) >= COVERED
    paths = cc.ensure_cache(cc.cache_dir())
    meta = json.loads(Path(paths["meta"]).read_text(encoding="utf-8"))
    have = {p.stem for p in (DATA / "filter.d").glob("*.conf")}
    cases = [c for c in cc.load_cases(paths["expected"]) if c["filter"] in have]
    streams = cc.group_streams(cases)

    per_filter: dict[str, list[int]] = {}
    disagree: dict[str, list[str]] = {}
    with _zone(meta.get("tz", "CET-01CEST-02,M3.5.0,M10.5.0")):
        for index, (_, stream) in enumerate(sorted(streams.items())):
            outs = _run_stream(stream, tmp_path / f"{index:03d}.log", meta.get("now", 1124013600))
            for case in stream:
                diffs = cc.compare(case["expect"], outs.get(case["seq"]))
                counts = per_filter.setdefault(case["test"], [0, 0])
                counts[0] += not diffs
                counts[1] += 1
                if diffs:
                    disagree[case["id"]] = diffs
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
