"""Dev-only oracle: run fail2ban's annotated corpus through warden's Filter and score it.

Until the configuration reader and the date engine land, fail2ban itself (run under
``/usr/bin/python3``) supplies each stream's filter options and each line's date span/time;
warden's :class:`~warden.core.filter.Filter` does all the matching.  Verdicts use the harness'
own comparison (``/work/shared/compat/compat_common.py``).

    python3 bench/dev_filter_oracle.py [-k REGEX] [--show N] [--own-dates]
    python3 bench/dev_filter_oracle.py --bench /tmp/auth-200k.log [--stream sshd]
    python3 bench/dev_filter_oracle.py --table tests/core/data/filter_cases.txt
    python3 bench/dev_filter_oracle.py --tags-fuzz 200000
    python3 bench/dev_filter_oracle.py --screens [LOG]   (screens never reject a match)

``--own-dates`` uses ``warden.core.datedetect`` instead of fail2ban's date spans.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.core.datedetect import DateDetector
from warden.core.filter import Filter
from warden.core.filterdef import FilterDefinition

COMPAT = "/work/shared/compat"
CACHE = os.environ.get("WARDEN_COMPAT_CACHE", "/tmp/warden-compat")
DUMP = os.path.join(CACHE, "dev-filter-oracle.json")
NOW = 1124013600

# Runs under /usr/bin/python3: fail2ban's reader gives the raw options, fail2ban's detector the
# date spans, stream by stream (the detector reorders its templates, so order matters).
_DUMPER = r"""
import json, sys
sys.path.insert(0, %(compat)r)
import f2b_engine
f2b_engine.setup()
from fail2ban.client.filterreader import FilterReader
import compat_common as cc
cases = cc.load_cases(%(expected)r)
out = {}
for sid, cs in cc.group_streams(cases).items():
    c0 = cs[0]
    conf = FilterReader(c0["filter"], "jail", dict(c0["filter_opts"] or {}),
                        basedir=c0["config_dir"], share_config={})
    assert conf.read()
    conf.getOptions({})
    opts = {"failregex": [], "ignoreregex": [], "prefregex": None, "maxlines": 1,
            "datepattern": None}
    for opt in conf.convert():
        vals = opt[3] if opt[0] == "multi-set" else [opt[3]]
        for v in vals:
            if opt[2] == "addfailregex": opts["failregex"].append(v)
            elif opt[2] == "addignoreregex": opts["ignoreregex"].append(v)
            elif opt[2] == "prefregex": opts["prefregex"] = v
            elif opt[2] == "maxlines": opts["maxlines"] = int(v)
            elif opt[2] == "datepattern": opts["datepattern"] = v
    flt = f2b_engine.make_filter(c0["filter"], c0["filter_opts"], c0["config_dir"])
    dates = []
    for c in cs:
        if c["journal"]:
            dates.append(None); continue
        line = c["line"]
        tm = flt.dateDetector.matchTime(line)
        m = tm[0]
        if not m:
            dates.append(None); continue
        s, e = m.start(1), m.end(1)
        t = None
        if e > s:
            d = flt.dateDetector.getTime(line[s:e], tm)
            t = None if d is None else d[0]
        dates.append([s, e, t])
    out[sid] = {"opts": opts, "dates": dates}
