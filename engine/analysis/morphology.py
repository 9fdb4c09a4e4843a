"""What a 2D pattern is: its class from its morphology, and its grid-scale power.

A picture of a field is read by people as physics, so the claim "this preset
shows spots" is checked by a statistic that does not look at how the field was
made. :func:`classify_pattern` returns one of

``uniform``
    no contrast left: ``std / max(|mean|, 1) < UNIFORM_CONTRAST``;
``spots``
    a static pattern whose minority phase is mostly round islands;
``stripes``
    a static pattern of elongated or tortuous bands (stripes, labyrinths);
``waves``
    a moving pattern with few phase defects per front spacing² (travelling
    and target waves, rotating spirals: a spiral's tip is one defect);
``chaos``
    a moving pattern with many phase defects per front spacing² (spiral
    turbulence, nucleating and annihilating waves);

and ``mixed`` when the static statistics sit between spots and stripes (never
a valid claim). How it decides, with the field's dominant wavelength λ (in
cells, from the peak ring of the radial power spectrum):

* **motion** (needs an earlier snapshot): √(2(1 − c)) with c the correlation
  coefficient of the two snapshots, 0 for a frozen pattern (or one that only
  grows in amplitude), about 1.4 for two unrelated ones; above ``MOVING`` the
  pattern moves.
* **phase defects** of a moving pattern: the phase θ = atan2(ḟ/σ(ḟ),
  (f − f̄)/σ(f)) of the field and its change (a travelling wave turns round a
  loop in that plane; a spiral tip is where it winds), counted as plaquettes
  with a non-zero winding number (periodic). Their number per λ_f², with
  λ_f = 2 × (area / length of the fronts) the spacing of wave fronts (from the
  mid-level contour; the spectral peak is unreliable for a few spiral arms or a
  colony in an empty domain), separates ``waves`` (below ``CHAOS_DEFECTS``:
  spirals have one defect per arm tip in tens of λ_f²) from ``chaos`` (spiral
  turbulence and Gray–Scott's nucleating waves: 0.4 and more). Chaos also
  needs at least ``CHAOS_MIN_DEFECTS`` defects: in a domain only a few
  wavelengths wide a pair of spirals is dense but not chaotic (so chaos in
  such a small domain reads as waves).
* **islands** of a static pattern: the field is cut at the midrange of its 2nd
  and 98th percentiles; the phase covering less area (the spots, or one set of
  stripes) is split into periodic connected components (labelled on a 3×3
  tiling, each kept once). A component of at least ``MIN_ISLAND`` cells and a
  tenth of the median component is *round* when its aspect ratio (from the second moments) is below
  ``ROUND_ASPECT`` and its compactness 4πA/P² (P: the pixel-edge perimeter, a
  digitised disc gives ≈ 0.6, a band of length L and width w gives πw/L) is
  at least ``ROUND_COMPACTNESS``. The area fraction of round islands gives
  ``spots`` (≥ ``SPOTS_ROUND``) or ``stripes`` (≤ ``STRIPES_ROUND``), else
  ``mixed``. The number of islands per λ² is reported too (a hexagonal array
  of spots has about 0.87).

:func:`nyquist_fraction` is the grid-scale detector: the power on the two
Nyquist lines of the spectrum (k_x = π/h or k_y = π/h) over the total power
of ``f − mean``. White noise gives about 2/n on an n×n grid, smooth patterns
far less; the checkerboard an unstable explicit step grows gives nearly 1.

Pure numpy/scipy: used by the engine, the contract checker and tests alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from attractor_lab.engine.analysis import PATTERN_CLASSES  # noqa: F401 - re-exported: the classes a preset may claim
from attractor_lab.engine.theory.turing import dominant_wavelength


UNIFORM_CONTRAST = 1e-3
MOVING = 0.25
CHAOS_DEFECTS = 0.15
CHAOS_MIN_DEFECTS = 8
MIN_ISLAND = 4
ROUND_ASPECT = 2.0
ROUND_COMPACTNESS = 0.3
SPOTS_ROUND = 0.6
STRIPES_ROUND = 0.3


@dataclass(frozen=True)
class Morphology:
    """The class of a pattern and the statistics that decided it."""

    pattern: str
    contrast: float  # std / max(|mean|, 1)
    wavelength: float  # dominant wavelength in cells (nan for a uniform field)
    motion: float  # relative change since the earlier snapshot (nan without one)
    defects: int  # phase defects of a moving pattern (0 when static)
    defect_density: float  # defects per λ_f² (λ_f: spacing of the fronts)
    islands: int  # minority-phase components (see MIN_ISLAND)
    island_density: float  # islands per λ²
    round_fraction: float  # area fraction of those islands that are round
    nyquist: float  # grid-scale power fraction (see nyquist_fraction)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line with the class and the numbers behind it."""
        parts = [self.pattern, f"contrast {self.contrast:.3g}"]
        if math.isfinite(self.wavelength):
            parts.append(f"λ = {self.wavelength:.3g} cells")
        if math.isfinite(self.motion):
            parts.append(f"motion {self.motion:.3g}")
        if self.pattern in ("waves", "chaos"):
            parts.append(f"{self.defects} defects ({self.defect_density:.3g} per λ_f²)")
        elif self.pattern in ("spots", "stripes", "mixed"):
            parts.append(f"{self.islands} islands ({self.island_density:.3g} per λ²), "
                         f"round fraction {self.round_fraction:.2f}")
        parts.append(f"grid-scale power {self.nyquist:.2e}")
        return ", ".join(parts)


