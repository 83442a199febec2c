"""``warden check`` reports the Python actions (``action.d/*.py``) the daemon will skip.

The stock tree's ``smtp.py`` is named by a jail; ``warden check`` (the real command, as a
subprocess) must say, as a ``warning:`` line with the file and line of the jail's ``action``
option, that it will not run and what to use instead, and still accept the tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STOCK = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(not (STOCK / "action.d" / "smtp.py").is_file(),
                                reason="needs fail2ban's stock tree")


def test_check_warns_about_a_python_action(tmp_path: Path) -> None:
    tree = tmp_path / "conf"
    shutil.copytree(STOCK, tree, ignore=shutil.ignore_patterns("jail.d", "*.local"))
    (tree / "jail.local").write_text(
        "[DEFAULT]\nbanaction = dummy\n\n"
        "[sshd]\nenabled = true\nlogpath = /dev/null\n"
        "action = %(action_)s\n         smtp.py[host=localhost, dest=root]\n")
    done = subprocess.run([sys.executable, "-m", "warden", "check", "-c", str(tree)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if "smtp.py" in line]
    assert warnings == [
        f"warning: {tree}/jail.local:7: [sshd] action smtp.py: Python actions are not run by "
        "warden; this one is skipped (use mail-whois or sendmail-whois for mail, webhook for "
        "HTTP, or an action.d/*.conf command action)"]
    assert "1 enabled jail(s) (sshd)" in done.stdout
