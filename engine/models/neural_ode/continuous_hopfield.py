"""Continuous (graded-response) Hopfield network (Hopfield 1984).

N units with internal states x_i and outputs v_i = tanh(β x_i) follow

    dx/dt = −x + W v,     W = (1/N) Σ_μ ξ^μ ξ^μᵀ   (Hebbian, self-couplings W_ii = P/N included)

with P = αN patterns ξ^μ ∈ {±1}^N (random or glyphs) and β = 1/T. Overlaps
m_μ = ξ^μ·v/N; since W v = Σ_μ ξ^μ m_μ, everything goes through the P
overlaps (2NP work per evaluation, never the N×N matrix).

Lyapunov function. For symmetric W,

    E(v) = −½ vᵀWv + (1/β) Σ_i [v_i atanh v_i + ½ ln(1 − v_i²)]

(the second term is Σ_i ∫₀^{v_i} tanh⁻¹(s)/β ds, Hopfield's 1984 integral for
a tanh gain). With ∂E/∂v_i = −(Wv)_i + x_i = −ẋ_i and v̇_i = β(1 − v_i²) ẋ_i,

    dE/dt = −β Σ_i (1 − v_i²) ẋ_i² ≤ 0,

zero only at fixed points. It is evaluated from x, not v, because v rounds to
±1 long before x is large: v atanh v = βx tanh(βx) and ½ ln(1 − v²) =
−ln cosh(βx), so E = −(N/2) Σ_μ m_μ² + Σ_i [x_i v_i − ln cosh(βx_i)/β], with
ln cosh written overflow-free. Shown per neuron (E/N), like ``hopfield``.
(The discrete model's −½σᵀJσ/N has neither the self-coupling term, about
−α/2 per neuron once the outputs saturate, nor the entropy term, which
vanishes as T → 0.)

Why keep the self-couplings: with one pattern the fixed point is then
x = ξ m, v = ξ tanh(βm), so m = tanh(βm) exactly — the Curie–Weiss equation
the view compares with (at β = 1/0.7, m = 0.8286). Without them the
equation picks up −v_i/N corrections. At finite load the deterministic
fixed points are mean-field (no Onsager term), not the AGS replica theory of
the stochastic model; the Curie–Weiss curve is their α → 0 limit.

Integration: classical RK4 in float64 with substeps h chosen so that h·L ≤ 0.5,
where L = 1 + β‖W‖₂ bounds the norm of the Jacobian −I + W diag(β(1 − v²))
(‖W‖₂ by power iteration on the overlaps when the load changes; the substep
follows β, dt and the load). At h·L = 0.5 RK4 is well inside its stability
region (2.78) and its relative error per step, ~(hL)⁵/120 ≈ 3·10⁻⁴, is small
against the energy's decrease per step: E never increased along computed
trajectories (worst step +4·10⁻¹⁵ per neuron, float64 rounding, over random
and glyph patterns, loads up to 0.5, β up to 50 and dt up to 2; the tests
run a set of them). One engine step advances ``dt``.

Load changes live: a pool of patterns (±1, int8) is drawn at reset and the
first P = round(αN) of it are stored. The pool holds min(⌈0.5 N⌉,
:data:`POOL_ENTRIES`/N) patterns (glyphs: 56; images: as many as given), so
the load can go up to 0.5 for N ≤ 11 585 and to POOL_ENTRIES/N² above;
a larger load is refused with the maximum in the message.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from attractor_lab.engine import patterns as pattern_sources
from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.params import Param
from attractor_lab.engine.theory import hopfield as theory

#: the most pattern entries (int8) kept for live load changes: 64 MiB
POOL_ENTRIES = 2**26
LOAD_MAX = 0.5
#: RK4 substeps keep h·L at or below this (L bounds the Jacobian's norm)
STEP_TIMES_LIPSCHITZ = 0.5
SHOWN_OVERLAPS = 5
LN2 = math.log(2.0)


@functools.lru_cache(maxsize=512)
def _curie_weiss(temperature: float) -> float:
    return theory.curie_weiss_overlap(temperature)


@functools.cache
def _curie_weiss_curve() -> tuple[np.ndarray, np.ndarray]:
    temps = np.linspace(0.02, 1.6, 80)
    return temps, np.array([theory.curie_weiss_overlap(float(t)) for t in temps])


@register
class ContinuousHopfield(Model):
    name = "continuous_hopfield"
    title = "Continuous Hopfield network (graded response)"
    description = (
        "Hopfield's 1984 analog network dx/dt = −x + W tanh(βx) with Hebbian couplings: retrieval from a noisy "
        "cue along a trajectory on which the Lyapunov energy never increases; with one pattern the overlap "
        "follows the Curie–Weiss curve m = tanh(m/T)."
    )
    equations = (
        "dx/dt = −x + W v,   v = tanh(βx),   W = (1/N) Σ_μ ξ^μ ξ^μᵀ (self-couplings kept),   β = 1/T\n"
        "E = −½ vᵀWv + (1/β) Σ_i [v_i atanh v_i + ½ ln(1 − v_i²)],   dE/dt = −β Σ_i (1 − v_i²) ẋ_i² ≤ 0\n"
        "m_μ = ξ^μ·v / N;   one pattern: m = tanh(βm) (Curie–Weiss)"
    )
    params = (
        Param("neurons", "int", 1024, 16, 1_000_000, live=False, log=True, help="N; square numbers display as images"),
        Param("load", "float", 0.05, 0.0, LOAD_MAX, step=0.005,
              help=f"α = P/N (at least 1 pattern); live up to {LOAD_MAX} while N·P stays within the pattern pool"),
        Param("temperature", "float", 0.1, 0.02, 3.0, step=0.05, help="T = 1/β, the inverse gain of tanh(βx)"),
        Param("dt", "float", 0.2, 0.001, 2.0, unit="time", log=True,
              help="time advanced per engine step (RK4 substeps inside keep h·(1 + β‖W‖) ≤ 0.5)"),
        Param("start", "choice", "cue", choices=("cue", "random", "mixture"), live=False,
              help="x(0): noisy cued pattern, random ±1, or sign(ξ¹ + ξ² + ξ³)"),
        Param("cue_pattern", "int", 1, 1, 1_000_000, live=False, help="pattern (1..P) the start is cued with and the views compare to"),
        Param("cue_noise", "float", 0.2, 0.0, 1.0, live=False, step=0.05, help="fraction of the cue's signs flipped in x(0)"),
        Param("pattern_source", "choice", "random", choices=("random", "glyphs", "images"), live=False,
              help="random ±1, rendered letters/digits, or ±1 images set with set_image_patterns"),
    )
    views = (
        # wrong signs are marked only while the network has a target to retrieve (has_target); else the mask is zero
        {"kind": "image", "array": "state", "title": "Outputs v = tanh(βx) (wrong signs marked while retrieving)",
         "colormap": "gray", "levels": [-1.0, 1.0], "mask": "wrong_bits", "role": "primary"},
        {"kind": "image", "array": "cued_pattern", "title": "Cued pattern", "colormap": "gray", "levels": [-1.0, 1.0],
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["m_cued"] + [f"m_{k}" for k in range(1, SHOWN_OVERLAPS + 1)],
         "title": "Overlaps (cued first)", "role": "secondary"},
        {"kind": "timeseries", "observables": ["energy"], "title": "Energy per neuron (never increases)",
         "role": "secondary"},
        {
            "kind": "lines",
            "title": "Overlap against temperature",
            "xlabel": "temperature T",
            "ylabel": "overlap m",
            "ylim": [-0.02, 1.02],
            "series": [{"x": "cw_T", "y": "cw_m", "name": "m = tanh(m/T) (one pattern; α → 0)"}],
            "points": [{"x": "temperature", "y": "m_cued", "name": "simulation"}],
            "role": "secondary",
        },
        {"kind": "bars", "array": "overlaps", "title": "Overlaps m_μ now", "ylim": [-1.0, 1.0], "role": "secondary"},
        {"kind": "timeseries", "observables": ["speed"], "title": "Speed: RMS of dx/dt (→ 0 at a fixed point)", "logy": True,
         "role": "secondary"},
        {"kind": "values", "observables": ["temperature", "beta", "load", "max_load", "patterns", "m_cued", "m_curie_weiss",
                                           "energy", "w_norm", "substeps", "has_target"],
         "title": "Now (x = 0 is stable when β·w_norm < 1)", "role": "info"},
        {"kind": "text", "array": "equations", "role": "info"},
    )
    steps_per_frame = 1  # retrieval takes a few time units: watch it
    record_fields = ("state", "overlaps")  # the outputs v and the overlaps; the Curie–Weiss curve is a constant
    theory_fields = ("cw_T", "cw_m")

    _custom_patterns: np.ndarray | None = None

    # ---- patterns -------------------------------------------------------------
    def set_image_patterns(self, patterns: np.ndarray) -> None:
        """Use these ±1 patterns (P, N) for ``pattern_source = "images"`` (see
        :func:`engine.patterns.load_image_patterns`). Applies at the next reset;
        ``neurons`` and ``load`` are set to store all of them."""
        arr = np.asarray(patterns, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 16:
            raise ValueError(f"set_image_patterns: expected an array (P, N) with N >= 16, not shape {arr.shape}")
        if not np.all(np.isin(arr, (-1.0, 1.0))):
            raise ValueError("set_image_patterns: entries must be ±1 (binarise with load_image_patterns)")
        if arr.shape[0] > LOAD_MAX * arr.shape[1]:
            raise ValueError(f"set_image_patterns: {arr.shape[0]} images of {arr.shape[1]} pixels exceed load {LOAD_MAX}")
        self._custom_patterns = arr
        self.set(neurons=arr.shape[1], load=arr.shape[0] / arr.shape[1], pattern_source="images")

    def _pattern_pool(self, n: int) -> torch.Tensor:
        """The (pool, N) int8 ±1 patterns the load picks its first P from."""
        src = self.p["pattern_source"]
        if src == "random":
            size = max(1, min(math.ceil(LOAD_MAX * n), POOL_ENTRIES // n))
            bits = torch.randint(0, 2, (size, n), generator=self.generator, device=self.device, dtype=torch.int8)
            return bits.mul_(2).sub_(1)
        if src == "glyphs":
            rows, cols = pattern_sources.square_shape(n)
            if rows != cols:
                raise ValueError(f"continuous_hopfield: pattern_source 'glyphs' needs a square number of neurons, not {n}")
            glyphs = pattern_sources.glyph_patterns(pattern_sources.max_glyphs(), rows)
            return torch.from_numpy(glyphs).to(device=self.device, dtype=torch.int8)
        if self._custom_patterns is None:
            raise ValueError("continuous_hopfield: pattern_source 'images' needs images first (set_image_patterns)")
        if self._custom_patterns.shape[1] != n:
            raise ValueError(f"continuous_hopfield: the images have {self._custom_patterns.shape[1]} pixels but neurons = {n}")
        return torch.from_numpy(self._custom_patterns).to(device=self.device, dtype=torch.int8)

    def max_load(self) -> float:
        """The largest load this network's pattern pool allows (see the module docstring)."""
        return min(LOAD_MAX, self.pool.shape[0] / self.p["neurons"])

    def _pattern_count(self, load: float) -> int:
        n = self.p["neurons"]
        count = max(1, int(round(load * n)))
        pool = self.pool.shape[0]
        if count > pool:
            what = {"random": f"{pool} random patterns (live load changes keep at most {POOL_ENTRIES:,} entries)",
                    "glyphs": f"{pool} glyphs", "images": f"the {pool} images given"}[self.p["pattern_source"]]
            raise ValueError(
                f"continuous_hopfield: parameter 'load' = {load:g} needs {count} patterns of {n} neurons, but the "
                f"pattern pool holds {what}; the maximum load here is {self.max_load():.6g}")
        if self.p["cue_pattern"] > count:
            raise ValueError(
                f"continuous_hopfield: parameter 'load' = {load:g} stores {count} pattern(s) but 'cue_pattern' is "
                f"{self.p['cue_pattern']}; allowed cue_pattern 1..{count}")
        return count

    # ---- lifecycle ------------------------------------------------------------
    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset (engine budget): the int8 pattern pool (random
        patterns: enough rows for the largest live load, within POOL_ENTRIES), the
        float64 patterns of this load, ×1.2, plus 12 MiB. A live raise of ``load``
        later adds 8 bytes per new pattern entry, unchecked by the guard."""
        n = p["neurons"]
        count = max(1, int(round(p["load"] * n)))
        pool = max(1, min(math.ceil(LOAD_MAX * n), POOL_ENTRIES // n)) if p["pattern_source"] == "random" else count
        return int(1.2 * (pool * n + 8 * count * n)) + (12 << 20)

    def _reset(self) -> None:
        n = self.p["neurons"]
        self.pool = self._pattern_pool(n)
        self._norms: dict[int, float] = {}
        self._use_patterns(self._pattern_count(self.p["load"]))
        self.x = self._initial_state(n)
        self._configure()

    def _use_patterns(self, count: int) -> None:
        self.count = count
        self.xi = self.pool[:count].to(torch.float64)  # (P, N)

    def _initial_state(self, n: int) -> torch.Tensor:
        dev, gen = self.device, self.generator
        coin = torch.randint(0, 2, (n,), generator=gen, device=dev).to(torch.float64).mul_(2.0).sub_(1.0)
        start = self.p["start"]
        if start == "random":
            return coin
        if start == "cue":
            base = self.xi[self.p["cue_pattern"] - 1]
        else:
            base = self.pool[:3].to(torch.float64).sum(0)  # three patterns, whatever the load
        sign = torch.where(base != 0, torch.sign(base), coin)
        flip = torch.rand(n, generator=gen, device=dev) < self.p["cue_noise"]
        return torch.where(flip, -sign, sign)

    def _on_live_change(self, changed) -> None:
        if "load" in changed:
            count = self._pattern_count(self.p["load"])  # raises before anything changes
            if count != self.count:
                self._use_patterns(count)
        self._configure()

    def _configure(self) -> None:
        """β, ‖W‖₂ and the RK4 substep for the current parameters."""
        self.beta = 1.0 / self.p["temperature"]
        if self.count not in self._norms:
            self._norms[self.count] = self._coupling_norm()
        self.w_norm = self._norms[self.count]
        # +5 %: a power iteration approaches ‖W‖₂ from below
        lipschitz = 1.0 + 1.05 * self.beta * self.w_norm
        self.substeps = max(1, math.ceil(self.p["dt"] * lipschitz / STEP_TIMES_LIPSCHITZ))
        self.h = self.p["dt"] / self.substeps

    def _coupling_norm(self) -> float:
        """‖W‖₂ = largest eigenvalue of ΞΞᵀ/N (P×P, never formed), by power iteration to a
        relative change of 10⁻⁴; exactly 1 for one pattern."""
        n = self.p["neurons"]
        if self.count == 1:
            return 1.0
        z = torch.ones(self.count, device=self.device, dtype=torch.float64)
        z += torch.linspace(0.0, 1.0, self.count, device=self.device, dtype=torch.float64)  # fixed start: no RNG
        z /= z.norm()
        value = 0.0
        for _ in range(100):
            z_new = self.xi @ (self.xi.T @ z) / n
            previous, value = value, float(z_new.norm())
            z = z_new / value
            if abs(value - previous) < 1e-4 * value:
                break
        return min(value, float(self.count))  # ‖W‖ ≤ tr W = P

    # ---- dynamics ---------------------------------------------------------------
    def _field(self, x: torch.Tensor) -> torch.Tensor:
        """dx/dt = −x + Ξᵀ m,  m = Ξ tanh(βx) / N."""
        m = self.xi @ torch.tanh(self.beta * x) / x.shape[0]
        return torch.addmv(x, self.xi.T, m, beta=-1.0)

    def _step(self, n: int) -> None:
        h = self.h
        x = self.x
        for _ in range(n * self.substeps):
            k1 = self._field(x)
            k2 = self._field(x + 0.5 * h * k1)
            k3 = self._field(x + 0.5 * h * k2)
            k4 = self._field(x + h * k3)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        if not bool(torch.isfinite(x.sum())):
            raise SimulationDiverged(
                f"continuous_hopfield: the state stopped being finite between step {self.steps} and {self.steps + n}; "
                f"kept step {self.steps}. Lower 'dt' (now {self.p['dt']:g}).")
        self.x = x

    # ---- observables ------------------------------------------------------------
    def outputs(self) -> torch.Tensor:
        """v = tanh(βx)."""
        return torch.tanh(self.beta * self.x)

    def overlaps(self) -> torch.Tensor:
        """m_μ = ξ^μ·v/N for the stored patterns, (P,)."""
        return self.xi @ self.outputs() / self.x.shape[0]

    def energy(self, x: torch.Tensor | None = None) -> float:
        """E/N, E = −½ vᵀWv + (1/β) Σ [v atanh v + ½ ln(1 − v²)], evaluated from x (see module docstring)."""
        x = self.x if x is None else x
        n = x.shape[0]
        bx = self.beta * x
        v = torch.tanh(bx)
        m = self.xi @ v / n
        a = bx.abs()
        ln_cosh = a + torch.log1p(torch.exp(-2.0 * a)) - LN2
        return float((-0.5 * n * (m @ m) + (x * v).sum() - ln_cosh.sum() / self.beta) / n)

    def energy_rate(self) -> float:
        """dE/dt per neuron from the flow, −β Σ (1 − v²) ẋ² / N (≤ 0): what the energy's decrease must match."""
        v = self.outputs()
        xdot = self._field(self.x)
        return float(-self.beta * ((1.0 - v * v) * xdot * xdot).sum() / self.x.shape[0])

    def _image(self, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(pattern_sources.square_shape(v.shape[-1]))

    def has_target(self, m_cued: float | None = None) -> bool:
        """Whether the network has a pattern it should retrieve, so that "wrong" signs mean something:
        a cued start at a temperature where one pattern is retrieved (T < 1: the Curie–Weiss overlap
        is > 0), or any start that has come within overlap 0.5 of the cued pattern. A paramagnet
        (outputs → 0), a random or a mixture start far from every pattern has none."""
        if m_cued is None:
            m_cued = float(self.xi[self.p["cue_pattern"] - 1] @ self.outputs() / self.x.shape[0])
        cued_retrieval = self.p["start"] == "cue" and _curie_weiss(float(self.p["temperature"])) > 0
        return bool(cued_retrieval or m_cued >= 0.5)

    def state(self):
        cue = self.xi[self.p["cue_pattern"] - 1]
        v = self.outputs()
        temps, m_cw = _curie_weiss_curve()
        wrong = (torch.sign(v) != cue) if self.has_target() else torch.zeros_like(cue, dtype=torch.bool)
        return {
            "state": self._image(v),
            "cued_pattern": self._image(cue),
            "wrong_bits": self._image(wrong.to(torch.uint8)),
            "overlaps": self.overlaps(),
            "cw_T": temps,
            "cw_m": m_cw,
        }

    def observables(self):
        m = self.overlaps()
        cue = self.p["cue_pattern"] - 1
        best = int(torch.argmax(m))
        xdot = self._field(self.x)
        obs = {
            "m_cued": float(m[cue]),
            "best_pattern": float(best + 1),
            "best_overlap": float(m[best]),
            "energy": self.energy(),
            "speed": float(xdot.norm() / math.sqrt(self.x.shape[0])),
            "m_curie_weiss": _curie_weiss(float(self.p["temperature"])),
            "temperature": float(self.p["temperature"]),
            "beta": self.beta,
            "load": self.count / self.p["neurons"],
            "patterns": float(self.count),
            "max_load": self.max_load(),
            "w_norm": self.w_norm,
            "substeps": float(self.substeps),
            "has_target": float(self.has_target(float(m[cue]))),
        }
        for k in range(1, SHOWN_OVERLAPS + 1):
            obs[f"m_{k}"] = float(m[k - 1]) if k <= self.count else float("nan")
        return obs
