"""The desktop integration files (entry, icons, AppStream metadata) and their installation.

``attractor-lab install-desktop`` puts them where freedesktop desktops look for
the current user (``$XDG_DATA_HOME``, by default ``~/.local/share``): the
entry in ``applications/``, the icons in ``icons/hicolor/``, the metadata in
``metainfo/``. The entry runs this installation's ``attractor-lab`` by its
absolute path, since a desktop session's PATH often lacks ``~/.local/bin``.

Neither Qt nor torch is imported here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from attractor_lab.app.launch import cli_command, frozen

#: reverse-DNS application id: the desktop file's name, the AppStream id, Qt's desktopFileName
APP_ID = "org.attractorlab.AttractorLab"
#: the icon's theme name (Icon= of the entry)
ICON_NAME = "attractor-lab"
#: Qt's organisation and application names: settings land in ~/.config/attractor-lab/
ORGANIZATION = "attractor-lab"
APPLICATION = "attractor-lab"
DISPLAY_NAME = "Attractor Lab"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def desktop_data_dir() -> Path:
    """The folder with the entry, the metadata and ``icons/``: inside the package when
    installed from a wheel or bundled (setup.py and the PyInstaller spec copy it there),
    else the source tree's ``packaging/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "_desktop"
    return packaged if packaged.is_dir() else here.parent / "packaging"


def icon_files() -> dict[str, Path]:
    """The icon files by size (``"16"`` … ``"512"``, and ``"scalable"`` for the SVG) that exist."""
    icons = desktop_data_dir() / "icons"
    found = {str(n): icons / f"{ICON_NAME}-{n}.png" for n in PNG_SIZES}
    found["scalable"] = icons / f"{ICON_NAME}.svg"
    return {k: v for k, v in found.items() if v.is_file()}


def launcher() -> list[str]:
    """The command that starts this installation of Attractor Lab."""
    if frozen():
        return [sys.executable]
    argv0 = Path(sys.argv[0])
    if argv0.name == "attractor-lab" and argv0.is_file():
        return [str(argv0.absolute())]  # not resolved: pipx's ~/.local/bin link survives upgrades
    beside = Path(sys.executable).parent / "attractor-lab"  # this environment's own script
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("attractor-lab")
    return [found] if found else cli_command()


def exec_quote(arg: str) -> str:
    """One argument of a desktop entry's Exec key (freedesktop quoting rules)."""
    arg = arg.replace("%", "%%")
    if not re.search(r'[\s"\'\\><~|&;$*?#()`]', arg):
        return arg
    return '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'


def desktop_entry(command: list[str]) -> str:
    """The shipped entry with Exec and TryExec pointing at ``command``."""
    text = (desktop_data_dir() / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    exec_line = " ".join(exec_quote(a) for a in command) + " %f"
    text = re.sub(r"^Exec=.*$", lambda _m: f"Exec={exec_line}", text, flags=re.M)
    return re.sub(r"^TryExec=.*$", lambda _m: f"TryExec={command[0]}", text, flags=re.M)


def data_home() -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def targets(home: Path) -> dict[str, Path]:
    """Where each file goes under a data home (keys: ``entry``, ``metainfo``, icon sizes)."""
    out = {"entry": home / "applications" / f"{APP_ID}.desktop",
           "metainfo": home / "metainfo" / f"{APP_ID}.metainfo.xml"}
    for size, src in icon_files().items():
        folder = "scalable" if size == "scalable" else f"{size}x{size}"
        out[size] = home / "icons" / "hicolor" / folder / "apps" / f"{ICON_NAME}{src.suffix}"
    return out


def _write(path: Path, data: bytes) -> None:
    """Atomically (temporary file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _refresh_caches(home: Path) -> None:
    """Tell the desktop about the new files where its tools exist (optional: desktops rescan)."""
    for tool, args in (("update-desktop-database", [str(home / "applications")]),
                       ("gtk-update-icon-cache", ["-q", "-t", "-f", str(home / "icons" / "hicolor")])):
        if shutil.which(tool):
            subprocess.run([tool, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def install(home: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Install the entry, the icons and the metadata for the current user; returns the files written."""
    home = home or data_home()
    src = desktop_data_dir()
    written = []
    for key, dst in targets(home).items():
        if key == "entry":
            data = desktop_entry(command or launcher()).encode()
        elif key == "metainfo":
            data = (src / f"{APP_ID}.metainfo.xml").read_bytes()
        else:
            data = icon_files()[key].read_bytes()
        _write(dst, data)
        written.append(dst)
    _refresh_caches(home)
    return written


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote; returns the files removed."""
    home = home or data_home()
    removed = [p for p in targets(home).values() if p.is_file()]
    for p in removed:
        p.unlink()
    _refresh_caches(home)
    return removed
