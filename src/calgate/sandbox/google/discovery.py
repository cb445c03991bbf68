"""The Calendar v3 discovery document, served with ``rootUrl`` pointing at this sandbox so
``googleapiclient.discovery.build_from_document`` works unchanged (provider-protocols §5.5).

``calendar.v3.json`` is Google's document (revision 20261030, Apache-2.0) as shipped in the
google-api-python-client 2.202.0 wheel."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request

from calgate.sandbox.google.context import emulator_root

__all__ = ["calendar_discovery", "router"]

router = APIRouter()


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    text = resources.files("calgate.sandbox.google").joinpath("calendar.v3.json").read_text()
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


def calendar_discovery(root_url: str) -> dict[str, Any]:
    """The document with every base URL rewritten to ``root_url`` (ends with ``/``)."""
    doc = copy.deepcopy(_document())
    doc["rootUrl"] = root_url
    doc["mtlsRootUrl"] = root_url
    doc["baseUrl"] = root_url + doc["servicePath"]
    return doc


@router.get("/discovery/v1/apis/calendar/v3/rest")
async def discovery(request: Request) -> dict[str, Any]:
    return calendar_discovery(emulator_root(request))
