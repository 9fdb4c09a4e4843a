"""``attractor-lab presets``, ``thumbnails`` and ``install-desktop``; the ``--version`` line.

``thumbnails`` imports torch (it runs presets) in its own process; the window
starts it in the background (:mod:`app.preset_browser`). The others import
neither torch nor Qt.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from attractor_lab.app.cli_help import CliParser


def version_text() -> str:
    """``attractor-lab X.Y.Z`` (the one version, ``engine.__version__``)."""
    from attractor_lab.engine import __version__

    return f"attractor-lab {__version__}"


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"attractor-lab {command}: {message}", file=sys.stderr)
    return code


def cmd_presets(argv) -> int:
    ap = CliParser(prog="attractor-lab presets",
                   description="List the shipped presets and yours, by model, with their titles; any of the "
                               "names opens with `attractor-lab NAME` or runs with `attractor-lab run NAME`.")
    ap.add_argument("--paths", action="store_true", help="also print each preset's file")
    args = ap.parse_args(argv)
    from attractor_lab.app.preset_index import preset_entries

    entries = preset_entries()
    if not entries:
        return _fail("presets", "no presets found")
    for model in sorted({e.model for e in entries}):
        print(f"{model}:")
        for e in sorted((e for e in entries if e.model == model), key=lambda e: e.name):
            mine = "  (yours)" if e.mine else ""
            print(f"    {e.name:<44} {e.title}{mine}")
            if args.paths:
                print(f"    {'':<44} {e.path}")
    return 0


def cmd_thumbnails(argv) -> int:
    from attractor_lab.engine.storage.thumbnail_cache import THUMBNAIL_SIZE, thumbnail_cache_dir

    ap = CliParser(prog="attractor-lab thumbnails",
                   description="Render preset thumbnails headless (the preset run for a short time budget from its "
                               "seed, its main field or phase portrait drawn) into the user cache folder, keyed by "
                               "the preset file's content: each is rendered once. The preset browser starts this "
                               "in the background. Cache: the user cache folder's thumbnails/ (on Linux "
                               "~/.cache/attractor-lab/thumbnails; ATTRACTOR_LAB_CACHE_DIR moves it).")
    ap.add_argument("presets", nargs="*", help="preset files or names (default: every shipped and user preset)")
    ap.add_argument("--cache", metavar="DIR", default=None, help="thumbnail folder (default: the user cache's)")
    ap.add_argument("--budget-s", type=float, default=2.0,
                    help="seconds of simulation per preset (default 2; 0: a single step)")
    ap.add_argument("--size", type=int, default=THUMBNAIL_SIZE, help=f"side in pixels (default {THUMBNAIL_SIZE})")
    ap.add_argument("--force", action="store_true", help="render again what the cache holds")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    ap.add_argument("--progress", choices=("text", "json"), default="text",
                    help="one line per preset: text, or JSON objects (for the window)")
    ap.add_argument("--low-priority", action="store_true",
                    help="run at a lower CPU priority (the window renders in the background this way)")
    args = ap.parse_args(argv)
    if args.low_priority and hasattr(os, "nice"):
        os.nice(10)
    if not 0 <= args.budget_s <= 600:
        return _fail("thumbnails", f"--budget-s must be from 0 to 600 seconds, not {args.budget_s}")
    if not 16 <= args.size <= 1024:
        return _fail("thumbnails", f"--size must be from 16 to 1024 pixels, not {args.size}")

    from attractor_lab.engine.storage.presets import PresetError, find_preset, list_presets

    try:
        presets = [find_preset(p) for p in args.presets] if args.presets else list_presets()
    except PresetError as exc:
        return _fail("thumbnails", str(exc))
    cache = Path(args.cache) if args.cache else thumbnail_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail("thumbnails", f"cannot create the cache folder {str(cache)!r}: {exc.strerror or exc}")

    from attractor_lab.engine.storage.thumbnails import render_thumbnails

    def report(entry: dict) -> None:
        if args.progress == "json":
            print(json.dumps(entry), flush=True)
        elif "error" in entry:
            print(f"{entry['preset']}: {entry['error']}", file=sys.stderr, flush=True)
        else:
            how = "cached" if entry["cached"] else f"{entry['seconds']:.1f} s"
            print(f"{entry['preset']} -> {entry['thumbnail']} ({how})", flush=True)

    ok, failed = render_thumbnails(presets, cache, size=args.size, budget_s=args.budget_s, force=args.force,
                                   device=args.device, report=report)
    if args.progress == "text":
        print(f"{ok} thumbnails in {cache}" + (f"; {failed} presets failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


def cmd_install_desktop(argv) -> int:
    from attractor_lab.app import desktop

    ap = CliParser(prog="attractor-lab install-desktop",
                   description="Install the desktop entry, the icons and the AppStream metadata for the current user "
                               "(freedesktop desktops on Linux: GNOME, KDE, Xfce, …) under $XDG_DATA_HOME, by default "
                               "~/.local/share. The entry starts this installation of attractor-lab by its full path.")
    ap.add_argument("--data-home", metavar="DIR", default=None,
                    help="install under DIR instead of $XDG_DATA_HOME (by default ~/.local/share)")
    ap.add_argument("--uninstall", action="store_true", help="remove the files instead")
    ap.add_argument("--dry-run", action="store_true", help="print what would be written or removed")
    args = ap.parse_args(argv)
    home = Path(args.data_home).expanduser() if args.data_home else desktop.data_home()
    if not desktop.icon_files() or not (desktop.desktop_data_dir() / f"{desktop.APP_ID}.desktop").is_file():
        return _fail("install-desktop", f"this installation lacks its desktop files ({desktop.desktop_data_dir()})", 1)
    if args.dry_run:
        files = [p for p in desktop.targets(home).values() if p.is_file()] if args.uninstall \
            else list(desktop.targets(home).values())
        print("\n".join(f"{'would remove' if args.uninstall else 'would write'} {p}" for p in files))
        if not args.uninstall:
            print(f"Exec: {' '.join(desktop.launcher())}")
        return 0
    try:
        files = desktop.uninstall(home) if args.uninstall else desktop.install(home)
    except OSError as exc:
        return _fail("install-desktop", f"cannot write under {str(home)!r}: {exc.strerror or exc}", 1)
    for p in files:
        print(f"{'removed' if args.uninstall else 'wrote'} {p}")
    if not args.uninstall:
        print(f"Attractor Lab is in the application menu (it runs {' '.join(desktop.launcher())})")
    return 0
