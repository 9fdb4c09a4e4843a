"""Hopfield associative memory: classical, diluted, dense and unsupervised.

N neurons σ_i = ±1 store P = αN patterns ξ^μ. The pairwise network has
Hebbian couplings J = (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal and energy
E = −½ σᵀJσ; the dense network of order p ≥ 3 has E = −(N/p) Σ_μ m_μ^p
with overlaps m_μ = ξ^μ·σ/N. Dynamics: heat-bath (Glauber) updates at
temperature T, random-order sequential (exact, see
:mod:`engine.models.hopfield._dynamics`), parallel, or on a random subset.

Variants, all structural parameters:

* ``pattern_dilution`` d: pattern entries are 0 with probability d, the
  multitasking network (hierarchical overlaps (1 − d) d^{k−1} at T = 0).
* ``synaptic_dilution``: a symmetric random fraction of couplings removed,
  the rest rescaled by 1/(1 − fraction). This needs the explicit N×N matrix.
* ``examples`` M > 0: the network never sees ξ; it is built from M noisy
  examples η = χ ξ per pattern, P(χ = ±1) = (1 ± r)/2 with r the
  ``example_quality``, J = Σ_{μ,a} η η ᵀ / (N M 𝓡), 𝓡 = r² + (1 − r²)/M
  (unsupervised Hebbian learning, Agliari et al.). Overlaps are still
  measured against the unseen ξ.
* ``learning_rule = "projector"``: J = Ξᵀ C⁻¹ Ξ / N with C = ΞΞᵀ/N, which
  stores correlated patterns (glyphs, images) that the Hebbian rule mixes.

The explicit N×N matrix is built only for synaptic dilution or when the
number of stored vectors reaches N; otherwise everything goes through the
overlaps (R×P numbers for R replicas), O(P) work per spin update.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from attractor_lab.engine import patterns as pattern_sources
from attractor_lab.engine.models import register
from attractor_lab.engine.models.hopfield._dynamics import (
    CouplingBackend,
    DenseBackend,
    OverlapBackend,
    sequential_chunk,
    sweep_parallel,
    sweep_sequential,
)
from attractor_lab.engine.models.base import Model
from attractor_lab.engine.params import Param
from attractor_lab.engine.theory import dense as dense_theory
from attractor_lab.engine.theory import hopfield as theory

#: above this many couplings the explicit matrix is refused (4 bytes each)
MAX_COUPLINGS = 25_000**2
#: how many overlaps appear as separate observables m_1..m_K
SHOWN_OVERLAPS = 5
#: number of hierarchy levels in the multitasking panel (at most P of them are drawn)
HIERARCHY_LEVELS = 6
#: where no theory speaks, a cued network retrieves (has a target) while its cued overlap is at least this
RETRIEVAL_OVERLAP = 0.5


#: the zero-load theories (mixtures, unsupervised learning) are offered up to these loads
MIXTURE_MAX_LOAD = 0.02
EXAMPLE_MAX_LOAD = 0.05


@functools.lru_cache(maxsize=256)
def _rs_overlap(alpha: float, temperature: float) -> float:
    return theory.retrieval_overlap(alpha, temperature)


@functools.lru_cache(maxsize=256)
def _unsupervised_overlap(quality: float, examples: int, temperature: float) -> float:
    return theory.unsupervised_overlap(quality, examples, temperature)


@functools.lru_cache(maxsize=256)
def _dense_overlaps(alpha: float, order: int, temps: tuple) -> np.ndarray:
    m, _ = dense_theory.solve_rs(alpha, np.array(temps), order, "self", iterations=3000, tol=1e-10)
    m = np.where(m > 1e-4, m, 0.0)
    # T = 0 from the closed equation (the z grid cannot resolve the step)
    return np.where(np.array(temps) < dense_theory.T_COLD, dense_theory.zero_temperature_overlap(alpha, order), m)


def pattern_count(params) -> int:
    """P from the load: P = αN (``load_scaling = "linear"``) or P = αN^{p−1} (``"dense"``, the
    dense network's own scaling), at least 1."""
    n, order = params["neurons"], params["interaction_order"]
    power = order - 1 if params.get("load_scaling", "linear") == "dense" else 1
    return max(1, int(round(params["load"] * float(n) ** power)))


@register
class Hopfield(Model):
    name = "hopfield"
    title = "Hopfield network"
    description = (
        "Associative memory of ±1 neurons: Hebbian, diluted (multitasking), dense (p-body) and "
        "unsupervised variants, with the replica-symmetric theory beside the simulation."
    )
    equations = (
        "J_ij = (1/N) Σ_μ ξ_i^μ ξ_j^μ,  J_ii = 0,   E = −½ Σ_ij J_ij σ_i σ_j\n"
        "dense: E = −(N/p) Σ_μ m_μ^p (self-interaction terms kept),   m_μ = (1/N) Σ_i ξ_i^μ σ_i\n"
        "heat bath: P(σ_i = +1) = 1 / (1 + exp(−2 h_i / T))\n"
        "RS (AGS): m = ⟨tanh β(m + √(αr) z)⟩,  q = ⟨tanh² β(m + √(αr) z)⟩,  r = q / (1 − β(1 − q))²"
    )
    params = (
        Param("neurons", "int", 4096, 16, 4_000_000, help="N; square numbers display as images", live=False, log=True),
        Param("load", "float", 0.05, 0.0, 100.0, help="α: P = αN, or P = αN^(p−1) with load_scaling 'dense' (P ≥ 1 pattern)", live=False, step=0.005),
        Param("load_scaling", "choice", "linear", choices=("linear", "dense"),
              help="how the load counts patterns: linear P = αN; dense P = αN^(p−1), the dense network's own scaling", live=False),
        Param("temperature", "float", 0.0, 0.0, 3.0, help="T; 0 is deterministic", step=0.05),
        Param("pattern_dilution", "float", 0.0, 0.0, 0.95, help="d: pattern entries are 0 with probability d", live=False, step=0.05),
        Param("synaptic_dilution", "float", 0.0, 0.0, 0.99, help="fraction of couplings removed (symmetric); builds the N×N matrix", live=False, step=0.05),
        Param("interaction_order", "int", 2, 2, 8, help="p: 2 pairwise, ≥ 3 dense network E = −N Σ m^p / p", live=False),
        Param("examples", "int", 0, 0, 10_000, help="M noisy examples per pattern; 0 stores the patterns themselves", live=False),
        Param("example_quality", "float", 0.5, 0.0, 1.0, help="r: examples agree with the pattern with probability (1 + r)/2", live=False, step=0.05),
        Param("update", "choice", "sequential", choices=("sequential", "parallel", "random_subset"), help="single-spin random order, all at once, or a random fraction per update"),
        Param("subset_fraction", "float", 0.1, 0.001, 1.0, help="fraction of spins per random_subset update (a sweep does 1/fraction of them)", log=True,
              shown_when=(("update", ("random_subset",)),)),
        Param("start", "choice", "cue", choices=("cue", "random", "mixture"), help="initial state: noisy cued pattern, random, or sign(ξ¹+ξ²+ξ³)", live=False),
        Param("cue_pattern", "int", 1, 1, 1_000_000, help="which pattern (1..P) the start is cued with and the views compare to", live=False),
        Param("cue_noise", "float", 0.1, 0.0, 1.0, help="fraction of bits flipped in the initial state", live=False, step=0.05),
        Param("pattern_source", "choice", "random", choices=("random", "glyphs", "images"), help="random ±1, rendered letters/digits, or images set with set_image_patterns", live=False),
        Param("learning_rule", "choice", "hebbian", choices=("hebbian", "projector"), help="Hebbian, or the projector rule for correlated patterns (p = 2)", live=False),
        Param("replicas", "int", 1, 1, 4096, help="independent copies run together (batched)", live=False),
    )
    views = (
        # wrong_bits marks spins against the cued pattern only while the network has that target
        # (has_target): all zero in a paramagnet, a spin glass, a mixture, parallel retrieval
        {"kind": "image", "array": "spins", "title": "Spins (replica 1; marked: bits wrong against the cued pattern)",
         "colormap": "gray", "levels": [-1.0, 1.0], "mask": "wrong_bits", "role": "primary"},
        {"kind": "image", "array": "cued_pattern", "title": "Cued pattern", "colormap": "gray", "levels": [-1.0, 1.0],
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["m_cued"] + [f"m_{k}" for k in range(1, SHOWN_OVERLAPS + 1)], "title": "Overlaps (cued first)",
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["energy"], "title": "Energy per neuron", "role": "secondary"},
        {
            "kind": "lines",
            "role": "secondary",
            "title": "Phase diagram (AGS: pairwise Hebbian, random patterns)",
            "shown_when": [["dense_theory", [0]]],
            "empty_note": "AGS's phase diagram is for pairwise Hebbian networks of random patterns "
                          "retrieving one of them; it does not describe these settings (see the "
                          "equations panel for the theory that does).",
            "xlabel": "load α",
            "ylabel": "temperature T",
            "series": [
                {"x": "pd_alpha_g", "y": "pd_Tg", "name": "T_g = 1 + √α"},
                {"x": "pd_alpha", "y": "pd_TM", "name": "T_M (retrieval exists)"},
                {"x": "pd_alpha_Tc", "y": "pd_Tc", "name": "T_c (retrieval global)"},
            ],
            # pd_load is NaN where AGS does not apply (the dot would sit on an empty diagram)
            "points": [{"x": "pd_load", "y": "temperature", "name": "now"}],
        },
        {
            # the dense network's own diagram (engine.theory.dense), in its load P = α N^(p−1)
            "kind": "lines",
            "role": "secondary",
            "shown_when": [["dense_theory", [1]]],
            "title": "Phase diagram (dense p-body, RS; load α = P / N^(p−1), self-interactions kept)",
            "xlabel": "dense load α = P / N^(p−1)",
            "ylabel": "temperature T",
            "series": [
                {"x": "pdd_alpha", "y": "pdd_TM", "name": "T_M (retrieval exists)"},
                {"x": "pdd_alpha_Tc", "y": "pdd_Tc", "name": "T_c (retrieval below the glass)"},
                {"x": "pdd_alpha_g", "y": "pdd_Tg", "name": "T_g (glassy m = 0 branch)", "style": "dash"},
            ],
            "points": [{"x": "pdd_load", "y": "temperature", "name": "now"}],
        },
        {
            "kind": "lines",
            "role": "secondary",
            "title": "Overlap against temperature",
            "xlabel": "temperature T",
            "ylabel": "retrieval overlap m",
            "ylim": [-0.02, 1.02],
            "series": [
                {"x": "mT_T", "y": "mT_cw", "name": "Curie–Weiss (α → 0)", "style": "dash"},
                {"x": "mT_T", "y": "mT_rs", "name": "theory of this network"},
            ],
            "points": [{"x": "temperature", "y": "m_cued", "name": "simulation"}],
        },
        {"kind": "bars", "array": "overlaps", "title": "Overlaps m_μ now", "ylim": [-1.0, 1.0], "role": "secondary"},
        {"kind": "timeseries", "observables": ["m_cued", "m_theory", "replica_overlap", "wrong_fraction"], "title": "Retrieval against theory",
         "role": "secondary"},
        {
            # only for diluted patterns (the flag ``diluted``), ranks 1..min(6, P)
            "kind": "lines",
            "role": "secondary",
            "shown_when": [["diluted", [1]]],
            "title": "Multitasking hierarchy",
            "xlabel": "rank k",
            "ylabel": "overlap",
            "series": [
                {"x": "hierarchy_k", "y": "hierarchy_theory", "name": "(1 − d) d^(k−1)"},
                {"x": "hierarchy_k", "y": "hierarchy_sim", "name": "sorted |m|"},
            ],
        },
        {"kind": "text", "array": "equations", "role": "info"},
    )
    time_per_step = 1.0
    steps_per_frame = 1  # one sweep per displayed frame: retrieval is worth watching
    # the AGS phase diagram, the multitasking amplitudes and the m(T) curves
    theory_fields = ("pd_alpha", "pd_alpha_g", "pd_Tg", "pd_TM", "pd_alpha_Tc", "pd_Tc", "hierarchy_k",
                     "hierarchy_theory", "mT_T", "mT_cw", "mT_rs", "pdd_alpha", "pdd_TM", "pdd_alpha_Tc", "pdd_Tc",
                     "pdd_alpha_g", "pdd_Tg")

    _custom_patterns: np.ndarray | None = None

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset and its first sweeps, for the engine's budget (bytes).

        S = P·N pattern entries, E = rows·N entries of the stored vectors (rows = P, or
        P·M noisy examples). Phases, each with what stays alive:

        * patterns: an int8 draw and its float32 copy (5S); diluted, a float mask and
          the masked copy (13S);
        * examples: the float patterns, a bool draw, two float copies and η (4S + 10E);
        * overlaps (P < N): ξ and the (N, P) transposed copy (8E), the int8 rows of the
          compiled kernel (E), then a float64 copy for its exact counts (8E): 4S + 13E
          beside ξ with the compiled sequential kernel, 4S + 9E otherwise (float
          temporaries of the diagonal and the integer check);
        * projector: B = C⁻¹Ξ and its transpose beside Ξ (4S + 16E) and the (rows × rows)
          float64 pseudo-inverse (56 rows²);
        * explicit couplings (synaptic dilution, or rows ≥ N): the N×N float32 product and
          its scaled copy (8N²), with dilution its random draw, masks and masked copies
          (12N²);
        * dense p ≥ 3: Xᵀ, its square and a temporary (12E);
        * replicas R: states, thresholds, float64 copies and (R, P) counts (16RN + 16RP).

        The sum is multiplied by 1.7: glibc keeps freed mid-size arrays (0.1–32 MiB) in
        its heap, which measured up to 1.5× the live bytes at N = 10 000; plus the fixed
        cost of loading the compiled kernel (128 MiB with numba, else 16 MiB).
        Measured against this estimate: tests/test_memory_estimates.py."""
        n = p["neurons"]
        count = pattern_count(p)
        rows = count * max(1, p["examples"])
        s, e = count * n, rows * n
        pairwise = p["interaction_order"] == 2
        explicit = pairwise and (p["synaptic_dilution"] > 0 or rows >= n)
        projector = pairwise and p["learning_rule"] == "projector"
        compiled = pairwise and not explicit and not projector and p["update"] == "sequential"
        phases = [13 * s if p["pattern_dilution"] > 0 else 5 * s]
        held = 4 * s
        if p["examples"]:
            phases.append(4 * s + 10 * e)
            held += 4 * e
        if projector:
            held += 8 * e + 56 * rows * rows
        if not pairwise:
            phases.append(held + 12 * e)
        elif explicit:
            phases.append(held + (12 if p["synaptic_dilution"] > 0 else 8) * n * n)
        else:
            phases.append(held + (13 if compiled else 9) * e)
        reps = p["replicas"]
        need = max(phases) + 16 * reps * n + 16 * reps * count
        return int(1.7 * need) + ((128 if compiled else 16) << 20)

    @classmethod
    def theory_lines(cls, x, y, params, x_range, y_range=None) -> list[dict]:
        """Sweep overlays where the theory applies (pairwise Hebbian network of random
        patterns, as in :meth:`_theory_kind`): AGS T_g, T_M and T_c on the temperature ×
        load plane; AGS m(T) or m(α) along one of them; the multitasking amplitudes
        (1 − d) d^(k−1) along pattern_dilution at T = 0."""
        p = params
        if not (p["synaptic_dilution"] == 0 and p["pattern_source"] == "random" and p["learning_rule"] == "hebbian"
                and p["interaction_order"] == 2 and p["examples"] == 0 and p["start"] != "mixture"):
            return []
        if {x, y} == {"temperature", "load"} and p["pattern_dilution"] == 0:
            pd = theory.phase_diagram()
            load_max = max(y_range if x == "temperature" else x_range)
            alpha_g = np.linspace(0.0, max(float(pd["alpha"][-1]), load_max), 64)
            lines = [("T_g = 1 + √α (spin glass)", alpha_g, 1.0 + np.sqrt(alpha_g)),
                     ("T_M (retrieval exists)", pd["alpha"], pd["T_M"]),
                     ("T_c (retrieval global)", pd["alpha_Tc"], pd["T_c"])]
            return [{"name": name, "x": t if x == "temperature" else a, "y": a if x == "temperature" else t}
                    for name, a, t in lines]
        if y is not None:
            return []
        grid = np.linspace(float(x_range[0]), float(x_range[1]), 41)
        n = p["neurons"]
        if x == "temperature" and p["pattern_dilution"] == 0:
            alpha = max(1, round(p["load"] * n)) / n
            m = [_rs_overlap(alpha, float(t)) for t in grid]
            return [{"name": f"AGS m(T) at α = {alpha:.4g}", "x": grid, "y": m, "observable": "m_cued"}]
        if x == "load" and p["pattern_dilution"] == 0:
            m = [_rs_overlap(max(1, round(a * n)) / n, float(p["temperature"])) for a in grid]
            return [{"name": f"AGS m(α) at T = {p['temperature']:g}", "x": grid, "y": m, "observable": "m_cued"}]
        if x == "pattern_dilution" and p["temperature"] == 0 and p["start"] == "cue":
            amplitudes = np.array([theory.multitasking_amplitudes(min(d, 0.999), 3) for d in grid])
            return [{"name": f"(1 − d) d^{k - 1}" if k > 1 else "1 − d", "x": grid, "y": amplitudes[:, k - 1],
                     "observable": obs} for k, obs in ((1, "best_overlap"), (2, "m_rank_2"), (3, "m_rank_3"))]
        return []

    #: parameters that may differ between the members of one fused batch: each member
    #: still has its own patterns, seed and thresholds (see _fused.py)
    FUSE_FREE = ("temperature", "cue_noise", "cue_pattern", "start", "pattern_dilution", "example_quality",
                 "subset_fraction")

    @classmethod
    def fuse_key(cls, params):
        """Sequential pairwise Hebbian networks of random patterns with equal N, P and
        replicas fuse (:class:`engine.models.hopfield._fused.FusedHopfield`)."""
        p = params
        if not (p["update"] == "sequential" and p["interaction_order"] == 2 and p["synaptic_dilution"] == 0
                and p["learning_rule"] == "hebbian" and p["pattern_source"] == "random"):
            return None
        return tuple(sorted((k, v) for k, v in p.items() if k not in cls.FUSE_FREE))

    @classmethod
    def fused(cls, members):
        from attractor_lab.engine.models.hopfield._fused import FusedHopfield

        # on a GPU even one member takes the batch's exact integer path, so that a sweep's point
        # has the same numbers alone or fused; on the CPU one member alone runs the compiled
        # loop, which is exact too
        if members and not (len(members) == 1 and members[0].device.type == "cpu"):
            try:
                return FusedHopfield(members)
            except ValueError:  # members that do not fuse (e.g. the explicit couplings at P ≥ N)
                pass
        return super().fused(members)  # one by one

    # ---- patterns ---------------------------------------------------------
    def set_image_patterns(self, patterns: np.ndarray) -> None:
        """Use these ±1 patterns (P, N) for ``pattern_source = "images"`` (see
        :func:`engine.patterns.load_image_patterns`). Applies at the next reset;
        ``neurons`` and ``load`` are set to match them."""
        arr = np.asarray(patterns, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 16:
            raise ValueError(f"set_image_patterns: expected an array (P, N) with N >= 16, not shape {arr.shape}")
        if not np.all(np.isin(arr, (-1.0, 1.0))):
            raise ValueError("set_image_patterns: entries must be ±1 (binarise with load_image_patterns)")
        self._custom_patterns = arr
        self.set(neurons=arr.shape[1], load=arr.shape[0] / arr.shape[1], pattern_source="images")

    def _make_patterns(self, n: int, count: int) -> torch.Tensor:
        src = self.p["pattern_source"]
        dev = self.device
        if src == "random":
            bits = torch.randint(0, 2, (count, n), generator=self.generator, device=dev, dtype=torch.int8)
            xi = bits.to(torch.float32).mul_(2.0).sub_(1.0)
        elif src == "glyphs":
            rows, cols = pattern_sources.square_shape(n)
            if rows != cols:
                raise ValueError(f"hopfield: pattern_source 'glyphs' needs a square number of neurons, not {n}")
            if count > pattern_sources.max_glyphs():
                raise ValueError(
                    f"hopfield: pattern_source 'glyphs' has {pattern_sources.max_glyphs()} glyphs but load × neurons asks for {count}; lower 'load'"
                )
            xi = torch.from_numpy(pattern_sources.glyph_patterns(count, rows)).to(dev)
        else:
            if self._custom_patterns is None:
                raise ValueError("hopfield: pattern_source 'images' needs images first (set_image_patterns)")
            if self._custom_patterns.shape != (count, n):
                raise ValueError(
                    f"hopfield: the images are {self._custom_patterns.shape[0]} patterns of {self._custom_patterns.shape[1]} "
                    f"pixels but neurons = {n}, load × neurons = {count}"
                )
            xi = torch.from_numpy(self._custom_patterns).to(dev)
        d = self.p["pattern_dilution"]
        if d > 0:
            keep = torch.rand((count, n), generator=self.generator, device=dev) >= d
            xi = xi * keep
        return xi

    def _memory(self, xi: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The vectors the couplings are built from and their weight w."""
        m_ex = self.p["examples"]
        if m_ex == 0:
            return xi, 1.0
        r = self.p["example_quality"]
        count, n = xi.shape
        if count * m_ex * n > 400_000_000:
            raise ValueError(f"hopfield: examples × patterns × neurons = {count * m_ex * n:,} is too large; lower 'examples' or 'neurons'")
        chi = torch.rand((count, m_ex, n), generator=self.generator, device=self.device) < (1.0 + r) / 2.0
        eta = (xi[:, None, :] * (2.0 * chi.to(torch.float32) - 1.0)).reshape(count * m_ex, n)
        spread = r * r + (1.0 - r * r) / m_ex
        return eta, 1.0 / (m_ex * spread ** (self.p["interaction_order"] / 2.0))

    # ---- lifecycle --------------------------------------------------------
    def _reset(self) -> None:
        n = self.p["neurons"]
        order = self.p["interaction_order"]
        count = pattern_count(self.p)
        if self.p["cue_pattern"] > count:
            raise ValueError(f"hopfield: parameter 'cue_pattern' is {self.p['cue_pattern']}, but only {count} patterns are stored (1..{count})")
        if order > 2 and (self.p["synaptic_dilution"] > 0 or self.p["learning_rule"] != "hebbian"):
            raise ValueError("hopfield: interaction_order >= 3 supports neither synaptic_dilution nor the projector rule; set them to 0 / 'hebbian'")
        self.count = count
        self.xi = self._make_patterns(n, count)
        mem, weight = self._memory(self.xi)
        self.sigma = self._initial_state(n)
        self.explicit = False
        if order > 2:
            self.backend = DenseBackend(mem, weight, order, self.sigma)
        else:
            b = mem
            if self.p["learning_rule"] == "projector":
                if mem.shape[0] >= n:
                    raise ValueError(f"hopfield: the projector rule needs fewer stored vectors ({mem.shape[0]}) than neurons ({n})")
                corr = mem @ mem.T / n
                b = torch.linalg.pinv(corr.double()).to(torch.float32) @ mem
            if self.p["synaptic_dilution"] > 0 or mem.shape[0] >= n:
                self.backend = CouplingBackend(self._explicit_couplings(mem, b, weight), self.sigma)
                self.explicit = True
            else:
                self.backend = OverlapBackend(mem, b, weight, self.sigma)
        self.last_flips = 0
        # chunk of the vectorised sequential sweep: large enough to amortise
        # per-chunk overhead, small enough that few flips land in one chunk
        # the most spins a chunk holds: dense chunks hold R×K×P overlaps; GPUs
        # want long chunks (few launches), CPUs short ones (see _adapt_chunk)
        self.max_chunk = 2048 if self.device.type == "cuda" else 256
        if order > 2:
            self.max_chunk = max(16, 2**21 // (self.sigma.shape[0] * self.count))
        self.chunk = int(min(n, self.max_chunk))
        self._theory_cache = None

    def _explicit_couplings(self, a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
        n = a.shape[1]
        if n * n > MAX_COUPLINGS:
            raise ValueError(
                f"hopfield: this network needs the explicit N×N couplings (synaptic dilution, or stored vectors ≥ N) "
                f"and N = {n} is too large; use neurons <= {int(math.sqrt(MAX_COUPLINGS))}"
            )
        j = weight * (b.T @ a) / n
        s = self.p["synaptic_dilution"]
        if s > 0:
            keep = torch.rand((n, n), generator=self.generator, device=self.device) >= s
            keep = torch.triu(keep, diagonal=1)
            keep = keep | keep.T  # symmetric dilution: c_ij = c_ji
            j = j * keep / (1.0 - s)
        j.fill_diagonal_(0.0)
        return j

    def _initial_state(self, n: int) -> torch.Tensor:
        reps = self.p["replicas"]
        dev = self.device
        coin = torch.randint(0, 2, (reps, n), generator=self.generator, device=dev).to(torch.float32) * 2.0 - 1.0
        start = self.p["start"]
        if start == "random":
            return coin
        if start == "cue":
            base = self.xi[self.p["cue_pattern"] - 1].expand(reps, n)
        else:
            base = self.xi[:3].sum(0).expand(reps, n)
        sigma = torch.where(base != 0, torch.sign(base), coin)  # diluted or tied entries: random
        flip = torch.rand((reps, n), generator=self.generator, device=dev) < self.p["cue_noise"]
        return torch.where(flip, -sigma, sigma).contiguous()

    def _step(self, n: int) -> None:
        t = self.p["temperature"]
        mode = self.p["update"]
        for _ in range(n):
            if mode == "sequential":
                self.last_flips = sweep_sequential(self.backend, self.sigma, t, self.generator, self.chunk)
                self._adapt_chunk()
            elif mode == "parallel":
                self.last_flips = sweep_parallel(self.backend, self.sigma, t, self.generator)
            else:
                f = self.p["subset_fraction"]
                self.last_flips = sum(
                    sweep_parallel(self.backend, self.sigma, t, self.generator, f) for _ in range(max(1, round(1.0 / f)))
                )
        if self.explicit and self.steps % 64 == 0:
            # the incremental local fields drift by float32 rounding; refresh now and then
            self.backend.recompute(self.sigma)

    def _adapt_chunk(self) -> None:
        """Chunk length from the flips of the last sweep (see sequential_chunk)."""
        if self.p["interaction_order"] == 2:
            self.chunk = sequential_chunk(self.sigma.shape[1], self.last_flips, self.device.type)

    def _on_live_change(self, changed) -> None:
        self._theory_cache = None

    # ---- output -------------------------------------------------------------
    def overlaps_all(self) -> torch.Tensor:
        """Overlaps m_μ = ξ^μ·σ/N of every replica with every pattern, (R, P)."""
        return self.sigma @ self.xi.T / self.sigma.shape[1]

    def _image(self, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(pattern_sources.square_shape(v.shape[-1]))

    def state(self):
        cue = self.xi[self.p["cue_pattern"] - 1]
        spins = self.sigma[0]
        m = self.overlaps_all()[0]
        wrong = (spins != torch.sign(cue)) & (cue != 0)
        if not self.has_target(float(m[self.p["cue_pattern"] - 1])):
            wrong = torch.zeros_like(wrong)  # no target to be wrong against: nothing marked
        levels = min(HIERARCHY_LEVELS, self.count)  # ranks beyond P do not exist
        sim = torch.sort(m.abs(), descending=True).values[:levels]
        if self._theory_kind() == "ags":
            pd = dict(theory.phase_diagram())
            # T_g = 1 + √α holds at any load: drawn out past this network's α (the retrieval
            # lines end at α_c ≈ 0.138, the spin-glass line must reach a load of 0.3 too)
            alpha_g = np.linspace(0.0, max(float(pd["alpha"][-1]), 1.25 * self.count / self.p["neurons"]), 64)
            pd["alpha_g"], pd["T_g"] = alpha_g, 1.0 + np.sqrt(alpha_g)
        else:  # AGS is not this network's phase diagram: draw none
            pd = {key: np.full(1, np.nan) for key in ("alpha", "alpha_g", "T_g", "T_M", "alpha_Tc", "T_c")}
        return {
            "spins": self._image(spins),
            "cued_pattern": self._image(cue),
            "wrong_bits": self._image(wrong.to(torch.uint8)),
            "overlaps": m,
            "pd_alpha": pd["alpha"],
            "pd_alpha_g": pd["alpha_g"],
            "pd_Tg": pd["T_g"],
            "pd_TM": pd["T_M"],
            "pd_alpha_Tc": pd["alpha_Tc"],
            "pd_Tc": pd["T_c"],
            "hierarchy_k": np.arange(1, levels + 1, dtype=float),
            "hierarchy_theory": theory.multitasking_amplitudes(self.p["pattern_dilution"], HIERARCHY_LEVELS)[:levels],
            "hierarchy_sim": sim,
            **self._m_of_t(),
            **self._dense_diagram(),
        }

    def dense_load(self) -> float:
        """The load in the dense scaling, α = P / N^{p−1} (P/N at p = 2)."""
        return self.count / float(self.p["neurons"]) ** (self.p["interaction_order"] - 1)

    def _dense_diagram(self) -> dict[str, np.ndarray]:
        """The dense network's RS phase diagram (engine.theory.dense, computed once per order
        and cached), NaN where the dense theory does not describe these settings."""
        keys = ("alpha", "T_M", "alpha_Tc", "T_c", "alpha_g", "T_g")
        if self._theory_kind() != "dense":
            return {f"pdd_{k}": np.full(1, np.nan) for k in ("alpha", "TM", "alpha_Tc", "Tc", "alpha_g", "Tg")}
        pd = dense_theory.phase_diagram(int(self.p["interaction_order"]), "self", 16)
        pd = {k: np.asarray(pd[k], float) for k in keys}
        # the glass line is drawn out past this network's load (as AGS's T_g is)
        a_g = np.linspace(0.0, max(float(pd["alpha_g"][-1]), 1.25 * self.dense_load()), 40)
        tau = dense_theory.glass_temperature(int(self.p["interaction_order"]), "self")
        return {"pdd_alpha": pd["alpha"], "pdd_TM": pd["T_M"], "pdd_alpha_Tc": pd["alpha_Tc"], "pdd_Tc": pd["T_c"],
                "pdd_alpha_g": a_g, "pdd_Tg": tau * np.sqrt(a_g)}

    def _theory_kind(self) -> str:
        """Which theory describes this network at its current parameters.

        ``ags``: pairwise Hebbian network of random ±1 patterns (AGS replica
        symmetric, any load); ``mixture``: the same network started in the
        symmetric three-pattern mixture at low load (α ≤ MIXTURE_MAX_LOAD);
        ``unsupervised``: pairwise Hebbian learning from noisy examples while they
        load the network lightly (P·M/N ≤ EXAMPLE_MAX_LOAD); ``multitasking``:
        diluted patterns at T = 0 (first amplitude 1 − d); ``dense``: p ≥ 3 at
        vanishing load (m = tanh(β m^{p−1})); ``none`` otherwise.
        """
        p = self.p
        random_hebb = (p["synaptic_dilution"] == 0 and p["pattern_source"] == "random"
                       and p["learning_rule"] == "hebbian")
        if not random_hebb:
            return "none"
        alpha = self.count / p["neurons"]
        if p["interaction_order"] > 2:
            return "dense" if p["examples"] == 0 and p["pattern_dilution"] == 0 else "none"
        if p["examples"] > 0:
            light = alpha * p["examples"] <= EXAMPLE_MAX_LOAD and p["example_quality"] > 0
            return "unsupervised" if light and p["pattern_dilution"] == 0 and p["start"] == "cue" else "none"
        if p["pattern_dilution"] > 0:
            return "multitasking" if p["temperature"] == 0 and p["start"] == "cue" else "none"
        if p["start"] == "mixture":
            return "mixture" if alpha <= MIXTURE_MAX_LOAD and self.count >= 3 else "none"
        return "ags"

    def _theory_at(self, kind: str, temperature: float) -> float:
        p = self.p
        if kind == "ags":
            return _rs_overlap(self.count / p["neurons"], temperature)
        if kind == "mixture":
            return theory.mixture_overlap(temperature, 3)
        if kind == "unsupervised":
            return _unsupervised_overlap(float(p["example_quality"]), int(p["examples"]), temperature)
        if kind == "multitasking":
            return 1.0 - p["pattern_dilution"] if temperature == 0 else float("nan")
        if kind == "dense":
            return float(_dense_overlaps(self.dense_load(), int(p["interaction_order"]), (float(temperature),))[0])
        return float("nan")

    def _m_of_t(self) -> dict[str, np.ndarray]:
        """m(T) curves: Curie–Weiss at α → 0 (of order p), and the theory of this
        network at its load (see :meth:`_theory_kind`; NaN where none applies)."""
        kind = self._theory_kind()
        key = (round(self.dense_load(), 12), self.p["interaction_order"], kind,
               self.p["examples"], self.p["example_quality"])
        if getattr(self, "_mt_key", None) != key:
            temps = np.linspace(0.0, 1.6, 65)
            cw = np.array([theory.curie_weiss_overlap(t, key[1]) for t in temps])
            rs = np.full_like(temps, np.nan)
            if kind in ("ags", "mixture", "unsupervised"):
                rs[:] = 0.0
                for i, t in enumerate(temps):  # each branch ends where it stops existing: zero above
                    rs[i] = self._theory_at(kind, float(t))
                    if rs[i] == 0.0:
                        break
            elif kind == "dense":  # the RS branch at this dense load (0 where it does not exist)
                rs = _dense_overlaps(self.dense_load(), key[1], tuple(float(t) for t in temps))
            self._mt_key, self._mt = key, {"mT_T": temps, "mT_cw": cw, "mT_rs": rs}
        return self._mt

    def theory_overlap(self) -> float:
        """The predicted overlap with the cued pattern at the current parameters, NaN
        where no theory applies (see :meth:`_theory_kind`).

        Pairwise Hebbian random patterns: the AGS replica-symmetric m(α, T), or
        the symmetric three-pattern mixture's m when started in it at low load.
        Unsupervised learning from M examples at low example load: the
        archetype's overlap with the unseen pattern. Diluted patterns at T = 0,
        low load: the first multitasking amplitude 1 − d. Dense p ≥ 3: the
        zero-load m = tanh(β m^{p−1}).
        """
        if self._theory_cache is None:
            self._theory_cache = self._theory_at(self._theory_kind(), self.p["temperature"])
        return self._theory_cache

    _THEORY_TEXT = {
        "ags": "Theory here: AGS replica symmetric (pairwise Hebbian network, random patterns), the phase "
               "diagram and the m(T) branch at this load.",
        "mixture": "Theory here: the symmetric three-pattern mixture at vanishing load, m = ¼[tanh(3βm) + "
                   "tanh(βm)] (1/2 at T = 0); the AGS phase diagram is for retrieval states and is not drawn.",
        "unsupervised": "Theory here: unsupervised Hebbian learning at vanishing load (P·M/N ≤ 0.05): the "
                        "archetype's overlap with the unseen pattern, n = ⟨(S/M) tanh(βnS/(M𝓡))⟩, "
                        "m = ⟨tanh(βnS/(M𝓡))⟩ over S = Σ_a χ_a; no phase diagram.",
        "multitasking": "Theory here: multitasking amplitudes (1 − d) d^(k−1) at T = 0 and low load; the AGS "
                        "phase diagram is for undiluted patterns and is not drawn.",
        "dense": "Theory here: the dense network's replica-symmetric theory in its own load α = P/N^(p−1) "
                 "(energy −(N/p) Σ_μ m_μ^p with its self-interaction terms kept, as simulated): "
                 "m = ⟨tanh β(m^(p−1) + √(αΦ'(q)) z)⟩, q = ⟨tanh² …⟩, Φ'(q)/α = Σ_k k w_k q^(k−1) from the "
                 "Hermite expansion of g^p (p = 3: 2q² + 1; p = 4: 6q³ + 9q), no reaction term; T = 0: "
                 "m = erf(m^(p−1)/√(2α(2p−3)!!)). α → 0: Curie–Weiss m = tanh(β m^(p−1)). The pairwise AGS "
                 "phase diagram does not describe it and is not drawn; the dense one is.",
        "none": "Theory here: none applies to these settings (no m_theory, no phase diagram).",
    }

    def has_target(self, m_cued: float | None = None) -> bool:
        """Whether the network has a target: a cued pattern it should retrieve, the one the
        wrong bits are counted against in the spin view.

        Only a start from the cue has one (``start = "mixture"`` or ``"random"`` has none),
        and only where retrieval of it exists: where a theory describes these settings (see
        :meth:`_theory_kind`), its predicted overlap is positive (AGS below T_M and α_c, the
        multitasking amplitude 1 − d, the archetype, the dense network's branch); a
        paramagnet (T above T_M) and a spin glass (α above α_c), where it predicts m = 0,
        have none. Where no theory applies, the cued overlap of replica 1 decides: a
        retrieval overlap of at least RETRIEVAL_OVERLAP (so parallel retrieval of several
        diluted patterns at |m| ≈ 0.2 has none).
        """
        if self.p["start"] != "cue":
            return False
        if self._theory_kind() != "none":
            return self.theory_overlap() > 0
        if m_cued is None:
            m_cued = float(self.overlaps_all()[0, self.p["cue_pattern"] - 1])
        return abs(m_cued) >= RETRIEVAL_OVERLAP

    def texts(self):
        return {"equations": self.equations + "\n\n" + self._THEORY_TEXT[self._theory_kind()]}

    def observables(self):
        ov = self.overlaps_all()
        cue = self.p["cue_pattern"] - 1
        m0 = ov[0]
        best = int(torch.argmax(m0))
        cue_sign = torch.sign(self.xi[cue])
        wrong = ((self.sigma[0] != cue_sign) & (cue_sign != 0)).float().sum() / max(float((cue_sign != 0).sum()), 1.0)
        energy = self.backend.energy(self.sigma)
        obs = {
            "m_cued": float(m0[cue]),
            "m_cued_mean": float(ov[:, cue].mean()),
            "energy": float(energy[0]),
            "energy_mean": float(energy.mean()),
            "best_pattern": float(best + 1),
            "best_overlap": float(m0[best]),
            # NaN with one replica: there is no second copy to compare with
            "replica_overlap": float((self.sigma[0] * self.sigma[1]).mean()) if self.sigma.shape[0] > 1 else float("nan"),
            "wrong_fraction": float(wrong),
            "flip_fraction": self.last_flips / self.sigma.numel(),
            "m_theory": self.theory_overlap(),
            "load": self.count / self.p["neurons"],
            "pd_load": self.count / self.p["neurons"] if self._theory_kind() == "ags" else float("nan"),
            # the dense network's load α = P/N^(p−1) and whether its own diagram is drawn
            "dense_load": self.dense_load(),
            "pdd_load": self.dense_load() if self._theory_kind() == "dense" else float("nan"),
            "dense_theory": float(self._theory_kind() == "dense"),
            # 1 while the network has a cued pattern to retrieve (see has_target): the wrong bits mean something
            "has_target": float(self.has_target(float(m0[cue]))),
            # 1 for diluted patterns: the multitasking hierarchy applies
            "diluted": float(self.p["pattern_dilution"] > 0),
            "temperature": float(self.p["temperature"]),
        }
        for k in range(1, SHOWN_OVERLAPS + 1):
            obs[f"m_{k}"] = float(m0[k - 1]) if k <= self.count else float("nan")
        # the multitasking hierarchy: |m| sorted, ranks 2 and 3 (rank 1 is best_overlap's size)
        ranked = torch.sort(m0.abs(), descending=True).values
        for k in (2, 3):
            obs[f"m_rank_{k}"] = float(ranked[k - 1]) if k <= self.count else float("nan")
        return obs