json.dump(out, sys.stdout)
"""


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    time: float | None
    template: str = "fail2ban"


class _ReplayDates:
    """A date source that replays fail2ban's spans for the stream's lines, in order."""

    def __init__(self, spans: list[Any]) -> None:
        self._spans = iter(spans)

    def match(self, line: str, now: float) -> _Span | None:
        span = next(self._spans)
        return None if span is None else _Span(span[0], span[1], span[2])


def _dump(expected: str) -> dict[str, Any]:
    if os.path.exists(DUMP) and os.path.getmtime(DUMP) > os.path.getmtime(expected):
        with open(DUMP, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
            return data
    env = dict(os.environ, TZ="CET-01CEST-02,M3.5.0,M10.5.0")
    env.pop("PYTHONHOME", None)
    code = _DUMPER % {"compat": COMPAT, "expected": expected}
    out = subprocess.run(["/usr/bin/python3", "-c", code], check=True, capture_output=True,
                         env=env).stdout
    with open(DUMP, "wb") as f:
        f.write(out)
    data = json.loads(out)
    return data


def _as_output(result: Any, seq: int) -> dict[str, Any]:
    if not result.failures:
        return {"line": seq, "match": False}
    f = result.failures[0]
    fields = {k: (list(v) if isinstance(v, tuple) else v) for k, v in f.fields.items()}
    return {"line": seq, "match": True, "host": f.fid, "time": f.time, "fields": fields,
            "matches": list(f.matches), "failures": len(result.failures)}


class _Precomputed:
    """Replays date matches computed beforehand (to time the filter alone)."""

    def __init__(self, spans: list[Any]) -> None:
        self._next = iter(spans).__next__

    def match(self, line: str, now: float) -> Any:
        return self._next()


def _bench(log: str, stream: str, expected: str) -> int:
    o = _dump(expected)[stream]["opts"]
    definition = FilterDefinition(
        name=stream, failregex=tuple(o["failregex"]), ignoreregex=tuple(o["ignoreregex"]),
        prefregex=o["prefregex"], datepattern=o["datepattern"], maxlines=o["maxlines"])
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    dates = DateDetector(o["datepattern"])
    which = "warden.core.datedetect"
    now = time.time()
    spans = [dates.match(ln, now) for ln in lines]
    for label, make in (("filter only (dates precomputed)", lambda: _Precomputed(spans)),
                        ("date + filter", lambda: DateDetector(o["datepattern"]))):
        best = float("inf")
        for _ in range(3):  # best of three: the machine is shared
            flt = Filter(definition, dates=make())
            process = flt.process
            matched = failures = ignored = 0
            t0 = time.perf_counter()
            for ln in lines:
                r = process(ln, now)
                if r.failregex is not None:
                    matched += 1
                failures += len(r.failures)
                if r.ignoreregex is not None:
                    ignored += 1
            best = min(best, time.perf_counter() - t0)
        dt = best
        print(f"{label}: {len(lines)} lines in {dt:.3f}s = {len(lines) / dt:,.0f} lines/s; "
              f"failregex matched {matched}, failures {failures}, ignored {ignored} ({which})")
    return 0


# Runs under /usr/bin/python3: fail2ban's Filter set up like its daemon (first match wins,
# pending and nofail-session lines report nothing), journal style (no date detection).
_TABLE_RUNNER = r"""
import json, sys
sys.path.insert(0, %(compat)r)
import f2b_engine
f2b_engine.setup(now=1000000)
from fail2ban.server.filter import Filter
blocks = json.load(sys.stdin)
out = []
for b in blocks:
    flt = Filter(None)
    flt.returnRawHost = True
    flt.checkFindTime = False
    flt.active = True
    if b["prefregex"]:
        flt.prefRegex = b["prefregex"]
    flt.setMaxLines(b["maxlines"])
    for r in b["failregex"]: flt.addFailRegex(r)
    for r in b["ignoreregex"]: flt.addIgnoreRegex(r)
    res = []
    for line in b["lines"]:
        got = []
        for idx, fid, t, fail in flt.processLine(("", "TIME", line), 1000000):
            if fail.get("nofail"):
                continue
            fields = {}
            for k, v in fail.items():
                if k in ("matches", "nofail-matches"):
                    continue
                if isinstance(v, set):
                    v = sorted(v)
                elif v is not None and not isinstance(v, (str, int, float, list)):
                    v = str(v)
                fields[k] = v
            got.append([idx, str(fid), len(fail.get("matches", [])), fields])
        res.append(got)
    out.append(res)
