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
                    yield path, a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module.split(".")[0]


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
        "import app.cli, app.main_window, app.engine_client, widgets.views, widgets.param_panel, engine.presets;"
        "from PySide6 import QtWidgets; a = QtWidgets.QApplication([]);"
        "from app.engine_client import QtEngine; from app.main_window import MainWindow;"
        "w = MainWindow(QtEngine()); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_engine_runs_without_qt_loaded():
    code = (
        "import sys, engine; sim = engine.create('gray_scott', grid=32, device='cpu'); sim.step(3);"
        "import engine.server, engine.client;"
        "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'vispy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
