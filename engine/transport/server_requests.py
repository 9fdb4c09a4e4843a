"""The engine's request handlers that answer at once (``_on_<verb>``), and field checks.

:class:`engine.transport.server.EngineServer` mixes these in; the handlers that start
work in pieces or in a thread (load, reset, step, record save) live there.
Each handler takes the request's content and arrays and returns the reply's
fields (or ``(fields, arrays)``); a ``ValueError`` becomes an error reply.
"""

from __future__ import annotations

import logging
import math
import os
import platform

import numpy as np
import torch

from attractor_lab.engine import __version__, models
from attractor_lab.engine.device import describe
from attractor_lab.engine.params import MAX_SEED
from attractor_lab.engine.storage.presets import Preset
from attractor_lab.engine.transport.protocol import MAX_MESSAGE_BYTES, PROTOCOL_VERSION
from attractor_lab.engine.storage.recorder import Recorder

log = logging.getLogger("attractor_lab.engine")

#: Upper bound a client may ask for a recording's memory budget.
MAX_RECORDING_BYTES = 16 << 30
#: Events kept for clients that missed some (``events`` request).
EVENT_HISTORY = 256


class RequestHandlers:
    """Handlers for the requests that complete at once."""

    def _need_model(self):
        if self.model is None:
            raise ValueError("no model loaded; send load_request first")
        return self.model

    def _on_info(self, c, arrays=None):
        limit, how = self.memory_budget.limit(self.device)
        return {
            "engine_version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": str(self.device),
            "device_description": describe(self.device),
            "threads": self.threads,
            "pid": os.getpid(),
            "model": self.model.name if self.model else None,
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "memory_budget_bytes": limit,
            "memory_budget": how,
            "event_seq": self.event_seq,
            "curve": bool(self.info.get("curve_server_key")),
        }

    def _on_list_models(self, c, arrays=None):
        return {"models": {n: models.get(n).describe() for n in models.names()}}

    def _on_set_params(self, c, arrays=None):
        m = self._need_model()
        params = c.get("params", {})
        if not isinstance(params, dict):
            raise ValueError("set_params: 'params' must be an object of name: value")
        waiting = m.set(**params)
        if self.recorder is not None and self.recording_active:  # the file says when the run changed
            self.recording_changes.append({"step": m.steps, "params": {k: v for k, v in params.items()
                                                                        if k not in waiting}})
        self._frame_due = True
        return {"params": m.p, "pending": m.pending, "waiting": waiting}

    def _on_get_state(self, c, arrays=None):
        m = self._need_model()
        with m.exact_observables():  # a script asking for the state gets exact values
            return {"step": m.steps, "time": m.time, "observables": m.observables(), "params": m.p}, m.numpy_state()

    def _on_set_state(self, c, arrays=None):
        """Arrays named as in ``state()`` (e.g. the last frame a window received before a
        crash), with the ``step`` and ``time`` they belong to."""
        m = self._need_model()
        if not arrays:
            raise ValueError("set_state: send the state as arrays named as in the model's frames")
        step = _int(c, "step", m.steps, 0, 2**62)
        when = _finite(c, "time") if "time" in c else m.time
        used = m.restore_state({k: np.array(v) for k, v in arrays.items()}, step, when)
        self._frame_due = True
        self._state_event("set_state")
        return {"restored": used, "step": m.steps, "time": m.time}

    def _on_paint(self, c, arrays=None):
        m = self._need_model()
        m.paint(c["field"], _finite(c, "x"), _finite(c, "y"), _finite(c, "radius", 5.0), _finite(c, "value", 1.0),
                c.get("mode", "set"))
        self._frame_due = True
        return {}

    def _on_click(self, c, arrays=None):
        m = self._need_model()
        target = c["target"]
        if not isinstance(target, str) or not target:
            raise ValueError(f"click: 'target' must be a non-empty string (the view's \"click\"), not {target!r}")
        x, y = _finite(c, "x"), _finite(c, "y")
        m.click(target, x, y)  # models that take no clicks raise ValueError
        self._frame_due = True
        return {}

    def _on_weights(self, c, arrays=None):
        m = self._need_model()
        action, path = c["action"], c["path"]
        if action not in ("save", "load"):
            raise ValueError(f"weights: action must be save or load, not {action!r}")
        if not isinstance(path, str) or not path:
            raise ValueError(f"weights: 'path' must be a non-empty string (a file on the engine's machine), not {path!r}")
        if not hasattr(m, f"{action}_weights"):
            raise ValueError(f"model {m.name!r} has no trained weights to {action}")
        if action == "save":
            return {"path": str(m.save_weights(path)), "step": m.steps}
        m.load_weights(path)  # refuses a file that does not fit, naming the mismatch; the model is unchanged
        self._frame_due = True
        return {"path": path, "step": m.steps}

    def _on_set_patterns(self, c, arrays=None):
        m = self._need_model()
        if not hasattr(m, "set_image_patterns"):
            raise ValueError(f"model {m.name!r} does not take user patterns")
        if not arrays or "patterns" not in arrays:
            raise ValueError("set_patterns: send the patterns as an array named 'patterns' (P, N)")
        m.set_image_patterns(np.array(arrays["patterns"]))
        return {"params": m.p, "pending": m.pending}

    def _on_set_speed(self, c, arrays=None):
        n = _int(c, "steps_per_frame", 0, 0, 10**7)  # 0: as fast as possible
        self.steps_per_frame = n
        return {"steps_per_frame": n}

    def _on_set_display_rate(self, c, arrays=None):
        fps = c["fps"]
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= 240:
            raise ValueError(f"fps must be in [1, 240], not {fps}")
        self.fps = float(fps)
        return {"fps": self.fps}

    def _on_events(self, c, arrays=None):
        """Errors and state changes numbered after ``since``, for a client that missed some."""
        since = _int(c, "since", 0, 0, 2**62)
        kept = [e for e in self.events if e["seq"] > since]
        first = self.events[0]["seq"] if self.events else self.event_seq + 1
        missed = max(0, min(first, self.event_seq + 1) - since - 1)
        return {"events": kept, "seq": self.event_seq, "missed": missed}

    def _record_start(self, c, m) -> None:
        # "fields", not "arrays": the protocol keeps content["arrays"] for buffer descriptions
        names = c.get("fields")
        state_names = set(m.numpy_state())
        if names is not None:
            if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
                raise ValueError("record: 'fields' must be a non-empty list of array names")
            unknown = sorted(set(names) - state_names)
            if unknown:
                raise ValueError(f"record: unknown fields {unknown}; this model has {sorted(state_names)}")
        theory = [n for n in (m.theory_fields or ()) if n in state_names]
        if names is None and m.record_fields is not None:
            # what the model's recordings keep, and its theory (kept once, apart from the states)
            names = [n for n in m.record_fields if n in state_names] + [n for n in theory
                                                                        if n not in m.record_fields]
        title, description = _text(c, "title", 500), _text(c, "description", 20_000)
        if title is None:  # the title of the preset the model was loaded from (load's "title")
            title, description = getattr(self, "preset_title", None), getattr(self, "preset_description", None)
        self.recorder = Recorder(_int(c, "every", 1, 1, 10**9), names,
                                 _int(c, "max_bytes", 1 << 30, 1 << 20, MAX_RECORDING_BYTES), theory)
        self.recording_source = preset_for(m, title, description)
        self.recording_preset = self.recording_source.dumps()
        self.recording_changes = []
        self.recording_active = True
        self._capture()

    def _stop_recording(self) -> None:
        """Capture no more; what was recorded waits to be saved (its ``every`` stays what was asked)."""
        self.recording_active = False

    def _on_shutdown(self, c, arrays=None):
        self._stop = True
        self.running = False
        return {}


