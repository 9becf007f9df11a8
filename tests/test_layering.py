"""Imports point one way: intake -> store, delivery -> outbound/signing/store, nothing upward.

Read from the source with `ast`, so a new import that breaks the layering fails here, not in a
review. Each rule names, for the modules under a package, every part of `hub` they may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"

# package (or module) -> the hub modules it may import (prefixes). Checked longest match first.
ALLOWED: dict[str, tuple[str, ...]] = {
    # The WebSub protocol module is pure: no store, no HTTP errors, nothing of the hub.
    "hub.websub": (),
    "hub.sealing": (),
    "hub.errors": (),
    "hub.batching": (),
    "hub.metrics": (),
    "hub.topic_urls": (),
    "hub.database_url": (),  # where the database is: read by settings and by the store
    # Settings must not import the store.
    "hub.config": ("hub.sealing", "hub.topic_urls", "hub.database_url"),
    "hub.store": ("hub.store", "hub.sealing", "hub.database_url"),
    "hub.outbound": ("hub.outbound", "hub"),  # `hub` itself: only for __version__
    "hub.signing": ("hub.signing", "hub.batching", "hub.config", "hub.store"),
    "hub.delivery": (
        "hub.delivery",
        "hub.store",
        "hub.outbound",
        "hub.batching",
        "hub.config",
        "hub.metrics",
        "hub.websub",
    ),
    "hub.intake": (
        "hub.intake",
        "hub.store",
        "hub.outbound",
        "hub.batching",
        "hub.config",
        "hub.metrics",
        "hub.errors",
        "hub.websub",
        "hub.appkeys",
        "hub.topic_urls",
    ),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every hub module `path` imports, resolved to absolute names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from . import child` names a module too
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "hub" or m.startswith("hub.")}


def _rule(module: str) -> tuple[str, tuple[str, ...]] | None:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, ALLOWED[prefix]
    return None


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(
        module == p or module.startswith(p + ".") or (p == "hub" and module == "hub")
        for p in prefixes
    )


MODULES = sorted(HUB.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    module = _module_name(path)
    rule = _rule(module)
    if rule is None:
        return  # app, appkeys, cli and __main__ wire everything together
    prefix, allowed = rule
    imported = _imports(path)
    if prefix == "hub.outbound":
        # only `from .. import __version__` may reach the package root
        imported = {m for m in imported if m not in ("hub", "hub.__version__")}
    wrong = sorted(
        m for m in imported if not _within(m, allowed) and not _within(m, (prefix,))
    )
    assert not wrong, f"{module} imports {wrong}; {prefix} may import only {allowed}"


def test_the_rules_cover_every_layer() -> None:
    """A new top-level module or folder must get a rule (or be wiring: app, appkeys, cli)."""
    wiring = {"hub", "hub.app", "hub.appkeys", "hub.cli", "hub.__main__"}
    unruled = sorted(
        m
        for m in (_module_name(p) for p in MODULES)
        if _rule(m) is None and not any(m == w or m.startswith(w + ".") for w in wiring)
    )
    assert not unruled, f"no layering rule for {unruled}"


BACKENDS = ("hub.store.sqlite", "hub.store.postgres")


def test_only_the_store_speaks_to_a_database() -> None:
    """Nothing outside hub/store imports a database driver or a backend's module: the rest of
    the hub sees the `Store` interface."""
    drivers = {"sqlite3", "asyncpg"}
    for path in MODULES:
        module = _module_name(path)
        if module.startswith("hub.store"):
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
        backends = {m for m in _imports(path) if m.startswith(BACKENDS)}
        wrong = (imported & drivers) | backends
        assert not wrong, f"{module} imports {sorted(wrong)}: use hub.store"
