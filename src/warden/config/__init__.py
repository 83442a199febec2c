"""fail2ban-compatible configuration reader producing a frozen, typed model."""

from warden.config.action import ActionConfig, load_action
from warden.config.confset import ConfigSet, FileCache, Value, read_layered, read_set
from warden.config.filter import load_filter
from warden.config.ini import RawValue
from warden.config.jail import load_jails
from warden.config.model import BanTimeIncrement, JailConfig, JailsConfig, LogPath
from warden.config.reference import Reference, parse_reference, split_references

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
