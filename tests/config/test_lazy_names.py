"""``warden.config`` loads its names when first used: every name it lists is found in the
module its table names, and is that module's own object."""

from __future__ import annotations

import importlib

import pytest

from warden import config


def test_every_listed_name_comes_from_its_module() -> None:
    assert set(config.__all__) == set(config._WHERE)
    for name, module in config._WHERE.items():
        assert getattr(config, name) is getattr(
            importlib.import_module(f"warden.config.{module}"), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(config, "no_such_name")  # noqa: B009
