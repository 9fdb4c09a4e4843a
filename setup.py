"""Build hook: one import package, ``attractor_lab``, with the shipped presets and desktop files.

The repository keeps ``engine/``, ``app/`` and ``widgets/`` at its top level; the
wheel holds them as ``attractor_lab.engine``, ``attractor_lab.app`` and
``attractor_lab.widgets`` (``package_dir`` below), so an installation adds one
top-level name. Everything else is declared in pyproject.toml. ``presets/`` (the shipped presets,
sweeps and operator checkpoints) and the desktop files of ``packaging/`` live
beside the packages in the source tree; a wheel installed by pip, pipx or uv has
no source tree, so the build copies them into the packages, where
``attractor_lab.engine.shipped.shipped_presets_dir`` and ``attractor_lab.app.desktop.desktop_data_dir`` look
first. A source checkout (``pip install -e .``) uses the folders themselves.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: repository folder -> the subpackage of attractor_lab it becomes
SUBPACKAGES = {"engine": "attractor_lab.engine", "app": "attractor_lab.app", "widgets": "attractor_lab.widgets"}
PACKAGE_DIR = {"attractor_lab": "attractor_lab", **{name: folder for folder, name in SUBPACKAGES.items()}}
PACKAGES = ["attractor_lab"] + [
    f"{name}.{sub}" if sub else name
    for folder, name in SUBPACKAGES.items()
    for sub in [""] + find_packages(str(ROOT / folder))
]
#: source-tree folder or file -> where it goes inside the built packages
BUNDLED = {
    "presets": "attractor_lab/engine/_shipped_presets",
    "packaging/org.attractorlab.AttractorLab.desktop": "attractor_lab/app/_desktop/org.attractorlab.AttractorLab.desktop",
    "packaging/org.attractorlab.AttractorLab.metainfo.xml":
        "attractor_lab/app/_desktop/org.attractorlab.AttractorLab.metainfo.xml",
    "packaging/icons": "attractor_lab/app/_desktop/icons",
    # the dense networks' phase diagrams, computed once (engine/theory/dense.py)
    "engine/theory/dense_diagrams.json": "attractor_lab/engine/theory/dense_diagrams.json",
}
#: what of presets/ is data (no caches or editor files)
PRESET_FILES = ("*.toml", "*.json", "*.safetensors", "*.md", "*.ode")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the source tree itself
            return
        for source, target in BUNDLED.items():
            src, dst = ROOT / source, Path(self.build_lib) / target
            if src.is_dir():
                for pattern in PRESET_FILES if source == "presets" else ("*",):
                    for file in src.rglob(pattern):
                        if "__pycache__" not in file.parts and file.is_file():
                            out = dst / file.relative_to(src)
                            out.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(file, out)
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(package_dir=PACKAGE_DIR, packages=PACKAGES, cmdclass={"build_py": BuildPyWithData})
