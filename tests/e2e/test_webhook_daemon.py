"""The webhook action in a real daemon, posting to a real HTTP server on loopback.

The action file names its ``url`` and ``headers`` under ``[Definition]``; an sshd attacker is
banned, then unbanned with the ``warden`` command. The server (http.server in a thread)
records each request: one ``ban`` and one ``unban``, each with the configured header, and
the failure's fields in their JSON types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for
from tests.httpsink import Received, http_server

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")

@pytest.fixture
def hook() -> Iterator[tuple[str, Received]]:
    with http_server() as found:
        yield found


def test_webhook_posts_bans_and_unbans_with_headers(
        tmp_path: Path, servers: list[Server], hook: tuple[str, Received]) -> None:
    url, received = hook
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"
                              "action = dummy\n         webhook\n")
    (server.conf / "action.d" / "webhook.conf").write_text(
        f"[Definition]\nurl = {url}\nheaders = X-Token: t0ken\n")
    servers.append(server)
    server.start()
    for _ in range(3):
        append(log, failure_line("198.51.100.31", user="admin"))
    wait_for("the ban post", lambda: received)
    done = server.cli("unban", "198.51.100.31")
    assert done.returncode == 0, done.stderr
    wait_for("the unban post", lambda: len(received) >= 2)
    ban, unban = (r["body"] for r in received)
    assert (ban["event"], ban["jail"], ban["ip"], ban["failures"]) == (
        "ban", "sshd", "198.51.100.31", 3)
    # JSON types, not Python's spelling: a group that did not match is null, the users of
    # the merged failures a list (they were "None" and "('admin',)")
    fields = ban["fields"]
    assert (fields["user"], fields["users"], fields["ip6"]) == ("admin", ["admin"], None)
    assert (unban["event"], unban["ip"]) == ("unban", "198.51.100.31")
    assert [r["headers"].get("X-Token") for r in received] == ["t0ken", "t0ken"]
