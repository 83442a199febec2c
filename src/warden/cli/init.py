"""``warden init``: write warden's own configuration tree (``/etc/warden`` or ``-c DIR``).

The tree is the package data under ``warden/data`` plus two files chosen for the host:

* ``paths-os.conf`` includes ``paths-linux.conf`` (ban action nftables) or
  ``paths-freebsd.conf`` (pf) - the operating system decides;
* ``jail.d/defaults.conf`` enables the sshd jail, reading ``/var/log/auth.log``, or the systemd
  journal when that file does not exist but journald runs;

and ``warden.conf`` names the daemon's files where the system keeps them: ``/run/warden``,
``/var/lib/warden`` on Linux; ``/var/run/warden``, ``/var/db/warden`` on the BSDs (hier(7)),
whose configuration lives in ``/usr/local/etc/warden``. On a BSD the report ends with the
pf.conf line that makes pf evaluate the jails' anchors. The system is a field of
:class:`HostFacts`, so every branch can be tested on any host.

Existing files are treated with care. A ``.local`` file is the user's and is never touched.
A ``.conf`` file that warden wrote earlier and nobody changed since is updated; one that differs
from what warden wrote (or that warden did not write) is kept, and warden's version is written
next to it as ``NAME.conf.new`` and reported. What warden wrote is remembered by content hash in
``.warden-init.json`` in the tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TextIO

from warden.config.pfconf import WARDEN_ANCHOR_LINE

__all__ = [
    "MANIFEST",
    "HostFacts",
    "InitReport",
    "default_init_dir",
    "init_tree",
    "plan_tree",
    "probe_host",
    "run_init",
]

#: where ``warden init`` records the hash of every file it wrote
MANIFEST = ".warden-init.json"

_AUTH_LOG = Path("/var/log/auth.log")
_JOURNALD = (Path("/run/systemd/journal/socket"), Path("/run/systemd/journal"))


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What ``warden init`` needs to know about the host."""

    system: str  # platform.system(): "Linux", "FreeBSD", "OpenBSD", ...
    auth_log: bool  # /var/log/auth.log exists
    journald: bool  # systemd-journald is running

    @property
    def bsd(self) -> bool:
        """A BSD system (pf is the firewall, configuration under /usr/local/etc)."""
        return self.system.endswith("BSD") or self.system == "DragonFly"

    @property
    def sshd_journal(self) -> bool:
        """The sshd jail reads the journal: no auth.log, but journald."""
        return not self.auth_log and self.journald


def probe_host() -> HostFacts:
    """The facts of the machine warden runs on."""
    return HostFacts(
        system=platform.system(),
        auth_log=_AUTH_LOG.exists(),
        journald=any(p.exists() for p in _JOURNALD),
    )


def default_init_dir(facts: HostFacts) -> Path:
    """Where ``warden init`` writes without ``-c``: /etc/warden, /usr/local/etc/warden on BSD."""
    return Path("/usr/local/etc/warden") if facts.bsd else Path("/etc/warden")


