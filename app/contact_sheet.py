"""A contact sheet of the preset library: every shipped preset, run to its contract's step count
in the real window, in one labelled image (``make contact-sheet`` writes ``docs/presets.png``).

    python -m app.contact_sheet [--out docs/presets.png] [--only GLOB] [--size 1400x900]
                                [--columns 7] [--timeout 900] [--grabs DIR] [PRESET.toml ...]

It is built the way the app is: one :class:`~app.main_window.MainWindow` with its own CPU engine
process (this process never imports torch). For each preset it loads the file
(``MainWindow.load_preset_file``, paused), asks the engine for the contract's ``steps`` in one
``step`` request (a long one runs as a job in chunks, publishing frames as it goes), waits for the
frame of that step, lets the views draw, grabs the window and scales the picture into a tile.
A preset that is refused, fails, diverges or runs past ``--timeout`` gets a red tile that says
so (and a line on stdout); the sheet is written all the same.

The PNG carries a description of its grid as a text chunk (``attractor-lab:contact-sheet``,
JSON): the tile size, and for each tile its preset, whether it rendered, the error, the step it
reached, the seconds it took and the rectangles of its primary views (image fields and phase
portraits) in sheet pixels; ``tests/test_contact_sheet.py`` reads it.

Headless by default when run by ``make contact-sheet`` (``QT_QPA_PLATFORM=offscreen``); 3D views
are off unless ``ATTRACTOR_LAB_3D`` says otherwise (an offscreen platform has no OpenGL).
Background compiling of reaction–diffusion kernels is off (``ATTRACTOR_LAB_COMPILE=0``) unless
set: the tiles show the eager numerics the contracts check, and the compile would compete for
the cores.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

META_KEY = "attractor-lab:contact-sheet"
DEFAULT_OUT = "docs/presets.png"
DEFAULT_SIZE = (1400, 900)
DEFAULT_COLUMNS = 7
DEFAULT_SCALE = 0.4  # 1400 x 900 -> 560 x 360 tiles
DEFAULT_TIMEOUT_S = 900.0
LABEL_HEIGHT = 40
GAP = 4
#: seconds of engine work per step request (well below the client's 30 s reply timeout)
STEP_REQUEST_S = 3.0
#: the fill of a tile whose preset did not render (tests look for it)
FAILED_RGB = (160, 24, 24)
BACKGROUND_RGB = (236, 236, 236)
#: views that are a model's main picture: fields and phase portraits (3D frames are left out:
#: the sheet is rendered without OpenGL)
PRIMARY_KINDS = ("image", "phase")


@dataclass
class Tile:
    """One preset's picture on the sheet and how it went."""

    path: str
    stem: str
    title: str
    steps: int  # the contract's steps (the target)
    ok: bool = False
    error: str = ""
    reached: int | None = None  # the step of the frame that was grabbed
    seconds: float = 0.0
    #: primary views as (x, y, w, h) in window pixels (grab coordinates)
    primary: list[tuple[int, int, int, int]] = field(default_factory=list)
    image: object = field(default=None, repr=False)  # QImage of the window (None when it failed early)


