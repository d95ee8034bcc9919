"""The package's layout keeps data flowing one way (docs/architecture.md says the same in prose).

A plain AST walk of every module's imports, function-level ones included (they hide cycles
from the interpreter, not from a reader). It fails on an import cycle, on an import that
points up the stack (say ``load`` importing a source, or one source importing another), on a
private name imported across modules, and on a module over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "trade_warehouse"
MAX_LINES = 400
MAX_FUNCTION = 60

# folder -> the folders its modules may import (besides itself). Read top-down as the data flow:
# core <- load <- sources/* <- transform <- publish <- report; orchestration and cli on top.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "load": {"core"},
    "sources.census": {"core", "load"},
    "sources.comtrade": {"core", "load"},
    "transform": {"core", "load", "sources.census"},
    "publish": {"core", "load", "transform"},
    "report": {"core", "load", "publish"},
    "emulator": {"core"},
    "bi": {"core", "load", "publish"},  # a reader, like report: is anything published?
    "orchestration": {"core", "load", "sources.census", "sources.comtrade", "transform", "publish", "report"},
    "cli": {
        "core",
        "load",
        "sources.census",
        "sources.comtrade",
        "transform",
        "publish",
        "report",
        "orchestration",
        "emulator",
    },
    "": {"cli"},  # the package root: __init__ and __main__ only
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def folder(module: str) -> str:
    """The layer a module belongs to: 'load', 'sources.census', ... ('' for the package root)."""
    parts = module.split(".")[1:]
    if not parts or (len(parts) == 1 and not (PACKAGE / parts[0]).is_dir()):
        return ""
    return ".".join(parts[:2]) if parts[0] == "sources" and len(parts) > 1 else parts[0]


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import of this package in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trade_warehouse"):
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("trade_warehouse")]
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def targets(module: str, names: list[str]) -> list[str]:
    """The package modules an import statement loads (``from pkg import mod`` loads pkg.mod)."""
    loaded = [module] if module in MODULES else []
    loaded += [f"{module}.{name}" for name in names if f"{module}.{name}" in MODULES]
    return loaded


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for imported, names, _ in imports(path):
            edges[module].update(t for t in targets(imported, names) if t != module)
    return edges


def test_the_package_root_holds_only_subpackages() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert loose == [], f"modules at the package root (put them in a stage folder): {loose}"
    folders = {p.parent.relative_to(PACKAGE).as_posix().replace("/", ".") for p in PACKAGE.rglob("__init__.py")}
    unknown = sorted(f for f in folders - {"."} if f not in ALLOWED and f != "sources")
    assert unknown == [], f"folders without a rule in ALLOWED and docs/architecture.md: {unknown}"


def test_no_import_points_up_the_stack() -> None:
    wrong = []
    for module, path in MODULES.items():
        mine = folder(module)
        for imported, names, line in imports(path):
            for target in targets(imported, names) or [imported]:
                theirs = folder(target)
                if theirs in ("", mine) or theirs == "sources":
                    if theirs == "" and mine != "" and target != "trade_warehouse":
                        wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
                    continue
                if theirs not in ALLOWED[mine]:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {target} ({theirs})")
    assert wrong == [], "imports against the data flow:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    edges = graph()
    cycles, state = [], dict.fromkeys(edges, 0)  # 0 new, 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(edges[module]):
            if state[nxt] == 1:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif state[nxt] == 0:
                visit(nxt, path + [nxt])
        state[module] = 2

    for module in sorted(edges):
        if state[module] == 0:
            visit(module, [module])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path) -> list[str]:
    """``from m import _x`` and ``m._x`` where ``m`` is another module of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path.name
    found = [
        f"{where}:{line} imports {imported}.{name}"
        for imported, names, line in imports(path)
        for name in names
        if is_private(name)
    ]
    modules = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trade_warehouse")
        for alias in node.names
        if f"{node.module}.{alias.name}" in MODULES
    }
    found += [
        f"{where}:{node.lineno} uses {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        if node.value.id in modules and is_private(node.attr)
    ]
    return found


def test_no_private_name_is_used_across_modules() -> None:
    private = [use for path in MODULES.values() for use in private_uses(path)]
    assert private == [], "private names used across modules:\n" + "\n".join(private)


def test_no_function_is_long() -> None:
    """About a screen at most: a longer function is doing two things."""
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION
    ]
    assert long == [], f"functions over {MAX_FUNCTION} lines:\n" + "\n".join(long)


def test_every_module_is_under_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in MODULES.values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines (split them by concern): {long}"


def test_the_rules_catch_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The checks above can fail: a load module importing a source is named by ``folder``."""
    assert folder("trade_warehouse.load.warehouse") == "load"
    assert folder("trade_warehouse.sources.census.client") == "sources.census"
    assert "sources.census" not in ALLOWED["load"] and "sources.census" not in ALLOWED["sources.comtrade"]
    module = tmp_path / "m.py"
    module.write_text(
        "from trade_warehouse.load import warehouse\n\n"
        "def f():\n    from trade_warehouse.load.warehouse import _private\n    return warehouse._other\n",
        encoding="utf-8",
    )
    assert imports(module)[1] == ("trade_warehouse.load.warehouse", ["_private"], 4)
    assert [use.split(" ", 1)[1] for use in private_uses(module)] == [
        "imports trade_warehouse.load.warehouse._private",
        "uses warehouse._other",
    ]


def test_docs_architecture_states_the_same_rules() -> None:
    """docs/architecture.md's table of folders is the rule book a reader sees: it must match ALLOWED."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    stated: dict[str, set[str]] = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            may = set() if cells[2] == "nothing of the package" else {c.strip("` ") for c in cells[2].split(",")}
            stated[cells[0].strip("`")] = may
    assert stated == {folder: may for folder, may in ALLOWED.items() if folder}
