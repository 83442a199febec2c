"""fail2ban-client's way of printing the answer to a ``get``/``set`` and its jail control.

The daemon answers with the value fail2ban's server would return
(:class:`~warden.protocol.OptionReply`); :func:`option_text` prints it as fail2ban-client
1.0.2 does for the command that asked, so that a script reading fail2ban-client's output
reads warden's. The layouts (trees of ``|-`` and `` `- ``, fixed sentences) are fail2ban's
output format, which scripts parse; the code is warden's.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["option_text", "python_text"]


def python_text(value: object) -> str:
    """``value`` as Python's ``print`` shows it (fail2ban-client prints raw values so)."""
    if isinstance(value, str):
        return value
    return _repr(value)


def _repr(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_repr(v) for v in value) + "]"
    return repr(value)


def _tree(items: Sequence[object]) -> str:
    lines = [f"|- {item}" for item in items[:-1]]
    lines.append(f"`- {items[-1]}")
    return "\n".join(lines)


def _listed(items: Sequence[object], empty: str, title: str) -> str:
    return empty if not items else f"{title}\n{_tree(items)}"


def _regexes(items: Sequence[object]) -> str:
    if not items:
        return "No regular expression is defined"
    return "The following regular expression are defined:\n" + _tree(
        [f"[{n}]: {regex}" for n, regex in enumerate(items)])


def _datepattern(value: object) -> str:
    text = "Current date pattern set to: "
    if value is None:
        return text + "Not set/required"
    assert isinstance(value, (list, tuple)) and len(value) == 2
    pattern, name = value
    return text + (f"{name}" if pattern is None else f"{pattern} ({name})")


def _server(option: str, value: object) -> str | None:
    match option:
        case "syslogsocket":
            return f"Current syslog socket is:\n`- {value}"
        case "logtarget":
            return f"Current logging target is:\n`- {value}"
        case "loglevel":
            return f"Current logging level is {value!r}"
        case "dbfile":
            return "Database currently disabled" if value is None else \
                f"Current database file is:\n`- {value}"
        case "dbpurgeage":
            return "Database currently disabled" if value is None else \
                f"Current database purge age is:\n`- {value}seconds"
    return None


def option_text(words: Sequence[str], value: object) -> str:
    """What fail2ban-client prints for the command ``words`` answered with ``value``."""
    command = words[0] if words else ""
    if command in ("start", "stop") and len(words) > 1:
        return "Jail started" if command == "start" else "Jail stopped"
    if command == "flushlogs":
        return f"logs: {value}"
    if command == "add":
        return f"Added jail {value}"
    if len(words) < 2:
        return python_text(value)
    server = _server(words[1], value)
    if server is not None:
        return server
    if len(words) < 3:
        return python_text(value)
    option = words[2]
    items: Sequence[object] = value if isinstance(value, list) else []
    match option:
        case "logpath" | "addlogpath" | "dellogpath":
            return _listed(items, "No file is currently monitored",
                           "Current monitored log file(s):")
        case "logencoding":
            return f"Current log encoding is set to:\n{value}"
        case "journalmatch" | "addjournalmatch" | "deljournalmatch":
            if not items:
                return "No journal match filter set"
            groups = [" ".join(str(w) for w in group) if isinstance(group, list) else str(group)
                      for group in items]
            return "Current match filter:\n" + " + ".join(groups)
        case "datepattern":
            return _datepattern(value)
        case "ignoreip" | "addignoreip" | "delignoreip":
            return _listed(items, "No IP address/network is ignored",
                           "These IP addresses/networks are ignored:")
        case ("failregex" | "addfailregex" | "delfailregex" | "ignoreregex" | "addignoreregex"
              | "delignoreregex"):
            return _regexes(items)
        case "actions":
            if not items:
                return f"No actions for jail {words[1]}"
            return f"The jail {words[1]} has the following actions:\n" + \
                ", ".join(str(i) for i in items)
        case "banip" if command == "get" and isinstance(value, list):
            separator = " " if len(words) <= 3 else words[3]
            return ("\n" if separator == "--with-time" else separator).join(
                str(i) for i in items)
    return python_text(value)
