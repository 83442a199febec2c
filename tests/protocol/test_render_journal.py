"""``status`` of a journal jail: ``Journal matches:`` where a file jail has ``File list:``,
as fail2ban-client prints it. The fail2ban form of the status (what the compat socket
answers) is drawn by fail2ban's own Beautifier and compared with warden's rendering."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from warden.cli.render import render
from warden.daemon.compat import fail2ban_status
from warden.protocol import JailStatusReply, SourceInfo, decode_response, encode

MATCH = "_SYSTEMD_UNIT=sshd.service + _COMM=sshd"
JOURNAL = JailStatusReply("sshd", 1, 4, (SourceInfo("journal"),), 1, 2, ("192.0.2.1",),
                          journal_matches=MATCH)


def test_journal_jail_shows_its_matches() -> None:
    text = render(JOURNAL)
    assert f"|  `- Journal matches:\t{MATCH}\n" in text
    assert "File list" not in text
    failing = JailStatusReply("sshd", 0, 0, (SourceInfo("journal", "restarting", "gone"),),
                              0, 0, (), journal_matches=MATCH)
    assert f"Journal matches:\t{MATCH} (restarting: gone)" in render(failing)
    plain = JailStatusReply("sshd", 0, 0, (SourceInfo("/var/log/auth.log"),), 0, 0, ())
    assert "`- File list:\t/var/log/auth.log" in render(plain)
    assert "Journal matches" not in render(plain)


def test_the_field_survives_the_wire() -> None:
    assert decode_response(encode(JOURNAL)) == JOURNAL
    old = encode(JailStatusReply("sshd", 0, 0, (), 0, 0, ())).replace(
        b', "journal_matches": null', b"")
    reply = decode_response(old)
    assert isinstance(reply, JailStatusReply)
    assert reply.journal_matches is None  # an older daemon's answer


F2B = Path("/usr/lib/python3/dist-packages/fail2ban/client/beautifier.py")


@pytest.mark.skipif(not F2B.exists(), reason="needs Debian's fail2ban")
def test_fail2ban_client_draws_the_same_tree() -> None:
    plain = fail2ban_status(JOURNAL)
    script = ("import sys; sys.path.insert(0, '/usr/lib/python3/dist-packages')\n"
              "from fail2ban.client.beautifier import Beautifier\n"
              "b = Beautifier(); b.setInputCmd(['status', 'sshd'])\n"
              f"print(b.beautify({plain!r}))\n")
    theirs = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert theirs == render(JOURNAL) + "\n"
    assert "Journal matches:\t" + MATCH in theirs
