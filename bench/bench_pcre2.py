#!/usr/bin/env python3
"""What PCRE2 with its JIT would save ``warden regex``: the same searches, ``re`` and PCRE2.

    bench/bench_pcre2.py --log FILE --filter NAME [-c DIR] [--lines N] [--repeat 3]
                         [--binding pypcre|pcre2]

Needs PCRE2 bindings: PyPI ``pypcre`` (module ``pcre``, the default) or ``pcre2``;
``pip install --target DIR pypcre`` and ``PYTHONPATH=DIR`` keep them out of the project's
environment. The script records every
prefregex and failregex search the matcher makes on the first N lines of FILE (the texts with
the date cut out and, for the failregexes, the prefregex's ``<F-CONTENT>``), compiles each
expanded regex with PCRE2 (JIT, Unicode properties as Python's ``re`` has them), checks that
every search gives the same span and groups in both, and times the searches in both engines.

The projection adds the saving to the whole counting loop (``core.batch.tally``) timed here
too: how fast ``warden regex`` would be if every regex that gives identical results ran in
PCRE2 and nothing else changed (the calls into the bindings included, the group dictionaries
not: they are built by Python either way).
"""

from __future__ import annotations

import argparse
import importlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warden.cli.regex import resolve_filter
from warden.core.batch import Tally, tally
from warden.core.failregex import FilterRegex, compile_regex
from warden.core.filter import Filter
from warden.core.prefilter import text_screen

_NOW_AFTER_LOG = 1767225600.0 + 7 * 86400
_BLOCK = 2048


def _pcre(binding: Any, name: str, rx: FilterRegex) -> tuple[object | None, str]:
    multi = bool(rx.pattern.flags & re.MULTILINE)
    try:
        if name == "pcre2":
            flags = binding.UNICODE | (binding.MULTILINE if multi else 0)
            return binding.compile(rx.pattern.pattern, flags, jit=True), "ok"
        # pypcre: Unicode properties and the JIT by default
        return binding.compile(rx.pattern.pattern, binding.M if multi else 0), "ok"
    except Exception as exc:  # any refusal means: not this regex
        return None, f"does not compile: {exc}"


def _same(a: re.Match[str] | None, b: object | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a.span() == b.span() and a.groupdict() == b.groupdict())  # type: ignore[attr-defined]


def _time(calls: list[tuple[Callable[[str], object], str]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for search, text in calls:
            search(text)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Record, compare and time; print the account."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--filter", required=True)
    p.add_argument("-c", "--config-dir", default="/etc/fail2ban")
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--binding", choices=("pypcre", "pcre2"), default="pypcre")
    args = p.parse_args()
    binding = importlib.import_module("pcre" if args.binding == "pypcre" else "pcre2")
    with open(args.log, encoding="utf-8", errors="replace") as stream:
        lines = [line.rstrip("\n") for _, line in zip(range(args.lines), stream, strict=False)]
    definition = resolve_filter(args.filter, Path(args.config_dir))
    now, count = _NOW_AFTER_LOG, len(lines)
    flt = Filter(definition, details=False)
    fails = flt.failregexes
    pref = (compile_regex(definition.prefregex, option="prefregex")
            if definition.prefregex else None)
    single = definition.maxlines == 1 and not 0 < len(flt.ignoreregexes) < len(fails) - 2
    needed = text_screen([rx.pattern for rx in fails]) if single else None
    calls: list[tuple[FilterRegex, str]] = []
    for i in range(0, count, _BLOCK):
        block = lines[i:i + _BLOCK]
        for line, found in zip(block, flt.dates_of(block, now), strict=True):
            text = (line if found is None or found.start == found.end
                    else line[:found.start] + line[found.end:]) + "\n"
            if needed is not None and not any(lit in text for lit in needed):
                continue
            if pref is not None:
                if not pref.screen.admits(text):
                    continue
                calls.append((pref, text))
                pre = pref.search(text)
                if pre is None:
                    continue
                if "content" in pref.pattern.groupindex:
                    start, end = pre.span("content")
                    if end > start:
                        text = text[start:end] + "\n"
            for rx in fails:
                if rx.screen.admits(text):
                    calls.append((rx, text))
                    if rx.search(text) is not None:
                        break
    engines: dict[int, tuple[object | None, str]] = {}
    for rx, _ in calls:
        if id(rx) not in engines:
            engines[id(rx)] = _pcre(binding, args.binding, rx)
    differ: dict[int, int] = {}
    for rx, text in calls:
        compiled, _ = engines[id(rx)]
        if compiled is not None and not _same(rx.search(text), compiled.search(text)):  # type: ignore[attr-defined]
            differ[id(rx)] = differ.get(id(rx), 0) + 1
    usable = {k for k, (c, _) in engines.items() if c is not None and k not in differ}
    with_re = [(rx.search, text) for rx, text in calls]
    with_pcre = [(engines[id(rx)][0].search if id(rx) in usable else rx.search, text)  # type: ignore[union-attr]
                 for rx, text in calls]
    t_re, t_pcre = _time(with_re, args.repeat), _time(with_pcre, args.repeat)

    def whole() -> float:
        best = float("inf")
        for _ in range(args.repeat):
            f = Filter(definition, details=False)
            start = time.perf_counter()
            tally(f, lines, now, Tally(len(f.failregexes), len(f.ignoreregexes)))
            best = min(best, time.perf_counter() - start)
        return best

    t_all = whole()
    us = 1e6 / count
    print(f"{args.filter} ({args.config_dir}), {count:,} lines: {len(calls):,} searches by "
          f"{len(engines)} regexes; {len(usable)} give identical results in PCRE2")
    for rx_id, (compiled, why) in engines.items():
        rx = next(r for r, _ in calls if id(r) == rx_id)
        state = why if compiled is None else (
            f"differs on {differ[rx_id]} searches" if rx_id in differ else "identical")
        print(f"  {rx.option} #{rx.index + 1}: {state}")
    print(f"searches: re {t_re * us:.2f} µs/line, {args.binding} {t_pcre * us:.2f} µs/line "
          f"({t_re / t_pcre:.2f}x)")
    projected = t_all - t_re + t_pcre
    print(f"whole loop: {t_all * us:.2f} µs/line now, {projected * us:.2f} projected "
          f"({t_all / projected:.2f}x)")


if __name__ == "__main__":
    main()
