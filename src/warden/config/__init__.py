"""fail2ban-compatible configuration reader producing a frozen, typed model."""

from warden.config.confset import ConfigSet, FileCache, Value, read_layered, read_set
from warden.config.filter import load_filter
from warden.config.ini import RawValue
from warden.config.reference import Reference, parse_reference, split_references

__all__ = [
    "ConfigSet",
    "FileCache",
    "RawValue",
    "Reference",
    "Value",
    "load_filter",
    "parse_reference",
    "read_layered",
    "read_set",
    "split_references",
]