# ---- grid-scale power ---------------------------------------------------------
def nyquist_fraction(field: np.ndarray) -> float:
    """Power on the Nyquist lines k_x = π/h or k_y = π/h over the total power of ``field − mean``
    (for a 1D field: the power of the Nyquist mode).

    Computed without an FFT: the alternating sum of each row, g(y) = Σ_x (−1)^x f(y, x),
    is F(k_y, π) for every k_y after a 1D transform, so by Parseval the power on
    that line is n_y Σ_y g(y)² (and likewise for columns; the corner (π, π) is
    counted once). 0 for a uniform field.
    """
    f = np.asarray(field, dtype=np.float64)
    if f.ndim not in (1, 2):
        raise ValueError(f"nyquist_fraction: expected a 1D or 2D field, got shape {f.shape}")
    f = f - f.mean()
    total = float(np.sum(f * f))
    if total <= 0.0 or not math.isfinite(total):
        return 0.0 if total <= 0.0 else float("nan")
    if f.ndim == 1:  # one Nyquist mode: |F(π)|² = (Σ (−1)^x f)² against Σ|F|² = n Σ f²
        s = np.where(np.arange(f.size) % 2 == 0, 1.0, -1.0)
        return float(s @ f) ** 2 / (f.size * total)
    ny, nx = f.shape
    sx = np.where(np.arange(nx) % 2 == 0, 1.0, -1.0)
    sy = np.where(np.arange(ny) % 2 == 0, 1.0, -1.0)
    gx = f @ sx  # (ny,): alternating sum along each row
    gy = sy @ f  # (nx,)
    corner = float(sy @ gx) ** 2 / (nx * ny)
    line_x = float(gx @ gx) / nx
    line_y = float(gy @ gy) / ny
    return (line_x + line_y - corner) / total


