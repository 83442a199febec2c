# mypy: ignore-errors
# (run by /usr/bin/python3 against the untyped fail2ban package, not by the project interpreter)
"""Run by /usr/bin/python3 (Debian's fail2ban): print what fail2ban's FilterReader gives.

Input (stdin): JSON list of [config_dir, filter_spec]. Output: JSON list of objects with
failregex, ignoreregex, prefregex, datepattern, maxlines, journalmatch, or error.
"""

import json
import sys

from fail2ban.client.filterreader import FilterReader
from fail2ban.helpers import extractOptions


def describe(config_dir, spec, share):
    name, opts = extractOptions(spec)
    reader = FilterReader(name, "jail", opts, basedir=config_dir, share_config=share)
    if not reader.read():
        return {"error": "cannot read"}
    reader.getOptions({})
    out = {
        "failregex": [],
        "ignoreregex": [],
        "prefregex": None,
        "datepattern": None,
        "maxlines": 1,
        "journalmatch": [],
    }
    for cmd in reader.convert():
        values = cmd[3] if cmd[0] == "multi-set" else cmd[3:]
        option = cmd[2]
        if option in ("addfailregex", "addignoreregex"):
            out[option[3:]] += list(values)
        elif option == "addjournalmatch":
            out["journalmatch"].append(" ".join(values))
        elif option == "prefregex":
            out[option] = values[0] or None  # fail2ban's server ignores an empty prefregex
        elif option in ("datepattern", "maxlines"):
            out[option] = values[0]
    return out


def main():
    shares = {}  # fail2ban caches readers by file name only: one cache per directory
    result = []
    for config_dir, spec in json.load(sys.stdin):
        try:
            result.append(describe(config_dir, spec, shares.setdefault(config_dir, {})))
        except Exception as exc:  # report, the test decides
            result.append({"error": f"{type(exc).__name__}: {exc}"})
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
