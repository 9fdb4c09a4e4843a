"""Layer rules of DESIGN.md §5, checked on the import graph and at run time."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUI_LIBS = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "vispy", "qtpy"}


def _imports(folder: str):
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
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
        "import attractor_lab.widgets.views, attractor_lab.widgets.param_panel, attractor_lab.engine.presets;"
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
        "import attractor_lab.engine.server, attractor_lab.engine.client;"
        "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'vispy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
