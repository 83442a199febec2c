"""Where the daemon listens by default (shared by the client and the daemon), per OS."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["DEFAULT_SOCKET", "RUN_DIR"]

# FreeBSD has no /run; its run-time state lives in /var/run.
RUN_DIR = Path("/var/run/warden") if "bsd" in sys.platform else Path("/run/warden")
DEFAULT_SOCKET = RUN_DIR / "warden.sock"
