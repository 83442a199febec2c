#!/usr/bin/env python3
"""Where a line's time goes in ``warden regex``: per-phase microseconds per line, one process.

    bench/bench_phases.py --log FILE --filter NAME [-c DIR] [--lines N] [--repeat 3]

Each phase is timed on its own, in this process, over the first N lines of FILE (best of
``--repeat`` runs, so a busy machine inflates the numbers less):

* ``read``: decoding the file and cutting it into lines;
* ``dates``: the filter's date detector over the lines, a block of 2,048 at a time
  (``Filter.dates_of``, what the drivers do);
* ``prefregex``: the prefregex searched on every text that reaches it (the line with its
  date cut out, as the matcher cuts it, holding a literal some failregex needs, and passing
  the prefregex's own screen);
* ``failregex``: the searches of the failregexes that the matcher makes: in order on what the
  prefregex hands on (its ``<F-CONTENT>``), each that its literal screen admits, until one
  matches (the screens' own cost is in ``rest``);
* ``groups``: fail2ban's group dictionary of each failregex match;
* ``all``: the whole counting loop (``core.batch.tally`` with a counting filter).

``rest`` is ``all`` minus the four phases above: the loop itself, the screens, sessions
(``<F-MLFID>`` merging), failure ids and the results. The phases are replayed from what a first
run recorded, so their own loop overhead (a few tenths of a microsecond) is counted in them too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from warden.cli.regex import resolve_filter
from warden.core.batch import Tally, tally
from warden.core.failregex import FilterRegex, compile_regex
from warden.core.filter import Filter
from warden.core.prefilter import text_screen

_NOW_AFTER_LOG = 1767225600.0 + 7 * 86400  # genlog logs start 2026-01-01: a week later
_BLOCK = 2048


def _best(run: Callable[[Filter], object], fresh: Callable[[], Filter], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        flt = fresh()  # (compiling a filter is not a phase of reading a log)
        start = time.perf_counter()
        run(flt)
        times.append(time.perf_counter() - start)
    return min(times)


def _texts(flt: Filter, lines: list[str], now: float) -> list[str]:
    """The text each line's regexes see: the date cut out, a newline added (as the matcher)."""
    out = []
    for i in range(0, len(lines), _BLOCK):
        block = lines[i:i + _BLOCK]
        for line, found in zip(block, flt.dates_of(block, now), strict=True):
            if found is None or found.start == found.end:
                out.append(line + "\n")
            else:
                out.append(line[:found.start] + line[found.end:] + "\n")
    return out


def main() -> None:
    """Parse the arguments, time each phase and print a table (µs per line)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--filter", required=True, help="filter name or file")
    p.add_argument("-c", "--config-dir", default="/etc/fail2ban")
    p.add_argument("--lines", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as stream:
        head = [line for _, line in zip(range(args.lines), stream, strict=False)]
    data = "".join(head).encode()
    lines = data.decode().splitlines()
    count = len(lines)
    definition = resolve_filter(args.filter, Path(args.config_dir))
    now = _NOW_AFTER_LOG

    def fresh() -> Filter:
        return Filter(definition, details=False)

    flt = fresh()
    texts = _texts(flt, lines, now)
    pref = (compile_regex(definition.prefregex, option="prefregex")
            if definition.prefregex else None)
    fails: tuple[FilterRegex, ...] = flt.failregexes
    # Record what reaches each regex (the replay then times the regex work alone): lines with
    # none of the literals any failregex needs skip the prefregex, as in the matcher.
    single = definition.maxlines == 1 and not 0 < len(flt.ignoreregexes) < len(fails) - 2
    needed = text_screen([rx.pattern for rx in fails]) if single else None
    pref_in: list[str] = []
    searches: list[tuple[Callable[[str], object], str]] = []
    matches = []
    for text in texts:
        if needed is not None and not any(literal in text for literal in needed):
            continue
        if pref is not None:
            if not pref.screen.admits(text):
                continue
            pref_in.append(text)
            pre = pref.search(text)
            if pre is None:
                continue
            if "content" in pref.pattern.groupindex:
                start, end = pre.span("content")
                if end > start:
                    text = text[start:end] + "\n"
        for rx in fails:
            if rx.screen.admits(text):
                searches.append((rx.search, text))
                if (m := rx.search(text)) is not None:
                    matches.append((rx, m))
                    break

    def read(_: Filter) -> None:
        data.decode().splitlines()

    def dates(d: Filter) -> None:
        for i in range(0, count, _BLOCK):
            d.dates_of(lines[i:i + _BLOCK], now)

    def prefregex(_: Filter) -> None:
        if pref is not None:
            search = pref.search
            for text in pref_in:
                search(text)

    def failregex(_: Filter) -> None:
        for search, text in searches:
            search(text)

    def groups(_: Filter) -> None:
        for rx, m in matches:
            rx.groups(m)

    def everything(f: Filter) -> None:
        tally(f, lines, now, Tally(len(f.failregexes), len(f.ignoreregexes)))

    per_line = {name: _best(fn, fresh, args.repeat) / count * 1e6 for name, fn in (
        ("read", read), ("dates", dates), ("prefregex", prefregex), ("failregex", failregex),
        ("groups", groups), ("all", everything))}
    per_line["rest"] = per_line["all"] - sum(per_line[k] for k in (
        "dates", "prefregex", "failregex", "groups"))
    print(f"{args.filter} ({args.config_dir}), {count:,} lines of {args.log}: "
          f"{len(pref_in):,} prefregex searches, {len(searches):,} failregex searches, "
          f"{len(matches):,} matches")
    print("| phase | µs/line |\n|---|---|")
    for name in ("read", "dates", "prefregex", "failregex", "groups", "rest", "all"):
        print(f"| {name} | {per_line[name]:.2f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
