"""Memory budget for model resets: refuse up front what would not fit.

A reset (or load) whose estimated memory (:meth:`Model.estimate_bytes`)
exceeds the budget is refused before anything is allocated, with the size it
needs and the parameters that drive it. The budget is a fixed size (the
engine's ``--memory-budget-gb``) or, by default, a fraction of the memory the
device has available at the moment of the check.
"""

from __future__ import annotations

import math
import os

from attractor_lab.engine.params import validate_params

#: default budget: this fraction of the memory available when a reset is checked
DEFAULT_FRACTION = 0.8


class MemoryBudgetExceeded(ValueError):
    """A reset that would need more memory than the budget allows."""


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``12 MiB``: sizes for messages."""
    for unit, shift in (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{int(n)} B"


def available_bytes(device=None) -> int | None:
    """Memory available for new allocations on ``device`` (host RAM for the CPU), or None if unknown."""
    if device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class MemoryBudget:
    """A fixed budget in bytes, or ``fraction`` of the memory available at each check."""

    def __init__(self, fixed_bytes: int | None = None, fraction: float = DEFAULT_FRACTION):
        if fixed_bytes is not None and not (isinstance(fixed_bytes, int) and fixed_bytes > 0):
            raise ValueError(f"memory budget must be a positive number of bytes, not {fixed_bytes!r}")
        self.fixed_bytes = fixed_bytes
        self.fraction = fraction

    @classmethod
    def from_gb(cls, gb: float | None) -> "MemoryBudget":
        """From a ``--memory-budget-gb`` value (None: the default fraction)."""
        if gb is None:
            return cls()
        if isinstance(gb, bool) or not isinstance(gb, (int, float)) or not math.isfinite(gb) or gb <= 0:
            raise ValueError(f"--memory-budget-gb must be a positive finite number of GiB, not {gb!r}")
        return cls(max(1, int(gb * 2**30)))

    def limit(self, device=None) -> tuple[int | None, str]:
        """The budget now, in bytes (None: unknown, no limit), and how it was set."""
        if self.fixed_bytes is not None:
            return self.fixed_bytes, f"--memory-budget-gb {self.fixed_bytes / 2**30:g}"
        free = available_bytes(device)
        if free is None:
            return None, "unknown"
        return int(self.fraction * free), f"{self.fraction:.0%} of the {format_bytes(free)} available"


def check_model_memory(cls, params: dict, budget: MemoryBudget, device=None, what: str = "reset",
                       reserved: int = 0) -> int:
    """Refuse (``MemoryBudgetExceeded``) a model of class ``cls`` with ``params``
    whose estimate exceeds ``budget`` less ``reserved`` bytes; return the estimate.

    Parameter values are validated first (a ``ValueError`` names a bad one).
    """
    declared = cls.params_for(params)  # a custom model's parameters follow from its equations
    schema = {p.name: p for p in declared}
    full = {p.name: p.default for p in declared}
    if declared is not cls.params:  # at a reset to new equations the old ones' values are still in params
        params = {k: v for k, v in params.items() if k in schema}
    full.update(validate_params(schema, params, where=cls.name))
    need = int(cls.estimate_bytes(full))
    limit, how = budget.limit(device)
    if limit is None or need <= limit - reserved:
        return need
    drivers = [f"{p.name} = {full[p.name]:g}" if isinstance(full[p.name], float) else f"{p.name} = {full[p.name]}"
               for p in declared if not p.live and p.kind in ("int", "float") and full[p.name] != p.default]
    given = f" with {', '.join(drivers)}" if drivers else ""
    busy = f", {format_bytes(reserved)} of it held by a cancelled reset still finishing" if reserved else ""
    raise MemoryBudgetExceeded(
        f"{what}: {cls.name}{given} needs about {format_bytes(need)}, more than the engine's memory budget of "
        f"{format_bytes(limit)} ({how}{busy}); choose smaller sizes, or start the engine with a larger "
        "--memory-budget-gb")