def preset_info(path: Path) -> tuple[str, int]:
    """(title, contract steps) of a preset file, read as plain TOML; the loader checks it properly."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    contract = data.get("contract") if isinstance(data.get("contract"), dict) else {}
    steps = contract.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        run = data.get("run") if isinstance(data.get("run"), dict) else {}
        steps = run.get("steps", 0) if isinstance(run.get("steps", 0), int) else 0
    return str(data.get("title", "")), int(steps)


def shipped_presets(only: str | None = None) -> list[Path]:
    """The shipped presets (``presets/*.toml``), by file name; ``only`` is a glob on the stem."""
    from attractor_lab.engine.storage.presets import shipped_presets_dir

    paths = sorted(shipped_presets_dir().glob("*.toml"))
    if only:
        patterns = [p.strip() for p in only.split(",") if p.strip()]
        paths = [p for p in paths if any(fnmatch.fnmatch(p.stem, pat) or fnmatch.fnmatch(p.name, pat)
                                         for pat in patterns)]
    return paths


class SheetRenderer:
    """Drives one window: load a preset, step it to its contract, grab the window."""

    def __init__(self, size: tuple[int, int] = DEFAULT_SIZE, timeout_s: float = DEFAULT_TIMEOUT_S,
                 log=print, start_timeout_s: float = 120.0):
        from PySide6 import QtWidgets

        from attractor_lab.app.engine_client import QtEngine
        from attractor_lab.app.main_window import MainWindow

        self.size = size
        self.timeout_s = timeout_s
        self.log = log
        self.warnings: list[str] = []
        # the window warns with modal boxes (a refused preset, a diverged step): here they are
        # recorded instead, so an unattended run never waits for a click
        self._orig_warning = QtWidgets.QMessageBox.warning
        QtWidgets.QMessageBox.warning = lambda *a, **k: self.warnings.append(str(a[2]) if len(a) > 2 else "")
        self._orig_question = QtWidgets.QMessageBox.question  # an unattended run never waits on a question
        QtWidgets.QMessageBox.question = lambda *a, **k: QtWidgets.QMessageBox.Yes
        self.engine = QtEngine(device="cpu")
        self.win = MainWindow(self.engine, fps=30)
        # presets open paused (load_preset_file asks load_model to run): the engine advances only
        # by the step request below, so the tile shows exactly the contract's step
        win_load_model = self.win.load_model
        self.win.load_model = lambda name, params=None, seed=None, run=True: win_load_model(name, params, seed,
                                                                                           run=False)
        self.loaded: list[str] = []
        self.win.model_loaded.connect(self.loaded.append)
        self.frame_steps: list[int] = []  # steps of the frames the window drew, since the last load
        self.engine.frame.connect(self._on_frame)  # after the window's own slot: the frame is drawn
        self.win.resize(*size)
        self.win.show()
        self.engine.start()
        if not self.wait(lambda: bool(self.loaded), start_timeout_s):
            self.close()
            raise RuntimeError(f"the engine did not load its first model within {start_timeout_s:.0f} s")
        self.win.set_running(False)

    def _on_frame(self, content: dict, arrays: dict) -> None:
        if self.win.current is not None and content.get("model") == self.win.current["name"]:
            self.frame_steps.append(int(content.get("step", -1)))

    def close(self) -> None:
        from PySide6 import QtWidgets

        try:
            self.win.close()
            self.wait(lambda: False, 0.2)
        finally:
            QtWidgets.QMessageBox.warning = self._orig_warning
            QtWidgets.QMessageBox.question = self._orig_question

    @staticmethod
    def wait(predicate, timeout_s: float, poll_ms: int = 20) -> bool:
        """Run the event loop until ``predicate()`` holds (True) or ``timeout_s`` passes (False)."""
        from PySide6 import QtCore

        if predicate():
            return True
        loop = QtCore.QEventLoop()
        deadline = time.monotonic() + timeout_s
        result = [False]

        def check():
            if predicate():
                result[0] = True
                loop.quit()
            elif time.monotonic() >= deadline:
                loop.quit()

        timer = QtCore.QTimer()
        timer.setInterval(poll_ms)
        timer.timeout.connect(check)
        timer.start()
        loop.exec()
        timer.stop()
        return result[0]

    def render(self, path: Path) -> Tile:
        t0 = time.monotonic()
        try:
            title, steps = preset_info(path)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            return Tile(str(path), path.stem, "", 0, error=f"unreadable: {exc}", seconds=time.monotonic() - t0)
        tile = Tile(str(path), path.stem, title, steps)
        try:
            self._render(path, tile)
        except Exception as exc:  # one broken preset never stops the sheet
            tile.ok, tile.error = False, f"{type(exc).__name__}: {exc}"
        tile.seconds = time.monotonic() - t0
        return tile

    def _fail(self, tile: Tile, message: str) -> Tile:
        tile.ok, tile.error = False, " ".join(message.split())
        if self.win.isVisible():
            tile.image = self.win.grab().toImage()
        return tile

    def _render(self, path: Path, tile: Tile) -> Tile:
        win, engine = self.win, self.engine
        deadline = time.monotonic() + self.timeout_s
        left = lambda: max(0.1, deadline - time.monotonic())  # noqa: E731
        self.warnings.clear()
        self.loaded.clear()
        if not engine.is_connected:  # restarting after a crash: wait for it to come back
            self.wait(lambda: engine.is_connected and bool(self.loaded), min(left(), 120.0))
            self.loaded.clear()
        if not win.load_preset_file(path):
            return self._fail(tile, "refused: " + (self.warnings[-1] if self.warnings else "preset not loaded"))
        preset = win.preset
        if not self.wait(lambda: (win.current is not None and win.current["name"] == preset.model
                                  and preset.model in self.loaded) or bool(self.warnings), left()):
            return self._fail(tile, f"not loaded within {self.timeout_s:.0f} s")
        if self.warnings:
            return self._fail(tile, "load failed: " + self.warnings[-1])
        self.frame_steps.clear()
        win.set_running(False)
        if tile.steps == 0:  # nothing to run: the state as loaded
            self.wait(lambda: bool(self.frame_steps), min(left(), 10.0))
        else:
            def frame_step() -> int:  # the step of the newest frame drawn since the load
                return self.frame_steps[-1] if self.frame_steps else -1

            # step requests of a few seconds each (the client gives up on a reply after 30 s, while
            # a neural ODE's training step takes a good fraction of a second): the first one step,
            # the next ones sized from the rate measured
            at, chunk = 0, 1
            while at < tile.steps:
                reply: dict = {}
                n = min(chunk, tile.steps - at)
                t = time.monotonic()
                engine.request("step", {"n": n}, reply.update, lambda message: reply.update(error=message))
                if not self.wait(lambda: bool(reply) or bool(self.warnings), left()):
                    engine.request("cancel", {})
                    self.wait(lambda: bool(reply), 10.0)
                    return self._fail(tile, f"timed out after {self.timeout_s:.0f} s at step "
                                            f"{max(at, frame_step(), int(reply.get('step', 0)))} of {tile.steps}")
                if "error" in reply:
                    return self._fail(tile, f"step failed at step {at}: " + reply["error"])
                if reply.get("stopped"):
                    return self._fail(tile, f"stopped at step {reply.get('step')}: {reply['stopped']}")
                if reply.get("cancelled"):
                    return self._fail(tile, f"step cancelled at step {reply.get('step')}")
                if self.warnings:
                    return self._fail(tile, self.warnings[-1])
                at = int(reply.get("step", at + n))
                per_step = max(time.monotonic() - t, 1e-3) / n
                chunk = max(1, min(chunk * 20, int(STEP_REQUEST_S / per_step)))
            self.wait(lambda: frame_step() >= tile.steps, 3.0)  # the frame the finished step publishes
            if frame_step() < tile.steps:  # lost on the way: ask for another
                win.set_running(False)  # a pause publishes the state
                if not self.wait(lambda: frame_step() >= tile.steps, 10.0):
                    return self._fail(tile, f"no frame of step {tile.steps} (last {frame_step()})")
        # let the views draw what arrived (auto range, deferred repaints) and the status bar catch
        # up with the paused engine, then take the picture
        self.wait(lambda: False, 0.4)
        self.wait(lambda: win.state_label.text().startswith("paused"), 2.0)
        tile.reached = self.frame_steps[-1] if self.frame_steps else None
        tile.primary = self._primary_rects()
        tile.image = win.grab().toImage()
        tile.ok = True
        return tile

    def _primary_rects(self) -> list[tuple[int, int, int, int]]:
        """Where the model's main pictures are in the window: the views whose role is "primary"
        (fields and phase portraits unless they say otherwise), 3D frames left out."""
        from PySide6 import QtCore

        views = [v for v in self.win.grid.views if v.isVisible() and v.width() > 0 and v.height() > 0
                 and not hasattr(v, "close_canvas")]
        try:
            from attractor_lab.widgets.view_base import view_role
        except ImportError:  # before views declared roles: fields and phase portraits
            def view_role(spec):
                return spec.get("role") or ("primary" if spec.get("kind") in PRIMARY_KINDS else "secondary")
        chosen = [v for v in views if view_role(v.spec) == "primary"] or views[:1]
        rects = []
        for v in chosen:
            p = v.mapTo(self.win, QtCore.QPoint(0, 0))
            rects.append((p.x(), p.y(), v.width(), v.height()))
        return rects


# ---- the sheet ---------------------------------------------------------------------------------------
def compose(tiles: list[Tile], size: tuple[int, int], columns: int = DEFAULT_COLUMNS,
            scale: float = DEFAULT_SCALE):
    """The sheet as a QImage, and its description (the PNG's text chunk)."""
    from PySide6 import QtCore, QtGui

    tw, th = round(size[0] * scale), round(size[1] * scale)
    cols = max(1, min(columns, len(tiles)))
    rows = max(1, -(-len(tiles) // cols))
    cell_w, cell_h = tw + GAP, th + LABEL_HEIGHT + GAP
    sheet = QtGui.QImage(cols * cell_w + GAP, rows * cell_h + GAP, QtGui.QImage.Format_RGB32)
    sheet.fill(QtGui.QColor(*BACKGROUND_RGB))
    painter = QtGui.QPainter(sheet)
    painter.setRenderHint(QtGui.QPainter.Antialiasing)
    painter.setRenderHint(QtGui.QPainter.TextAntialiasing)
    painter.setRenderHint(QtGui.QPainter.SmoothPixmapTransform)
    bold = QtGui.QFont(painter.font())
    bold.setPixelSize(14)
    bold.setBold(True)
    plain = QtGui.QFont(painter.font())
    plain.setPixelSize(12)
    meta = {"columns": cols, "rows": rows, "tile": [tw, th], "label_height": LABEL_HEIGHT, "gap": GAP,
            "window": list(size), "failed_rgb": list(FAILED_RGB), "tiles": []}
    for i, t in enumerate(tiles):
        x, y = GAP + (i % cols) * cell_w, GAP + (i // cols) * cell_h
        target = QtCore.QRect(x, y, tw, th)
        sx = sy = scale
        if t.ok and t.image is not None:
            img = t.image
            sx, sy = tw / max(1, img.width()), th / max(1, img.height())
            painter.drawImage(target, img.scaled(tw, th, QtCore.Qt.IgnoreAspectRatio, QtCore.Qt.SmoothTransformation))
        else:
            painter.fillRect(target, QtGui.QColor(*FAILED_RGB))
            painter.setPen(QtGui.QColor(255, 255, 255))
            painter.setFont(bold)
            painter.drawText(target.adjusted(12, 12, -12, -12), QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop,
                             "FAILED")
            painter.setFont(plain)
            painter.drawText(target.adjusted(12, 40, -12, -12),
                             QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop | QtCore.Qt.TextWordWrap, t.error[:600])
        # the label: the file's stem, then the title; how far it ran and how long it took
        painter.setPen(QtGui.QColor(20, 20, 20) if t.ok else QtGui.QColor(*FAILED_RGB))
        painter.setFont(bold)
        fm = QtGui.QFontMetrics(bold)
        right = (f"step {t.reached:,}".replace(",", " ") if t.ok and t.reached is not None else "failed") + \
            f" · {t.seconds:.0f} s"
        fm_plain = QtGui.QFontMetrics(plain)
        right_w = fm_plain.horizontalAdvance(right) + 6
        painter.drawText(QtCore.QRect(x, y + th + 2, tw - right_w, 18), QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter,
                         fm.elidedText(t.stem, QtCore.Qt.ElideRight, tw - right_w))
        painter.setFont(plain)
        painter.setPen(QtGui.QColor(90, 90, 90))
        painter.drawText(QtCore.QRect(x + tw - right_w, y + th + 2, right_w, 18),
                         QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter, right)
        painter.setPen(QtGui.QColor(40, 40, 40))
        painter.drawText(QtCore.QRect(x, y + th + 20, tw, 18), QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter,
                         fm_plain.elidedText(t.title, QtCore.Qt.ElideRight, tw))
        entry = {f.name: getattr(t, f.name) for f in fields(t) if f.name not in ("image", "primary")}
        entry["rect"] = [x, y, tw, th]
        entry["primary"] = [[x + round(px * sx), y + round(py * sy), round(pw * sx), round(ph * sy)]
                            for px, py, pw, ph in t.primary]
        meta["tiles"].append(entry)
    painter.end()
    return sheet, meta


def write_png(sheet, meta: dict, out: Path, colors: int = 256) -> Path:
    """Write the sheet atomically as a palette PNG (``colors`` colours, no dithering: flat plot
    backgrounds stay flat and the file stays small), with ``meta`` as a text chunk."""
    from PIL import Image, PngImagePlugin
    from PySide6 import QtGui

    from attractor_lab.engine.files import exclusive_temp, remove_stale_temps

    rgb = sheet.convertToFormat(QtGui.QImage.Format_RGB888)
    img = Image.frombuffer("RGB", (rgb.width(), rgb.height()), bytes(rgb.constBits()), "raw", "RGB",
                           rgb.bytesPerLine(), 1)
    if colors:
        img = img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    info.add_text(META_KEY, json.dumps(meta))
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out.parent)
    fd, tmp = exclusive_temp(out)
    os.close(fd)
    try:
        img.save(tmp, format="PNG", pnginfo=info, optimize=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file (mkstemp makes it owner-only)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def read_meta(path: str | os.PathLike) -> dict:
    """The description a sheet carries (see the module's docstring)."""
    from PIL import Image

    with Image.open(path) as img:
        return json.loads(img.text[META_KEY])


def build(paths: list[Path], out: str | os.PathLike = DEFAULT_OUT, size: tuple[int, int] = DEFAULT_SIZE,
          columns: int = DEFAULT_COLUMNS, timeout_s: float = DEFAULT_TIMEOUT_S, scale: float = DEFAULT_SCALE,
          colors: int = 256, log=print, grabs: str | os.PathLike | None = None) -> tuple[Path, list[Tile]]:
    """Render ``paths`` in one window (a QApplication must exist) and write the sheet to ``out``;
    with ``grabs``, also each window picture at full size (``<grabs>/<stem>.png``)."""
    out = Path(out)
    renderer = SheetRenderer(size, timeout_s, log)
    tiles: list[Tile] = []
    t0 = time.monotonic()
    try:
        for i, path in enumerate(paths, 1):
            tile = renderer.render(Path(path))
            tiles.append(tile)
            if grabs is not None and tile.image is not None:
                Path(grabs).mkdir(parents=True, exist_ok=True)
                tile.image.save(str(Path(grabs) / f"{tile.stem}.png"))
            state = f"step {tile.reached}" if tile.ok else f"FAILED: {tile.error}"
            log(f"[{i}/{len(paths)}] {tile.stem}: {state} ({tile.seconds:.1f} s; {time.monotonic() - t0:.0f} s in all)",
                flush=True)
    finally:
        renderer.close()
    sheet, meta = compose(tiles, size, columns, scale)
    meta["seconds"] = round(time.monotonic() - t0, 1)
    write_png(sheet, meta, out, colors)
    failed = [t.stem for t in tiles if not t.ok]
    log(f"contact sheet: {out} ({out.stat().st_size / 1e6:.1f} MB, {len(tiles)} presets, "
        f"{meta['seconds']:.0f} s" + (f"; {len(failed)} failed: {', '.join(failed)})" if failed else ")"), flush=True)
    return out, tiles


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1400x900, got {text!r}") from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"window size {text!r} out of range (320x240 to 8000x8000)")
    return w, h


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.contact_sheet",
                                 description="Render presets after their contract's steps into one labelled PNG.")
    ap.add_argument("presets", nargs="*", metavar="PRESET", help="preset files (default: every shipped preset)")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"the PNG to write (default {DEFAULT_OUT})")
    ap.add_argument("--only", metavar="GLOB", help="shipped presets whose file stem matches (comma-separated globs)")
    ap.add_argument("--size", type=_size, default=DEFAULT_SIZE, metavar="WxH",
                    help="window size grabbed for each tile (default 1400x900)")
    ap.add_argument("--columns", type=int, default=DEFAULT_COLUMNS, help="tiles per row (default 7)")
    ap.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="tile size / window size (default 0.4)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help="seconds one preset may take to load and run (default 900)")
    ap.add_argument("--colors", type=int, default=256,
                    help="palette size of the PNG (default 256; 0 keeps full colour, a larger file)")
    ap.add_argument("--grabs", metavar="DIR", help="also save each window picture, full size, as DIR/<stem>.png")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.presets] + (shipped_presets(args.only) if args.only or not args.presets else [])
    if not paths:
        print(f"contact sheet: no preset matches {args.only!r}", file=sys.stderr)
        return 2
    os.environ.setdefault("ATTRACTOR_LAB_3D", "off")
    os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")
    import tempfile

    from attractor_lab.app.settings import SETTINGS_DIR_ENV

    settings = None
    if not os.environ.get(SETTINGS_DIR_ENV):  # the user's settings (window size, docks) stay out of it
        settings = tempfile.TemporaryDirectory(prefix="attractor-lab-sheet-settings-")
        os.environ[SETTINGS_DIR_ENV] = settings.name
    from PySide6 import QtWidgets

    from attractor_lab.app.settings import configure_application

    if QtWidgets.QApplication.instance() is None:
        configure_application(QtWidgets.QApplication(sys.argv[:1]))
    try:
        _, tiles = build(paths, args.out, args.size, args.columns, args.timeout, args.scale, args.colors,
                         grabs=args.grabs)
    except RuntimeError as exc:
        print(f"contact sheet: {exc}", file=sys.stderr)
        return 1
    finally:
        if settings is not None:
            settings.cleanup()
    return 0 if all(t.ok for t in tiles) else 1


if __name__ == "__main__":
    sys.exit(main())
