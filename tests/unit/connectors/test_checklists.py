"""Every connector package has the same files and a CHECKLIST.yaml that tells the truth
about its capabilities; the registry finds each one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import calgate.connectors
from calgate.connectors.base import CalendarConnector, Capability
from calgate.connectors.registry import BUILTIN, available, connector_class

ROOT = Path(calgate.connectors.__file__).parent
FILES = {"__init__.py", "connector.py", "client.py", "mapping.py", "config.py", "CHECKLIST.yaml"}


@pytest.mark.parametrize("provider", sorted(BUILTIN))
def test_each_connector_has_the_same_files_and_an_honest_checklist(provider: str) -> None:
    folder = ROOT / provider
    assert {p.name for p in folder.iterdir()} >= FILES
    checklist = yaml.safe_load((folder / "CHECKLIST.yaml").read_text())
    cls = connector_class(provider)
    assert issubclass(cls, CalendarConnector)
    assert checklist["provider"] == cls.provider == provider
    declared = Capability.NONE
    for name in checklist["capabilities"]:
        declared |= Capability[name]
    assert declared == cls.capabilities
    for key in ("oauth", "reauth", "diagnostics", "emulator", "contract_suite"):
        assert checklist[key], key
    assert (ROOT.parents[2] / checklist["contract_suite"]).exists()


def test_the_package_exports_only_its_connector() -> None:
    import importlib

    for provider, target in BUILTIN.items():
        module = importlib.import_module(f"calgate.connectors.{provider}")
        assert module.__all__ == [target.partition(":")[2]]


def test_an_unknown_provider_is_a_clear_error() -> None:
    from calgate.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no calendar connector"):
        connector_class("aol")
    assert set(BUILTIN) <= set(available())
