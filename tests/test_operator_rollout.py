"""Issue 21: the shipped neural operators over a rollout, and their zero-shot difference's spectrum.

Rollout curves: the operator fed its own output from held-out starts (a seed neither the training
data nor the cards used), relative L2 error ‖pred − true‖₂/‖true‖₂ against the engine's solver at
every step 1 … 40, averaged over a small batch (``_training.ROLLOUT_CASES``). The bounds are what
the shipped checkpoints reach (the issue's targets are stated beside them; see
docs/incoming/h-rollout.md for what is and is not met), and each card's recorded curve must agree
with what is measured here to 20 %.
"""

import math

import pytest
import torch

from attractor_lab.engine.models.neural_operator._checkpoint import load_checkpoint, shipped_checkpoints
from attractor_lab.engine.models.neural_operator._training import (ROLLOUT_CASES, difference_spectrum,
                                                                   rollout_curve, rollout_data)

torch.set_num_threads(1)
FRESH_SEED = 20_261_208
#: the issue's targets. Met by the shipped checkpoints: NS fresh step 1 and mean over 1–40 (1.9 %,
#: 1.6 % on 4 starts; 2.1 %, 1.8 % on the 3 below). Not met: NS step 40 (5–6.5 %), NS from a developed
#: flow (mean 4–6 %, step 40 21–28 %), Burgers step 40 (5.4–6.5 % over 32 starts).
TARGETS = {"ns_fresh": {"step1": 0.02, "mean40": 0.02, "step40": 0.05},
           "ns_developed": {"mean40": 0.02, "step40": 0.05},
           "burgers": {"step40": 0.05}}
#: the bounds the shipped checkpoints are held to: what this file measures (seed FRESH_SEED,
#: TRAJECTORIES starts) plus 15 % for other torch builds. Measured: NS fresh 0.0214 / 0.0179 / 0.0650,
#: developed 0.0009 / 0.0629 / 0.2763, Burgers 0.0065 / 0.0123 / 0.0538 (step 1 / mean 1–40 / step 40).
REACHED = {"ns_fresh": {"step1": 0.025, "mean40": 0.021, "step40": 0.075},
           "ns_developed": {"step1": 0.002, "mean40": 0.073, "step40": 0.32},
           "burgers": {"step1": 0.0075, "mean40": 0.0142, "step40": 0.062}}
#: before issue 21 (the shipped checkpoints as they were, no band projection), same protocol:
#: NS fresh 0.033 / 0.058 / 0.305, developed 0.0006 / 0.123 / 0.470, Burgers 0.013 / 0.20 / 0.83
TRAJECTORIES = {"ns_fresh": 3, "ns_developed": 3, "burgers": 32}

_cache = {}


def _operator(system):
    if system not in _cache:
        _cache[system] = load_checkpoint(shipped_checkpoints()[system])
    return _cache[system]


def _measures(curve):
    return {"step1": curve[0], "mean40": sum(curve[:40]) / 40, "step40": curve[39]}


@pytest.mark.parametrize("case", list(ROLLOUT_CASES))
def test_shipped_rollout_curve_on_fresh_starts(case):
    system = ROLLOUT_CASES[case][0]
    op, card = _operator(system)
    data = rollout_data(case, TRAJECTORIES[case], 40, seed=FRESH_SEED, grid=card["grid"])
    curve = rollout_curve(op, data)
    assert len(curve) == 40 and all(math.isfinite(e) for e in curve)
    got = _measures(curve)
    for key, bound in REACHED[case].items():
        assert got[key] <= bound, f"{case}: {key} = {got[key]:.4f} > {bound}"
    # what is met of the targets, and what is not, stays as documented
    met = {key: got[key] <= target for key, target in TARGETS[case].items()}
    assert met == {"ns_fresh": {"step1": False, "mean40": True, "step40": False},
                   "ns_developed": {"mean40": False, "step40": False},
                   "burgers": {"step40": False}}[case], met


@pytest.mark.parametrize("case", ["ns_fresh", "ns_developed"])
def test_the_cards_rollout_curve_is_what_the_weights_give(case):
    """The card's recorded curve (its own held-out starts: seed test_seed + 1, never trained on)
    measured again; the Burgers card predates recorded curves (its weights are unchanged)."""
    op, card = _operator("navier_stokes")
    roll = card["errors"]["rollout"]
    assert roll["seed"] not in (card["data"]["seed"], card["errors"]["test_seed"])
    data = rollout_data(case, roll["trajectories"], 40, seed=roll["seed"], grid=card["grid"])
    got, recorded = _measures(rollout_curve(op, data)), _measures(roll["curves"][case])
    for key in ("step1", "mean40", "step40"):
        assert got[key] == pytest.approx(recorded[key], rel=0.2), (key, got[key], recorded[key])


@pytest.mark.parametrize("system, factor", [("burgers", 2.0), ("burgers", 0.5), ("navier_stokes", 2.0),
                                            ("navier_stokes", 0.5)])
def test_zero_shot_difference_has_no_grid_scale_peak(system, factor):
    op, card = _operator(system)
    rep = difference_spectrum(op, card, factor, steps=5, batch=2, seed=7)
    assert rep["n"] == round(factor * card["grid"])
    assert rep["error"] < 0.05
    # the top 10 % of wavenumbers hold no peak and no floor of grid-scale noise: at most round-off
    # (float32) next to the difference's main band (a ratio to the band just below means nothing
    # there: that band is round-off too where the solver's 2/3 rule empties it)
    assert rep["top_share"] < 1e-6, rep["top_share"]


@pytest.mark.parametrize("system", ["burgers", "navier_stokes"])
def test_without_the_band_projection_the_coarse_grid_difference_has_grid_scale_noise(system):
    """The defect the projection removes: the network's pointwise path and GELU leave noise up to the
    grid's Nyquist wavenumber, where the solver (2/3 rule) only lets the input decay."""
    op, card = _operator(system)
    saved, op.dt = op.dt, None
    try:
        bare = difference_spectrum(op, card, 0.5, steps=5, batch=2, seed=7)
    finally:
        op.dt = saved
    fixed = difference_spectrum(op, card, 0.5, steps=5, batch=2, seed=7)
    assert bare["top_share"] > 1e-3
    assert fixed["top_share"] < 1e-6
    assert fixed["error"] < bare["error"]
