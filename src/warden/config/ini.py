"""One INI file, read exactly the way fail2ban's parser reads it, with line numbers.

fail2ban uses Python's ``configparser`` with ``;`` as the only inline comment prefix. The rules
this module reproduces:

- ``[name]`` starts a section (names are case-sensitive; ``DEFAULT`` is the defaults section);
  anything after the closing bracket is ignored.
- ``key = value`` or ``key: value``; keys are lower-cased; the value is stripped.
- A line that starts (after blanks) with ``#`` or ``;`` is a comment. ``;`` preceded by a blank
  starts an inline comment; ``#`` never does.
- A line indented deeper than its option's first line continues the value. Blank lines inside a
  value are kept; trailing blank lines are dropped.
- Repeating a section or an option within one file is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from warden.core.filterdef import Origin
from warden.errors import ConfigError

__all__ = ["DEFAULT_SECTION", "IniFile", "RawValue", "parse_ini", "read_ini"]

DEFAULT_SECTION = "DEFAULT"

_SECTION = re.compile(r"\[(?P<name>.+)\]")
_OPTION = re.compile(r"(?P<key>.*?)\s*[=:]\s*(?P<value>.*)$")
_FULL_LINE_COMMENT = ("#", ";")


@dataclass(frozen=True, slots=True)
class RawValue:
    """An option's text before interpolation and where its key was written."""

    text: str
    origin: Origin
    #: the file line of each line of ``text`` (empty when unknown)
    lines: tuple[int, ...] = field(default=(), compare=False)


@dataclass(slots=True)
class IniFile:
    """The sections of one file, in file order. ``defaults`` is the ``[DEFAULT]`` section."""

    path: str
    defaults: dict[str, RawValue] = field(default_factory=dict)
    sections: dict[str, dict[str, RawValue]] = field(default_factory=dict)


def _comment_start(line: str) -> int | None:
    """Index where a comment begins in ``line``, or None."""
    if line.strip().startswith(_FULL_LINE_COMMENT):
        return 0
    index = line.find(";")
    while index != -1:
        if index == 0 or line[index - 1].isspace():
            return index
        index = line.find(";", index + 1)
    return None


def _indent(line: str) -> int:
    for index, char in enumerate(line):
        if not char.isspace():
            return index
    return 0


class _Builder:
    """Accumulates options line by line; multi-line values are joined at the end."""

    def __init__(self, path: str) -> None:
        self.result = IniFile(path)
        self.pending: list[tuple[dict[str, RawValue], str, list[str], list[int], Origin]] = []
        self.current: dict[str, RawValue] | None = None
        self.section_name = ""
        self.lines: list[str] | None = None
        self.numbers: list[int] = []
        self.indent = 0
        self.seen: set[tuple[str, str]] = set()
        self.seen_sections: set[str] = set()

    def error(self, lineno: int, message: str) -> ConfigError:
        return ConfigError(message, file=self.result.path, line=lineno)

    def feed(self, lineno: int, line: str) -> None:
        comment = _comment_start(line)
        value = line[:comment].strip()
        if not value:
            if comment is None and self.lines is not None:
                self.lines.append("")
                self.numbers.append(lineno)
            return
        indent = _indent(line)
        if self.current is not None and self.lines is not None and indent > self.indent:
            self.lines.append(value)
            self.numbers.append(lineno)
            return
        self.indent = indent
        header = _SECTION.match(value)
        if header:
            self.open_section(lineno, header.group("name"))
            return
        if self.current is None:
            raise self.error(lineno, f"option outside of any section: {line.strip()!r}")
        option = _OPTION.match(value)
        if option is None or not option.group("key"):
            raise self.error(lineno, f"cannot parse line (expected 'key = value'): {value!r}")
        key = option.group("key").rstrip().lower()
        if (self.section_name, key) in self.seen:
            raise self.error(
                lineno, f"option {key!r} repeated in section [{self.section_name}] of this file"
            )
        self.seen.add((self.section_name, key))
        self.lines = [option.group("value").strip()]
        self.numbers = [lineno]
        origin = Origin(self.result.path, lineno)
        self.pending.append((self.current, key, self.lines, self.numbers, origin))

    def open_section(self, lineno: int, name: str) -> None:
        self.lines = None
        self.section_name = name
        if name == DEFAULT_SECTION:
            self.current = self.result.defaults
            return
        if name in self.seen_sections:
            raise self.error(lineno, f"section [{name}] repeated in this file")
        self.seen_sections.add(name)
        self.current = self.result.sections.setdefault(name, {})

    def finish(self) -> IniFile:
        for target, key, lines, numbers, origin in self.pending:
            text = "\n".join(lines).rstrip()
            target[key] = RawValue(text, origin, tuple(numbers[: text.count("\n") + 1]))
        return self.result


def parse_ini(lines: Iterable[str], path: str) -> IniFile:
    """Parse the text lines of one file (``path`` is only used in origins and errors)."""
    builder = _Builder(path)
    for lineno, line in enumerate(lines, start=1):
        builder.feed(lineno, line)
    return builder.finish()


def read_ini(path: str) -> IniFile:
    """Read and parse one UTF-8 file; unreadable or undecodable files raise ConfigError."""
    try:
        with open(path, encoding="utf-8") as stream:
            return parse_ini(stream, path)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"file is not valid UTF-8 ({exc.reason})", file=path) from None
