"""What the live spectral models share: the time-step policy, the CFL check and
stepping in chunks with the divergence guard.

One engine step advances the state by ``dt``: the fixed ``dt`` parameter, or,
with ``dt = 0``, the largest power of two with CFL number ≤ ``CFL_TARGET``
(capped at ``dt_max_auto``), re-chosen every ``CHECK_EVERY`` steps, so
simulated times are exact binary fractions and a long chunk follows a flow
that speeds up. Because the step may change inside a chunk, :meth:`step`
advances ``time`` itself by the steps actually taken.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.models.neural_operator import _spectral as sp


def power_of_two_below(x: float) -> float:
    """Largest 2^j ≤ x (x > 0)."""
    return 2.0 ** math.floor(math.log2(x))


class SpectralModel(Model):
    """Base of ``burgers`` and ``navier_stokes`` (not registered itself).

    Subclasses create ``self.solver`` (a :class:`._spectral.BurgersSolver` or
    :class:`._spectral.NavierStokesSolver`) and the spectral state ``self._vh``
    (batch of one) in ``_reset``, then call :meth:`_start_clock`; they implement
    :meth:`_advance`.
    """

    #: automatic steps never exceed this (a calm or resting state would allow any)
    dt_max_auto: ClassVar[float] = 2.0**-6
    #: how the CFL number is written in messages
    cfl_formula: ClassVar[str] = "dt·k_c·max speed"

    def _start_clock(self) -> None:
        self._dt_now = None  # (the time is reset to 0 after _reset)
        self._dt_now = self._choose_dt()
        self._check_fixed_dt(self.p["dt"])

    @property
    def dt(self) -> float:
        """The step in use: the fixed ``dt``, or the automatic one."""
        return self._dt_now

    def _choose_dt(self) -> float:
        if self.p["dt"] > 0:
            return float(self.p["dt"])
        auto = self.solver.auto_dt(self._vh)
        dt = min(self.dt_max_auto, power_of_two_below(auto)) if math.isfinite(auto) else self.dt_max_auto
        # grow only at a multiple of the new step: every multiple of the largest step
        # taken is then reached exactly (times are exact binary fractions)
        # (unless the time is already off the grid of the previous step, after a fixed dt)
        previous = self._dt_now
        while (previous is not None and dt > previous and math.fmod(self.time, dt) != 0.0
               and math.fmod(self.time, previous) == 0.0):
            dt /= 2.0
        return dt

    def _check_fixed_dt(self, dt: float) -> None:
        """Refuse a fixed dt whose CFL number for the current state exceeds ``CFL_LIMIT``."""
        if dt <= 0:
            return
        c = self.solver.cfl(self._vh, dt)
        if c > sp.CFL_LIMIT:
            raise ValueError(f"{self.name}: dt = {dt:g} gives CFL number {self.cfl_formula} = {c:.3g} > "
                             f"{sp.CFL_LIMIT:g} (k_c = {self.solver.k_cut:.4g}); lower dt to at most "
                             f"{dt * sp.CFL_LIMIT / c:.3g}, or set dt = 0 (automatic)")

    def _on_live_change(self, changed):
        if "dt" in changed:
            self._check_fixed_dt(changed["dt"])
        self._dt_now = self._choose_dt()

    def _state_changed(self) -> None:
        """Call after painting or set_state: the next step's dt follows the new state."""
        self._dt_now = self._choose_dt()

    def step(self, n: int = 1) -> None:
        """Advance ``n`` steps in chunks of at most ``CHECK_EVERY``, checking the CFL number
        before each chunk and finiteness after it.

        Raises
        ------
        SimulationDiverged
            A fixed dt whose CFL number the state has outgrown (raised before
            stepping on), or a state that stopped being finite (the last finite
            state is kept). The message names dt.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"step: n must be >= 0, not {n}")
        done = 0
        while done < n:
            dt = self._dt_now = self._choose_dt()
            courant = self.solver.cfl(self._vh, dt)
            if courant > sp.CFL_LIMIT:
                raise SimulationDiverged(
                    f"{self.name}: dt = {dt:g} gives CFL number {courant:.3g} > {sp.CFL_LIMIT:g} for the current "
                    f"state (step {self.steps}); lower dt to at most {dt * sp.CFL_LIMIT / courant:.3g} "
                    "or set dt = 0 (automatic)")
            count = min(sp.CHECK_EVERY, n - done)
            new = self._advance(dt, count)
            if not bool(torch.isfinite(torch.view_as_real(new).sum())):
                raise SimulationDiverged(
                    f"{self.name}: the state stopped being finite between step {self.steps} and "
                    f"{self.steps + count}; kept step {self.steps}. Lower dt (now {dt:g}, CFL number "
                    f"{courant:.3g}) or set dt = 0, or raise the viscosity or the grid")
            self._vh = new
            self.steps += count
            self.time += count * dt
            done += count
            self._after_chunk()

    def _advance(self, dt: float, count: int) -> torch.Tensor:
        """``count`` steps of ``dt`` from ``self._vh``; return the new state (do not assign it)."""
        raise NotImplementedError

    def _after_chunk(self) -> None:
        """Hook: the state was advanced (display caches)."""
