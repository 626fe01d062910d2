"""The pure modules stay pure, and imports between our packages only run one way (style guide §1).

Purity: walks the AST of every module in gateway/smpp/, routing/select.py and
compliance/segment.py, and of every first-party module they import (package __init__ files
included), because an import anywhere in that closure runs whenever the pure module is
imported; no I/O, clock, Redis, logging or metrics imports.

Layers: compliance/ and routing/ sit below gateway/ and may take only the protocol core's
constants from it (gateway.smpp); common/ sits below all of them and imports none. Failing,
never skipping (asyncpg `test__sourcecode.py`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("common", "gateway", "routing", "compliance", "simulator")
FORBIDDEN = frozenset(
    {
        "asyncio",
        "socket",
        "time",
        "redis",
        "structlog",
        "prometheus_client",
        "uvloop",
        "selectors",
        "threading",
    }
)
# package -> the first-party packages it must not import, and the sub-packages of those it may.
LOWER_LAYERS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "compliance": (frozenset({"gateway", "simulator"}), ("gateway.smpp",)),
    "routing": (frozenset({"gateway", "simulator", "compliance"}), ("gateway.smpp",)),
    "common": (frozenset({"gateway", "simulator", "compliance", "routing"}), ()),
    "gateway": (frozenset({"simulator"}), ()),
}
PURE_MODULES = sorted(
    [
        *(ROOT / "gateway" / "smpp").glob("*.py"),
        ROOT / "routing" / "select.py",
        ROOT / "compliance" / "segment.py",
    ]
)


def imported_names(tree: ast.AST) -> list[tuple[str, int]]:
    """Every absolute module name the code imports, with its line (relative imports resolved
    by the caller; `from a import b` yields both a and a.b, since b may be a module)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and _dynamic_import(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


def _dynamic_import(func: ast.expr) -> bool:
    """__import__("x") or importlib.import_module("x")."""
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def forbidden_imports(source: str) -> list[str]:
    return [
        f"line {line}: {name}"
        for name, line in imported_names(ast.parse(source))
        if name.split(".")[0] in FORBIDDEN
    ]


def module_path(name: str) -> Path | None:
    """The file of a first-party module, or None for anything else (stdlib, third party)."""
    if name.split(".")[0] not in FIRST_PARTY:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def package_inits(path: Path) -> list[Path]:
    """The __init__.py of every package above `path`: importing a module runs them all."""
    inits = []
    for parent in path.relative_to(ROOT).parents:
        init = ROOT / parent / "__init__.py"
        if parent != Path(".") and init.is_file():
            inits.append(init)
    return inits


def import_closure(start: Path) -> list[Path]:
    """`start` and every first-party module it imports, directly or not."""
    seen: set[Path] = set()
    pending = [start, *package_inits(start)]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name, _ in imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            found = module_path(name)
            if found is not None:
                pending.extend([found, *package_inits(found)])
    return sorted(seen)


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_pure_module_and_its_imports_use_no_io_or_infrastructure(path: Path) -> None:
    violations = [
        f"{module.relative_to(ROOT)} {problem}"
        for module in import_closure(path)
        for problem in forbidden_imports(module.read_text(encoding="utf-8"))
    ]
    assert violations == []


def test_pure_module_list_names_real_files() -> None:
    """A renamed module must fail here rather than drop out of the check."""
    names = {str(path.relative_to(ROOT)) for path in PURE_MODULES}
    assert {"gateway/smpp/codec.py", "gateway/smpp/framing.py", "gateway/smpp/session.py"} <= names
    assert {"routing/select.py", "compliance/segment.py"} <= names
    assert all(path.is_file() for path in PURE_MODULES)


def test_closure_follows_first_party_imports() -> None:
    closure = {str(path.relative_to(ROOT)) for path in import_closure(ROOT / "routing/select.py")}
    assert {"routing/__init__.py", "routing/model.py", "routing/errors.py"} <= closure


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import time as clock",
        "from time import monotonic",
        "import redis.asyncio",
        "from redis.asyncio import Redis",
        "import os, socket",
        "from prometheus_client import Counter",
        "def f():\n    import structlog\n",
        "if True:\n    from threading import Lock\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import uvloop\n",
        "import importlib\nselectors = importlib.import_module('selectors')",
        "socket = __import__('socket')",
    ],
)
def test_checker_flags_forbidden_imports(source: str) -> None:
    assert forbidden_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import struct",
        "import timeit",
        "from datetime import time",
        "from gateway.smpp import codec",
        "import dataclasses, enum",
        "redis = 'not an import'",
    ],
)
def test_checker_allows_stdlib_and_look_alike_names(source: str) -> None:
    assert forbidden_imports(source) == []


def upward_imports(source: str, forbidden: frozenset[str], allowed: tuple[str, ...]) -> list[str]:
    """Imports of a `forbidden` package outside its `allowed` sub-packages."""
    return [
        f"line {line}: {name}"
        for name, line in imported_names(ast.parse(source))
        if name.split(".")[0] in forbidden and not _within(name, allowed)
    ]


def _within(name: str, allowed: tuple[str, ...]) -> bool:
    """`name` is an allowed sub-package, inside one, or a parent of one (`from gateway import
    smpp` also yields `gateway`, judged by `gateway.smpp`)."""
    return any(name == a or name.startswith(f"{a}.") or a.startswith(f"{name}.") for a in allowed)


@pytest.mark.parametrize("package", sorted(LOWER_LAYERS))
def test_lower_layers_never_import_upwards(package: str) -> None:
    forbidden, allowed = LOWER_LAYERS[package]
    paths = sorted((ROOT / package).rglob("*.py"))
    assert paths, f"{package}/ has no modules: renamed? update LOWER_LAYERS"
    violations = [
        f"{path.relative_to(ROOT)} {problem}"
        for path in paths
        for problem in upward_imports(path.read_text(encoding="utf-8"), forbidden, allowed)
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from gateway.smpp.constants import Ton", False),
        ("import gateway.smpp.codec", False),
        ("from gateway.smpp import constants", False),
        ("from gateway import smpp", False),
        ("from gateway.group_commit import GroupCommit", True),
        ("from gateway import keys", True),
        ("import gateway.ops.metrics as m", True),
        ("def f():\n    from gateway.config import Settings\n", True),
        ("from gateway.smppish import x", True),
        ("from simulator.smsc import Smsc", True),
        ("import simulator", True),
        ("from common.group_commit import GroupCommit", False),
    ],
)
def test_upward_import_checker(source: str, flagged: bool) -> None:
    found = upward_imports(source, frozenset({"gateway", "simulator"}), ("gateway.smpp",))
    assert bool(found) is flagged


def first_party_imports(package: str) -> list[tuple[str, str]]:
    """(module file, imported first-party name) for every import in `package`'s modules."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, _ in imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            if name.split(".")[0] in FIRST_PARTY:
                found.append((str(path.relative_to(ROOT)), name))
    return found


def test_common_imports_no_other_first_party_package() -> None:
    """common/ is neutral ground for the gateway and the simulator: it imports neither."""
    assert [(f, n) for f, n in first_party_imports("common") if not n.startswith("common")] == []


def test_simulator_borrows_only_the_sans_io_core_from_the_gateway() -> None:
    """The simulator shares gateway/smpp/ (the codec and session rules), nothing else."""
    borrowed = [
        (f, n)
        for f, n in first_party_imports("simulator")
        if n.split(".")[0] == "gateway" and not n.startswith("gateway.smpp")
    ]
    assert borrowed == []
