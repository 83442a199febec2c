"""``warden events [--follow] [--json] [--kind K]... [JAIL]``: the daemon's event stream.

Without ``--follow`` it prints the recent events the daemon kept and exits; with it, it goes
on printing each event as it happens until interrupted. ``--json`` prints the daemon's lines
as they come (one JSON object each, with ``"v"`` and ``"kind"``). If the daemon had to drop
events because this reader was slow, a line says how many (stderr; in ``--json`` it is a
``dropped`` object of the stream).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from warden.cli.client import Unreachable, send, socket_path
from warden.errors import ProtocolError
from warden.protocol import EventsRequest, FailedReply, decode_event, decode_response
from warden.protocol.codec import MAX_LINE
from warden.protocol.events import (
    EVENT_KINDS,
    BanEvent,
    DroppedEvent,
    Event,
    FailureEvent,
    SourceEvent,
    UnbanEvent,
)

__all__ = ["add_events_parser", "render_event", "run_events"]


def add_events_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                      common: object) -> None:
    """Add ``events`` to the subcommand parser ``sub`` (``common`` adds ``-c``/``--socket``)."""
    text = "ban, unban, failure and log source events of the daemon"
    parser: argparse.ArgumentParser = sub.add_parser("events", help=text, description=text)
    common(parser)  # type: ignore[operator]
    parser.add_argument("jail", nargs="?", metavar="JAIL", help="only this jail's events")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="go on printing events as they happen (Ctrl-C stops)")
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.add_argument("--kind", action="append", default=[], choices=EVENT_KINDS,
                        help="only events of this kind (repeatable)")


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def _duration(seconds: float) -> str:
    if seconds < 0:
        return "permanently"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"for {int(seconds // size)}{unit}"
    return f"for {seconds:g}s"


def render_event(event: Event) -> str:
    """One line for a person."""
    head = f"{_stamp(event.time)} {event.kind:<7}"
    match event:
        case BanEvent():
            return (f"{head} {event.jail} {event.addr} {_duration(event.bantime)} "
                    f"(ban #{event.count}, {event.failures} failures, {event.cause})")
        case UnbanEvent():
            return f"{head} {event.jail} {event.addr} ({event.cause})"
        case FailureEvent():
            return f"{head} {event.jail} {event.addr} (logged {_stamp(event.at)})"
        case SourceEvent():
            error = f": {event.error}" if event.error else ""
            return f"{head} {event.source} {event.path} {event.state}{error}"
        case DroppedEvent():
            return f"{head} {event.dropped} events lost: this reader did not keep up"
    raise AssertionError(event)  # pragma: no cover


def _lines(path: Path, request: EventsRequest) -> Iterator[bytes]:
    sock = send(path, request, 10.0)
    try:
        sock.settimeout(None if request.follow else 60.0)
        stream = sock.makefile("rb")
        while True:
            try:
                line = stream.readline(MAX_LINE)
            except TimeoutError:
                raise Unreachable(f"the daemon at {path} stopped answering") from None
            if not line:
                return
            yield line
    finally:
        sock.close()


def run_events(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Print the daemon's events; 0 at the end of the recent events (or on Ctrl-C), 1 when the
    daemon ends a followed stream, 2 for a refused request, 3 if it cannot be reached."""
    request = EventsRequest(args.jail, follow=args.follow, kinds=tuple(args.kind))
    path = socket_path(args.config_dir, args.socket)
    try:
        for line in _lines(path, request):
            try:
                event = decode_event(line)
            except ProtocolError:
                answer = decode_response(line)  # a refusal (unknown jail or kind)
                if isinstance(answer, FailedReply):
                    print(f"warden: {answer.message}", file=stderr)
                    return 2 if answer.reason == "usage" else 1
                raise
            if args.json:
                stdout.write(line.decode())
            elif isinstance(event, DroppedEvent):
                print(f"warden: {render_event(event)}", file=stderr)
            else:
                print(render_event(event), file=stdout)
            stdout.flush()
    except Unreachable as exc:
        print(f"warden: {exc}", file=stderr)
        return 3
    except ProtocolError as exc:
        print(f"warden: {exc}", file=stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    if request.follow:  # only the daemon ends a followed stream: it stopped
        print("warden: the daemon ended the stream (stopped or restarting)", file=stderr)
        return 1
    return 0
