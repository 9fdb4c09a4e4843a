"""Device choice and process-wide torch settings for the engine."""

from __future__ import annotations

import getpass
import json
import os
import re
import tempfile
import threading
from pathlib import Path

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


# ---- torch.compile: policy, kernels compiled before, the compiler preloaded -----------
def compile_policy() -> str:
    """``ATTRACTOR_LAB_COMPILE``: ``0`` never, ``1`` at the first step, ``auto`` (default)
    in a background thread once a model has run a while, or from its first step when
    the same kernel was compiled before (:func:`compiled_before`: inductor's on-disk
    cache makes that compile take seconds, not a minute)."""
    value = os.environ.get("ATTRACTOR_LAB_COMPILE", "auto").strip().lower()
    if value in ("0", "off", "false", "no"):
        return "off"
    if value in ("1", "on", "true", "yes", "sync"):
        return "sync"
    return "auto"


#: kernels compiled before, remembered at most this many
COMPILED_RECORD_SIZE = 200


def inductor_cache_dir() -> Path:
    """Inductor's on-disk cache (``TORCHINDUCTOR_CACHE_DIR``, else its default under the
    temporary directory), worked out as inductor does without importing it (seconds)."""
    path = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if path:
        return Path(path).absolute()
    try:
        user = getpass.getuser()
    except (KeyError, ModuleNotFoundError, OSError):
        user = f"uid_{os.getuid()}" if hasattr(os, "getuid") else "unknown_user"
    return Path(tempfile.gettempdir()) / ("torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user))


def compiled_record() -> Path:
    """The list of kernels compiled here before: beside inductor's cache, so it goes
    when that cache is cleared (and the next compile is a cold one again)."""
    return inductor_cache_dir() / "attractor_lab" / "compiled.json"


def kernel_signature(name: str, example: tuple) -> str:
    """What a compiled kernel is specialised on: torch's version, the kernel, and its
    arguments' shapes, dtypes and device type."""
    parts = [torch.__version__, name]
    for a in example:
        parts.append(f"{tuple(a.shape)}:{str(a.dtype).removeprefix('torch.')}:{a.device.type}"
                     if isinstance(a, torch.Tensor) else type(a).__name__)
    return "|".join(parts)


def _read_record() -> list:
    try:
        data = json.loads(compiled_record().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    kernels = data.get("kernels") if isinstance(data, dict) else None
    return [k for k in kernels if isinstance(k, str)] if isinstance(kernels, list) else []


def compiled_before(signature: str) -> bool:
    """Whether this kernel was compiled here before (so inductor's cache holds it)."""
    return signature in _read_record() and inductor_cache_dir().is_dir()


def remember_compiled(signature: str) -> None:
    """Add a kernel to :func:`compiled_record` (atomically; a cache: failures are ignored)."""
    kernels = [k for k in _read_record() if k != signature] + [signature]
    path = compiled_record()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".compiled-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"kernels": kernels[-COMPILED_RECORD_SIZE:]}, f, indent=0)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def preload_compiler() -> threading.Thread | None:
    """Import torch's compiler (dynamo and inductor: several seconds) in a background
    thread when compiling is on and this machine compiled a kernel before, so that a
    kernel compiled again at load (from inductor's on-disk cache) does not wait for the
    imports. The engine calls it as it starts, while the window is still opening."""
    if compile_policy() == "off" or not compiled_record().is_file():
        return None

    def load():
        try:
            import torch._dynamo  # noqa: F401
            import torch._inductor.compile_fx  # noqa: F401
        except Exception:  # noqa: BLE001 - a compile at load says what is wrong
            pass

    thread = threading.Thread(target=load, daemon=True, name="preload-compiler")
    thread.start()
    return thread
