"""MkDocs hook: the parts of the site generated from the repository at build time, so they
cannot fall behind it.

* ``gallery.md``: every shipped preset (``presets/*.toml`` and ``presets/ode/*.ode``, read by
  :func:`attractor_lab.engine.storage.presets.list_presets`) with a thumbnail, its title, description,
  claim and the command that opens it. Thumbnails are rendered headless by
  :mod:`attractor_lab.engine.storage.thumbnails` into ``build/docs-thumbnails/`` (cached by the preset
  file's content: the first build takes about two minutes on 2 cores, later ones reuse them).
* ``<!-- presets: MODEL ... -->`` in a page: a table of the shipped presets of those models.
* ``<!-- include: PATH -->``: the file's Markdown (``benchmarks/README.md``), headings moved
  one level down.

``tests/test_docs.py`` checks these functions (every preset in the gallery, every model in a
family page).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THUMBNAILS = ROOT / "build" / "docs-thumbnails"

#: family page → the models whose presets it lists (every registered model must be in one)
FAMILIES = {
    "families/hopfield.md": ("Hopfield networks", ["hopfield", "modern_hopfield", "continuous_hopfield"]),
    "families/dynamics.md": ("Dynamical systems and neural ODEs",
                             ["ode_system", "custom_ode", "neural_ode", "rate_network"]),
    "families/reaction-diffusion.md": ("Reaction–diffusion",
                                       ["gray_scott", "fitzhugh_nagumo", "barkley", "brusselator",
                                        "schnakenberg", "lambda_omega", "custom_rd"]),
    "families/operators.md": ("PDE solvers and neural operators", ["burgers", "navier_stokes", "neural_operator", "operator_training"]),
}


def shipped_presets() -> list[Path]:
    """The shipped preset files (TOML and .ode), as the window's Presets menu lists them."""
    from attractor_lab.engine.storage.presets import list_presets, shipped_presets_dir

    shipped = shipped_presets_dir().resolve()
    return [p for p in list_presets() if shipped in p.resolve().parents]


def preset_info(path: Path) -> dict:
    """name, model, title, description, claim and the command that opens ``path``."""
    from attractor_lab.engine.storage.presets import load_preset, preset_header

    model, title, description = preset_header(path) or ("?", path.stem, "")
    claim = ""
    if path.suffix == ".toml":
        contract = load_preset(path).contract
        claim = contract.describe() if contract is not None else ""
        command = f"attractor-lab {path.stem}"
    else:  # an XPPAUT file opens by its path (names find .toml presets only)
        command = f"attractor-lab presets/ode/{path.name}"
    return {"name": path.stem, "file": path.name, "model": model, "title": title,
            "description": " ".join(description.split()), "claim": claim, "command": command, "path": path}


def family_of(model: str) -> str | None:
    return next((page for page, (_, models) in FAMILIES.items() if model in models), None)


def _cell(text: str) -> str:
    return html.escape(text).replace("|", "\\|")


def preset_table(models: list[str], infos: list[dict], prefix: str = "../") -> str:
    """A Markdown table of the presets of ``models``: name (linked to the gallery), title and
    what it shows, the claim its contract makes."""
    rows = [i for i in infos if i["model"] in models]
    if not rows:
        return "*(no shipped presets)*\n"
    out = ["| preset | what it shows | checked claim |", "|---|---|---|"]
    for i in rows:
        out.append(f"| [`{i['name']}`]({prefix}gallery.md#{i['name']}) | **{_cell(i['title'])}**. "
                   f"{_cell(i['description'])} | {_cell(i['claim']) or '—'} |")
    return "\n".join(out) + "\n"


