"""Device choice and process-wide torch settings for the engine."""

from __future__ import annotations

import os

import torch

_configured = False


def configure_torch(threads: int | None = None) -> int:
    """Process-wide settings that every engine process wants.

    * Flush subnormal floats to zero: float32 Gray–Scott fills half the grid
      with subnormals after ~1000 steps and runs ~5x slower on CPU otherwise.
    * One intra-op thread on machines with few cores: with the GUI sharing
      2 cores, several torch threads ran many times slower than one.
      ``ATTRACTOR_LAB_THREADS`` or ``threads`` overrides.

    Returns the number of intra-op threads in use.
    """
    global _configured
    torch.set_flush_denormal(True)
    if threads is None:
        env = os.environ.get("ATTRACTOR_LAB_THREADS")
        if env:
            threads = int(env)
        elif not _configured and (os.cpu_count() or 1) <= 4:
            threads = 1
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, not {threads}")
        torch.set_num_threads(threads)
    _configured = True
    return torch.get_num_threads()


def choose_device(requested: str | None = "auto") -> torch.device:
    """Return the torch device for ``requested``.

    ``"auto"`` (or None) picks CUDA when available, else the CPU. Asking for
    CUDA on a machine without it raises ``ValueError`` with what is available.
    """
    req = (requested or "auto").lower()
    if req == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(req)
    except RuntimeError:
        raise ValueError(f"device {requested!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {requested!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type != "cpu":
        raise ValueError(f"device {requested!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def describe(device: torch.device) -> str:
    """One line for the status bar: 'cpu (1 thread)' or 'cuda:0 NVIDIA H200'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'s' if n != 1 else ''})"
