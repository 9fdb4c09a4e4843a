"""The documentation's generated parts cover the repository: the gallery lists every shipped
preset, every model has a family page that lists its presets, README stays a front page whose
links resolve. (The strict site build itself is `make docs`: it needs the docs extra and about
20 s plus the thumbnails, so it is not part of the suite.)"""

from __future__ import annotations

import importlib.util
import re

from tests.doc_examples import ROOT


def _hook():
    spec = importlib.util.spec_from_file_location("docs_site_hook", ROOT / "docs" / "_hooks" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gallery_lists_every_shipped_preset():
    hook = _hook()
    paths = hook.shipped_presets()
    toml = sorted((ROOT / "presets").glob("*.toml"))
    odes = sorted((ROOT / "presets" / "ode").glob("*.ode"))
    assert {p.resolve() for p in paths} == {p.resolve() for p in toml + odes}
    infos = [hook.preset_info(p) for p in paths]
    page = hook.gallery_markdown(infos, {i["name"]: f"gallery/{i['name']}.png" for i in infos})
    for i in infos:
        assert f'id="{i["name"]}"' in page and f"gallery/{i['name']}.png" in page, i["name"]
        assert f"\n{i['command']}\n" in page
    assert "attractor-lab gray_scott_spots" in page and "attractor-lab presets/ode/morris_lecar.ode" in page
    assert "## Other models" not in page, "a preset's model has no family page: add it to FAMILIES in docs/_hooks/site.py"


def test_every_model_has_a_family_page_that_lists_its_presets():
    import attractor_lab as al

    hook = _hook()
    mapped = {m: page for page, (_, models) in hook.FAMILIES.items() for m in models}
    assert set(al.list_models()) <= set(mapped), \
        f"models without a family page: {sorted(set(al.list_models()) - set(mapped))} (docs/_hooks/site.py FAMILIES)"
    for page, (_, models) in hook.FAMILIES.items():
        text = (ROOT / "docs" / page).read_text()
        listed = [m for found in re.findall(r"<!-- presets: ([\w ]+) -->", text) for m in found.split()]
        assert sorted(listed) == sorted(models), (page, listed)
    infos = [hook.preset_info(p) for p in hook.shipped_presets()]
    table = hook.preset_table(["hopfield"], infos)
    assert "[`hopfield_retrieval`](../gallery.md#hopfield_retrieval)" in table


def test_readme_is_a_front_page_whose_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert "make run" in text and "make test" in text
    for target in re.findall(r"\]\(((?:docs|benchmarks|packaging)/[^)#]+)", text):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    for page in ("getting-started.md", "guide/window.md", "cli.md", "formats.md", "api.md", "protocol.md"):
        assert f"docs/{page}" in text


def test_the_keyboard_shortcuts_table_matches_the_window_source():
    """docs/guide/window.md lists exactly the keys the window's actions and shortcuts declare
    (read from app/'s source: a new shortcut must be documented, a removed one removed)."""
    declared = {"Ctrl+Z"}  # QKeySequence.Undo
    for path in (ROOT / "app").glob("*.py"):
        src = path.read_text()
        declared |= set(re.findall(r'_action\(\s*"[^"]*",\s*"([^"]+)"', src))
        declared |= set(re.findall(r'QKeySequence\("([^"]+)"\)', src))
        declared |= {k for keys in re.findall(r'for keys in \(([^)]*)\)', src) for k in re.findall(r'"([^"]+)"', keys)}
    page = (ROOT / "docs" / "guide" / "window.md").read_text()
    section = page.split("## Keyboard shortcuts", 1)[1]
    documented = set()
    for row in re.findall(r"^\| ([^|]+) \|", section, re.M):
        if row.strip() in ("keys", "---"):
            continue
        documented |= {k.strip() for k in row.split(",") if not k.strip()[:1].islower()}
    documented.discard("---")
    assert declared - {"Ctrl+Enter"} <= documented, f"shortcuts missing from the table: {sorted(declared - documented)}"
    assert documented <= declared, f"documented keys the window does not declare: {sorted(documented - declared)}"
