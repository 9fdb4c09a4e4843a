"""Examples for every ``attractor-lab`` command's ``--help``, and the parser that shows them.

``CliParser(prog="attractor-lab run", …)`` is an :class:`argparse.ArgumentParser`
whose epilog is the examples listed here under its ``prog``; the help keeps
their line breaks. The docs' command reference (docs/cli.md) is generated from these
helps (``python -m app.cli_reference``), so the two cannot drift.
"""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, str] = {
    "attractor-lab": """\
  attractor-lab                                  the window (the last model or preset)
  attractor-lab gray_scott_spots                 open a shipped preset by name
  attractor-lab --preset my.toml --device cpu    a preset file, on the CPU
  attractor-lab --connect e.json                 drive an engine started elsewhere
  attractor-lab --reset-settings                 forget window layout, recent files and the last preset""",
    "attractor-lab models": """\
  attractor-lab models                           every model with its parameters, ranges and units
  attractor-lab models --json > models.json      the declarations as JSON""",
    "attractor-lab presets": """\
  attractor-lab presets                          shipped and user presets by model
  attractor-lab presets --paths                  with their files""",
    "attractor-lab run": """\
  attractor-lab run gray_scott_spots --steps 2000 --out t.npz
  attractor-lab run presets/hopfield_retrieval.toml --out t.h5 --every 10 --seed 3
  attractor-lab run rate_network_chaos --steps 100000 --out obs.csv   observables only, streamed
  attractor-lab run --equations vdp.txt --out vdp.npz                 your own equations (or an XPPAUT .ode file)""",
    "attractor-lab movie": """\
  attractor-lab movie t.npz --out v.mp4
  attractor-lab movie t.npz --array u --out u.gif --colormap magma --levels 0 1 --fps 15""",
    "attractor-lab train-operator": """\
  attractor-lab train-operator --system burgers --out ops/burgers
  attractor-lab train-operator --system navier_stokes --out ops/ns --epochs 40 --device cuda""",
    "attractor-lab sweep new": """\
  attractor-lab sweep new --from presets/hopfield_retrieval.toml --x temperature:0:1.5:31 \\
      --y load:0.01:0.2:20 --seeds 3 --out pd.toml
  attractor-lab sweep new --from gray_scott_spots --x F=0.02,0.03,0.04 --out f.toml""",
    "attractor-lab sweep run": """\
  attractor-lab sweep run pd.toml --out pd.zarr                   rerun the same command to resume
  attractor-lab sweep run pd.toml --out pd.zarr --scheduler tcp://10.0.0.5:8786""",
    "attractor-lab sweep show": """\
  attractor-lab sweep show pd.zarr
  attractor-lab sweep show pd.zarr --output m --png pd.png""",
    "attractor-lab analyse": """\
  attractor-lab analyse continuation ode_system --set system=lorenz --param rho --range 0 30 --start 0 0 0 \\
      --out lorenz.csv                           equilibria: stability, folds, Hopf and branch points
  attractor-lab analyse orbit custom_rossler --param c --range 2 6 --count 400 --variable x --out o.npz
  attractor-lab analyse basins ode_system --set system=duffing --set forcing=0 --set damping=0.25 \\
      --box -2 2 -2 2 --out basins.npz         attractors found, their basins and fractions
  attractor-lab analyse nullclines --equations vdp.txt --out n.csv   your own equations""",
    "attractor-lab thumbnails": """\
  attractor-lab thumbnails                       render what the cache lacks (shipped and user presets)
  attractor-lab thumbnails my.toml --force       one preset, rendered again
  attractor-lab thumbnails --budget-s 0 --cache /tmp/thumbs   the cheapest pictures (one step each)""",
    "attractor-lab install-desktop": """\
  attractor-lab install-desktop                  menu entry, icons and AppStream metadata in ~/.local/share
  attractor-lab install-desktop --dry-run        show what would be written
  attractor-lab install-desktop --uninstall      remove them again""",
}


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph texts (descriptions) as argparse does; keeps the lines of
    texts that have them (the examples)."""

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class CliParser(argparse.ArgumentParser):
    """An argument parser whose epilog lists the examples of its ``prog`` (see :data:`EXAMPLES`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        examples = EXAMPLES.get(self.prog)
        if examples:
            self.epilog = (self.epilog + "\n\n" if self.epilog else "") + "examples:\n" + examples
