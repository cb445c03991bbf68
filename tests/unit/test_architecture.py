"""Structural rules: a pure domain, guarded ``__all__``, no I/O at import time."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import calgate

SRC = Path(calgate.__file__).resolve().parent
# Loaded by Alembic inside a migration context, never imported on their own.
NOT_IMPORTABLE = ("calgate.persistence.migrations",)


def _modules() -> list[str]:
    names = ["calgate"]
    for info in pkgutil.walk_packages(calgate.__path__, "calgate."):
        if not info.name.startswith(NOT_IMPORTABLE):
            names.append(info.name)
    return sorted(names)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_domain_imports_no_framework() -> None:
    forbidden = ("sqlalchemy", "httpx", "fastapi", "starlette", "alembic", "pydantic", "calgate.")
    allowed_internal = ("calgate.domain",)
    files = sorted((SRC / "domain").rglob("*.py"))
    assert files
    offenders = [
        f"{path.relative_to(SRC)}: {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(forbidden) and not name.startswith(allowed_internal)
    ]
    assert offenders == []


def test_services_never_import_the_web_framework() -> None:
    offenders = [
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted((SRC / "services").rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("fastapi", "starlette", "calgate.api"))
    ]
    assert offenders == []


# Foundation modules whose every public class and function must be listed in ``__all__``.
# Route modules export only ``router`` and the CLI only its app and helpers (their handlers
# and commands are registered by decorators, not imported).
STRICT = (
    "calgate.api",
    "calgate.domain",
    "calgate.persistence",
    "calgate.security",
    "calgate.services",
    "calgate.bootstrap",
    "calgate.clock",
    "calgate.errors",
    "calgate.logging",
    "calgate.metrics",
    "calgate.settings",
    "calgate.demo",
)
ENTRY_POINTS = ("calgate.api.routes.", "calgate.cli")


def _defines_names(module: ModuleType) -> bool:
    tree = ast.parse(Path(module.__file__ or "").read_text())
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    return any(isinstance(node, kinds) for node in tree.body)


@pytest.mark.parametrize("name", _modules())
def test_module_all_is_declared_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    if not hasattr(module, "__all__"):
        assert not _defines_names(module), f"{name} defines names but has no __all__"
        return
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what it does not define"
    if name.startswith(STRICT) and not name.startswith(ENTRY_POINTS):
        public = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and getattr(obj, "__module__", None) == name
        ]
        unlisted = sorted(set(public) - set(exported))
        assert unlisted == [], f"{name}: public but not in __all__ (or make them _private)"


def test_package_exports_the_version() -> None:
    assert calgate.__all__ == ["__version__"]
    assert calgate.__version__ != "0.0.0"


_IMPORT_PROBE = textwrap.dedent(
    """
    import importlib, json, os, sys

    events = []
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE
            ):
                events.append(f"open for writing: {path}")
        elif event in {"socket.connect", "socket.bind", "socket.getaddrinfo",
                       "socket.sendto", "subprocess.Popen", "os.system", "os.mkdir",
                       "os.rename", "os.remove", "shutil.copyfile", "sqlite3.connect"}:
            events.append(f"{event}: {args!r}"[:200])

    sys.addaudithook(hook)
    for name in json.loads(sys.argv[1]):
        importlib.import_module(name)
    print(json.dumps(events))
    """
)


def test_importing_every_module_does_no_io(tmp_path: Path) -> None:
    """Importing calgate creates no files, opens no sockets, starts nothing (all I/O waits for
    the composition root)."""
    modules = _modules()
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, json.dumps(modules)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = json.loads(result.stdout.strip().splitlines()[-1])
    assert events == []
    assert list(tmp_path.iterdir()) == []
