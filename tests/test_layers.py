"""Layer rules of DESIGN.md §5, checked on the import graph and at run time."""

import ast
import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUI_LIBS = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "vispy", "qtpy"}


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _imports(folder: str):
    for path in (ROOT / folder).rglob("*.py"):
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    yield path, _layer(a.name)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "attractor_lab":  # from attractor_lab import engine
                    for a in node.names:
                        yield path, _layer(f"attractor_lab.{a.name}")
                else:
                    yield path, _layer(node.module)


def _layer(module: str) -> str:
    """The library or project layer a module belongs to: attractor_lab.engine.x -> engine."""
    parts = module.split(".")
    return parts[1] if parts[0] == "attractor_lab" and len(parts) > 1 else parts[0]


def test_engine_imports_no_gui_library():
    bad = [(str(p.relative_to(ROOT)), m) for p, m in _imports("engine") if m in GUI_LIBS]
    assert not bad, f"engine/ must not import Qt, pyqtgraph or vispy: {bad}"


def test_widgets_import_neither_torch_nor_engine():
    bad = [(str(p.relative_to(ROOT)), m) for p, m in _imports("widgets") if m in {"torch", "engine", "app"}]
    assert not bad, f"widgets/ must not import torch, engine/ or app/: {bad}"


def test_app_imports_torch_nowhere():
    bad = [(str(p.relative_to(ROOT)), m) for p, m in _imports("app") if m == "torch"]
    assert not bad, f"app/ must not import torch: {bad}"


