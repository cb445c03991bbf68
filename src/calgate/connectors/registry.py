"""Which connector class serves which provider: an explicit lazy map of the connectors that
ship with calgate, plus any installed under the ``calgate.connectors`` entry-point group.

Classes are imported on first use; instances are made per app registration by the caller
(never one shared, mutable singleton).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from calgate.connectors.base import CalendarConnector
from calgate.errors import ConfigurationError

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "available", "connector_class"]

ENTRY_POINT_GROUP = "calgate.connectors"

BUILTIN: dict[str, str] = {
    "google": "calgate.connectors.google:GoogleConnector",
    "microsoft": "calgate.connectors.microsoft:MicrosoftConnector",
    "memory": "calgate.connectors.memory:MemoryConnector",
}


def _load(target: str) -> type[CalendarConnector]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, CalendarConnector)):
        raise ConfigurationError(f"{target} is not a CalendarConnector")
    return cls


def available() -> dict[str, str]:
    """Provider name → ``module:Class``, built-ins first (entry points cannot replace them)."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **BUILTIN}


def connector_class(provider: str) -> type[CalendarConnector]:
    target = available().get(provider)
    if target is None:
        raise ConfigurationError(f"no calendar connector is installed for {provider!r}")
    return _load(target)
