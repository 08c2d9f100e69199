"""The package's modules import each other without a circle, at the top or inside functions."""

import ast
from pathlib import Path

import attendee_directory

PACKAGE = Path(attendee_directory.__file__).parent


def _is_main_block(node: ast.AST) -> bool:
    """True for `if __name__ == "__main__":`, which runs only when the module is a script."""
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _imports(module: Path) -> set[str]:
    """The package modules that MODULE imports, wherever the import statement stands
    (`from . import create_app` imports the package's __init__)."""
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    found: set[str] = set()
    pending = list(ast.parse(module.read_text()).body)
    while pending:
        node = pending.pop()
        if _is_main_block(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name if a.name in modules else "__init__" for a in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return found & modules


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


def test_no_module_of_the_package_imports_itself_through_others():
    """No import circle, counting imports inside functions (the usual way to hide one)."""
    graph = {path.stem: _imports(path) for path in PACKAGE.glob("*.py")}
    graph["__init__"].discard("__init__")
    assert _circle(graph) is None