def gallery_markdown(infos: list[dict], thumbnails: dict[str, str]) -> str:
    """The gallery page: one card per preset, grouped by family."""
    out = ["# Gallery", "",
           f"Every shipped preset ({len(infos)}), as its thumbnail shows it after about two seconds of "
           "simulation on the CPU, with the command that opens it in the window. The whole library as the "
           "window draws it is the [contact sheet](presets.png) (`make contact-sheet`). This page is "
           "generated from the preset files when the site is built.", ""]
    groups: dict[str, list[dict]] = {}
    for i in infos:
        groups.setdefault(family_of(i["model"]) or "", []).append(i)
    order = list(FAMILIES) + [""]
    for page in order:
        if page not in groups:
            continue
        title = FAMILIES[page][0] if page else "Other models"
        out += [f"## {title}", ""]
        if page:
            out += [f"The science behind these: [{title}]({page}).", ""]
        for i in groups[page]:
            img = thumbnails.get(i["name"])
            out.append(f'<div class="al-card" markdown>')
            out.append(f'<span id="{i["name"]}"></span>')
            if img:
                out.append(f'![{_cell(i["title"])}]({img}){{ width="160" height="160" loading="lazy" }}')
            out += ["", f'**{_cell(i["title"])}** · `{i["model"]}`', "",
                    _cell(i["description"]) or "&nbsp;", ""]
            if i["claim"]:
                out += [f'*Checked:* {_cell(i["claim"])}', ""]
            out += ["```sh", i["command"], "```", "</div>", ""]
    return "\n".join(out)


def render_thumbnails(paths: list[Path]) -> dict[str, Path]:
    """Preset name → its thumbnail PNG (rendered once per preset content, cached in build/)."""
    from attractor_lab.engine.storage.thumbnail_cache import thumbnail_path
    from attractor_lab.engine.storage.thumbnails import render_thumbnails as render

    import warnings

    errors = []
    with warnings.catch_warnings():  # torch's deprecation notes are not the site's warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        render(paths, THUMBNAILS, budget_s=2.0, report=lambda e: errors.append(e) if "error" in e else None)
    if errors:
        raise RuntimeError("thumbnails failed: " + "; ".join(f"{e['preset']}: {e['error']}" for e in errors))
    return {p.stem: thumbnail_path(p, THUMBNAILS) for p in paths}


# ---- MkDocs events -------------------------------------------------------------------------------

_infos: list[dict] = []


def on_files(files, config):
    from mkdocs.structure.files import File

    global _infos
    os.environ.setdefault("ATTRACTOR_LAB_THREADS", "1")
    paths = shipped_presets()
    _infos = [preset_info(p) for p in paths]
    pngs = {} if os.environ.get("ATTRACTOR_LAB_DOCS_NO_THUMBNAILS") else render_thumbnails(paths)
    thumbs = {}
    for name, png in pngs.items():
        uri = f"gallery/{name}.png"
        files.append(File.generated(config, uri, abs_src_path=str(png)))
        thumbs[name] = uri
    files.append(File.generated(config, "gallery.md", content=gallery_markdown(_infos, thumbs)))
    return files


_PRESETS = re.compile(r"<!-- presets: ([\w ]+) -->")
_INCLUDE = re.compile(r"<!-- include: ([\w/.-]+) -->")
_MODEL = re.compile(r"<!-- model: (\w+) -->")


def model_markdown(name: str) -> str:
    """A model's title, description and equations as its declaration states them (the window's
    equations panel shows the same text)."""
    from attractor_lab.engine.api import describe

    d = describe(name)
    return (f"**`{name}`: {d.get('title', name)}.** {d.get('description', '')}\n\n"
            f"```text\n{d.get('equations', '').strip()}\n```\n")


def include_markdown(rel: str) -> str:
    """A repository file's Markdown with its headings one level down (its title becomes ##)."""
    text, fence, out = (ROOT / rel).read_text(encoding="utf-8"), False, []
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        out.append("#" + line if not fence and re.match(r"#+ ", line) else line)
    return "\n".join(out) + "\n"


def on_page_markdown(markdown, page, config, files):
    depth = page.file.src_uri.count("/")
    markdown = _PRESETS.sub(lambda m: preset_table(m.group(1).split(), _infos, "../" * depth), markdown)
    markdown = _MODEL.sub(lambda m: model_markdown(m.group(1)), markdown)
    return _INCLUDE.sub(lambda m: include_markdown(m.group(1)), markdown)