def _data_files(root: Traversable, prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        name = prefix + entry.name
        if entry.is_dir():
            yield from _data_files(entry, name + "/")
        elif entry.name.endswith((".conf", ".local")):
            yield name, entry.read_text(encoding="utf-8")


def _paths_os(facts: HostFacts) -> str:
    chosen = "paths-freebsd.conf" if facts.bsd else "paths-linux.conf"
    return (
        "# warden: the paths and ban action of this host's operating system, written by\n"
        f"# `warden init` on {facts.system or 'an unknown system'}.\n\n"
        f"[INCLUDES]\nbefore = {chosen}\n"
    )


def _defaults(facts: HostFacts) -> str:
    head = (
        "# warden: jails enabled by default, written by `warden init` for this host. Enable more\n"
        "# jails in jail.local or jail.d/*.local.\n\n"
    )
    if facts.sshd_journal:
        return head + (
            "[sshd]\nenabled = true\n"
            "# no /var/log/auth.log here but systemd-journald: sshd's messages come from the\n"
            "# journal\n"
            "backend = systemd\n"
        )
    return head + "[sshd]\nenabled = true\n"


#: Linux's locations of the daemon's files in warden.conf -> those of the BSDs (hier(7))
_BSD_PATHS = (("/run/warden/", "/var/run/warden/"), ("/var/lib/warden/", "/var/db/warden/"))


def _settings(text: str, facts: HostFacts) -> str:
    if not facts.bsd:
        return text
    for linux, bsd in _BSD_PATHS:
        if linux not in text:  # the shipped warden.conf changed: this must follow it
            raise ValueError(f"warden.conf names no {linux} to move to {bsd}")
        text = text.replace(linux, bsd)
    return text


def plan_tree(facts: HostFacts) -> dict[str, str]:
    """Every file of the tree for this host: relative path -> content."""
    files = dict(_data_files(resources.files("warden") / "data"))
    files["warden.conf"] = _settings(files["warden.conf"], facts)
    files["paths-os.conf"] = _paths_os(facts)
    files["jail.d/defaults.conf"] = _defaults(facts)
    return files


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class InitReport:
    """What ``init_tree`` did, by relative path."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # changed by the user: ours went to NAME.new


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_manifest(target: Path) -> dict[str, str]:
    try:
        found = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = found.get("files") if isinstance(found, dict) else None
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items()}


def init_tree(target: Path, files: dict[str, str]) -> InitReport:
    """Write ``files`` under ``target`` following the rules of the module docstring.

    Raises OSError when the tree cannot be written.
    """
    report = InitReport()
    written = _read_manifest(target)
    manifest: dict[str, str] = {}
    for rel, text in sorted(files.items()):
        path = target / rel
        ours = _digest(text)
        if rel.endswith(".local") and path.exists():
            report.unchanged.append(rel)  # the user's file
            continue
        if not path.exists():
            _write(path, text)
            report.created.append(rel)
            manifest[rel] = ours
            continue
        current = _digest(path.read_text(encoding="utf-8", errors="replace"))
        if current == ours:
            report.unchanged.append(rel)
            manifest[rel] = ours
        elif written.get(rel) == current:  # ours from an earlier run, untouched since
            _write(path, text)
            report.updated.append(rel)
            manifest[rel] = ours
        else:
            _write(path.with_name(path.name + ".new"), text)
            report.kept.append(rel)
            manifest[rel] = written.get(rel, "")
    _write(target / MANIFEST, json.dumps({"files": manifest}, indent=1, sort_keys=True) + "\n")
    return report


def run_init(config_dir: Path | None, out: TextIO, err: TextIO,
             facts: HostFacts | None = None) -> int:
    """Write the tree to ``config_dir`` (default: :func:`default_init_dir`) and report.

    Returns 0 on success, 1 if the tree could not be written.
    """
    facts = facts or probe_host()
    target = config_dir or default_init_dir(facts)
    try:
        report = init_tree(target, plan_tree(facts))
    except OSError as exc:
        where = exc.filename or target
        err.write(f"warden init: cannot write {where}: {exc.strerror or exc}\n")
        return 1
    action = "pf" if facts.bsd else "nftables"
    out.write(f"warden init: {target}: {len(report.created)} file(s) created, "
              f"{len(report.updated)} updated, {len(report.unchanged)} unchanged\n")
    out.write(f"  ban action: {action} (paths-os.conf includes "
              f"{'paths-freebsd.conf' if facts.bsd else 'paths-linux.conf'})\n")
    if facts.sshd_journal:
        out.write("  sshd jail: /var/log/auth.log does not exist but journald runs: "
                  "the sshd jail reads the systemd journal (backend = systemd)\n")
    else:
        out.write("  sshd jail: enabled, reading /var/log/auth.log\n")
    if facts.bsd:
        out.write("  pf: pf evaluates the jails' anchors (warden/<jail>) only if /etc/pf.conf "
                  "names them; add this line to its filter section, before any `pass quick` "
                  "rule, then run `service pf reload`:\n"
                  f"      {WARDEN_ANCHOR_LINE}\n")
    for rel in report.kept:
        out.write(f"  kept {target / rel}: it differs from warden's version, which was written "
                  f"to {target / rel}.new\n")
    return 0
