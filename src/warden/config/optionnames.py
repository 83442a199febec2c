"""Option names of the jail files that nothing reads: typos such as ``maxretyr = 7``.

fail2ban ignores an option it does not know, so a misspelt name leaves the jail on the
default without a word. warden warns instead (``file:line``, with the closest known name),
and changes nothing else. A name is known when:

- a jail reads it (:data:`warden.config.jail.JAIL_OPTIONS`, ``port``, ``protocol``), or
- fail2ban's or warden's stock ``jail.conf`` and ``paths-*.conf`` define it
  (:data:`STOCK_NAMES`: helpers such as ``action_mwl``, ``mta`` or ``sshd_log`` that a user
  picks by interpolation), or
- some file of the tree refers to it, as ``%(name)s`` or as a ``<name>`` tag (a helper of the
  user's own, or a parameter an action or filter reads, such as ``chain`` or ``mode``).
"""

from __future__ import annotations

import difflib
import glob
import os
import re
from collections.abc import Iterable

from warden.config.confset import KNOWN_PREFIX, ConfigSet
from warden.config.ini import DEFAULT_SECTION
from warden.errors import ConfigError

__all__ = ["STOCK_NAMES", "known_names", "unknown_option_warnings"]

#: every option fail2ban 1.0.2's and warden's stock jail.conf, jail.d and paths-*.conf define
STOCK_NAMES = frozenset({
    "action", "action_", "action_abuseipdb", "action_allports", "action_blocklist_de",
    "action_cf_mwl", "action_mw", "action_mwl", "action_xarf", "apache_access_log",
    "apache_error_log", "auditd_log", "backend", "banaction", "banaction_allports",
    "bantime", "bantime.factor", "bantime.increment", "bantime.maxtime",
    "bantime.overalljails", "blocktype", "chain", "default_backend", "destemail",
    "dovecot_backend", "dovecot_log", "dropbear_backend", "dropbear_log", "enabled",
    "exim_main_log", "fail2ban_agent", "filter", "findtime", "haproxy_log", "ignorecommand",
    "ignoreip", "ignoreself", "knocking_url", "lighttpd_error_log", "logencoding", "logpath",
    "maxmatches", "maxretry", "mode", "mta", "mysql_backend", "mysql_log", "nginx_access_log",
    "nginx_error_log", "openvpn_log", "port", "postfix_backend", "postfix_log",
    "postgresql_log", "proftpd_backend", "proftpd_log", "protocol", "pureftpd_backend",
    "pureftpd_log", "returntype", "roundcube_errors_log", "sender", "sendername",
    "solidpop3d_log", "sshd_backend", "sshd_log", "suhosin_log", "syslog_authpriv",
    "syslog_backend", "syslog_daemon", "syslog_ftp", "syslog_local0", "syslog_mail",
    "syslog_mail_warn", "syslog_user", "tcpport", "udpport", "usedns", "vsftpd_log",
    "wuftpd_backend", "wuftpd_log",
    # set by the reader itself
    "fail2ban_version", "fail2ban_confpath",
})

# ``%(name)s`` and ``<name>`` (also ``section/name`` forms: the name is what follows the slash)
_REFERENCE = re.compile(r"%\(([^)\s]+)\)s|<([^\s<>]+)>")
_TREE_FILES = ("*.conf", "*.local", "jail.d/*", "filter.d/*", "action.d/*",
               "filter.d/*.d/*", "action.d/*.d/*")


def _referenced(text: str) -> set[str]:
    names: set[str] = set()
    for match in _REFERENCE.finditer(text):
        name = (match.group(1) or match.group(2)).rsplit("/", 1)[-1].lower()
        names.add(name.split("?", 1)[0])
    return names


def known_names(config_dir: str, read_options: Iterable[str],
                extra_files: Iterable[str] = ()) -> frozenset[str]:
    """The option names a jail file may set under ``config_dir`` without a warning:
    ``read_options``, :data:`STOCK_NAMES` and every name the tree's files (and
    ``extra_files``, e.g. includes from elsewhere) refer to."""
    names = set(STOCK_NAMES) | {name.lower() for name in read_options}
    paths = {path for pattern in _TREE_FILES
             for path in glob.glob(os.path.join(glob.escape(config_dir), pattern))}
    for path in sorted(paths | set(extra_files)):
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                names |= _referenced(stream.read())
        except OSError:
            continue  # an unreadable file is reported where it is read for real
    return frozenset(names)


def unknown_option_warnings(confset: ConfigSet, known: frozenset[str]) -> list[ConfigError]:
    """One warning per option of ``[DEFAULT]`` or a jail section of ``confset`` (the jail
    files) whose name is not in ``known``, at its file:line, naming the closest known name."""
    found: list[ConfigError] = []
    candidates = sorted(known)
    sections = [(DEFAULT_SECTION, confset.defaults)] + [
        (name, confset.sections[name]) for name in confset.section_names()
        if name != "INCLUDES"]
    for section, options in sections:
        for key, raw in options.items():
            name = key.split("?", 1)[0]
            if (name in known or name.startswith(KNOWN_PREFIX.lower())
                    or raw.origin.file.startswith("<")):
                continue
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append(ConfigError(
                f"[{section}] unknown option {name!r}{hint}; it has no effect",
                file=raw.origin.file, line=raw.origin.line))
    return sorted(found, key=lambda w: (w.file or "", w.line or 0))
