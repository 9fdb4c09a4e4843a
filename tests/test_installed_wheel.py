"""The wheel installed as a researcher would (issue 18): a fresh venv, no source tree in sight.

``pip wheel . --no-deps`` into a temporary folder; a new venv (no pip of its own:
the running pip installs into it with ``--python``) that sees the dependencies
through a ``.pth`` file naming this interpreter's site-packages — a folder named
in a ``.pth`` file is added to ``sys.path`` without processing *its* ``.pth``
files, so the editable install's finder does not leak in; then
``pip install --no-deps --no-index`` of the wheel, and from a working folder
holding a local ``engine.py`` and ``app.py`` that raise on import: the scripting
API, the console script and ``python -m attractor_lab``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import attractor_lab

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd, what: str, timeout: float, **kw) -> str:
    """Run ``cmd``; a failure or a timeout says which stage and shows its output."""
    try:
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what}: no result within {timeout:g} s\nstdout: {exc.stdout}\nstderr: {exc.stderr}")
    assert r.returncode == 0, f"{what} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(python, scripts folder, env, working folder) of a fresh venv with the built wheel."""
    tmp = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "wheel", "."],
         "pip wheel . --no-deps", 180, cwd=ROOT, env=env)
    wheel = next((tmp / "wheel").glob("attractor_lab-*.whl"))
    _run([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"], "python -m venv", 60, env=env)
    bindir = tmp / "venv" / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     "the venv's site-packages", 30, env=env).strip())
    outer = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))  # the dependencies
    (site / "_attractor_lab_test_deps.pth").write_text("".join(f"{p}\n" for p in outer))
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         "pip install --no-deps --no-index <wheel>", 120, env=env)
    work = tmp / "work"
    work.mkdir()
    for name in ("engine", "app", "widgets"):  # local modules with the names the old wheel used
        (work / f"{name}.py").write_text(f"raise ImportError('the local {name}.py was imported')\n")
    return python, bindir, env, work, site


def test_the_scripting_api_runs_from_the_installed_wheel(venv):
    python, _, env, work, site = venv
    code = ("import attractor_lab as al, sys, json;"
            "sim = al.create('gray_scott', grid=32, device='cpu').step(10);"
            "print(json.dumps({'file': al.__file__, 'engine': sys.modules['attractor_lab.engine'].__file__,"
            " 'steps': sim.steps, 'shape': list(sim.state()['v'].shape), 'png': sim._repr_png_()[:4].hex()}))")
    import json

    out = json.loads(_run([python, "-c", code], "import attractor_lab; al.create(...).step(10)", 120,
                          cwd=work, env={**env, "ATTRACTOR_LAB_COMPILE": "0"}).splitlines()[-1])
    assert Path(out["file"]).is_relative_to(site), f"attractor_lab came from {out['file']}, not the new venv"
    assert Path(out["engine"]).is_relative_to(site / "attractor_lab" / "engine")
    assert out["steps"] == 10 and out["shape"] == [32, 32] and out["png"] == "89504e47"


def test_the_console_script_and_python_m_name_the_version(venv):
    python, bindir, env, work, _ = venv
    script = bindir / ("attractor-lab.exe" if os.name == "nt" else "attractor-lab")
    assert script.exists(), f"no console script in {bindir}"
    for cmd, what in (([script, "--version"], "attractor-lab --version"),
                      ([python, "-m", "attractor_lab", "--version"], "python -m attractor_lab --version")):
        out = _run(cmd, what, 60, cwd=work, env=env)
        assert attractor_lab.__version__ in out, f"{what} printed {out!r}"
