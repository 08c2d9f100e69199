"""The Python tree's import graph: no circle in any package, and the product never imports the
harness or the tests (imports inside functions count: the usual way to hide either)."""

import ast
import re
from pathlib import Path

import pytest

from devtools.paths import REPO

# Every package of the tree and where it lives; the practice's own app is not ours.
PACKAGES = {
    "attendee_directory": REPO / "backend" / "attendee_directory",
    "devtools": REPO / "devtools" / "devtools",
    "tests": REPO / "tests",
}
# Modules outside those packages: the product's scripts.
SCRIPTS = {
    "nginx_config": REPO / "webserver" / "nginx_config.py",
    "healthcheck": REPO / "backend" / "healthcheck.py",
    "stack_file": REPO / "swarm" / "stack_file.py",
}
PRODUCT = ("attendee_directory", "nginx_config", "healthcheck", "stack_file")


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every package module and script."""
    found = dict(SCRIPTS)
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            if "practice_style" in path.parts:
                continue
            parts = (package, *path.relative_to(root).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The modules of the tree that module NAME (at PATH) imports, wherever the statement stands
    (`from . import x` imports the submodule x, or else the package itself)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in MODULES else target)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of GRAPH, or None."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name, [name])):
            return found
    return None


def test_the_circle_finder_finds_a_circle():
    """The check itself can fail: a -> b -> a is reported."""
    assert _circle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions():
    """The graph is not blind: the app factory's imports inside create_app are edges."""
    assert "attendee_directory.attendees" in GRAPH["attendee_directory"]
    assert "devtools.processes" in GRAPH["devtools.local_stack.stack"]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_imports_itself_through_others(package):
    """No import circle inside PACKAGE, counting imports inside functions."""
    inside = {
        name: {target for target in targets if target.split(".")[0] == package}
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
    }
    assert _circle(inside) is None


def test_the_product_imports_neither_the_harness_nor_the_tests():
    """The backend, the webserver's renderer and the swarm tool stand on their own."""
    crossing = {
        name: sorted(t for t in targets if t.split(".")[0] in ("devtools", "tests"))
        for name, targets in GRAPH.items()
        if name.split(".")[0] in PRODUCT
    }
    assert {name: targets for name, targets in crossing.items() if targets} == {}


def test_the_harness_imports_no_test():
    """devtools serves the tests, never the other way round."""
    crossing = {
        name: sorted(t for t in targets if t.split(".")[0] == "tests")
        for name, targets in GRAPH.items()
        if name.startswith("devtools")
    }
    assert {name: targets for name, targets in crossing.items() if targets} == {}


UI = REPO / "webserver" / "ui"
JS_IMPORT = re.compile(
    r"""^\s*import\s[^;]*?from\s+["']\./([\w-]+\.js)["']""", re.MULTILINE | re.DOTALL
)


def _ui_graph() -> dict[str, set[str]]:
    """Each of the UI's ES modules -> the modules of the UI it imports."""
    return {path.name: set(JS_IMPORT.findall(path.read_text())) for path in sorted(UI.glob("*.js"))}


def test_the_ui_graph_sees_its_imports():
    """The UI's graph is not blind: app.js imports the list and the forms."""
    assert {"list.js", "forms.js", "api.js"} <= _ui_graph()["app.js"]


def test_no_ui_module_imports_itself_through_others():
    """No circle among the UI's ES modules either."""
    assert _circle(_ui_graph()) is None
