"""Packaging: the man pages and the bash completion are generated from the argument parser
and the README (``scripts/manpages``) and committed current; the pages render without groff
warnings; the completion, sourced in a real bash, completes commands, options, filters and
the running daemon's jails; the distribution name is not the taken ``warden``."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.e2e.harness import Server
from warden.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "manpages"
PAGES = ("warden.1", "warden.conf.5", "warden-jail.conf.5")
COMPLETION = ROOT / "contrib" / "completion" / "warden.bash"


def test_the_committed_pages_are_current(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for rel in [*(f"man/{p}" for p in PAGES), "completion/warden.bash"]:
        fresh = (tmp_path / rel).read_text()
        committed = ROOT / "contrib" / rel
        assert committed.exists(), f"contrib/{rel} is missing: run scripts/manpages"
        assert committed.read_text() == fresh, f"contrib/{rel} is stale: run scripts/manpages"
    check = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True,
                           text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stderr


def test_check_names_a_stale_page(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    (tmp_path / "man" / "warden.1").write_text(".TH OLD 1\n")
    check = subprocess.run([sys.executable, str(GENERATOR), "--check", "--out", str(tmp_path)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 1
    assert f"{tmp_path}/man/warden.1" in check.stderr and "warden.conf.5" not in check.stderr


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff")
@pytest.mark.parametrize("page", PAGES)
def test_pages_render_without_warnings(page: str) -> None:
    path = ROOT / "contrib" / "man" / page
    done = subprocess.run(["groff", "-man", "-ww", "-z", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    text = subprocess.run(["groff", "-man", "-Tutf8", "-P-c", str(path)], capture_output=True,
                          text=True, timeout=60, check=True,
                          env={**os.environ, "LC_ALL": "C.UTF-8"}).stdout
    assert len(text.splitlines()) > 40


def test_warden_1_documents_every_command_and_option() -> None:
    rendered = subprocess.run(["groff", "-man", "-Tascii", "-P-cbou",
                               str(ROOT / "contrib" / "man" / "warden.1")],
                              capture_output=True, text=True, timeout=60, check=True).stdout
    flat = " ".join(rendered.split())
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f"warden {name}" in flat
        for action in command._actions:
            for option in action.option_strings:
                assert option in flat, (name, option)
    assert "fail2ban-regex -o" in flat  # the README's Usage section is in it


def _complete(*words: str, path: str | None = None) -> list[str]:
    """COMPREPLY of the completion for the command line ``words`` (the last one is the word
    being completed), in a real bash."""
    script = (f"source {COMPLETION}\n"
              f"COMP_WORDS=({' '.join(_quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n_warden\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = f"{path}:{env['PATH']}"
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                          text=True, timeout=60, check=True, env=env)
    return [w for w in done.stdout.splitlines() if w]


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_completion_of_commands_and_options() -> None:
    assert _complete("warden", "reg") == ["regex"]
    assert set(_complete("warden", "st")) == {"status", "start", "stop"}
    assert _complete("warden", "--ver") == ["--version"]
    assert set(_complete("warden", "regex", "--print-all")) == {"--print-all-matched",
                                                                 "--print-all-missed"}
    assert _complete("warden", "-c", "/nonexistent", "status", "--cou") == ["--count"]
    # after an option that takes a value nothing is offered
    assert _complete("warden", "regex", "-o", "") == []


def test_completion_of_filters_and_logs(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "filter.d").mkdir(parents=True)
    for name in ("sshd", "sshd-ddos", "nginx-http-auth"):
        (conf / "filter.d" / f"{name}.conf").write_text("[Definition]\n")
    (tmp_path / "auth.log").write_text("")
    words = _complete("warden", "-c", str(conf), "regex", str(tmp_path / "auth.log"), "ssh")
    assert sorted(words) == ["sshd", "sshd-ddos"]
    assert _complete("warden", "regex", str(tmp_path / "au")) == [str(tmp_path / "auth.log")]
    assert _complete("warden", "regex", "systemd-j") == ["systemd-journal"]


def test_completion_of_the_running_daemons_jails(tmp_path: Path,
                                                  servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    jails = "".join(f"[{name}]\nenabled = true\nfilter = sshd\nlogpath = {log}\n\n"
                    for name in ("sshd", "sshd-extra", "web"))
    server = Server(tmp_path / "d", jails)
    servers.append(server)
    server.start()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "warden"  # the command as installed, on PATH
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m warden \"$@\"\n")
    wrapper.chmod(0o755)
    conf = str(server.conf)
    assert _complete("warden", "-c", conf, "status", "ssh", path=str(bindir)) == [
        "sshd", "sshd-extra"]
    assert set(_complete("warden", "-c", conf, "ban", "", path=str(bindir))) == {
        "sshd", "sshd-extra", "web"}
    # the second word of ban is an address: no jail names there
    assert _complete("warden", "-c", conf, "ban", "sshd", "", path=str(bindir)) == []


def test_the_distribution_name_is_not_the_taken_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "warden-ips"
    assert project["scripts"] == {"warden": "warden.cli.main:main"}
    assert "warden-ips" in (ROOT / "README.md").read_text()
