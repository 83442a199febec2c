"""``warden check``: validate a whole configuration tree and list every problem with file:line."""

from __future__ import annotations

import pathlib
from typing import TextIO

from warden.config.jail import JailConfig, JailsConfig, load_jails
from warden.core.datedetect import DateDetector
from warden.core.duration import parse_duration
from warden.core.failregex import compile_regex
from warden.core.filterdef import Origin
from warden.core.regexlint import lint_regex
from warden.errors import ConfigError, RegexError

__all__ = ["check_config", "lint_config", "run_check"]

#: global settings that hold time values
_DURATION_SETTINGS = ("dbpurgeage",)


def _regex_problems(jail: JailConfig) -> list[ConfigError]:
    flt = jail.filter
    if flt is None:
        return []
    problems: list[ConfigError] = []
    multiline = flt.maxlines > 1
    groups: list[tuple[str, tuple[str, ...]]] = [
        ("failregex", flt.failregex),
        ("ignoreregex", flt.ignoreregex),
    ]
    if flt.prefregex:
        groups.append(("prefregex", (flt.prefregex,)))
    for option, regexes in groups:
        where = flt.origins.get(option, Origin("<filter>"))
        for index, regex in enumerate(regexes):
            try:
                compile_regex(regex, option=option, index=index, multiline=multiline)
            except RegexError as exc:
                exact = flt.origins.get(f"{option}[{index}]", where)
                problems.append(
                    RegexError(
                        f"[{jail.name}] filter {flt.name}: {exc.message}",
                        option=option,
                        index=index,
                        file=exact.file,
                        line=exact.line,
                    )
                )
    return problems


def _lint_warnings(jail: JailConfig) -> list[ConfigError]:
    """Regexes of the jail's filter that risk catastrophic backtracking (warnings)."""
    flt = jail.filter
    if flt is None:
        return []
    found: list[ConfigError] = []
    groups = [("failregex", flt.failregex), ("ignoreregex", flt.ignoreregex)]
    if flt.prefregex:
        groups.append(("prefregex", (flt.prefregex,)))
    for option, regexes in groups:
        for index, regex in enumerate(regexes):
            try:
                expanded = compile_regex(
                    regex, option=option, index=index, multiline=flt.maxlines > 1
                ).expanded
            except RegexError:
                continue  # reported as a problem already
            where = flt.origins.get(f"{option}[{index}]") or flt.origins.get(option)
            where = where or Origin("<filter>")
            for message in lint_regex(expanded):
                found.append(ConfigError(
                    f"[{jail.name}] filter {flt.name}: {option} #{index}: {message}",
                    file=where.file, line=where.line,
                ))
    return found


def lint_config(config: JailsConfig) -> list[ConfigError]:
    """Warnings for the enabled jails' regexes that risk catastrophic backtracking
    (``warden.core.regexlint``); they do not make a configuration invalid."""
    found: list[ConfigError] = []
    seen: set[str] = set()
    for jail in config.jails:
        for warning in _lint_warnings(jail):
            key = warning.message.split(": ", 1)[-1] + str(warning.file) + str(warning.line)
            if key not in seen:  # the same filter in several jails: say it once
                seen.add(key)
                found.append(warning)
    return found


def _date_problems(jail: JailConfig) -> list[ConfigError]:
    """The jail's ``datepattern`` and ``logtimezone`` must be usable by the date detector."""
    flt = jail.filter
    pattern = flt.datepattern if flt is not None else None
    zone = jail.logtimezone or (flt.logtimezone if flt is not None else None)
    try:
        DateDetector(pattern, default_tz=zone)
    except ConfigError as exc:
        option = "logtimezone" if exc.message.startswith("logtimezone") else "datepattern"
        where = jail.origins.get(option) or (flt.origins.get(option) if flt is not None else None)
        where = where or Origin("<jail>")
        return [ConfigError(f"[{jail.name}] {exc.message}", file=where.file, line=where.line)]
    return []


def _setting_problems(config: JailsConfig) -> list[ConfigError]:
    problems: list[ConfigError] = []
    for name in _DURATION_SETTINGS:
        found = config.settings.get(name)
        if found is None:
            continue
        try:
            parse_duration(found.text)
        except ValueError as exc:
            origin = found.origin
            problems.append(ConfigError(f"{name}: {exc}", file=origin.file, line=origin.line))
    return problems


def check_config(config_dir: pathlib.Path) -> tuple[JailsConfig | None, list[ConfigError]]:
    """Load ``config_dir`` completely and return the model (None if unreadable) and every
    problem found: unreadable or malformed files, broken enabled jails, filters or actions
    that are missing or do not resolve, regexes that do not compile, bad numbers and
    durations."""
    try:
        config = load_jails(config_dir)
    except ConfigError as exc:
        return None, [exc]
    problems = list(config.errors)
    problems += _setting_problems(config)
    for jail in config.jails:
        problems += _regex_problems(jail)
        problems += _date_problems(jail)
    return config, problems


def run_check(config_dir: pathlib.Path, out: TextIO, err: TextIO) -> int:
    """Validate ``config_dir``; print each problem as ``file:line: message`` on ``err``.

    Regexes at risk of catastrophic backtracking are listed on ``out`` as ``warning:`` lines.
    Returns 0 if the configuration is valid (a one-line summary goes to ``out``), 2 if not.
    """
    if not config_dir.is_dir():
        err.write(f"{config_dir}: configuration directory does not exist\n")
        return 2
    try:
        config, problems = check_config(config_dir)
    except Exception as exc:  # a bug must still not print a traceback to the user
        err.write(f"{config_dir}: internal error while checking: {type(exc).__name__}: {exc}\n")
        return 2
    for problem in problems:
        err.write(" ".join(str(problem).splitlines()) + "\n")
    if config is not None:
        # advice, not errors: on stdout, and the exit status stays that of the problems
        for warning in lint_config(config):
            out.write("warning: " + " ".join(str(warning).splitlines()) + "\n")
    if problems or config is None:
        err.write(f"{len(problems)} problem(s) found in {config_dir}\n")
        return 2
    names = ", ".join(jail.name for jail in config.jails) or "none"
    out.write(
        f"{config_dir}: OK, {len(config.jails)} enabled jail(s) ({names}), "
        f"{len(config.disabled)} disabled\n"
    )
    return 0
