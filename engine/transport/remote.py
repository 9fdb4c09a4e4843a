"""The notebook beside the window: a ``Simulation`` whose model lives in a running engine.

>>> import attractor_lab as al
>>> sim = al.connect()              # the newest running window on this machine
>>> sim.set(F=0.04)                 # the window's parameter panel shows F = 0.04
>>> sim.step(500)                   # pauses the window's live run, advances 500 steps
>>> sim.state()["v"].mean()
>>> sim.run()                       # the window runs live again

:func:`connect` finds the connection file the way Jupyter finds kernels
(``engine/transport/runtime.py``): with no argument the newest one in the runtime folder
whose engine still runs; with a path, or a file name in that folder, that one
(Help → Connect from Python in the window shows its file). The methods are
those of :class:`attractor_lab.engine.api.Simulation` (``state``,
``observables``, ``params``, ``set``, ``step``, ``reset``, ``set_state``,
``record``, ``describe``, the PNG picture), sent over the engine's signed
protocol (``engine/transport/client.py``); ``run`` and ``pause`` drive the live loop.

Stepping a run the window also drives: :meth:`RemoteSimulation.step` asks the
engine for exactly ``n`` more steps, as the window's Step button does: the live
loop pauses (the window shows Paused), the engine advances ``n`` steps in
chunks while it keeps answering the window, and the call returns when they are
done, leaving the run paused. If the window (or another client) runs, pauses
or steps meanwhile, the engine stops the step and the call raises
:class:`StepCancelled` saying how many steps were done. Ctrl+C (a notebook's
Interrupt) cancels the step in the engine too.

No torch, no Qt: a notebook attached to a window does not need torch itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from attractor_lab.engine.transport.client import EngineClient, EngineError
from attractor_lab.engine.notebook import NotebookMixin
from attractor_lab.engine.transport.runtime import find_connection_file

#: a step or reset may take long; the heartbeat says within ~2 s when the engine is gone
LONG_REQUEST_S = 24 * 3600.0
REQUEST_S = 30.0
#: engine errors that mean "this value is not allowed" (ValueError, as for a local simulation)
_VALUE_ERRORS = {"ValueError", "BadRequest", "KeyError", "TypeError"}


class StepCancelled(RuntimeError):
    """A remote step was stopped before its end (the window ran, paused or stepped meanwhile)."""

    def __init__(self, asked: int, done: int, step: int):
        self.asked, self.done, self.step = asked, done, step
        super().__init__(f"step({asked}) was stopped after {done} steps (now at step {step}): the window or "
                         "another client ran, paused or stepped the engine meanwhile")


class RemoteSimulation(NotebookMixin):
    """The model of a running engine, with :class:`~attractor_lab.engine.api.Simulation`'s methods.

    Parameters
    ----------
    client : EngineClient
        A connected client (see :func:`connect`).
    connection_file : str or Path
        Where it came from (shown in ``repr``).
    """

    def __init__(self, client: EngineClient, connection_file: str | os.PathLike):
        self.client = client
        self.connection_file = Path(connection_file)
        self._descriptions: dict[str, dict] = {}
        self.engine_info = self._request("info", timeout=10)

    # ---- plumbing -------------------------------------------------------------
    def _request(self, verb: str, content: dict | None = None, timeout: float = REQUEST_S,
                 arrays: dict | None = None) -> dict:
        try:
            return self.client.request(verb, content or {}, timeout=timeout, arrays=arrays)
        except EngineError as exc:
            if exc.ename in _VALUE_ERRORS:
                raise ValueError(exc.evalue) from None
            raise

    def _snapshot(self) -> dict:
        """One ``get_state``: state, time, step, observables and params of the same moment."""
        reply = self._request("get_state")
        return {"state": {k: np.array(v) for k, v in reply.get("arrays", {}).items()},  # writable copies
                "time": float(reply["time"]), "step": int(reply["step"]), "observables": dict(reply["observables"]),
                "params": dict(reply["params"])}

    def close(self) -> None:
        """Close the sockets (the engine and the window go on)."""
        self.client.close()

    def __enter__(self) -> "RemoteSimulation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- what the model is -------------------------------------------------------
    @property
    def name(self) -> str:
        name = self._request("info").get("model")
        if name is None:
            raise RuntimeError("the engine has no model loaded yet (the window is still starting?)")
        return name

    @property
    def device(self) -> str:
        return str(self.engine_info.get("device"))

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values (structural changes not yet applied are in ``pending``)."""
        return dict(self._request("get_state")["params"])

    @property
    def pending(self) -> dict[str, Any]:
        """Structural values waiting for :meth:`reset` (from the engine's next status, ≤ 0.5 s)."""
        self.client.latest_events()  # what queued up while nobody read: old news
        return dict(self.client.next_event("status", timeout=5).content.get("pending") or {})

    @property
    def steps(self) -> int:
        return self._snapshot()["step"]

    @property
    def time(self) -> float:
        return self._snapshot()["time"]

    def describe(self) -> dict:
        """The model's declaration (parameters, views, equations)."""
        name = self.name
        if name not in self._descriptions:
            self._descriptions[name] = self._request("list_models")["models"][name]
        return self._descriptions[name]

    # ---- reading -----------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """The model's arrays (writable numpy copies), as the window's frames carry them."""
        return self._snapshot()["state"]

    def observables(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._request("get_state")["observables"].items()}

    # ---- changing ------------------------------------------------------------------
    def set(self, **params: Any) -> list[str]:
        """Change parameters (the window's panel follows); returns the structural ones that
        wait for :meth:`reset`. A refused value raises ``ValueError`` with the engine's reason."""
        return list(self._request("set_params", {"params": params}).get("waiting", []))

    def step(self, n: int = 1) -> "RemoteSimulation":
        """Advance exactly ``n`` steps; the live loop pauses and stays paused (module docstring).

        Raises :class:`StepCancelled` when the window or another client interrupts it, and
        ``RuntimeError`` when the simulation stopped (diverged)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"step: n must be a positive integer, not {n!r}")
        try:
            reply = self._request("step", {"n": int(n)}, timeout=LONG_REQUEST_S)
        except KeyboardInterrupt:
            self.client.send("cancel", {})  # the engine stops too; its replies are dropped
            raise
        if reply.get("stopped"):
            raise RuntimeError(f"the simulation stopped at step {reply['step']}: {reply['stopped']}")
        if reply.get("cancelled"):
            raise StepCancelled(int(n), int(reply.get("done", 0)), int(reply["step"]))
        return self

    def run(self) -> "RemoteSimulation":
        """Start the live loop (as the window's Run)."""
        self._request("run")
        return self

    def pause(self) -> "RemoteSimulation":
        """Pause the live loop (as the window's Pause)."""
        self._request("pause")
        return self

    def set_state(self, **arrays: Any) -> "RemoteSimulation":
        """Set the model's state from arrays named as in :meth:`state`; the window shows it."""
        self._request("set_state", {}, arrays={k: np.ascontiguousarray(v) for k, v in arrays.items()})
        return self

    def reset(self, seed: int | None = None) -> "RemoteSimulation":
        """A new run (applies pending structural parameters), as the window's Reset."""
        self._request("reset", {} if seed is None else {"seed": seed}, timeout=LONG_REQUEST_S)
        return self

    def __repr__(self) -> str:
        try:
            where = f"{self.name} step={self.steps}"
        except Exception as exc:  # a repr must not raise: say what is wrong instead
            where = f"(no answer: {type(exc).__name__})"
        return (f"<RemoteSimulation {where} engine pid={self.engine_info.get('pid')} "
                f"via {str(self.connection_file)!r}>")


def connect(connection_file: str | os.PathLike | None = None) -> RemoteSimulation:
    """Attach to the engine of a running window (or any engine) and return its simulation.

    Parameters
    ----------
    connection_file : str or Path, optional
        The engine's connection file: a path, or a file name in the runtime folder. Default:
        the newest file there whose engine still runs (the window started last).
    """
    path = find_connection_file(connection_file)
    client = EngineClient.from_connection_file(path)
    try:
        return RemoteSimulation(client, path)
    except BaseException:
        client.close()
        raise


__all__ = ["RemoteSimulation", "StepCancelled", "connect"]
