"""``warden init``: the tree it writes for each kind of host, and how it treats existing files."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from warden.cli.check import check_config, lint_config, run_check
from warden.cli.init import MANIFEST, HostFacts, default_init_dir, plan_tree, run_init
from warden.cli.main import main
from warden.config import load_jails
from warden.config.pfconf import evaluated_anchors, evaluates, jail_anchors

ROOT = Path(__file__).resolve().parents[2]
LINUX = HostFacts(system="Linux", auth_log=True, journald=True)
LINUX_JOURNAL = HostFacts(system="Linux", auth_log=False, journald=True)
FREEBSD = HostFacts(system="FreeBSD", auth_log=True, journald=False)


def init(target: Path, facts: HostFacts = LINUX) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_init(target, out, err, facts=facts)
    return code, out.getvalue(), err.getvalue()


def jail(config_dir: Path, name: str):
    found = [j for j in load_jails(config_dir).jails if j.name == name]
    assert found, f"jail {name} not enabled"
    return found[0]


@pytest.mark.parametrize("facts", [LINUX, LINUX_JOURNAL, FREEBSD], ids=["linux", "journal", "bsd"])
def test_written_tree_checks_clean(tmp_path: Path, facts: HostFacts) -> None:
    target = tmp_path / "warden"
    code, out, err = init(target, facts)
    assert (code, err) == (0, "")
    assert "created" in out
    assert (target / "jail.conf").is_file() and (target / "filter.d" / "sshd.conf").is_file()
    check_out, check_err = io.StringIO(), io.StringIO()
    assert run_check(target, check_out, check_err) == 0, check_err.getvalue()
    assert check_err.getvalue() == ""
    assert "warning:" not in check_out.getvalue()
    assert "1 enabled jail(s) (sshd)" in check_out.getvalue()


def test_every_jail_of_the_tree_loads_without_problem_or_warning(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    init(target)
    (target / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    config, problems = check_config(target)
    assert config is not None and problems == []
    assert lint_config(config) == []
    assert len(config.jails) >= 30 and not config.disabled


def test_linux_bans_with_nftables_from_auth_log(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    code, out, _ = init(target, LINUX)
    assert code == 0
    sshd = jail(target, "sshd")
    assert [a.file for a in sshd.actions] == ["nftables-multiport"]
    assert sshd.actions[0].params["port"] == "ssh"
    assert [p.pattern for p in sshd.logpath] == ["/var/log/auth.log"]
    assert sshd.backend == "auto"
    assert "nftables" in out and "/var/log/auth.log" in out


def test_journal_host_reads_sshd_from_the_journal_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    code, out, _ = init(target, LINUX_JOURNAL)
    assert code == 0
    sshd = jail(target, "sshd")
    assert sshd.backend == "systemd"
    assert sshd.journalmatch  # the filter's journal match is what the journal source reads
    assert "journal" in out and "backend = systemd" in out


def test_freebsd_bans_with_pf(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    code, out, _ = init(target, FREEBSD)
    assert code == 0
    assert "paths-freebsd.conf" in (target / "paths-os.conf").read_text()
    sshd = jail(target, "sshd")
    assert [a.file for a in sshd.actions] == ["pf"]
    assert "pf" in out
    assert default_init_dir(FREEBSD) == Path("/usr/local/etc/warden")
    assert default_init_dir(LINUX) == Path("/etc/warden")


def _daemon_files(target: Path) -> dict[str, str]:
    settings = load_jails(target).settings
    return {name: settings[name].text.strip()
            for name in ("socket", "pidfile", "dbfile", "logtarget")}


@pytest.mark.parametrize(("facts", "files"), [
    (FREEBSD, {"socket": "/var/run/warden/warden.sock", "pidfile": "/var/run/warden/warden.pid",
               "dbfile": "/var/db/warden/warden.db", "logtarget": "/var/log/warden.log"}),
    (HostFacts(system="OpenBSD", auth_log=True, journald=False),
     {"socket": "/var/run/warden/warden.sock", "pidfile": "/var/run/warden/warden.pid",
      "dbfile": "/var/db/warden/warden.db", "logtarget": "/var/log/warden.log"}),
    (LINUX, {"socket": "/run/warden/warden.sock", "pidfile": "/run/warden/warden.pid",
             "dbfile": "/var/lib/warden/warden.db", "logtarget": "/var/log/warden.log"}),
], ids=["freebsd", "openbsd", "linux"])
def test_daemon_files_follow_the_system(tmp_path: Path, facts: HostFacts,
                                        files: dict[str, str]) -> None:
    # hier(7) of the BSDs: /var/run and /var/db; Linux: /run and /var/lib
    target = tmp_path / "warden"
    assert init(target, facts)[0] == 0
    assert _daemon_files(target) == files


def test_freebsd_init_prints_the_pf_conf_line(tmp_path: Path) -> None:
    _, out, _ = init(tmp_path / "bsd", FREEBSD)
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  pf: "))
    assert "/etc/pf.conf" in lines[at] and "service pf reload" in lines[at]
    assert lines[at + 1] == '      anchor "warden/*"'
    _, out, _ = init(tmp_path / "linux", LINUX)
    assert "anchor" not in out and "pf.conf" not in out


def test_freebsd_tree_needs_only_the_printed_line(tmp_path: Path) -> None:
    # every jail of the tree, enabled, lands in an anchor that the printed line evaluates
    target = tmp_path / "warden"
    _, out, _ = init(target, FREEBSD)
    (target / "jail.local").write_text("[DEFAULT]\nenabled = true\n")
    printed = next(line.strip() for line in out.splitlines() if line.startswith("      anchor"))
    anchors = jail_anchors(load_jails(target))
    assert len(anchors) >= 30
    rules = evaluated_anchors(printed + "\n")
    assert all(any(evaluates(rule, a) for rule in rules) for a in anchors.values())


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    init(target)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    code, out, _ = init(target)
    assert code == 0
    assert "0 file(s) created, 0 updated" in out and "kept" not in out
    after = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before


def test_local_files_are_never_touched(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    init(target)
    mine = {
        target / "jail.local": "[sshd]\nenabled = false\n",
        target / "filter.d" / "sshd.local": "[Definition]\nignoreregex = x\n",
        target / "jail.d" / "defaults.local": "# mine\n",
    }
    for path, text in mine.items():
        path.write_text(text)
    init(target)
    for path, text in mine.items():
        assert path.read_text() == text
    assert not list(target.rglob("*.local.new"))


def test_a_changed_conf_is_kept_and_reported(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    init(target)
    jail_conf = target / "jail.conf"
    changed = jail_conf.read_text().replace("maxretry = 5", "maxretry = 2")
    jail_conf.write_text(changed)
    code, out, _ = init(target)
    assert code == 0
    assert jail_conf.read_text() == changed  # the user's edit survives
    new = target / "jail.conf.new"
    assert new.read_text() == plan_tree(LINUX)["jail.conf"]
    assert f"kept {jail_conf}" in out and str(new) in out
    # and is kept again on the next run, still reported
    code, out, _ = init(target)
    assert jail_conf.read_text() == changed and f"kept {jail_conf}" in out


def test_a_foreign_conf_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    target.mkdir()
    (target / "warden.conf").write_text("[Definition]\nloglevel = DEBUG\n")
    code, out, _ = init(target)
    assert code == 0
    assert (target / "warden.conf").read_text() == "[Definition]\nloglevel = DEBUG\n"
    assert (target / "warden.conf.new").is_file() and "kept" in out


def test_an_untouched_file_from_an_earlier_run_is_updated(tmp_path: Path) -> None:
    target = tmp_path / "warden"
    init(target)
    # as if an older warden had written another filter.d/sshd.conf that nobody edited
    old = "[Definition]\nfailregex = ^old <HOST>$\n"
    sshd = target / "filter.d" / "sshd.conf"
    sshd.write_text(old)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"]["filter.d/sshd.conf"] = hashlib.sha256(old.encode()).hexdigest()
    (target / MANIFEST).write_text(json.dumps(manifest))
    code, out, _ = init(target)
    assert code == 0 and "1 updated" in out
    assert sshd.read_text() == plan_tree(LINUX)["filter.d/sshd.conf"]
    assert not (target / "filter.d" / "sshd.conf.new").exists()


def test_unwritable_target_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = init(blocker / "warden")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("warden init: cannot write")
    assert "Traceback" not in err


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "warden"
    assert main(["init", "-c", str(target)]) == 0
    assert "warden init:" in capsys.readouterr().out
    assert main(["check", "-c", str(target)]) == 0
    assert "OK" in capsys.readouterr().out


def test_regex_with_the_own_sshd_filter_on_the_example_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "warden"
    init(target)
    log = ROOT / "examples" / "auth.log"
    argv = ["regex", "--json", "-c", str(target), "--now", "1795860000", str(log), "sshd"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(log.read_text().splitlines())
    hosts = {row["host"] for row in rows if row["match"]}
    assert "203.0.113.45" in hosts
    # CRON and session lines of the example are no failures
    cron = [row for row, text in zip(rows, log.read_text().splitlines(), strict=True)
            if "CRON" in text]
    assert cron and not any(row["match"] for row in cron)
    assert main(["regex", "-c", str(target), str(log), "sshd[mode=aggressive]"]) == 0
    assert "matched" in capsys.readouterr().out
