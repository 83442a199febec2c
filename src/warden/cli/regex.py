"""``warden regex``: run one filter over a log offline, like ``fail2ban-regex``.

LOG is a file, ``-`` for standard input, a single log line, or ``systemd-journal[OPTIONS]``
(the journal, :mod:`warden.cli.journalread`). FILTER is a filter reference
(``sshd[mode=aggressive]``), a filter file, or a regular expression. The human output is a
summary (with fail2ban-regex's ``Lines: N lines, I ignored, M matched, K missed`` line); with
``--json`` every input line gives one JSON object (the contract of ../shared/compat); with
``-o KIND`` every failure gives fail2ban-regex's ``-o`` lines (:mod:`warden.cli.regexout`).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, BinaryIO, TextIO

from warden.cli.chunks import MIN_PARALLEL_BYTES, ChunkStats, default_jobs, run_chunked
from warden.cli.journalread import is_journal_log, journal_lines, journal_options
from warden.cli.regexout import format_failure, uses_matches
from warden.config.filter import load_filter
from warden.config.reference import parse_reference
from warden.core.batch import Tally, is_comment, tally
from warden.core.datedetect import DateDetector
from warden.core.filter import Failure, Filter, LineResult
from warden.core.filterdef import FilterDefinition
from warden.core.trust import success_definition
from warden.errors import ConfigError
from warden.sources.base import resolve_encoding
from warden.sources.logread import iter_lines
from warden.sources.progress import Progress, metered

__all__ = ["resolve_filter", "run_regex"]

_DEFAULT_MAX_LINE = 8192
# journal lines whose times -o remembers for the lines of a failure (a multi-line failure's
# earlier lines are recent ones)
_REMEMBERED = 10_000


def _is_filter_name(spec: str, config_dir: Path) -> bool:
    """True when ``spec`` names a filter of ``config_dir`` or a filter file."""
    if Path(spec).is_file():
        return True
    try:
        name = parse_reference(spec).name
    except ValueError as exc:
        # "sshd[mode=" names an existing filter with broken parameters: say so rather than
        # treating the text as a regex that then fails to compile.
        head = spec.split("[", 1)[0].strip()
        if "[" in spec and head and _filter_file_exists(head, config_dir):
            raise ConfigError(f"FILTER argument {spec!r}: {exc}") from None
        return False
    if not name or "/" in name:
        return Path(name).is_file()
    return _filter_file_exists(name, config_dir)


def _filter_file_exists(name: str, config_dir: Path) -> bool:
    filter_d = config_dir / "filter.d"
    return any((filter_d / f"{name}{ext}").is_file() for ext in (".conf", ".local", ""))


def resolve_filter(spec: str, config_dir: Path, *, journal: bool = False) -> FilterDefinition:
    """The filter ``spec`` stands for: a named filter, a filter file, or one failregex."""
    if _is_filter_name(spec, config_dir):
        return load_filter(config_dir, spec, backend="systemd" if journal else "auto")
    return FilterDefinition(name="<command line>", failregex=(spec,))


def _with_ignoreregex(definition: FilterDefinition, extra: str, config_dir: Path,
                      journal: bool) -> FilterDefinition:
    """``definition`` plus the IGNOREREGEX argument (a regex, or a filter's ignoreregexes)."""
    if _is_filter_name(extra, config_dir):
        more = resolve_filter(extra, config_dir, journal=journal).ignoreregex
    else:
        more = (extra,)
    return replace(definition, ignoreregex=definition.ignoreregex + more)


def _open_log(log: str, encoding: str = "utf-8") -> tuple[str, Iterator[str], str | None]:
    """(description, lines, path of a regular file or None) of the LOG argument; a file is
    read in parallel chunks only in UTF-8 (path None otherwise)."""
    if log == "-":
        return "standard input", iter_lines(sys.stdin.buffer, encoding=encoding), None
    path = Path(log)
    if path.is_file():
        stream: BinaryIO
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise ConfigError(f"cannot read log {log}: {exc.strerror}") from None
        chunked = str(path) if encoding == "utf-8" else None
        return str(path), iter_lines(stream, encoding=encoding, close=True), chunked
    if path.exists():
        raise ConfigError(f"log {log} is not a regular file")
    if "/" in log and not any(ch.isspace() for ch in log):
        # A log line has blanks; a word with slashes is a path that was mistyped.
        raise ConfigError(f"log file {log} does not exist")
    return "a single line", iter(log.splitlines() or [""]), None


def _failure_json(lineno: int, failure: Failure) -> dict[str, object]:
    fields: dict[str, object] = {}
    for key, value in failure.fields.items():
        fields[key] = list(value) if isinstance(value, (tuple, set, frozenset)) else value
    return {
        "line": lineno,
        "match": True,
        "host": failure.fid,
        "time": failure.time,
        "fields": fields,
        "matches": list(failure.matches),
        "failures": 1,
    }


def _run_json(flt: Filter, lines: Iterable[str], now: float, out: IO[str],
              first: int = 1) -> None:
    write = out.write
    process = _with_success(flt)
    for lineno, line in enumerate(lines, first):
        if is_comment(line):
            _write_json(write, lineno, None, None)
        else:
            _write_json(write, lineno, *process(line, now))


def _write_json(write: Callable[[str], object], lineno: int, result: LineResult | None,
                success: str | None) -> None:
    """One line's JSON object: its first failure (and how many it has), or no match; with
    ``"success"``, the address a success line (``successregex``) names."""
    if result is None or not result.failures:
        write(f'{{"line": {lineno}, "match": false}}\n' if success is None else
              json.dumps({"line": lineno, "match": False, "success": success}) + "\n")
        return
    obj = _failure_json(lineno, result.failures[0])
    obj["failures"] = len(result.failures)
    if success is not None:
        obj["success"] = success
    write(json.dumps(obj) + "\n")


def _with_success(flt: Filter) -> Callable[[str, float], tuple[LineResult, str | None]]:
    """``flt.process`` that also runs the filter's success filter (if any) on the line, with
    the same date, as ``tally`` and the daemon's jail do: the result and the address of a
    login (None: no success filter, or no login)."""
    success, dates = flt.success, flt.dates
    if success is None:
        plain = flt.process
        return lambda line, now: (plain(line, now), None)
    screen = success.matcher.screen_out  # (None for a multi-line filter)

    def process(line: str, now: float) -> tuple[LineResult, str | None]:
        text = flt.clean(line)
        found = None if dates is None else dates.match(text, now)
        result = flt.process_dated(text, found, now)
        if screen is not None and not any(literal in text for literal in screen):
            return result, None
        logins = success.process_dated(text, found, now).failures
        return result, logins[0].fid if logins else None

    return process


def _timed_lines(args: argparse.Namespace, definition: FilterDefinition, now: float
                 ) -> tuple[str, Iterator[tuple[str, float]]]:
    """(description, (line, time) pairs) of the LOG argument, for the journal and ``-o``: a
    journal line's time is its entry's, a file line's date is in its text (``now`` beside)."""
    if is_journal_log(args.log):
        matches = [args.journalmatch] if args.journalmatch else list(definition.journalmatch)
        described = "systemd journal" + (f" (journal match: {' '.join(matches)})"
                                         if matches else "")
        return described, journal_lines(args.log, matches, encoding=args.encoding)
    source, lines, _ = _open_log(args.log, args.encoding)
    return source, ((line, now) for line in lines if line and not is_comment(line))


def _run_out(flt: Filter, pairs: Iterable[tuple[str, float]], kind: str, out: TextIO, *,
             journal: bool = False) -> None:
    """``-o KIND``: the failures of each line not ignored, in fail2ban-regex's forms.

    ``journal``: a failure's log lines get their entry's time in front (ISO 8601, local
    zone), as fail2ban keeps journal lines; the times of recent lines are remembered for it.
    """
    write = out.write
    process = flt.process
    seen: dict[str, float] = {}
    journal = journal and uses_matches(kind)  # only the log lines need the entries' times
    for line, at in pairs:
        if journal:
            if len(seen) >= _REMEMBERED:
                seen.clear()
            seen[line] = at
        result = process(line, at)
        if result.failures and result.ignoreregex is None:
            for failure in result.failures:
                if journal:
                    failure = failure._replace(matches=tuple(
                        f"{_iso(seen.get(m, at))} {m}" for m in failure.matches))
                for text in format_failure(kind, failure):
                    write(text + "\n")


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when).astimezone().isoformat()