json.dump(out, sys.stdout)
"""


def _table(path: str) -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "core"))
    import test_filter_table as tt  # type: ignore[import-not-found]  # noqa: PLC0415

    blocks = [b for b in tt.load_blocks(Path(path)) if b.options.get("dates") != ["fake"]]
    spec = [{"prefregex": b.options.get("prefregex", [None])[0],
             "maxlines": int(b.options.get("maxlines", ["1"])[0]),
             "failregex": b.options.get("failregex", []),
             "ignoreregex": b.options.get("ignoreregex", []),
             "lines": [s[0] for s in b.steps]} for b in blocks]
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    ref = json.loads(subprocess.run(
        ["/usr/bin/python3", "-c", _TABLE_RUNNER % {"compat": COMPAT}], input=json.dumps(spec),
        capture_output=True, check=True, env=env, text=True).stdout)
    bad = 0
    for b, expect in zip(blocks, ref, strict=True):
        flt = b.make()
        for (line, _e, n), want in zip(b.steps, expect, strict=True):
            r = flt.process(line, tt.NOW)
            got = [[f.regex, f.fid, len(f.matches),
                    {k: (sorted(v) if isinstance(v, tuple) and k == "users" else
                         (str(v) if isinstance(v, tuple) else v))
                     for k, v in f.fields.items()}] for f in r.failures]
            if got != want:
                bad += 1
                print(f"{path}:{n}: {line!r}\n  fail2ban: {want}\n  warden:   {got}")
    print(f"table cross-check: {bad} lines differ from fail2ban")
    return 0


_TAG_SAMPLES = [
    "<HOST>", "<ADDR>", "<IP4>", "<IP6>", "<DNS>", "<CIDR>", "<SUBNET>", "<ADDR>/<CIDR>",
    "<F-ID/>", "<F-PORT/>", "<F-IP4/>", "<F-IP6/>", "<F-ADDR/>", "<F-DNS/>", "<F-SUBNET/>",
    "<F-CIDR/>", "^x <HOST> y$", "from <HOST> port <F-PORT/>", "<F-USER>.+</F-USER> <HOST>",
    "<F-ALT_USER_1>\\w+</F-ALT_USER_1>|<F-USER>\\d+</F-USER>", "</F-USER><F-X>a</F-X>",
    "<F-ID>\\S+</F-ID>", "a<SKIPLINES>b<SKIPLINES>c", "((?i)ab)<HOST>",
    "(?:(?i)x)<F-TUPLE_ID>\\w</F-TUPLE_ID>",
]


def _tags_fuzz(count: int) -> int:
    """Compare tag expansions with fail2ban's on random texts: same matches, same groups."""
    import random  # noqa: PLC0415

    from warden.core.tags import expand_tags, localise_flags  # noqa: PLC0415

    code = ("import json,sys\nfrom fail2ban.server.failregex import Regex\n"
            "print(json.dumps([Regex(r)._regex for r in json.load(sys.stdin)]))")
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    theirs = json.loads(subprocess.run(["/usr/bin/python3", "-c", code], env=env, text=True,
                                       input=json.dumps(_TAG_SAMPLES), capture_output=True,
                                       check=True).stdout)
    pieces = ["1", "2", "25", "255", "256", "999", "0", "01", ".", ":", "::", "f", "ffff",
              "::ffff:", "a", "B", "g", "-", "_", "^", "[", "]", "/", "24", " ", "x", "y", "\n",
              "é", "٣",
              "192.0.2.1", "2001:db8::1", "host.example", "port", "from ", "%", "F"]
    rng = random.Random(42)
    bad = 0
    for src, ref in zip(_TAG_SAMPLES, theirs, strict=True):
        mine = re.compile(localise_flags(expand_tags(src)))
        other = re.compile(ref)
        if mine.groupindex.keys() != other.groupindex.keys():
            print(f"{src!r}: groups differ: {sorted(mine.groupindex)} / {sorted(other.groupindex)}")
            bad += 1
            continue
        for _ in range(count // len(_TAG_SAMPLES)):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
            a, b = mine.search(text), other.search(text)
            sa = None if a is None else (a.span(), a.groupdict())
            sb = None if b is None else (b.span(), b.groupdict())
            if sa != sb:
                bad += 1
                if bad < 20:
                    print(f"{src!r} on {text!r}: warden {sa} fail2ban {sb}")
    print(f"tags fuzz: {bad} disagreements over {len(_TAG_SAMPLES)} tag regexes")
    return 0


def _screens(extra_log: str | None) -> int:
    """Every corpus regex on every corpus line (and LOG): a match must pass the screen."""
    from warden.core.failregex import compile_regex  # noqa: PLC0415

    expected = os.path.join(CACHE, "expected.jsonl")
    dump = _dump(expected)
    texts: set[str] = set()
    with open(expected, encoding="utf-8") as f:
        for ln in f:
            line = json.loads(ln)["line"]
            texts.update((line + "\n", line[16:] + "\n", line[20:] + "\n", line[32:] + "\n"))
    if extra_log:
        with open(extra_log, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                if i % 50 == 0:
                    texts.update((line, line[16:]))
    regexes: set[tuple[str, bool]] = set()
    for stream in dump.values():
        o = stream["opts"]
        multi = o["maxlines"] > 1
        regexes.update((r, multi) for r in o["failregex"])
        regexes.update((r, False) for r in o["ignoreregex"])
        if o["prefregex"]:
            regexes.add((o["prefregex"], False))
    bad = checked = useful = 0
    for src, multi in sorted(regexes):
        rx = compile_regex(src, multiline=multi)
        useful += not rx.screen.trivial
        for t in texts:
            if rx.search(t) is not None:
                checked += 1
                if not rx.screen.admits(t):
                    bad += 1
                    print(f"screen rejects a match: {src!r} on {t!r}")
    print(f"screens: {len(regexes)} regexes ({useful} with a screen), {len(texts)} texts, "
          f"{checked} matches, {bad} wrongly rejected")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", help="only filters matching this regex")
    ap.add_argument("--show", type=int, default=30)
    ap.add_argument("--own-dates", action="store_true")
    ap.add_argument("--no-time", action="store_true", help="do not compare times")
    ap.add_argument("--bench", metavar="LOG", help="time the filter on LOG instead")
    ap.add_argument("--stream", default="sshd", help="filter variant for --bench")
    ap.add_argument("--table", metavar="FILE", help="cross-check a test table with fail2ban")
    ap.add_argument("--tags-fuzz", type=int, metavar="N", help="fuzz tag expansions (N texts)")
    ap.add_argument("--screens", nargs="?", const="", metavar="LOG",
                    help="check screens on the corpus (and LOG)")
    args = ap.parse_args()
    if args.screens is not None:
        return _screens(args.screens or None)
    if args.tags_fuzz:
        return _tags_fuzz(args.tags_fuzz)
    if args.table:
        return _table(args.table)
    if args.bench:
        return _bench(args.bench, args.stream, os.path.join(CACHE, "expected.jsonl"))
    os.environ["TZ"] = "CET-01CEST-02,M3.5.0,M10.5.0"
    time.tzset()
    sys.path.insert(0, COMPAT)
    import compat_common as cc  # type: ignore[import-not-found]  # noqa: PLC0415

    expected = os.path.join(CACHE, "expected.jsonl")
    cases = cc.load_cases(expected)
    dump = _dump(expected)
    agree = total = 0
    shown = 0
    per: dict[str, list[int]] = {}
    for sid, cs in cc.group_streams(cases).items():
        c0 = cs[0]
        if args.k and not re.search(args.k, c0["filter"]):
            continue
        o = dump[sid]["opts"]
        definition = FilterDefinition(
            name=c0["filter"], failregex=tuple(o["failregex"]),
            ignoreregex=tuple(o["ignoreregex"]), prefregex=o["prefregex"],
            datepattern=o["datepattern"], maxlines=o["maxlines"])
        dates: Any
        if args.own_dates:
            dates = DateDetector(o["datepattern"])
        else:
            dates = _ReplayDates(dump[sid]["dates"])
        flt = Filter(definition, dates=dates, journal=c0["journal"])
        for c in cs:
            got = _as_output(flt.process(c["line"], NOW), c["seq"])
            exp = dict(c["expect"])
            if args.no_time:
                exp["time"] = None
            diffs = cc.compare(exp, got)
            total += 1
            p = per.setdefault(c0["filter"], [0, 0])
            p[1] += 1
            if not diffs:
                agree += 1
                p[0] += 1
            elif shown < args.show or args.show < 0:
                shown += 1
                print(f"{sid}:{c['seq']}: {'; '.join(diffs)}\n    {c['line'][:200]}")
    bad = {k: v for k, v in per.items() if v[0] != v[1]}
    print("filters with disagreements:", bad)
    print(f"dev oracle: {agree}/{total} annotated lines agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
