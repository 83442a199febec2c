"""warden's one exception tree.

::

    WardenError                 base of every error warden raises on purpose
    ├── ConfigError             the user's configuration is wrong (names file and line)
    │   └── RegexError          a failregex/ignoreregex/prefregex/datepattern does not compile
    ├── ProtocolError           a control message is malformed or of an unknown version
    ├── BackendError            the firewall refused a command
    └── SourceError             a log source cannot be read

Each message says whose fault it is and what to do; the CLI prints ``str(error)`` on one line.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "ProtocolError",
    "RegexError",
    "SourceError",
    "WardenError",
]


class WardenError(Exception):
    """Base class of every error warden raises deliberately."""


class ConfigError(WardenError):
    """A problem in the user's configuration, located by file and line where known."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def located(self, file: str | None, line: int | None = None) -> ConfigError:
        """Return a copy of this error that names ``file`` and ``line`` (if not already set)."""
        if self.file is not None:
            return self
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        Exception.__init__(clone, self.message)
        clone.file = file
        clone.line = line
        return clone

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class RegexError(ConfigError):
    """A regular expression or date pattern that cannot be compiled.

    ``option`` is the option it came from (``failregex``, ``ignoreregex``, ``prefregex``,
    ``datepattern``) and ``index`` its position among that option's lines (0-based).
    """

    def __init__(
        self,
        message: str,
        *,
        option: str = "",
        index: int = 0,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line)
        self.option = option
        self.index = index


class ProtocolError(WardenError):
    """A control message that cannot be decoded or is of an unsupported version."""


class BackendError(WardenError):
    """A firewall command that failed."""


class SourceError(WardenError):
    """A log source that cannot be opened or read."""