def preset_for(model, title: str | None = None, description: str | None = None) -> Preset:
    """A preset that recreates ``model`` as it is now, under ``title`` (the preset's it was
    loaded from), else the model's own title."""
    return Preset(model=model.name, params=dict(model.p), seed=model.seed, title=title or model.title,
                  description=description or "")


def _text(content: dict, key: str, limit: int) -> str | None:
    """An optional string field of a request (None when absent), at most ``limit`` characters."""
    value = content.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{key!r} must be a string of at most {limit} characters, not {str(value)[:40]!r}")
    return value


def _flag(content: dict, key: str, default: bool) -> bool:
    value = content.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be true or false, not {value!r}")
    return value


def _scalar(value) -> int | float:
    """An observable for JSON: integers (counts: NFE, accepted steps) stay exact
    integers, everything else becomes a float."""
    if hasattr(value, "item"):  # numpy scalars, 0-d arrays and tensors
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return float(value)


def _int(content: dict, key: str, default: int, lo: int, hi: int) -> int:
    """An integer field of a request, checked against [lo, hi]."""
    value = content.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or \
            value in (float("inf"), float("-inf")) or int(value) != value or not lo <= value <= hi:
        raise ValueError(f"{key!r} must be an integer in [{lo}, {hi}], not {value!r}")
    return int(value)


def _finite(content: dict, key: str, default: float | None = None) -> float:
    """A finite number field of a request (required unless a default is given)."""
    value = content[key] if default is None else content.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key!r} must be a finite number, not {value!r}")
    return float(value)


def check_seed(content: dict, key: str = "seed", default: int = 0) -> int:
    return _int(content, key, default, 0, MAX_SEED)