def _run_timed(flt: Filter, pairs: Iterable[tuple[str, float]], args: argparse.Namespace,
               out: TextIO) -> Tally | None:
    """The journal: JSON lines to ``out``, or the counts (each line at its own time)."""
    if args.json:
        process = _with_success(flt)
        for lineno, (line, at) in enumerate(pairs, 1):
            _write_json(out.write, lineno, *process(line, at))
        return None
    stats = Tally(len(flt.failregexes), len(flt.ignoreregexes),
                  keep_matched=args.print_matched, keep_missed=args.print_missed,
                  successregexes=_successregexes(flt))
    for line, at in pairs:
        tally(flt, (line,), at, stats)
    return stats


def _meter(path: str | None, jobs: int, err: TextIO) -> Progress:
    """Progress on a terminal: of the file (of this process' chunk, the first, when the
    file is read in chunks beside it: the others go at about the same pace)."""
    if path is None:
        return Progress("regex", 0, err)
    size = os.path.getsize(path)
    if jobs < 2 or size < MIN_PARALLEL_BYTES:
        return Progress("regex", size, err)
    return Progress(f"regex (chunk 1 of {jobs})", size // jobs, err)


def _run(flt: Filter, log: str, now: float, args: argparse.Namespace, out: TextIO, *,
         err: TextIO) -> tuple[str, Tally | None, ChunkStats]:
    """Run ``flt`` over the LOG argument: JSON lines to ``out``, or the counts (with
    progress on ``err`` when it is a terminal)."""
    source, lines, path = _open_log(log, args.encoding)
    sizes = len(flt.failregexes), len(flt.ignoreregexes)
    successes = _successregexes(flt)
    keep = {"keep_matched": args.print_matched, "keep_missed": args.print_missed}
    jobs = default_jobs()
    meter = _meter(path, jobs, err)
    here = os.getpid()  # chunk workers are forked: only this process shows progress

    def shown(lines: Iterable[str]) -> Iterable[str]:
        return metered(lines, meter) if meter.on and os.getpid() == here else lines

    def count(flt: Filter, lines: Iterable[str], _first: int, _out: IO[str]) -> Tally:
        stats = Tally(*sizes, **keep, successregexes=successes)
        tally(flt, shown(lines), now, stats)
        return stats

    def warm_up(flt: Filter, lines: Iterable[str]) -> None:
        tally(flt, lines, now, Tally(*sizes, successregexes=successes))

    def as_json(flt: Filter, lines: Iterable[str], first: int, out: IO[str]) -> None:
        _run_json(flt, shown(lines), now, out, first)

    try:
        if path is None:
            if args.json:
                _run_json(flt, shown(lines), now, out)
                return source, None, ChunkStats()
            return source, count(flt, lines, 1, out), ChunkStats()
        close = getattr(lines, "close", None)
        if close is not None:
            close()  # the file is read again, in chunks
        if args.json:
            _, chunked = run_chunked(path, flt, as_json, warm_up, out, jobs=jobs, number=True)
            return source, None, chunked
        results, chunked = run_chunked(path, flt, count, warm_up, out, jobs=jobs)
    finally:
        meter.close()
    total = results[0]
    for more in results[1:]:
        total.add(more)
    return source, total, chunked


def _print_summary(out: TextIO, flt: Filter, stats: Tally, *, dates: DateDetector | None,
                   source: str, spec: str, elapsed: float, chunked: ChunkStats) -> None:
    w = out.write
    w(f"Log:    {source}\nFilter: {spec}\n\n")
    w(f"Failregex: {sum(stats.fail_hits)} total\n")
    for rx, hits in zip(flt.failregexes, stats.fail_hits, strict=True):
        w(f"  {rx.index + 1:>3}) [{hits}] {rx.source}\n")
    w(f"\nIgnoreregex: {sum(stats.ignore_hits)} total\n")
    for rx, hits in zip(flt.ignoreregexes, stats.ignore_hits, strict=True):
        w(f"  {rx.index + 1:>3}) [{hits}] {rx.source}\n")
    if dates is not None:
        w("\nDate template hits:\n")
        found = 0
        for name, hits in dates.hits():
            if hits:
                found += hits
                w(f"  [{hits}] {name}\n")
        if stats.lines > found:
            w(f"  [{stats.lines - found}] lines without a date (the last one is reused if it "
              f"is less than a minute before now, else the line has no time)\n")
    w(f"\nLines: {stats.lines} lines, {stats.ignored} ignored, {stats.matched} matched, "
      f"{stats.missed} missed\n")
    if stats.ignored:
        w("(ignored: a failregex matched, but an ignoreregex dropped the line, or it is no "
          "failure by itself: <F-NOFAIL>, or a session still waiting for its host)\n")
    rate = stats.lines / elapsed if elapsed > 0 else float("inf")
    how = ""
    if chunked.chunks > 1:
        how = (f"; {chunked.chunks} chunks in parallel, {chunked.taken} checked and taken, "
               f"{chunked.redone} redone in order")
    w(f"[processed in {elapsed:.2f} sec, {rate:,.0f} lines/s{how}]\n")
    for title, listed in (("Matched", stats.matched_lines), ("Missed", stats.missed_lines)):
        if listed:
            w(f"\n{title} line(s):\n")
            for line in listed:
                w(f"  {line}\n")


def _successregexes(flt: Filter) -> int:
    return 0 if flt.success is None else len(flt.success.failregexes)


def _print_successes(out: TextIO, flt: Filter, stats: Tally) -> None:
    """The filter's success lines (``successregex``, what ``trustsuccess`` trusts), counted
    beside its failures (``Tally.success_hits``): hits per regex, and the lines with
    ``--print-all-matched``."""
    assert flt.success is not None
    hits = stats.success_hits
    w = out.write
    w(f"\nSuccessregex: {sum(hits)} total (logins: trustsuccess trusts their addresses)\n")
    for rx, count in zip(flt.success.failregexes, hits, strict=True):
        w(f"  {rx.index + 1:>3}) [{count}] {rx.source}\n")
    if stats.success_lines:
        w("\nSuccess line(s):\n")
        for line in stats.success_lines:
            w(f"  {line}\n")


def _check_options(args: argparse.Namespace) -> None:
    """The option combinations that make no sense, as usage errors naming the option."""
    from_journal = is_journal_log(args.log)
    if from_journal:
        journal_options(args.log)
    if args.journalmatch is not None and not from_journal:
        raise ConfigError("-m/--journalmatch applies to LOG systemd-journal only")
    if args.maxlines is not None and args.maxlines < 1:
        raise ConfigError(f"-L/--maxlines must be at least 1, not {args.maxlines}")
    if args.out is not None and args.json:
        raise ConfigError("-o/--out and --json are two output forms: choose one")
    if args.out is not None and not args.out.strip():
        raise ConfigError("-o/--out needs a kind: id, ip, msg, row, a capture name or a "
                          "text with <tags>")
    args.encoding = resolve_encoding(args.encoding or "utf-8")


def run_regex(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``warden regex`` with parsed ``args``; return the exit code."""
    _check_options(args)
    config_dir: Path = args.config_dir
    journal = args.journal or is_journal_log(args.log)
    definition = resolve_filter(args.filter, config_dir, journal=journal)
    if args.ignoreregex:
        definition = _with_ignoreregex(definition, args.ignoreregex, config_dir, journal)
    if args.datepattern is not None:
        definition = replace(definition, datepattern=args.datepattern)
    if args.maxlines is not None:
        definition = replace(definition, maxlines=args.maxlines)
    now = time.time() if args.now is None else args.now
    dates = None
    if not journal:
        dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone, now=now)
    # Only --json and -o show failures; the summary counts them, and counting is cheaper.
    flt = Filter(definition, dates=dates, journal=journal,
                 details=args.json or args.out is not None,
                 max_line_length=args.max_line_length or _DEFAULT_MAX_LINE)
    if definition.successregex:
        # The success lines are matched beside the failures, with the failure filter's
        # dates, as the daemon's jail runs them: counted in the summary, marked in --json
        # (-o shows failures alone).
        flt.success = Filter(success_definition(definition), dates=dates, journal=journal,
                             details=args.json, max_line_length=flt.max_line_length)
    started = time.perf_counter()
    # Matching allocates millions of short-lived objects that never form cycles: the cycle
    # collector would only cost time (3-7% measured), so it rests while the log is read.
    gc.disable()
    try:
        if args.out is not None:
            _run_out(flt, _timed_lines(args, definition, now)[1], args.out, out,
                     journal=is_journal_log(args.log))
            return 0
        if is_journal_log(args.log):
            source, pairs = _timed_lines(args, definition, now)
            stats, chunked = _run_timed(flt, pairs, args, out), ChunkStats()
        else:
            source, stats, chunked = _run(flt, args.log, now, args, out, err=err)
    finally:
        gc.enable()
    if stats is None:
        return 0
    _print_summary(out, flt, stats, dates=dates, source=source, spec=args.filter,
                   elapsed=time.perf_counter() - started, chunked=chunked)
    if flt.success is not None:
        _print_successes(out, flt, stats)
    return 0
