#!/usr/bin/env python3
"""Print (or with --write, update in README.md) the table of CALGATE_* settings, generated
from the field descriptions in calgate.settings. A test fails when the README is stale."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from calgate.settings import Settings

START, END = "<!-- settings:start -->", "<!-- settings:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def _default(field) -> str:  # type: ignore[no-untyped-def]
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if value is None:
        return "—"
    if isinstance(value, list):
        value = ",".join(map(str, value))
    if hasattr(value, "value"):
        value = value.value
    return f"`{value}`"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `CALGATE_{name.upper()}` | {_default(field)} | {desc} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    block = f"{START}\n{table()}\n{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S)


if __name__ == "__main__":
    if "--write" in sys.argv:
        README.write_text(render(README.read_text()))
    else:
        print(table())
