"""The house reads top to bottom (STYLE.md "Which way the imports run", issue 16).

Every import of an ``app`` module is read from the source, those inside functions too,
absolute and relative. Every module sits in exactly one layer of ``LAYERS``; an import
may point to its own layer or one below, never up; there is no import circle; and the
services, sign-in and the repositories learn of media only through events.
"""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"

# Top to bottom. A module's layer is the first whose patterns match its dotted name.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("web", ("app", "app.web", "app.web.*", "app.api", "app.api.*", "app.*.views",
             "app.*.api", "app.*.actions", "app.*.cli", "app.images.bulk", "app.users.account",
             "app.users.ids", "app.media", "app.media.admin", "app.media.blocks_api",
             "app.media.protection_views", "app.media.guard", "app.media.share_views")),
    ("deletion plug-in", ("app.deletion", "app.deletion.*")),
    ("domain", ("app.images", "app.images.*", "app.trash", "app.trash.*", "app.users",
                "app.users.*", "app.purge", "app.purge.*", "app.installation", "app.auth",
                "app.auth.*", "app.media", "app.media.*")),
    ("data", ("app.storage", "app.storage.*", "app.audit", "app.audit.*", "app.*.models",
              "app.users.repository", "app.users.mongo")),
    ("core", ("app.core", "app.core.*")),
)
# A web face may sit in a capability's package (app.audit.views is "web", matched first);
# so does a package's __init__ that registers its blueprints (app.media).

# Modules that may not import app.media at all: they tell media through events.
MEDIA_BLIND = ("app.images.service", "app.images.doctor",
               "app.images.processing", "app.images.totals", "app.images.present",
               "app.trash.service", "app.trash.retention", "app.users.service",
               "app.users.deletion", "app.users.repository", "app.users.mongo",
               "app.purge.service", "app.images.erasure", "app.purge.lease",
               "app.purge.scheduler", "app.auth.login", "app.auth.sessions",
               "app.auth.tokens", "app.auth.throttle", "app.installation")

MAX_INDENTED_IMPORTS = 15  # outside app/__init__.py, each with a one-line reason


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    for rank, (_name, patterns) in enumerate(LAYERS):
        if any(fnmatchcase(module, pattern) for pattern in patterns):
            return rank
    return None


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                 for a in node.names]
    found = []
    for name in names:
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in MODULES and name != module:
            found.append(name)
    return found


def _dynamic_targets(source: str) -> list[str]:
    """``importlib.import_module("app.x")`` and ``__import__("app.x")`` count too."""
    return re.findall(r"(?:import_module|__import__)\(\s*['\"](app(?:\.\w+)*)['\"]", source)


def imports() -> list[tuple[str, str, int, bool]]:
    """(importer, imported, line, indented) for every import of an app module."""
    found = []
    for module, path in MODULES.items():
        source = path.read_text()
        tree = ast.parse(source)
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _resolve(module, node, path.name == "__init__.py"):
                    found.append((module, target, node.lineno, id(node) not in top))
        for target in _dynamic_targets(source):
            found.append((module, target, 0, True))
    return found


IMPORTS = imports()


def test_every_module_sits_in_exactly_one_layer():
    unplaced = [m for m in MODULES if layer_of(m) is None]
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_the_layer_table_holds_the_style_guide_layers():
    assert [name for name, _ in LAYERS] == ["web", "deletion plug-in", "domain", "data",
                                             "core"]


def test_no_import_points_up_a_layer():
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) -> {b} ({LAYERS[layer_of(b)][0]}), line {line}"
              for a, b, line, _ in IMPORTS
              if layer_of(a) is not None and layer_of(b) is not None
              and layer_of(b) < layer_of(a)]
    assert not upward, "\n".join(upward)


def test_there_is_no_import_circle_counting_imports_inside_functions():
    graph: dict[str, set[str]] = {}
    for a, b, _, _ in IMPORTS:
        if a != "app":  # the factory imports everything, inside create_app
            graph.setdefault(a, set()).add(b)
    circle = _find_circle(graph)
    assert circle is None, " -> ".join(circle or ())


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_services_sign_in_and_repositories_never_import_media():
    reaching = [f"{a} -> {b}, line {line}" for a, b, line, _ in IMPORTS
                if a in MEDIA_BLIND and (b == "app.media" or b.startswith("app.media."))]
    assert not reaching, "\n".join(reaching)
    missing = [m for m in MEDIA_BLIND if m not in MODULES]
    assert not missing, f"MEDIA_BLIND names modules that no longer exist: {missing}"


def test_the_deletion_plug_in_knows_no_resource_and_no_capability():
    allowed_below = {"core", "data"}
    reaching = [f"{a} -> {b}" for a, b, _, _ in IMPORTS
                if a.startswith("app.deletion") and not b.startswith("app.deletion")
                and LAYERS[layer_of(b)][0] not in allowed_below
                and b not in ("app.auth.login",)]  # who is asking: the one domain read
    assert not reaching, "\n".join(reaching)


def test_few_imports_hide_inside_functions_and_each_says_why():
    indented = [(a, b, line) for a, b, line, inner in IMPORTS if inner and a != "app"]
    assert len(indented) <= MAX_INDENTED_IMPORTS, indented
    unexplained = []
    for module, _target, line in indented:
        text = MODULES[module].read_text().splitlines()[line - 1] if line else ""
        if "#" not in text:
            unexplained.append(f"{module}:{line}")
    assert not unexplained, f"say why on the import line: {unexplained}"


@pytest.mark.parametrize("source, expected", [
    ("from .models import Image", ["app.images.models"]),
    ("from ..media import cache", ["app.media.cache"]),
    ("import app.media.cache", ["app.media.cache"]),
    ("def f():\n    from app.media.cache import evict_images", ["app.media.cache"]),
])
def test_the_reader_sees_relative_absolute_and_indented_imports(source, expected):
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
    assert _resolve("app.images.service", node, is_package=False) == expected


def test_a_dynamic_import_is_seen():
    assert _dynamic_targets('importlib.import_module("app.media.cache")') == ["app.media.cache"]


def test_an_upward_import_would_be_caught():
    # core -> domain is the worst kind: the checker must call it upward.
    assert layer_of("app.images.service") < layer_of("app.core.db")
    assert layer_of("app.web.errors") < layer_of("app.deletion.decorator") < layer_of(
        "app.media.cache") < layer_of("app.audit.service") < layer_of("app.core.uow")
