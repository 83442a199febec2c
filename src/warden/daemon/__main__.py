"""``python -m warden.daemon``: what ``warden server`` runs.

Loads and checks the whole configuration first: every problem is printed with file:line; a
broken or log-less jail is skipped and the others run. Exit codes: 0 stopped cleanly, 1 the
daemon failed, 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from warden.config import JailsConfig, load_jails
from warden.core.history import BanHistory
from warden.daemon.app import Daemon, make_jail
from warden.daemon.compat_server import compat_socket_refusal
from warden.daemon.control import SocketInUse, socket_path_refusal
from warden.daemon.logtarget import LogTarget, log_file, setup_logging
from warden.daemon.pidfile import PidFile, PidFileError, Readiness, detach
from warden.daemon.sdnotify import ServiceNotifier
from warden.daemon.settings import Settings, read_settings
from warden.daemon.statefiles import (
    DatabaseLock,
    DatabaseLocked,
    UnsafeStatePath,
    check_dir,
    lock_database,
    tighten,
)
from warden.errors import ConfigError, WardenError
from warden.protocol import Response

__all__ = ["main"]

log = logging.getLogger("warden.server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warden server", description="Run the warden daemon.")
    parser.add_argument("-c", "--config-dir", type=Path, default=Path("/etc/warden"))
    parser.add_argument("-f", "--foreground", action="store_true")
    parser.add_argument("--socket", type=Path, default=None)
    parser.add_argument("--pidfile", type=Path, default=None)
    parser.add_argument("--dbfile", default=None)
    parser.add_argument("--logtarget", default=None)
    parser.add_argument("--loglevel", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the daemon; return its exit code."""
    args = _parser().parse_args(argv)
    # Everything the daemon creates is its own: the state files and SQLite's -wal and -shm
    # (which SQLite creates when it likes) are born 0600, new directories 0700.
    os.umask(0o077)
    try:
        config = load_jails(args.config_dir)
        settings = read_settings(config.settings, foreground=args.foreground,
                                 socket=args.socket, pidfile=args.pidfile, dbfile=args.dbfile,
                                 logtarget=args.logtarget, loglevel=args.loglevel)
    except ConfigError as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return 2
    # Build each jail once now, so that a jail that cannot run is reported here, with
    # file:line, while the terminal is still attached; it is skipped and the others run.
    problems = list(config.errors)
    runnable = []
    for cfg in config.jails:
        try:
            make_jail(cfg, BanHistory())
        except (WardenError, ValueError) as exc:
            problems.append(exc if isinstance(exc, ConfigError) else ConfigError(str(exc)))
        else:
            runnable.append(cfg)
    config = dataclasses.replace(config, jails=tuple(runnable), errors=tuple(problems))
    for error in config.errors:
        print(f"warden: {error}", file=sys.stderr)
    for warning in config.warnings:  # advice (unknown option names, risky regexes)
        print(f"warden: warning: {warning}", file=sys.stderr)
    if not config.jails:
        print("warden: no jail can run (none enabled, or all have errors)", file=sys.stderr)
        return 2
    try:
        _prepare_log(settings.logtarget)
        target = setup_logging(settings.logtarget, settings.loglevel,
                               syslogsocket=settings.syslogsocket)
    except UnsafeStatePath as exc:
        print(f"warden: logtarget {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"warden: logtarget {settings.logtarget}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        return _serve(args, settings, config, target)
    finally:
        target.close()


def _prepare_log(logtarget: str) -> None:
    """Check a log file's directory and make an existing log file 0600 (it names addresses)."""
    file = log_file(logtarget)
    if file is None:
        return
    path = Path(os.path.abspath(file))
    check_dir(path.parent, group_ok=True)
    tighten(path)


def _serve(args: argparse.Namespace, settings: Settings, config: JailsConfig,
           target: LogTarget) -> int:
    for error in config.errors:
        log.error("%s", error)
    for warning in config.warnings:
        log.warning("%s", warning)
    pidfile = PidFile(settings.pidfile)
    if (other := pidfile.running()) is not None:
        return _refuse(target, f"{settings.pidfile}: warden already runs as pid {other}")
    try:
        lock = _claim_state(settings)
    except _Refused as exc:
        return _refuse(target, str(exc))
    try:
        readiness = (Readiness(None, echo=settings.logtarget.upper() != "STDERR")
                     if args.foreground else detach())
        if lock is not None:
            lock.note_pid()  # detaching changed our pid
        try:
            pidfile.write()
        except PidFileError as exc:
            readiness.failed(1, f"warden: {exc}")
            log.error("%s", exc)
            return 1
        try:
            return asyncio.run(_run(args.config_dir, settings, config, target, readiness,
                                    notifier=ServiceNotifier.from_environment()))
        finally:
            pidfile.remove()
    finally:
        if lock is not None:
            lock.release()


class _Refused(Exception):
    """The daemon must not start; the message says why."""


def _claim_state(settings: Settings) -> DatabaseLock | None:
    """Lock the database and check every state directory; :class:`_Refused` if not possible.

    Everything that can stop a second daemon is decided here, before the database is opened
    and before any firewall rule is touched (Daemon.start reconciles the firewall).
    """
    try:
        lock = lock_database(settings.dbfile)
    except (DatabaseLocked, UnsafeStatePath) as exc:
        raise _Refused(str(exc)) from None
    except OSError as exc:
        raise _Refused(f"cannot lock the state database {settings.dbfile}: "
                       f"{exc.strerror}") from None
    try:
        if settings.dbfile != ":memory:":
            # older versions left these 0644, and SQLite gives -wal/-shm the database's mode
            for suffix in ("", "-wal", "-shm"):
                tighten(Path(settings.dbfile + suffix))
        check_dir(settings.pidfile.parent)
        why = socket_path_refusal(settings.socket, "another warden daemon is listening there")
        if why is not None:
            raise _Refused(f"cannot serve on {settings.socket}: {why}")
        if settings.compat_socket is not None:
            why = compat_socket_refusal(settings.compat_socket)
            if why is not None:
                raise _Refused(f"cannot serve fail2ban's protocol on {settings.compat_socket}: "
                               f"{why}")
    except (UnsafeStatePath, OSError) as exc:
        if lock is not None:
            lock.release()
        if isinstance(exc, OSError):
            raise _Refused(f"{exc.filename}: {exc.strerror}") from None
        raise _Refused(str(exc)) from None
    except _Refused:
        if lock is not None:
            lock.release()
        raise
    return lock


def _refuse(target: LogTarget, message: str) -> int:
    """Report why the daemon does not start (still attached to the terminal); exit code 1."""
    print(f"warden: {message}", file=sys.stderr)
    if target.target.upper() not in ("STDERR", "STDOUT"):
        log.error("%s", message)
    return 1


# allocations between two collections of the youngest generation (Python's default: 700)
_GC_THRESHOLD = 20_000


class _ManagedDaemon(Daemon):
    """The daemon that tells its service manager (systemd's ``Type=notify``) about reloads
    and the stop; READY=1 goes with the start-up readiness in :func:`_run`."""

    def __init__(self, config_dir: Path, settings: Settings, config: JailsConfig,
                 target: LogTarget, notifier: ServiceNotifier) -> None:
        super().__init__(config_dir, settings, config, target)
        self.notifier = notifier

    async def reload(self, jail: str | None, restart: bool, unban: bool) -> Response:
        """Reload between RELOADING=1 and READY=1 (SIGHUP and the client both come here)."""
        self.notifier.reloading()
        try:
            return await super().reload(jail, restart, unban)
        finally:
            self.notifier.ready()

    async def serve(self, on_ready: Callable[[], None] = lambda: None) -> None:
        """Serve; STOPPING=1 as soon as a stop is asked (signal or ``warden stop``)."""
        announce = asyncio.ensure_future(self._announce_stop())
        try:
            await super().serve(on_ready)
        finally:
            announce.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announce

    async def _announce_stop(self) -> None:
        await self.stopping.wait()
        self.notifier.stopping()


async def _run(config_dir: Path, settings: Settings, config: JailsConfig, target: LogTarget,
               readiness: Readiness, *, notifier: ServiceNotifier) -> int:
    def ready() -> None:
        # serve() calls this once the control socket listens: a ping sent now is answered
        readiness.ready()
        notifier.ready()

    try:
        daemon = _ManagedDaemon(config_dir, settings, config, target, notifier)
    except OSError as exc:
        message = f"warden: cannot open the state database {settings.dbfile}: {exc}"
        readiness.failed(1, message)
        log.error("%s", message)
        return 1
    try:
        await daemon.start()
        # The configuration, compiled filters and restored state live as long as the daemon:
        # no cycle collection needs to walk them again. A burst allocates millions of
        # short-lived objects without cycles; collecting them less often saves ~5% of its CPU.
        gc.freeze()
        gc.set_threshold(_GC_THRESHOLD, *gc.get_threshold()[1:])
        await daemon.serve(on_ready=ready)
    except (SocketInUse, OSError, UnsafeStatePath) as exc:
        message = f"warden: cannot serve on {settings.socket}: {exc}"
        readiness.failed(1, message)
        log.error("%s", message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
