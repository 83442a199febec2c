"""fail2ban-compatible configuration reader producing a frozen, typed model.

The names below are loaded when first used (PEP 562), so that a command needing one part of
the reader (``warden regex``: a filter file) does not import the rest (jails, validation).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warden.config.action import ActionConfig, load_action
    from warden.config.confset import ConfigSet, FileCache, Value, read_layered, read_set
    from warden.config.filter import load_filter
    from warden.config.ini import RawValue
    from warden.config.jail import load_jails
    from warden.config.model import BanTimeIncrement, JailConfig, JailsConfig, LogPath
    from warden.config.reference import Reference, parse_reference, split_references

# name -> the module that defines it
_WHERE = {
    "ActionConfig": "action", "load_action": "action",
    "ConfigSet": "confset", "FileCache": "confset", "Value": "confset",
    "read_layered": "confset", "read_set": "confset",
    "load_filter": "filter",
    "RawValue": "ini",
    "load_jails": "jail",
    "BanTimeIncrement": "model", "JailConfig": "model", "JailsConfig": "model",
    "LogPath": "model",
    "Reference": "reference", "parse_reference": "reference", "split_references": "reference",
}

__all__ = [
    "ActionConfig",
    "BanTimeIncrement",
    "ConfigSet",
    "FileCache",
    "JailConfig",
    "JailsConfig",
    "LogPath",
    "RawValue",
    "Reference",
    "Value",
    "load_action",
    "load_filter",
    "load_jails",
    "parse_reference",
    "read_layered",
    "read_set",
    "split_references",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups find it directly
    return value
