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
#: the issue's targets. Met by the shipped Navier–Stokes checkpoint from fresh starts (here 1.9 %,
#: 1.6 %, 4.7 %; on its card's starts 1.9 %, 1.9 %, 4.7 %). Not met: NS from a developed flow (mean
#: 3–3.6 %, step 40 12–17 %) and Burgers at step 40 (5.4–6.5 % over 32 starts).
TARGETS = {"ns_fresh": {"step1": 0.02, "mean40": 0.02, "step40": 0.05},
           "ns_developed": {"mean40": 0.02, "step40": 0.05},
           "burgers": {"step40": 0.05}}
MET = {"ns_fresh": {"step1": True, "mean40": True, "step40": True},
       "ns_developed": {"mean40": False, "step40": False},
       "burgers": {"step40": False}}
#: the bounds the shipped checkpoints are held to: what this file measures (seed FRESH_SEED,
#: TRAJECTORIES starts) plus 15 % for other torch builds. Measured (step 1 / mean 1–40 / step 40):
#: NS fresh 0.0191 / 0.0162 / 0.0469, developed 0.0007 / 0.0307 / 0.1175, Burgers 0.0065 / 0.0123 / 0.0538.
REACHED = {"ns_fresh": {"step1": 0.022, "mean40": 0.0187, "step40": 0.054},
           "ns_developed": {"step1": 0.001, "mean40": 0.0354, "step40": 0.136},
           "burgers": {"step1": 0.0075, "mean40": 0.0142, "step40": 0.062}}
#: before issue 21 (the checkpoints as shipped then, no band projection), 4 starts, seed 31337:
#: NS fresh 0.033 / 0.058 / 0.305, developed 0.0006 / 0.123 / 0.470, Burgers 0.021 / 0.38 / 1.52
TRAJECTORIES = {"ns_fresh": 4, "ns_developed": 4, "burgers": 32}
#: how far this file's fresh starts may sit from the card's (other starts, same distribution): 20 %,
#: except where 4–8 starts scatter more (a developed flow's step 1 is 0.07–0.09 %, its step 40 11–17 %)
AGREE = {"ns_fresh": {"step1": 0.2, "mean40": 0.2, "step40": 0.2},
         "ns_developed": {"step1": 0.35, "mean40": 0.2, "step40": 0.35},
         "burgers": {"step1": 0.2, "mean40": 0.2, "step40": 0.2}}

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
    assert met == MET[case], met


@pytest.mark.parametrize("case", list(ROLLOUT_CASES))
def test_the_cards_rollout_curve_is_what_the_weights_give(case):
    """The card's recorded curve (its own held-out starts: seed test_seed + 1, never trained on)
    measured again, and the suite's fresh-seed figures agree with it to 20 % (the Burgers card was
    re-measured with ``train-operator --remeasure``: its weights predate the band projection)."""
    op, card = _operator(ROLLOUT_CASES[case][0])
    roll = card["errors"]["rollout"]
    assert roll["seed"] not in (card["data"]["seed"], card["errors"]["test_seed"])
    data = rollout_data(case, roll["trajectories"], 40, seed=roll["seed"], grid=card["grid"])
    got, recorded = _measures(rollout_curve(op, data)), _measures(roll["curves"][case])
    for key in ("step1", "mean40", "step40"):
        assert got[key] == pytest.approx(recorded[key], rel=0.02), (key, got[key], recorded[key])
    fresh = _measures(rollout_curve(op, rollout_data(case, TRAJECTORIES[case], 40, seed=FRESH_SEED,
                                                     grid=card["grid"])))
    for key, rel in AGREE[case].items():
        assert fresh[key] == pytest.approx(recorded[key], rel=rel), (key, fresh[key], recorded[key])


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
