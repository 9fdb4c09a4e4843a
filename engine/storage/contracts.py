"""Checking a preset's contract: run it headless, exactly as shipped, and test each claim.

A preset's ``[contract]`` (see :class:`engine.storage.presets.Contract`) says what it
shows after a number of steps. :func:`check_contract` creates the model from
the preset's parameters and seed on the CPU (no parameter is changed for the
check), steps it, and compares:

* the pattern class of the contract's field, by
  :func:`engine.analysis.morphology.classify_pattern` on the final state and
  the one ``probe_steps`` before it;
* the grid-scale power (:func:`engine.analysis.morphology.nyquist_fraction`)
  of every array of the state with the field's shape, against
  ``grid_scale_max``;
* observables against their ranges, and pairs of observables against each
  other (``agree``);
* the preset's ``[analysis]`` (a bifurcation diagram, an orbit diagram, basins),
  run to its end on the model as shipped, against ``[contract.analysis]``
  (:func:`engine.analysis.analysis_runs.check_claims_against`).

A run the model pauses (:class:`engine.models.base.SimulationDiverged`, e.g. a
step that became unstable) fails its contract with the model's message.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attractor_lab.engine.analysis.morphology import classify_pattern, nyquist_fraction
from attractor_lab.engine.storage.presets import Preset, load_preset


@dataclass
class ContractResult:
    """The outcome of one contract check."""

    name: str
    claim: str
    failures: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def report(self) -> str:
        """What was claimed, what was measured and what failed, for a test's message."""
        lines = [f"{self.name}: {'passed' if self.passed else 'FAILED'} in {self.seconds:.1f} s",
                 f"  claim: {self.claim}"]
        lines += [f"  measured {k}: {v}" for k, v in self.measured.items()]
        lines += [f"  failed: {f}" for f in self.failures]
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def check_contract(preset: Preset | str | Path, device: str = "cpu") -> ContractResult:
    """Run ``preset`` (a :class:`Preset` or a path) for its contract's steps and check its claims."""
    from attractor_lab import engine  # the model registry imports torch: only where contracts are run
    from attractor_lab.engine.models.base import SimulationDiverged

    if not isinstance(preset, Preset):
        preset = load_preset(preset)
    name = preset.path.name if preset.path is not None else preset.title or preset.model
    c = preset.contract
    if c is None:
        raise ValueError(f"{name}: the preset has no [contract] to check")
    t0 = time.perf_counter()
    sim = engine.create(preset.model, seed=preset.seed, device=device, **preset.params)
    dt = sim.model.dt
    result = ContractResult(name, c.describe(dt if "dt" in sim.params else None))
    probe = c.probe if c.pattern is not None else 0
    earlier = None
    try:
        sim.step(c.steps - probe)
        if probe:
            earlier = np.array(sim.state()[c.field], dtype=np.float64, copy=True)
            sim.step(probe)
    except SimulationDiverged as exc:
        result.failures.append(f"the run stopped at step {sim.model.steps}: {exc}")
        result.seconds = time.perf_counter() - t0
        return result
    obs = sim.observables()
    try:  # what the contract checks must reach the window: every array of the frame can travel
        from attractor_lab.engine.arrays import pack_arrays

        pack_arrays(sim.model.numpy_state())
    except (TypeError, ValueError) as exc:
        result.failures.append(f"the state cannot be published to the window: {type(exc).__name__}: {exc}")

    if c.field is not None and (c.pattern is not None or c.grid_scale_max is not None):
        state = sim.state()
        if c.field not in state:
            result.failures.append(f"field {c.field!r} is not in the state; it has {', '.join(sorted(state))}")
        else:
            main = np.asarray(state[c.field], dtype=np.float64)
            if c.pattern is not None:
                if main.ndim != 2:
                    result.failures.append(f"pattern: field {c.field!r} has shape {main.shape}, not 2D")
                else:
                    morph = classify_pattern(main, earlier)
                    result.measured["pattern"] = morph.summary()
                    if morph.pattern != c.pattern:
                        result.failures.append(f"pattern: claimed {c.pattern}, measured {morph.pattern} "
                                               f"({morph.summary()})")
            if c.grid_scale_max is not None:
                for key, value in state.items():
                    arr = np.asarray(value)
                    if arr.shape != main.shape or not np.issubdtype(arr.dtype, np.floating):
                        continue
                    frac = nyquist_fraction(arr)
                    result.measured[f"grid-scale power of {key}"] = f"{frac:.3g}"
                    if not frac <= c.grid_scale_max:
                        result.failures.append(f"grid-scale power of {key}: {frac:.3g} > {c.grid_scale_max:g}")

    def value(key: str) -> float | None:
        if key not in obs:
            result.failures.append(f"{key!r} is not an observable of {preset.model}; it has "
                                   f"{', '.join(sorted(obs))}")
            return None
        return float(obs[key])

    for key, (lo, hi) in c.observables.items():
        x = value(key)
        if x is None:
            continue
        result.measured[key] = _fmt(x)
        if not lo <= x <= hi:
            result.failures.append(f"{key} = {_fmt(x)} outside [{lo:g}, {hi:g}]")
    for key, (other, tol) in c.agree.items():
        a, b = value(key), value(other)
        if a is None or b is None:
            continue
        result.measured[f"{key} − {other}"] = _fmt(a - b)
        if not (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol):
            result.failures.append(f"{key} = {_fmt(a)} and {other} = {_fmt(b)} differ by more than {tol:g}")
    if c.analysis:
        _check_analysis(preset, sim.model, result)
    result.seconds = time.perf_counter() - t0
    return result


def _check_analysis(preset: Preset, model, result: ContractResult) -> None:
    """The preset's ``[analysis]`` run to its end on the model as shipped, against ``[contract.analysis]``."""
    from attractor_lab.engine.analysis.analysis_runs import check_claims_against, collect, field_of

    try:
        summary, pieces = collect(field_of(model), preset.analysis)
    except ValueError as exc:
        result.failures.append(f"analysis: {exc}")
        return
    measured, failures = check_claims_against(preset.analysis, preset.contract.analysis, summary, pieces)
    result.measured.update({f"analysis {k}": v for k, v in measured.items()})
    result.failures += [f"analysis: {f}" for f in failures]
