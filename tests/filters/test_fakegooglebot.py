"""The ``[apache-fakegooglebot]`` jail's ignorecommand, run as the daemon runs it.

The command decides with reverse and forward look-ups through ``getent``. This machine may not
reach Google's DNS, so a stand-in ``getent`` early on ``PATH`` answers as a resolver would
(the only thing replaced); the shell logic, the daemon's variable passing and exit codes are
the real ones.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.filters.test_filters import DATA
from warden.config import load_jails
from warden.core.decisions import CheckIgnore
from warden.daemon.runtime import run_ignorecommand

# reverse: address -> name; forward: name -> addresses (as glibc's getent prints them)
_GETENT = """#!/bin/sh
db=$1; key=$2
case "$db:$key" in
  hosts:198.51.100.1) echo "198.51.100.1     crawl-1.googlebot.com" ;;
  ahosts:crawl-1.googlebot.com) echo "198.51.100.1 STREAM crawl-1.googlebot.com" ;;
  hosts:192.0.2.10) echo "192.0.2.10      crawl-1.googlebot.com" ;;
  hosts:192.0.2.11) echo "192.0.2.11      spoof.googlebot.com.example.net" ;;
  hosts:192.0.2.12) echo "192.0.2.12      x;touch\\${MARK}.googlebot.com" ;;
  ahosts:*) exit 2 ;;
  *) exit 2 ;;
esac
"""


@pytest.fixture
def command(tmp_path: Path) -> str:
    tree = tmp_path / "tree"
    tree.mkdir()
    for item in DATA.iterdir():
        (tree / item.name).symlink_to(item)
    (tree / "jail.local").write_text(
        f"[apache-fakegooglebot]\nenabled = true\nlogpath = {tmp_path}/access.log\n")
    (tmp_path / "access.log").touch()
    jails = load_jails(tree)
    cfg = next(j for j in jails.jails if j.name == "apache-fakegooglebot")
    assert cfg.ignorecommand
    return cfg.ignorecommand


def _stub(path: Path, text: str) -> Path:
    path.mkdir()
    stub = path / "getent"
    stub.write_text(text)
    stub.chmod(0o755)
    return path


def _ask(command: str, ip: str, bindir: Path) -> bool:
    """The command's answer for ``ip`` (True: ignored) with ``bindir`` first on PATH."""
    question = CheckIgnore("apache-fakegooglebot", ip, ip, 0.0, {}, ())
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}:{old}"
    try:
        return asyncio.run(run_ignorecommand(command, question))
    finally:
        os.environ["PATH"] = old


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    return _stub(tmp_path / "bin", _GETENT)


def test_google_crawler_is_ignored(command: str, bindir: Path) -> None:
    assert _ask(command, "198.51.100.1", bindir) is True


def test_name_that_does_not_resolve_back_counts(command: str, bindir: Path) -> None:
    # the reverse name is Google's, but it does not resolve to this address
    assert _ask(command, "192.0.2.10", bindir) is False


def test_foreign_domain_counts(command: str, bindir: Path) -> None:
    assert _ask(command, "192.0.2.11", bindir) is False


def test_address_without_name_counts(command: str, bindir: Path) -> None:
    assert _ask(command, "192.0.2.13", bindir) is False


def test_reverse_name_is_never_run_as_shell(command: str, bindir: Path, tmp_path: Path) -> None:
    # an attacker controls the PTR record of their address: it is data, never shell text
    mark = tmp_path / "pwned"
    os.environ["MARK"] = str(mark)
    try:
        assert _ask(command, "192.0.2.12", bindir) is False
    finally:
        del os.environ["MARK"]
    assert not mark.exists()


def test_resolver_failure_counts(tmp_path: Path, command: str) -> None:
    # a resolver that answers nothing: the failure counts
    assert _ask(command, "198.51.100.1", _stub(tmp_path / "nobin", "#!/bin/sh\nexit 2\n")) is False
