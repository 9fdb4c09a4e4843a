"""Modern (continuous) Hopfield network: the update is one attention step.

Stored patterns are the columns of X (d × P); the state ξ ∈ ℝ^d moves by

    ξ ← X softmax(β Xᵀ ξ)

which never increases the energy (Ramsauer et al. 2020, a CCCP argument)

    E(ξ) = −lse(β, Xᵀξ) + ½ ξᵀξ + β⁻¹ ln P + ½ M²,   lse(β, z) = β⁻¹ ln Σ_μ e^{β z_μ}

with M the largest pattern norm. Large β retrieves a single pattern in one
update, intermediate β settles in metastable mixtures of similar patterns,
and small β sends every state to (about) the mean of all patterns.

Patterns are stored centred (the mean image of the set subtracted, for
glyphs and images, so correlated images stay apart) and scaled to the
length ``pattern_norm`` = M (default 2); the image views add the mean image
back. Near the average of P nearly orthogonal patterns the update's
Jacobian is about βM²/P, so with the defaults (P = 16, M = 2) β = 0.5 averages
and β = 8 retrieves single patterns. Computed in float64: the monotone energy is then
checked exactly, and d × P stays small.

``separation`` replaces the softmax by another map of the scores z = βXᵀξ to weights
(``_separation.py``): sparsemax and α-entmax (sparse modern Hopfield, STanHop) put exactly
zero weight on patterns far enough below the best, so one update lands *exactly* on a stored
pattern once β·Δ ≥ 1/(α − 1), Δ the gap of the query's two largest overlaps ξ_μᵀξ
(``engine/theory/modern.py``); Softmax₁ (OutEffHop) adds a "nothing" entry, so its weights
sum to less than 1 and a query far from every memory gets almost none. Each separation is
the gradient of a convex Ψ* (logsumexp for softmax), and the energy
E = −Ψ*(βXᵀξ)/β + ½ξᵀξ + H_max/β + ½M² never increases under the update and stays ≥ 0.

The weights shown (``weights`` and the observables made from them) are those of the last
update, the ones that made the state ξ = X p; at the start and after a live change of β or
the separation, the weights the next update will use. ``query = "cue"`` turns the iteration
into attention with a fixed query: every update returns X sep(βXᵀ cue).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attractor_lab.engine import patterns as pattern_sources
from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model
from attractor_lab.engine.models.hopfield import _separation as separations
from attractor_lab.engine.params import Param
from attractor_lab.engine.theory import modern as modern_theory

#: longest energy history kept (the cue's point always stays first)
ENERGY_HISTORY = 512
#: β range of the exact-retrieval line in the (β, Δ) view, as multiples of the current β
EXACT_LINE_SPAN = np.geomspace(0.1, 10.0, 81)

_EQUATIONS = {
    "softmax": "ξ ← X softmax(β Xᵀ ξ)\nE(ξ) = −β⁻¹ ln Σ_μ exp(β x_μᵀ ξ) + ½ ξᵀξ + β⁻¹ ln P + ½ M²",
    "sparsemax": "ξ ← X sparsemax(β Xᵀ ξ),  sparsemax(z)_μ = [z_μ − τ]₊, Σ_μ p_μ = 1\n"
                 "E(ξ) = −β⁻¹ Ψ*(β Xᵀξ) + ½ ξᵀξ + β⁻¹ H_max + ½ M²,  Ψ*(z) = max_p ⟨p, z⟩ + ½(1 − Σ p²)",
    "entmax": "ξ ← X α-entmax(β Xᵀ ξ),  p_μ = [(α − 1) z_μ − τ]₊^{1/(α−1)}, Σ_μ p_μ = 1\n"
              "E(ξ) = −β⁻¹ Ψ*(β Xᵀξ) + ½ ξᵀξ + β⁻¹ H_max + ½ M²,  Ψ*(z) = max_p ⟨p, z⟩ + Σ(p − p^α)/(α(α−1))",
    "softmax1": "ξ ← X Softmax₁(β Xᵀ ξ),  Softmax₁(z)_μ = e^{z_μ} / (1 + Σ_ν e^{z_ν})  (Σ p < 1)\n"
                "E(ξ) = −β⁻¹ ln(1 + Σ_μ exp(β x_μᵀ ξ)) + ½ ξᵀξ + β⁻¹ ln(P + 1) + ½ M²",
}
_EXACTNESS = {
    "softmax": "Softmax never retrieves exactly: every weight e^{z_μ}/Σe^{z} is positive, so ξ = Xp "
               "is a mixture (exact in float64 only where e^{−βΔ} underflows, βΔ ≳ 745).",
    "softmax1": "Softmax₁ never retrieves exactly: every weight is positive and they sum to less than 1 "
                "(the rest goes to 'nothing'); a query far from every memory gets total weight ≈ 0.",
    "sparse": "One update from the query lands exactly on its best pattern iff β·Δ ≥ 1/(α − 1) "
              "(sparsemax: α = 2, β·Δ ≥ 1); Δ = the gap of the query's two largest overlaps ξ_μᵀξ, "
              "before β. Above the line: exact; below: a sparse mixture.",
}


@register
class ModernHopfield(Model):
    name = "modern_hopfield"
    title = "Modern Hopfield network"
    description = ("Continuous states retrieved by a softmax (or sparsemax, α-entmax, Softmax₁) over stored patterns "
                   "(an attention step): single patterns, metastable mixtures, or the global average, depending on β; "
                   "sparse separations retrieve exactly, Softmax₁ may attend to nothing.")
    equations = (
        "ξ ← X softmax(β Xᵀ ξ)\n"
        "E(ξ) = −β⁻¹ ln Σ_μ exp(β x_μᵀ ξ) + ½ ξᵀξ + β⁻¹ ln P + ½ M²"
    )
    params = (
        Param("neurons", "int", 1024, 16, 1_000_000, help="d, pixels per pattern; square numbers display as images", live=False, log=True),
        Param("patterns", "int", 12, 1, 100_000, help="P, number of stored patterns", live=False, log=True),
        Param("beta", "float", 8.0, 0.01, 1000.0, help="inverse temperature of the softmax", log=True),
        Param("pattern_source", "choice", "glyphs", choices=("glyphs", "random", "images"), help="greyscale letters/digits, Gaussian vectors, or images set with set_image_patterns", live=False),
        Param("pattern_norm", "float", 2.0, 0.1, 100.0, help="length of every stored pattern (centred); β·norm² sets the sharpness", live=False, log=True),
        Param("cue_pattern", "int", 1, 1, 100_000, help="pattern (1..P) the start is made from", live=False),
        Param("cue_noise", "float", 0.5, 0.0, 5.0, help="Gaussian noise added to the cue, as a fraction of the pattern length", live=False, step=0.1),
        Param("mask", "choice", "half", choices=("none", "half"), help="hide the lower half of the cue (hidden pixels start at the mean image)", live=False),
        Param("separation", "choice", "softmax", choices=separations.SEPARATIONS,
              help="map of the scores βXᵀξ to weights: softmax, sparsemax and α-entmax (exact zeros), "
                   "Softmax₁ (weights may sum to ≈ 0: attend to nothing)"),
        Param("entmax_alpha", "float", 1.5, 1.001, 2.0, help="α of α-entmax: → 1 softmax, 2 sparsemax",
              step=0.05, shown_when=(("separation", ("entmax",)),)),
        Param("cue_kind", "choice", "pattern", choices=("pattern", "away"),
              help="start from the cued pattern (noisy, masked), or 'away': minus the patterns' mean "
                   "direction, length M, far from every memory (needs uncentred patterns: random)", live=False),
        Param("query", "choice", "state", choices=("state", "cue"),
              help="what each update queries: the current state (the Hopfield iteration), or always the cue "
                   "(one attention step with a fixed query, repeated)"),
    )
    views = (
        # on the stored pattern's scale too: a state that attended to nothing (ξ ≈ 0) is drawn flat, not stretched
        {"kind": "image", "array": "retrieved", "title": "State ξ (retrieved image)", "colormap": "gray", "levels": None,
         "levels_from": ["cued_pattern"], "role": "primary"},
        {"kind": "image", "array": "cue", "title": "Cue (start)", "colormap": "gray", "levels": None, "role": "secondary"},
        {"kind": "image", "array": "cued_pattern", "title": "Cued pattern", "colormap": "gray", "levels": None,
         "role": "secondary", "shown_when": [["cue_kind", ["pattern"]]]},
        {"kind": "bars", "array": "weights", "title": "Weights p of the last update over patterns", "ylim": [0.0, 1.0],
         "role": "secondary"},
        {"kind": "lines", "title": "Exact one-step retrieval: β·Δ ≥ 1/(α − 1)", "xlabel": "β",
         "ylabel": "Δ (top-two overlap gap)", "logx": True, "logy": True, "role": "secondary",
         "series": [{"x": "exact_beta", "y": "exact_gap", "name": "Δ = 1/((α − 1) β): exact above"}],
         "points": [{"x": "beta", "y": "score_gap", "name": "last update's query (β, Δ)"},
                    {"x": "beta_exact", "y": "score_gap", "name": "β it needs to be exact"}],
         "shown_when": [["separation", ["sparsemax", "entmax"]]]},
        {"kind": "text", "array": "exactness", "role": "info"},
        {"kind": "values", "observables": ["support_size", "exact_retrieval", "error_nearest", "nearest_pattern",
                                           "total_weight", "state_norm", "score_gap", "beta_exact"], "title": "Sparse retrieval", "role": "info"},
        # the energy from the cue on (update 0), kept by the model: the drop of the first update shows
        # whenever the window joins the run, and the flat tail after it is the minimum
        {"kind": "lines", "title": "Energy from the cue (never increases)", "xlabel": "update", "ylabel": "E",
         "role": "secondary",
         "series": [{"x": "energy_updates", "y": "energy_history", "name": "E(ξ) after each update"}],
         "points": []},
        {"kind": "timeseries", "observables": ["m_cued", "max_weight", "distance_to_mean"], "title": "Retrieval",
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["effective_patterns"], "title": "Patterns in the mixture ((Σp)²/Σp²)",
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["total_weight", "state_norm"],
         "title": "Softmax₁: total weight Σp (below 1) and ‖ξ‖", "role": "secondary",
         "shown_when": [["separation", ["softmax1"]]]},
        {"kind": "text", "array": "equations", "role": "info"},
    )
    theory_fields = ("exact_beta", "exact_gap")
    time_per_step = 1.0
    steps_per_frame = 1  # converges in a few updates: show each one

    _custom_patterns: np.ndarray | None = None

    def set_image_patterns(self, patterns: np.ndarray) -> None:
        """Use these greyscale patterns (P, d) for ``pattern_source = "images"``
        (see :func:`engine.patterns.load_image_patterns` with ``binary=False``).
        Applies at the next reset; ``neurons`` and ``patterns`` follow them."""
        arr = np.asarray(patterns, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 16 or not np.all(np.isfinite(arr)):
            raise ValueError(f"set_image_patterns: expected a finite array (P, d) with d >= 16, not shape {arr.shape}")
        self._custom_patterns = arr
        self.set(neurons=arr.shape[1], patterns=arr.shape[0], pattern_source="images")

    def _raw_patterns(self, d: int, count: int) -> torch.Tensor:
        src = self.p["pattern_source"]
        if src == "random":
            return torch.randn((count, d), generator=self.generator, device=self.device, dtype=torch.float64)
        if src == "glyphs":
            rows, cols = pattern_sources.square_shape(d)
            if rows != cols:
                raise ValueError(f"modern_hopfield: pattern_source 'glyphs' needs a square number of neurons, not {d}")
            if count > pattern_sources.max_glyphs():
                raise ValueError(f"modern_hopfield: parameter 'patterns' is {count}; glyphs allow 1..{pattern_sources.max_glyphs()}")
            g = pattern_sources.glyph_patterns(count, rows, binary=False)
            return torch.from_numpy(g).to(device=self.device, dtype=torch.float64)
        if self._custom_patterns is None:
            raise ValueError("modern_hopfield: pattern_source 'images' needs images first (set_image_patterns)")
        if self._custom_patterns.shape != (count, d):
            raise ValueError(
                f"modern_hopfield: the images are {self._custom_patterns.shape} but (patterns, neurons) = ({count}, {d})"
            )
        return torch.from_numpy(self._custom_patterns).to(device=self.device, dtype=torch.float64)

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset (engine budget): four float64 copies of the (d, P)
        patterns and a temporary (36 bytes an entry, measured), plus 16 MiB."""
        return 36 * p["neurons"] * p["patterns"] + (16 << 20)

    def _reset(self) -> None:
        d, count = self.p["neurons"], self.p["patterns"]
        if self.p["cue_pattern"] > count:
            raise ValueError(f"modern_hopfield: parameter 'cue_pattern' is {self.p['cue_pattern']}; allowed 1..{count} (the number of patterns)")
        raw = self._raw_patterns(d, count)
        # centring removes what all images share (background), so β separates them
        self.offset = raw.mean(0) if self.p["pattern_source"] != "random" and count > 1 else torch.zeros(d, dtype=torch.float64, device=self.device)
        x = raw - self.offset
        norms = x.norm(dim=1, keepdim=True)
        if bool((norms < 1e-12).any()):
            raise ValueError("modern_hopfield: a stored pattern equals the mean of the set (two identical patterns?)")
        self.scale = float(norms.mean())  # display units: back to pixel values
        length = self.p["pattern_norm"]
        self.x = (length * x / norms).T.contiguous()  # (d, P), columns of length M
        self.scale /= length
        cue = self._away_cue() if self.p["cue_kind"] == "away" else self.x[:, self.p["cue_pattern"] - 1].clone()
        noise = torch.randn(d, generator=self.generator, device=self.device, dtype=torch.float64)
        cue += self.p["cue_noise"] * length * noise / math.sqrt(d)
        if self.p["mask"] == "half":
            rows, cols = pattern_sources.square_shape(d)
            hidden = torch.zeros((rows, cols), dtype=torch.bool, device=self.device)
            hidden[rows // 2 :, :] = True
            if rows == 1:
                hidden[:, cols // 2 :] = True
            cue[hidden.reshape(-1)] = 0.0
        self.cue = cue
        self.xi = cue.clone()
        self._start_weights()
        self._energies = [(0, self._energy(self.xi))]  # (update, E as a 0-d tensor): the cue's energy first

    def _away_cue(self) -> torch.Tensor:
        """−M times the unit mean direction of the stored patterns: every overlap negative."""
        mean = self.x.mean(1)
        overlaps = self.x.T @ mean
        if float(mean.norm()) < 1e-9 * self.p["pattern_norm"] or bool((overlaps <= 0).any()):
            raise ValueError("modern_hopfield: cue_kind 'away' needs patterns that all overlap their mean "
                             f"(pattern_source 'random'); the '{self.p['pattern_source']}' patterns are stored "
                             "centred, so no direction points away from all of them")
        return -self.p["pattern_norm"] * mean / mean.norm()

    def _separate(self, h: torch.Tensor) -> torch.Tensor:
        """Weights p for overlaps h = Xᵀq (scores βh) under the current separation."""
        return separations.separate(self.p["beta"] * h, self.p["separation"], self.p["entmax_alpha"])

    def _softmax(self, xi: torch.Tensor) -> torch.Tensor:
        """The weights the next update gives state ``xi`` (named for the softmax it was)."""
        return self._separate(self.x.T @ xi)

    def _start_weights(self) -> None:
        """The shown weights become the next update's: query = the current state (or the cue)."""
        self._query_h = self.x.T @ (self.cue if self.p["query"] == "cue" else self.xi)
        self._weights = self._separate(self._query_h)

    def _step(self, n: int) -> None:
        if self.p["query"] == "cue":  # attention with a fixed query: every update gives the same state
            self._query_h = self.x.T @ self.cue
            self._weights = self._separate(self._query_h)
            self.xi = self.x @ self._weights
            energy = self._energy(self.xi)
            self._energies += [(self.steps + i + 1, energy) for i in range(max(0, n - ENERGY_HISTORY), n)]
            if len(self._energies) > ENERGY_HISTORY:
                self._energies = self._energies[:1] + self._energies[-(ENERGY_HISTORY - 1):]
            return
        # one product Xᵀξ and one separation per update, shared by the energy of the new state and
        # the next update; energies stay on the device (no host sync per update)
        h = self.x.T @ self.xi
        p = self._separate(h)
        for i in range(n):
            query_h, weights = h, p
            self.xi = self.x @ p
            h = self.x.T @ self.xi
            p = self._separate(h)
            if n - i <= ENERGY_HISTORY:  # only the last ones can be kept
                self._energies.append((self.steps + i + 1, self._energy(self.xi, h, p)))
        if len(self._energies) > ENERGY_HISTORY:
            self._energies = self._energies[:1] + self._energies[-(ENERGY_HISTORY - 1):]
        self._query_h, self._weights = query_h, weights

    def _on_live_change(self, changed) -> None:
        self._start_weights()
        # β or the separation changes the energy function: the history restarts from the state as it is now
        self._energies = [(self.steps, self._energy(self.xi))]

    def _on_state_set(self) -> None:
        self._start_weights()

    def energy(self, xi: torch.Tensor | None = None) -> float:
        """E(ξ) = −Ψ*(βXᵀξ)/β + ½ξᵀξ + H_max/β + ½M², M = ``pattern_norm``, Ψ* the convex function whose
        gradient is the separation (logsumexp for softmax, H_max = ln P); E ≥ ½(‖ξ‖ − M)² ≥ 0."""
        return float(self._energy(self.xi if xi is None else xi))

    def _energy(self, xi: torch.Tensor, h: torch.Tensor | None = None, p: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`energy` as a 0-d tensor on the device; ``h``: Xᵀξ, ``p``: its weights when already computed."""
        beta, kind, alpha = self.p["beta"], self.p["separation"], self.p["entmax_alpha"]
        z = beta * (self.x.T @ xi if h is None else h)
        psi = separations.conjugate(z, kind, alpha, p) / beta
        top = separations.max_entropy(kind, self.x.shape[1], alpha) / beta
        return -psi + 0.5 * xi @ xi + top + 0.5 * self.p["pattern_norm"] ** 2

    def _display(self, v: torch.Tensor) -> torch.Tensor:
        return (v * self.scale + self.offset).reshape(pattern_sources.square_shape(v.shape[0]))

    def state(self):
        return {
            "retrieved": self._display(self.xi),
            "cue": self._display(self.cue),
            "cued_pattern": self._display(self.x[:, self.p["cue_pattern"] - 1]),
            "weights": self._weights,
            # E after each update, from the cue's (update 0) on; the cue's point stays first
            "energy_updates": np.array([k for k, _ in self._energies], dtype=np.float64),
            "energy_history": torch.stack([e for _, e in self._energies]).to("cpu", torch.float64).numpy(),
            # theory: exact one-step retrieval above Δ = 1/((α − 1) β) (sparse separations only)
            "exact_beta": self.p["beta"] * EXACT_LINE_SPAN,
            "exact_gap": modern_theory.exact_line(self._alpha(), self.p["beta"] * EXACT_LINE_SPAN),
        }

    def _alpha(self) -> float:
        """The Tsallis α of the separation: 1 softmax and Softmax₁, 2 sparsemax, ``entmax_alpha``."""
        return separations.effective_alpha(self.p["separation"], self.p["entmax_alpha"])

    def texts(self):
        kind = self.p["separation"]
        return {"equations": _EQUATIONS[kind],
                "exactness": _EXACTNESS["sparse" if kind in ("sparsemax", "entmax") else kind]}

    def observables(self):
        w = self._weights
        target = self.x[:, self.p["cue_pattern"] - 1]
        norm = float(self.xi.norm())
        # every pattern has length M: the nearest is the largest overlap (no d × P temporary)
        nearest = int(torch.argmax(self.x.T @ self.xi))
        error_nearest = float((self.x[:, nearest] - self.xi).norm())
        total = float(w.sum())
        squares = float((w * w).sum())
        gap = modern_theory.score_gap(self._query_h.to("cpu").numpy())
        needed = modern_theory.exact_threshold(self._alpha()) / gap if gap > 0 else math.inf
        return {
            "energy": self.energy(),
            "m_cued": float(self.xi @ target) / (norm * float(target.norm())) if norm > 0 else 0.0,  # cosine similarity
            "error_cued": float((self.xi - target).norm()),
            "distance_to_mean": float((self.xi - self.x.mean(1)).norm()),
            "best_pattern": float(int(torch.argmax(w)) + 1),
            "max_weight": float(w.max()),
            # (Σp)²/Σp²: the number of patterns sharing the weight (Σp < 1 for Softmax₁)
            "effective_patterns": total * total / squares if squares > 0 else 0.0,
            "beta": float(self.p["beta"]),
            "support_size": float(int((w > 0).sum())),
            "total_weight": total,
            "state_norm": norm,
            "error_nearest": error_nearest,
            "nearest_pattern": float(nearest + 1),
            # the state is a stored pattern to the last bit (a one-hot p makes X p = ξ_μ exactly)
            "exact_retrieval": float(error_nearest == 0.0),
            "score_gap": gap,
            # the β from which the last update's query is retrieved exactly: 1/((α − 1)Δ) (NaN for softmax)
            "beta_exact": needed if math.isfinite(needed) else math.nan,
        }
