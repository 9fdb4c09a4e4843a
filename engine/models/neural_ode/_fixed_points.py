"""Fixed points of a vector field given only as a torch function (a learned one).

Newton's method from a grid of starts in a box, with the Jacobian from
autograd (``torch.func``), so it works for any differentiable field — the
network a ``neural_ode`` learns as well as a classical system's formula.
Converged points are merged and classified by the eigenvalues of the
Jacobian: 0 stable (every Re λ < 0), 1 unstable (every Re λ > 0), 2 saddle
(both signs), 3 marginal (some Re λ ≈ 0: centres, degenerate points such as
the cubic spiral's origin). The same codes as the ``phase`` view.
"""

from __future__ import annotations

import itertools

import torch

STABLE, UNSTABLE, SADDLE, MARGINAL = 0, 1, 2, 3


def jacobian(field, x: torch.Tensor) -> torch.Tensor:
    """J[i] = ∂field/∂x at each row of ``x`` (n, d) → (n, d, d)."""
    single = lambda v: field(v[None])[0]  # noqa: E731
    return torch.func.vmap(torch.func.jacrev(single))(x)


def classify(eigenvalues: torch.Tensor, scale: float) -> torch.Tensor:
    """Stability codes from eigenvalues (n, d); |Re λ| below ``scale``·1e-6 counts as zero."""
    re = eigenvalues.real
    eps = 1e-6 * max(scale, 1e-12)
    neg, pos = (re < -eps).all(-1), (re > eps).all(-1)
    mixed = (re < -eps).any(-1) & (re > eps).any(-1)
    codes = torch.full(re.shape[:1], MARGINAL, dtype=torch.int64, device=re.device)
    codes[neg], codes[pos], codes[mixed] = STABLE, UNSTABLE, SADDLE
    return codes


@torch.no_grad()
def find_fixed_points(field, lo, hi, starts_per_axis: int = 9, iterations: int = 40, max_points: int = 16):
    """Zeros of ``field`` inside the box [lo, hi] (per component).

    Parameters
    ----------
    field : callable
        (n, d) tensor → (n, d) tensor, differentiable.
    lo, hi : 1-D tensors (d,)
        The box; starts fill it on a grid of ``starts_per_axis`` per axis (at
        most ~729 starts in all), and points that leave it (by more than 10 %)
        are dropped.
    max_points : int
        At most this many points are returned (those with the smallest |f|).

    Returns
    -------
    points : (K, d) tensor, codes : (K,) int64 tensor, eigenvalues : (K, d) complex tensor
    """
    lo, hi = torch.as_tensor(lo), torch.as_tensor(hi)
    d = lo.numel()
    span = (hi - lo).clamp_min(1e-9)
    per_axis = max(2, min(starts_per_axis, round(729 ** (1.0 / d))))
    axes = [torch.linspace(0.0, 1.0, per_axis + 2, dtype=lo.dtype, device=lo.device)[1:-1]] * d
    unit = torch.tensor(list(itertools.product(*[a.tolist() for a in axes])), dtype=lo.dtype, device=lo.device)
    x = lo + unit * span
    # the field's own scale in the box: what "small" means for |f| and for Re λ
    scale = float(field(x).abs().max())
    if not (scale > 0 and scale < float("inf")):
        scale = 1.0
    for _ in range(iterations):
        with torch.enable_grad():
            f = field(x)
            j = jacobian(field, x)
        # pseudo-inverse: singular Jacobians (degenerate zeros, flat learned regions) stay finite
        step = -(torch.linalg.pinv(j) @ f.unsqueeze(-1)).squeeze(-1)
        # damped: never jump more than a quarter of the box in one iteration
        too_far = (step.abs() / span).amax(-1, keepdim=True)
        step = torch.where(too_far > 0.25, step * (0.25 / too_far), step)
        x = x + step
        if not torch.isfinite(x).all():
            x = torch.where(torch.isfinite(x), x, lo)
    res = field(x).abs().amax(-1)
    inside = ((x >= lo - 0.1 * span) & (x <= hi + 0.1 * span)).all(-1)
    ok = torch.isfinite(res) & (res < 1e-6 * scale) & inside
    x, res = x[ok], res[ok]
    if x.shape[0] == 0:
        empty = torch.zeros((0, d), dtype=lo.dtype, device=lo.device)
        return empty, torch.zeros(0, dtype=torch.int64, device=lo.device), empty.to(torch.complex128)
    order = torch.argsort(res)
    x = x[order]
    keep: list[torch.Tensor] = []
    for p in x:  # greedy merge (the best-converged representative first), within 0.1 % of the box
        if all(float(((p - q) / span).abs().max()) > 1e-3 for q in keep):
            keep.append(p)
        if len(keep) >= max_points:
            break
    points = torch.stack(keep)
    with torch.enable_grad():
        eig = torch.linalg.eigvals(jacobian(field, points).to(torch.float64))
    return points, classify(eig, scale / float(span.max())), eig


def padded(points: torch.Tensor, codes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (K, d) and codes (K,) padded to ``size`` rows with NaN and −1 (fixed shapes record cleanly)."""
    k = min(points.shape[0], size)
    out = torch.full((size, points.shape[1]), float("nan"), dtype=points.dtype, device=points.device)
    out[:k] = points[:k]
    kinds = torch.full((size,), -1, dtype=torch.int64, device=codes.device)
    kinds[:k] = codes[:k]
    return out, kinds
