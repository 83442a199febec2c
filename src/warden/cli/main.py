"""The ``warden`` command: argument parsing and dispatch.

Exit codes (DESIGN.md): 0 ok, 1 operation failed, 2 usage or configuration error,
3 daemon not reachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from warden import __version__
from warden.errors import WardenError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# Where warden looks for its configuration when -c is not given: its own tree first, then an
# existing fail2ban tree so that a fail2ban host works before `warden init` has been run.
DEFAULT_CONFIG_DIRS = (Path("/etc/warden"), Path("/usr/local/etc/warden"), Path("/etc/fail2ban"))


def default_config_dir() -> Path:
    """The first default configuration directory that exists (or ``/etc/warden``)."""
    for candidate in DEFAULT_CONFIG_DIRS:
        if (candidate / "filter.d").is_dir() or (candidate / "jail.conf").is_file():
            return candidate
    return DEFAULT_CONFIG_DIRS[0]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors exit with warden's usage code and one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _ShortVersion(argparse.Action):
    """``-V`` (as fail2ban-regex): the version in a machine-readable short form, then exit."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        sys.stdout.write(f"{__version__}\n")  # on stdout, as fail2ban-regex
        parser.exit(EXIT_OK)


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before and after the subcommand; the subcommand's copy must not reset a value
    # given before it, hence SUPPRESS as default below the top level.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "-c", "--config-dir", "--conf", dest="config_dir", type=Path, default=default,
        metavar="DIR", help="configuration directory (default: /etc/warden, else /etc/fail2ban)",
    )
    parser.add_argument(
        "--socket", dest="socket", type=Path, default=default, metavar="PATH",
        help="control socket of the daemon",
    )


# The commands defined in this module. The others' parsers live with them (explain, replay,
# the daemon commands, events), whose modules bring the control protocol's: a command of
# these needs none of that, so its parser is built without them (a faster start).
_OWN_COMMANDS = frozenset({"regex", "check", "version", "init", "server"})
# Options of the top level that take a value (see _add_common).
_VALUED = frozenset({"-c", "--config-dir", "--conf", "--socket"})


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the first argument that is no option or option value)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(*, command: str | None = None) -> argparse.ArgumentParser:
    """The complete command-line grammar; with ``command`` one of this module's own, only
    as much of it as that command needs (the other commands' parsers are left out)."""
    parser = _Parser(prog="warden", description="Ban hosts that cause repeated failures.")
    parser.add_argument("--version", action="version", version=f"warden {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    regex = sub.add_parser(
        "regex", help="test a filter against a log (fail2ban-regex equivalent)",
        description="Run a filter over a log file, a single line or standard input (-).",
    )
    _add_common(regex, top=False)
    regex.add_argument(
        "log", metavar="LOG",
        help="log file, a single log line, - for stdin, or systemd-journal[OPTIONS] (the "
             "journal; options as backend = systemd[...])")
    regex.add_argument(
        "filter", metavar="FILTER",
        help="filter name with parameters (sshd[mode=aggressive]), filter file, or a regex",
    )
    regex.add_argument(
        "ignoreregex", metavar="IGNOREREGEX", nargs="?", default=None,
        help="an extra ignoreregex (or an ignore filter file)",
    )
    regex.add_argument("--json", action="store_true", help="one JSON object per input line")
    regex.add_argument(
        "--now", type=float, default=None, metavar="EPOCH",
        help="the current time used to complete dates (default: the clock)",
    )
    regex.add_argument(
        "--journal", action="store_true",
        help="lines are journal messages: no date detection, every line's time is --now",
    )
    regex.add_argument(
        "-d", "--datepattern", default=None, metavar="PATTERN",
        help="override the filter's datepattern",
    )
    regex.add_argument(
        "--max-line-length", type=int, default=None, metavar="N",
        help="cut longer lines before matching",
    )
    regex.add_argument(
        "--print-missed", "--print-all-missed", dest="print_missed", action="store_true",
        help="list the lines no failregex matched",
    )
    regex.add_argument("--print-matched", "--print-all-matched", dest="print_matched",
                       action="store_true", help="list the matched lines")
    regex.add_argument(
        "-o", "--out", default=None, metavar="KIND",
        help="print only the failures, one line each, as fail2ban-regex -o: id, ip, msg, "
             "row, a capture name (user), or a text with tags ('<ip> <F-USER>')",
    )
    regex.add_argument(
        "-m", "--journalmatch", default=None, metavar="MATCH",
        help="journal matches instead of the filter's (LOG systemd-journal only)",
    )
    regex.add_argument("-L", "--maxlines", type=int, default=None, metavar="N",
                       help="lines a multi-line failregex may span (the filter's maxlines)")
    regex.add_argument("-e", "--encoding", default=None, metavar="ENCODING",
                       help="the log's encoding (default: utf-8)")
    regex.add_argument("-V", action=_ShortVersion, help="print the version, digits and dots only")

    check = sub.add_parser(
        "check", help="validate the whole configuration",
        description="Load the configuration and print every problem with file:line.",
    )
    _add_common(check, top=False)

    version = sub.add_parser("version", help="print warden's version")
    _add_common(version, top=False)

    init = sub.add_parser(
        "init", help="write warden's default configuration (never overwrites .local files)",
        description="Write warden's own configuration tree to /etc/warden or -c DIR.",
    )
    _add_common(init, top=False)

    server = sub.add_parser(
        "server", help="run the daemon",
        description="Start the daemon: detached with a pidfile, or in the foreground with -f.",
    )
    _add_common(server, top=False)
    server.add_argument("-f", "--foreground", action="store_true",
                        help="stay in the foreground (logs to stderr unless --logtarget)")
    server.add_argument("--pidfile", type=Path, default=None, metavar="PATH",
                        help="pid file (default: pidfile of warden.conf)")
    server.add_argument("--dbfile", default=None, metavar="PATH",
                        help="state database, or :memory: for a dry run (default: dbfile)")
    server.add_argument("--logtarget", default=None, metavar="TARGET",
                        help="STDERR, STDOUT, SYSLOG or a file (default: logtarget)")
    server.add_argument("--loglevel", default=None, metavar="LEVEL",
                        help="CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG")

    if command in _OWN_COMMANDS:
        return parser
    from warden.cli.explain import add_explain_parser

    add_explain_parser(sub, lambda p: _add_common(p, top=False))
    from warden.cli.replay import add_replay_parser

    add_replay_parser(sub, lambda p: _add_common(p, top=False))
    from warden.cli.control import add_control_parsers

    add_control_parsers(sub, lambda p: _add_common(p, top=False))
    from warden.cli.events import add_events_parser

    add_events_parser(sub, lambda p: _add_common(p, top=False))
    return parser


