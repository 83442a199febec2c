"""``warden check``: validate a whole configuration tree and list every problem with file:line.

Every check lives in ``warden.config`` (``load_jails`` and ``config.validate``), the code the
daemon loads with too: what this command accepts, ``warden server`` and ``reload`` run.
"""

from __future__ import annotations

import pathlib
from typing import TextIO

from warden.config.jail import JailsConfig, load_jails
from warden.config.pfconf import report_pf_anchors
from warden.config.validate import settings_problems
from warden.errors import ConfigError

__all__ = ["check_config", "lint_config", "run_check"]


def lint_config(config: JailsConfig) -> list[ConfigError]:
    """The warnings of a loaded configuration: option names nothing reads and regexes that
    risk catastrophic backtracking; they do not make a configuration invalid."""
    return list(config.warnings)


def check_config(config_dir: pathlib.Path) -> tuple[JailsConfig | None, list[ConfigError]]:
    """Load ``config_dir`` completely and return the model (None if unreadable) and every
    problem found: unreadable or malformed files, broken enabled jails, filters or actions
    that are missing or do not resolve, regexes that do not compile, bad numbers and
    durations, settings of warden.conf the daemon would refuse."""
    try:
        config = load_jails(config_dir)
    except ConfigError as exc:
        return None, [exc]
    return config, [*config.errors, *settings_problems(config.settings)]


def run_check(config_dir: pathlib.Path, out: TextIO, err: TextIO) -> int:
    """Validate ``config_dir``; print each problem as ``file:line: message`` on ``err``.

    Warnings (unknown option names, regexes at risk of catastrophic backtracking) are listed
    on ``out`` as ``warning:`` lines. Returns 0 if the configuration is valid (a one-line
    summary goes to ``out``), 2 if not.
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
        report_pf_anchors(config, out)  # pf jails whose anchor /etc/pf.conf never evaluates
    if problems or config is None:
        err.write(f"{len(problems)} problem(s) found in {config_dir}\n")
        return 2
    names = ", ".join(jail.name for jail in config.jails) or "none"
    out.write(
        f"{config_dir}: OK, {len(config.jails)} enabled jail(s) ({names}), "
        f"{len(config.disabled)} disabled\n"
    )
    return 0
