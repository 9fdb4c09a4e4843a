"""Installing and launching: version, help with examples, the docs' command reference, the wheel's
data, the desktop files and their installation, presets by name."""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, timeout=180, **kw):
    return subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, **kw)


def test_version_is_the_one_version():
    from attractor_lab.engine import __version__

    out = _cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"attractor-lab {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]  # read from attractor_lab.__version__, written nowhere else
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "attractor_lab.__version__"}


def test_every_command_has_help_with_examples():
    from attractor_lab.app.cli_reference import command_lines, help_text

    lines = command_lines()
    assert ["thumbnails"] in lines and ["install-desktop"] in lines and ["sweep", "run"] in lines
    for argv in lines:
        text = help_text(argv)
        assert text.startswith("usage: attractor-lab") or argv == ["sweep"], (argv, text[:200])
        assert re.search(r"^examples?:?$|^\s+attractor-lab sweep new", text, re.M | re.I), \
            f"attractor-lab {' '.join(argv)} --help shows no examples"


def test_docs_cli_reference_matches_the_help():
    from attractor_lab.app.cli_reference import main

    assert main(["--check", str(ROOT / "docs" / "cli.md")]) == 0, \
        "docs/cli.md's command reference is stale: run `make cli-reference`"


def test_preset_by_name_runs_headless(tmp_path):
    out = _cli("run", "gray_scott_spots", "--steps", "4", "--every", "2", "--out", str(tmp_path / "t.npz"),
               "--device", "cpu", "--quiet")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "t.npz").is_file()
    bad = _cli("run", "no_such_preset", "--steps", "4", "--out", str(tmp_path / "u.npz"))
    assert bad.returncode == 2 and "no shipped or user preset" in bad.stderr and "presets" in bad.stderr


def test_presets_lists_shipped_presets_by_model():
    out = _cli("presets")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^gray_scott:$", out.stdout, re.M)
    assert re.search(r"^\s+gray_scott_spots\s+\S", out.stdout, re.M)


def test_a_mistyped_command_is_named_not_opened():
    out = _cli("modles", env={"QT_QPA_PLATFORM": "offscreen", **_env()})
    assert out.returncode == 2 and "neither a command" in out.stderr and "models" in out.stderr


def _env():
    import os

    return dict(os.environ)


def test_desktop_files_are_valid():
    from attractor_lab.app.desktop import APP_ID, icon_files

    entry = (ROOT / "packaging" / f"{APP_ID}.desktop").read_text()
    assert "Icon=attractor-lab" in entry and re.search(r"^Exec=attractor-lab %f$", entry, re.M)
    meta = ElementTree.parse(ROOT / "packaging" / f"{APP_ID}.metainfo.xml").getroot()
    assert meta.findtext("id") == APP_ID and meta.find("launchable").text == f"{APP_ID}.desktop"
    icons = icon_files()
    assert set(icons) == {"16", "24", "32", "48", "64", "128", "256", "512", "scalable"}
    from PIL import Image

    for size, path in icons.items():
        if size != "scalable":
            with Image.open(path) as img:
                assert img.size == (int(size), int(size)) and img.mode == "RGBA", path
    if shutil.which("desktop-file-validate"):
        r = subprocess.run(["desktop-file-validate", str(ROOT / "packaging" / f"{APP_ID}.desktop")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    if shutil.which("appstreamcli"):
        r = subprocess.run(["appstreamcli", "validate", "--no-net", str(ROOT / "packaging" / f"{APP_ID}.metainfo.xml")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_install_desktop_for_the_user_and_uninstall(tmp_path):
    home = tmp_path / "share"
    out = _cli("install-desktop", "--data-home", str(home))
    assert out.returncode == 0, out.stderr
    entry = home / "applications" / "org.attractorlab.AttractorLab.desktop"
    text = entry.read_text()
    exec_line = re.search(r"^Exec=(.*)$", text, re.M).group(1)
    program = exec_line.split(" ")[0]
    assert Path(program).is_absolute() and exec_line.endswith(" %f"), exec_line
    assert (home / "icons/hicolor/48x48/apps/attractor-lab.png").is_file()
    assert (home / "icons/hicolor/scalable/apps/attractor-lab.svg").is_file()
    assert (home / "metainfo/org.attractorlab.AttractorLab.metainfo.xml").is_file()
    # the entry starts this installation: its command answers --version
    argv = [a.strip('"') for a in exec_line.removesuffix(" %f").split(" ")]
    version = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("attractor-lab "), version.stderr
    out = _cli("install-desktop", "--data-home", str(home), "--uninstall")
    assert out.returncode == 0, out.stderr
    assert not entry.exists() and not (home / "icons/hicolor/48x48/apps/attractor-lab.png").exists()


def test_exec_quoting_follows_the_desktop_entry_spec():
    from attractor_lab.app.desktop import exec_quote

    assert exec_quote("/usr/bin/attractor-lab") == "/usr/bin/attractor-lab"
    assert exec_quote("/home/a b/bin/attractor-lab") == '"/home/a b/bin/attractor-lab"'
    assert exec_quote('/x/"$y"') == '"/x/\\"\\$y\\""'
    assert exec_quote("50%") == "50%%"


@pytest.mark.slow
def test_wheel_carries_presets_and_desktop_files(tmp_path):
    """pip/pipx/uv install from a wheel: it holds the shipped presets and desktop files, where
    shipped_presets_dir and desktop_data_dir look when there is no source tree."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("attractor_lab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in (ROOT / "presets").glob("*.toml"):
        assert f"attractor_lab/engine/_shipped_presets/{preset.name}" in names
    for ode in (ROOT / "presets" / "ode").glob("*.ode"):  # XPPAUT files ship too
        assert f"attractor_lab/engine/_shipped_presets/ode/{ode.name}" in names
    assert "attractor_lab/app/_desktop/org.attractorlab.AttractorLab.desktop" in names
    assert "attractor_lab/app/_desktop/icons/attractor-lab-256.png" in names
    # one import package at top level: nothing named app, engine or widgets lands in site-packages
    assert {n.split("/")[0] for n in names} == {"attractor_lab", "attractor_lab-0.1.0.dist-info"}
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert re.search(r"^Requires-Dist: torch<2\.14,>=2\.2$", meta, re.M), "torch stays capped at the tested release"