# ---- phase defects ----------------------------------------------------------------
def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def _mid_phase(f: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(f, [2.0, 98.0])
    return f > 0.5 * (lo + hi)


def front_spacing(field: np.ndarray) -> float:
    """λ_f = 2 × area / length of the mid-level fronts, in cells (the spacing of the
    fronts of a wave train, two fronts per wavelength); nan without fronts."""
    b = _mid_phase(np.asarray(field, dtype=np.float64))
    edges = np.count_nonzero(b != np.roll(b, 1, 0)) + np.count_nonzero(b != np.roll(b, 1, 1))
    # pixel edges overstate a smooth curve's length by 4/π on average over directions
    return 2.0 * b.size / (edges * np.pi / 4.0) if edges else float("nan")


def phase_defects(field: np.ndarray, earlier: np.ndarray) -> int:
    """Plaquettes (periodic) around which the phase of (f − f̄, f − f₀) winds."""
    f = np.asarray(field, dtype=np.float64)
    df = f - np.asarray(earlier, dtype=np.float64)
    sf, sd = f.std(), df.std()
    if sf == 0.0 or sd == 0.0:
        return 0
    theta = np.arctan2(df / sd, (f - f.mean()) / sf)
    right = np.roll(theta, -1, axis=1)
    down_right = np.roll(right, -1, axis=0)
    down = np.roll(theta, -1, axis=0)
    winding = _wrap(right - theta) + _wrap(down_right - right) + _wrap(down - down_right) + _wrap(theta - down)
    return int(np.count_nonzero(np.abs(winding) > np.pi))


# ---- islands ------------------------------------------------------------------------
@dataclass(frozen=True)
class Islands:
    count: int
    round_fraction: float
    areas: np.ndarray
    aspects: np.ndarray
    compactness: np.ndarray


def islands(field: np.ndarray) -> Islands:
    """Periodic connected components of the minority phase and their shapes (see module doc)."""
    phase = _mid_phase(np.asarray(field, dtype=np.float64))
    if np.count_nonzero(phase) > phase.size / 2:
        phase = ~phase
    ny, nx = phase.shape
    tiled = np.tile(phase, (3, 3))
    labels, count = ndimage.label(tiled)
    empty = Islands(0, float("nan"), np.zeros(0), np.zeros(0), np.zeros(0))
    if count == 0:
        return empty
    flat = labels.ravel()
    yy, xx = np.indices(tiled.shape)
    area = np.bincount(flat, minlength=count + 1).astype(float)
    sy = np.bincount(flat, weights=yy.ravel(), minlength=count + 1)
    sx = np.bincount(flat, weights=xx.ravel(), minlength=count + 1)
    syy = np.bincount(flat, weights=(yy * yy).ravel(), minlength=count + 1)
    sxx = np.bincount(flat, weights=(xx * xx).ravel(), minlength=count + 1)
    sxy = np.bincount(flat, weights=(xx * yy).ravel(), minlength=count + 1)
    # pixel-edge perimeter: sides of a component pixel that face a pixel outside it
    perimeter = np.zeros(count + 1)
    for shift, axis in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
        edge = tiled & ~np.roll(tiled, shift, axis=axis)
        perimeter += np.bincount(flat[edge.ravel()], minlength=count + 1)
    ids = np.arange(1, count + 1)
    a = area[ids]
    cy, cx = sy[ids] / a, sx[ids] / a
    # each periodic component once: the copy whose centroid lies in the central tile
    keep = (cy >= ny) & (cy < 2 * ny) & (cx >= nx) & (cx < 2 * nx)
    big = a[keep & (a >= MIN_ISLAND)]
    keep &= a >= max(MIN_ISLAND, 0.1 * float(np.median(big)) if big.size else MIN_ISLAND)
    if not keep.any():
        return empty
    ids, a, cy, cx = ids[keep], a[keep], cy[keep], cx[keep]
    vyy = syy[ids] / a - cy**2 + 1.0 / 12.0  # + a pixel's own second moment
    vxx = sxx[ids] / a - cx**2 + 1.0 / 12.0
    vxy = sxy[ids] / a - cx * cy
    half_trace, det = 0.5 * (vxx + vyy), vxx * vyy - vxy**2
    root = np.sqrt(np.maximum(half_trace**2 - det, 0.0))
    aspect = np.sqrt((half_trace + root) / np.maximum(half_trace - root, 1e-12))
    compact = 4.0 * np.pi * a / np.maximum(perimeter[ids], 1.0) ** 2
    # a component wider than the domain (a stripe that wraps round) is a band whatever its moments say
    spans = np.zeros(len(ids), bool)
    objects = ndimage.find_objects(labels)
    for i, label in enumerate(ids):
        sl = objects[label - 1]
        spans[i] = (sl[0].stop - sl[0].start) > ny or (sl[1].stop - sl[1].start) > nx
    round_ = (aspect < ROUND_ASPECT) & (compact >= ROUND_COMPACTNESS) & ~spans
    return Islands(len(ids), float(a[round_].sum() / a.sum()), a, aspect, compact)


def _motion(field: np.ndarray, earlier: np.ndarray) -> float:
    a, b = field - field.mean(), earlier - earlier.mean()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0 if na == nb else math.sqrt(2.0)
    c = float(np.sum(a * b)) / (na * nb)
    return math.sqrt(max(2.0 * (1.0 - c), 0.0))


# ---- the class ------------------------------------------------------------------------
def classify_pattern(field: np.ndarray, earlier: np.ndarray | None = None) -> Morphology:
    """The pattern class of ``field`` (2D), with ``earlier`` a snapshot of the same field a
    short time before (needed to tell waves and chaos from static patterns; without it a
    pattern is taken as static)."""
    f = np.asarray(field, dtype=np.float64)
    if f.ndim != 2 or min(f.shape) < 4:
        raise ValueError(f"classify_pattern: expected a 2D field of at least 4×4 cells, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("classify_pattern: the field has NaN or infinite values")
    nyq = nyquist_fraction(f)
    contrast = float(f.std() / max(abs(float(f.mean())), 1.0))
    nan = float("nan")
    if contrast < UNIFORM_CONTRAST:
        return Morphology("uniform", contrast, nan, nan, 0, 0.0, 0, 0.0, nan, nyq)
    lam = dominant_wavelength(f, f.shape[1])[1]  # in cells
    area_in_lam2 = f.size / lam**2 if math.isfinite(lam) else nan
    motion = nan
    if earlier is not None:
        e = np.asarray(earlier, dtype=np.float64)
        if e.shape != f.shape:
            raise ValueError(f"classify_pattern: earlier has shape {e.shape}, field {f.shape}")
        motion = _motion(f, e)
    if motion > MOVING:
        defects = phase_defects(f, earlier)
        spacing = front_spacing(f)
        density = defects * spacing**2 / f.size if math.isfinite(spacing) else nan
        kind = "chaos" if density >= CHAOS_DEFECTS and defects >= CHAOS_MIN_DEFECTS else "waves"
        return Morphology(kind, contrast, lam, motion, defects, density, 0, nan, nan, nyq)
    isl = islands(f)
    if isl.count == 0:
        kind = "mixed"
    elif isl.round_fraction >= SPOTS_ROUND:
        kind = "spots"
    elif isl.round_fraction <= STRIPES_ROUND:
        kind = "stripes"
    else:
        kind = "mixed"
    density = isl.count / area_in_lam2 if area_in_lam2 > 0 else nan
    return Morphology(kind, contrast, lam, motion, 0, 0.0, isl.count, density, isl.round_fraction, nyq)
