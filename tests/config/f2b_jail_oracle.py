# mypy: ignore-errors
# (run by /usr/bin/python3 against the untyped fail2ban package, not by the project interpreter)
"""Run by /usr/bin/python3 (Debian's fail2ban): print what fail2ban's jail reader gives.

argv[1]: the configuration directory. Output: JSON object jail name -> description (or
{"error": ...} for a jail fail2ban rejects). Log files need not exist.
"""

import json
import sys

from fail2ban.client.jailsreader import JailsReader
from fail2ban.server.mytime import MyTime


def describe(jail):
    opts = jail.options
    if opts.get("config-error"):
        return {"error": opts["config-error"]}
    out = {
        "failregex": [],
        "ignoreregex": [],
        "prefregex": None,
        "datepattern": None,
        "maxlines": 1,
        "actions": {},
        "logpath": [],
        "ignoreip": [],
    }
    for key in ("maxretry", "backend", "usedns", "logencoding", "ignorecommand"):
        out[key] = opts.get(key)
    for key in ("bantime", "findtime"):
        out[key] = float(MyTime.str2seconds(opts[key])) if opts.get(key) else None
    for cmd in jail.convert(allow_no_files=True):
        if cmd[0] == "multi-set" and cmd[2] == "action":
            out["actions"][cmd[3]] = dict(cmd[4])
        elif cmd[0] == "set" and len(cmd) > 3 and cmd[2] == "action":
            out["actions"][cmd[3]] = {cmd[4]: cmd[5]}
        elif cmd[0] == "set" and cmd[2] == "addaction":
            out["actions"].setdefault(cmd[3], {})
        elif cmd[0] == "multi-set" and cmd[2] in ("addfailregex", "addignoreregex"):
            out[cmd[2][3:]] += cmd[3]
        elif cmd[0] == "set" and cmd[2] in ("addfailregex", "addignoreregex"):
            out[cmd[2][3:]].append(cmd[3])
        elif cmd[0] == "set" and cmd[2] in ("prefregex", "datepattern", "maxlines"):
            out[cmd[2]] = cmd[3]
        elif cmd[0] == "set" and cmd[2] == "addignoreip":
            out["ignoreip"] += cmd[3:]
    out["logpath"] = [line for line in (opts.get("logpath") or "").split("\n") if line]
    return out


def main():
    reader = JailsReader(basedir=sys.argv[1], share_config={})
    reader.read()
    reader.getOptions()
    json.dump({jail.getName(): describe(jail) for jail in reader.jails}, sys.stdout)


if __name__ == "__main__":
    main()