def test_gui_modules_load_without_torch():
    code = (
        "import sys, os; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "import attractor_lab.app.cli, attractor_lab.app.main_window, attractor_lab.app.engine_client;"
        "import attractor_lab.widgets.views, attractor_lab.widgets.param_panel, attractor_lab.engine.storage.presets;"
        "from PySide6 import QtWidgets; a = QtWidgets.QApplication([]);"
        "from attractor_lab.app.engine_client import QtEngine; from attractor_lab.app.main_window import MainWindow;"
        "w = MainWindow(QtEngine()); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_engine_runs_without_qt_loaded():
    code = (
        "import sys, attractor_lab as al; sim = al.create('gray_scott', grid=32, device='cpu'); sim.step(3);"
        "import attractor_lab.engine.transport.server, attractor_lab.engine.transport.client;"
        "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'vispy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ---- rooms: the declared order of tools/rooms.py ---------------------------------------------
# Each module of the installed package has a room (tools/rooms.py: room_of, before and after the
# move of engine/'s root modules into engine/transport/ and engine/storage/); a module imports its
# own room and lower ones only. Every import counts, also those inside functions.


def _rooms():
    spec = importlib.util.spec_from_file_location("_rooms_table", ROOT / "tools" / "rooms.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    return table


ROOMS = _rooms()


def _package_modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) of every module of the installed package."""
    out = {}
    for folder in ("attractor_lab", "engine", "app", "widgets"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            if parts[0] != "attractor_lab":
                parts = ["attractor_lab"] + parts
            out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _package_modules()


def _resolve(name: str) -> str | None:
    """The package module an imported dotted name stands for (its longest module prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def _edges(top_level_only: bool = False) -> tuple:
    """(importer, imported module, line) for every import between modules of the package."""
    return tuple(_find_edges(top_level_only))


def _find_edges(top_level_only: bool):
    for module, (path, is_pkg) in MODULES.items():
        tree = _tree(path)
        nodes = tree.body if top_level_only else ast.walk(tree)
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                # from attractor_lab.engine import models: the submodule, not the package
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
            else:
                continue
            for target in targets:
                target = _resolve(target)
                if target and target != module:
                    yield module, target, node.lineno


def test_every_module_has_a_room():
    missing = sorted(m for m in MODULES if ROOMS.room_of(m) is None or
                     (ROOMS.room_of(m) != "facade" and ROOMS.level_of(ROOMS.room_of(m)) is None))
    assert not missing, (f"modules without a room: {missing}; declare each in tools/rooms.py (ROOT_ROOMS for a "
                         f"module at engine/'s root, SUBPACKAGE_ROOMS for a new subpackage of engine/)")


def test_no_import_runs_upward():
    bad = []
    for module, target, line in _edges():
        a, b = ROOMS.room_of(module), ROOMS.room_of(target)
        if "facade" in (a, b) or a == b or None in (a, b):
            continue
        if ROOMS.level_of(b) >= ROOMS.level_of(a) and (module, b) not in ROOMS.UPWARD_EXCEPTIONS:
            bad.append(f"{MODULES[module][0].relative_to(ROOT)}:{line} ({a}) imports {target} ({b})")
    assert not bad, ("imports from a room to one of its level or above (tools/rooms.py LEVELS, lowest first: "
                     f"{ROOMS.LEVELS}):\n" + "\n".join(bad))


def test_declared_exceptions_still_exist():
    """An exception that is no longer needed is removed from the table (it would hide a new one)."""
    used = {(m, ROOMS.room_of(t)) for m, t, _ in _edges()}
    stale = [key for key in ROOMS.UPWARD_EXCEPTIONS if key not in used]
    assert not stale, f"UPWARD_EXCEPTIONS in tools/rooms.py that no import needs any more: {stale}"


def _imports_of_room(room: str):
    for module, target, line in _edges():
        if ROOMS.room_of(module) == room:
            yield module, target, line


@pytest.mark.parametrize("room", ["transport", "storage"])
def test_transport_and_storage_never_import_the_gui(room):
    bad = [(m, t) for m, t, _ in _imports_of_room(room) if ROOMS.room_of(t) in ("app", "widgets")]
    by_path = {path: module for module, (path, _) in MODULES.items()}
    bad += [(str(p.relative_to(ROOT)), lib) for p, lib in _imports("engine")
            if lib in GUI_LIBS and ROOMS.room_of(by_path[p]) == room]
    assert not bad, f"{room} must not import the GUI (Qt, pyqtgraph, vispy, app/, widgets/): {bad}"


def test_models_import_neither_storage_nor_transport():
    bad = [(m, t) for m, t, _ in _imports_of_room("models") if ROOMS.room_of(t) in ("storage", "transport")]
    assert not bad, f"models must not import storage (presets, recorder, ...) or transport (protocol, ...): {bad}"


def test_storage_never_imports_transport():
    bad = [(m, t) for m, t, _ in _imports_of_room("storage") if ROOMS.room_of(t) == "transport"]
    assert not bad, f"storage must not import transport (protocol, server, client, ...): {bad}"


def test_no_import_cycles():
    """No cycle among the imports a module runs when it is loaded (top-level statements), and none
    between rooms over all imports (those inside functions too); a module may read names from its
    own package's __init__."""
    graph = {}
    for module, target, _ in _edges(top_level_only=True):
        if not module.startswith(target + "."):  # a submodule reading its package's __init__
            graph.setdefault(module, set()).add(target)
    cycle = _find_cycle(graph)
    assert cycle is None, f"import cycle at load time: {' -> '.join(cycle)}"
    rooms = {}
    for module, target, _ in _edges():
        a, b = ROOMS.room_of(module), ROOMS.room_of(target)
        if a != b and "facade" not in (a, b) and (module, b) not in ROOMS.UPWARD_EXCEPTIONS:
            rooms.setdefault(a, set()).add(b)
    cycle = _find_cycle(rooms)
    assert cycle is None, f"cycle between rooms: {' -> '.join(cycle)}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_room_table_is_consistent():
    """The table's rooms all have a level; a module that moves and one that stays never share a name."""
    rooms = set(ROOMS.MOVES.values()) | set(ROOMS.ROOT_ROOMS.values()) | set(ROOMS.SUBPACKAGE_ROOMS.values())
    assert rooms - {"facade"} <= {r for level in ROOMS.LEVELS for r in level}
    assert not set(ROOMS.MOVES) & set(ROOMS.ROOT_ROOMS)
    assert set(ROOMS.MOVES.values()) <= set(ROOMS.SUBPACKAGE_ROOMS)
    for name, room in ROOMS.MOVES.items():  # before the move and after it
        assert ROOMS.room_of(f"attractor_lab.engine.{name}") == ROOMS.room_of(f"attractor_lab.engine.{room}.{name}") \
            == room