def _exec_server(args: argparse.Namespace) -> int:
    # The daemon is the composition root and the CLI must not import it (DESIGN.md layers):
    # `warden server` becomes `python -m warden.daemon` with the same, already checked, options.
    argv = [sys.executable, "-m", "warden.daemon", "-c", str(args.config_dir)]
    for flag, value in (("--socket", args.socket), ("--pidfile", args.pidfile),
                        ("--dbfile", args.dbfile), ("--logtarget", args.logtarget),
                        ("--loglevel", args.loglevel)):
        if value is not None:
            argv += [flag, str(value)]
    if args.foreground:
        argv.append("-f")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
    return EXIT_FAILED  # pragma: no cover - execv does not return


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``warden`` command; return its exit code."""
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(command=_command_of(words)).parse_args(argv)
    if args.command == "init":  # its default is where to write, never an existing fail2ban tree
        from warden.cli.init import run_init

        return run_init(args.config_dir, sys.stdout, sys.stderr)
    if args.config_dir is None:
        args.config_dir = default_config_dir()
    try:
        if args.command == "version":
            print(f"warden {__version__}")
            return EXIT_OK
        if args.command == "regex":
            from warden.cli.regex import run_regex

            return run_regex(args, sys.stdout, sys.stderr)
        if args.command == "check":
            from warden.cli.check import run_check

            return run_check(args.config_dir, sys.stdout, sys.stderr)
        if args.command == "server":
            return _exec_server(args)
        if args.command == "explain":
            from warden.cli.explain import run_explain

            return run_explain(args, sys.stdout, sys.stderr)
        if args.command == "replay":
            from warden.cli.replay import exec_replay

            return exec_replay(args)
        if args.command == "events":
            from warden.cli.events import run_events

            return run_events(args, sys.stdout, sys.stderr)
        from warden.cli.control import CONTROL_COMMANDS, run_control

        if args.command in CONTROL_COMMANDS:
            return run_control(args, sys.stdout, sys.stderr)
    except WardenError as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover
