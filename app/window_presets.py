"""Presets in the window: the Presets menu, open, save (with the claims a preset makes).

A mixin of :class:`~app.main_window.MainWindow` (app/main_window.py wires it).
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from PySide6 import QtWidgets

from attractor_lab.app.window_recording import _slug
from attractor_lab.engine.storage.presets import (
    Preset,
    PresetError,
    list_presets,
    load_preset,
    save_preset,
    schemas_from_descriptions,
    user_presets_dir,
)

#: the Presets menu's submenus (a model's "family": its package in engine/models/)
FAMILY_TITLES = {"hopfield": "Hopfield networks", "neural_ode": "Dynamics and neural ODEs",
                 "reaction_diffusion": "Reaction–diffusion", "neural_operator": "PDEs and neural operators",
                 "custom": "Your own equations"}


class PresetsMixin:
    """Presets in the window: a mixin of :class:`~app.main_window.MainWindow`."""

    # ---- presets ---------------------------------------------------------------------
    def _claim_html(self, d: dict) -> str:
        """The loaded preset's contract in words (what the test suite checks it shows), or ''."""
        preset = self.preset
        if preset is None or preset.model != d["name"] or preset.contract is None:
            return ""
        dt = preset.params.get("dt", next((p["default"] for p in d["params"] if p["name"] == "dt"), None))
        claim = html.escape(preset.contract.describe(dt))
        return f"<br><span style='color: #2a7a2a;'>Checked claim (preset as shipped): {claim}</span>"

    def _fill_presets_menu(self):
        """The preset browser first, then a submenu per family of models (Hopfield networks,
        dynamics and neural ODEs, reaction–diffusion, PDEs and operators) with the titles
        under a heading per model (yours marked). Rebuilt at each opening, touching no action
        of the last one (clear() deleted them; the browser's toggle belongs to its dock)."""
        menu = self.presets_menu
        for a in menu.actions():  # not clear(): it deleted the browser's toggle with the rest
            menu.removeAction(a)
        for item in getattr(self, "_presets_menu_items", []):
            item.deleteLater()  # the submenus and separator of the last opening
        menu.addAction(self.browser_action)
        items = [menu.addSeparator()]
        groups: dict[str, list] = {}
        for path, model, title, mine in preset_titles(list_presets()):
            groups.setdefault(model, []).append((title, path, mine))
        titles = {name: d.get("title", name) for name, d in self.models.items()}
        families: dict[str, list[str]] = {}
        for model in groups:
            family = self.models.get(model, {}).get("family") or model
            families.setdefault(family, []).append(model)
        for family in sorted(families, key=lambda f: FAMILY_TITLES.get(f, titles.get(f, f)).lower()):
            sub = QtWidgets.QMenu(FAMILY_TITLES.get(family, titles.get(family, family)), menu)
            menu.addMenu(sub)
            items.append(sub)
            for model in sorted(families[family], key=lambda m: titles.get(m, m).lower()):
                if len(families[family]) > 1:
                    sub.addSection(titles.get(model, model))
                for title, path, mine in sorted(groups[model], key=lambda t: t[0].lower()):
                    a = sub.addAction(title + ("  (yours)" if mine else ""))
                    a.setToolTip(str(path))
                    a.triggered.connect(lambda checked=False, p=path: self.load_preset_file(p))
        self._presets_menu_items = items

    def open_preset_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open preset", str(user_presets_dir()),
            "Presets and XPPAUT files (*.toml *.ode);;Presets (*.toml);;XPPAUT .ode files (*.ode)")
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        if path:
            self.load_preset_file(path)

    def load_preset_file(self, path) -> bool:
        try:
            preset = load_preset(path, schemas=schemas_from_descriptions(self.models))
        except PresetError as exc:
            QtWidgets.QMessageBox.warning(self, "Preset refused", str(exc))
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            self.statusBar().showMessage(str(exc), 15000)
            return False
        state = {"model": preset.model, "params": preset.params, "seed": preset.seed, "preset": preset}
        if self.current is None:
            self.switch_to(state)
            return True
        return self.switch(state, f"preset “{preset.title or Path(path).stem}”")

    def current_preset(self) -> Preset:
        """The preset of what is on screen: pending structural values (⟳) included, since
        they are what the user chose; the loaded preset's title and description kept."""
        same = self.preset is not None and self.current is not None and self.preset.model == self.current["name"]
        params = {**self.params, **self._shown, **self._dirty, **self.pending}
        return Preset(model=self.current["name"], params=params, seed=self.seed,
                      title=self.preset.title if same else "", description=self.preset.description if same else "",
                      run={"fps": self.fps, "steps_per_frame": self.speed_box.value()},
                      view=dict(self.preset.view) if same else {},
                      # the Analysis dock's last analysis, else the loaded preset's [analysis] table
                      analysis=self.analysis_dock.table() or (self.preset.analysis if same else None))

    def save_preset_dialog(self):
        """Ask for a title and a description (the loaded preset's, else the model's, prefilled),
        then where: the user presets folder (the browser lists it), named after the title."""
        if self.current is None:
            return
        preset = self.current_preset()
        info = self.ask_preset_info(preset.title or self.current.get("title", ""),
                                    preset.description or "")
        if info is None:
            return
        preset.title, preset.description = info
        folder = user_presets_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = self.ask_save_path("presets", "Save preset", str(folder / f"{_slug(preset.title) or self.current['name']}.toml"),
                                  "Presets (*.toml)", remember=False)
        if path:
            try:
                save_preset(preset, path)
                self.statusBar().showMessage(f"saved preset {path}", 10000)
                self.memory.add_recent("presets", path)
                self.preset_browser.refresh_if_shown()
                if self.preset is not None and self.preset.model == preset.model:
                    self.preset.title, self.preset.description = preset.title, preset.description
                self.undo_stack.setClean()  # what is on screen is kept now
            except (PresetError, OSError) as exc:
                QtWidgets.QMessageBox.warning(self, "Cannot save preset", str(exc))
                self._refocus()  # after the dialog: keys go to the window's shortcuts

    def ask_preset_info(self, title: str, description: str) -> tuple[str, str] | None:
        """(title, description) from a small dialog, or None when cancelled."""
        dialog = QtWidgets.QDialog(self)
        dialog.setWindowTitle("Save preset")
        form = QtWidgets.QFormLayout(dialog)
        title_edit = QtWidgets.QLineEdit(title)
        title_edit.setMinimumWidth(420)
        text_edit = QtWidgets.QPlainTextEdit(description)
        text_edit.setPlaceholderText("What this preset shows, and what to try")
        text_edit.setMinimumHeight(110)
        form.addRow("Title:", title_edit)
        form.addRow("Description:", text_edit)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Save | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        form.addRow(buttons)
        title_edit.selectAll()
        ok = dialog.exec() == QtWidgets.QDialog.Accepted
        self._refocus()
        return (title_edit.text().strip(), text_edit.toPlainText().strip()) if ok else None


def preset_titles(paths) -> list[tuple[Path, str, str, bool]]:
    """(path, model, title, the user's own?) of preset files (TOML or .ode), read without
    validation (the menu shows them; loading one checks it). Unreadable files are left out."""
    from attractor_lab.engine.storage.presets import preset_header, user_presets_dir

    mine = user_presets_dir()
    out = []
    for path in paths:
        header = preset_header(path)
        if header is not None:
            out.append((path, header[0], header[1], path.parent == mine))
    return out
