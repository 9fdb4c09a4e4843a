"""The neural ODE's weights files: safetensors with the configuration as JSON metadata (no pickle).

A mixin of :class:`~engine.models.neural_ode.neural_ode.NeuralODE`: ``save_weights`` and
``load_weights``; a file loads only into a model of the same architecture (``ARCHITECTURE``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from attractor_lab.engine.models.neural_ode._fields import describe_tensor

WEIGHTS_FORMAT = "attractor-lab/neural_ode-weights"
WEIGHTS_VERSION = 1
#: the configuration a weights file must share with the model it is loaded into
ARCHITECTURE = ("field", "width", "depth", "activation", "inputs")
#: the precisions a weights file may declare (the ``dtype`` parameter's choices)
WEIGHTS_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class WeightsMixin:
    """Saving and loading the learned field's weights."""

    # ---- weights ------------------------------------------------------------------------------------
    def _config(self) -> dict:
        return {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "dim": self.sys.dim,
                **{k: self.p[k] for k in ARCHITECTURE}, "target": self.p["target"], "dtype": self.p["dtype"],
                "iteration": self.steps}

    def save_weights(self, path) -> Path:
        """Write the field's weights as safetensors, the configuration as JSON in its metadata.

        Atomic: a temporary file beside ``path``, then a rename. No pickle."""
        from safetensors.torch import save

        from attractor_lab.engine.files import atomic_write_bytes

        path = Path(path)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.field.state_dict().items()}
        data = save(tensors, metadata={"attractor_lab": json.dumps(self._config())})
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise ValueError(f"save_weights: cannot write {str(path)!r}: {exc.strerror or exc}") from None
        return path

    def load_weights(self, path) -> None:
        """Load weights written by :meth:`save_weights` into this model's field.

        The file must hold the same field type, sizes and tensors; a mismatch
        is refused with a ``ValueError`` naming it, and the model is left as it
        was. Values are cast to this model's dtype; the optimiser starts afresh."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        where = f"load_weights: {path}"
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
                config = self._read_config(meta, where)
                self._compare(config, shapes, where)
                tensors = {k: f.get_tensor(k) for k in shapes}
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{where}: not a readable safetensors file ({exc})") from None
        declared = WEIGHTS_DTYPES[config["dtype"]]
        for k, t in tensors.items():
            if t.dtype != declared:
                raise ValueError(f"{where}: the file is invalid: {describe_tensor(k)} ({k}) is stored as "
                                 f"{str(t.dtype).removeprefix('torch.')}, its metadata says dtype "
                                 f"{config['dtype']!r}")
        with torch.no_grad():
            for k, v in self.field.state_dict().items():
                v.copy_(tensors[k].to(device=v.device, dtype=v.dtype))
        self.optimizer = torch.optim.Adam(self.field.parameters(), lr=self.p["lr"])
        self._eval = None  # the next frame shows the loaded field

    def _read_config(self, meta: dict, where: str) -> dict:
        try:
            config = json.loads(meta["attractor_lab"])
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"{where}: no neural_ode configuration in the file's metadata "
                             f"(was it written by save_weights?)") from None
        if not isinstance(config, dict):
            raise ValueError(f"{where}: not a neural_ode weights file (its metadata is not a JSON object)")
        if config.get("format") != WEIGHTS_FORMAT:
            raise ValueError(f"{where}: not a neural_ode weights file (format {config.get('format')!r})")
        if config.get("version") != WEIGHTS_VERSION:
            raise ValueError(f"{where}: weights format version {config.get('version')!r}; "
                             f"this program reads version {WEIGHTS_VERSION}")
        # A value no model can have makes the file invalid: say so, rather than a mismatch
        # whose "fix" would be to set that impossible value.
        for key in ("dim", *ARCHITECTURE, "target", "dtype"):
            value = config.get(key)
            if key == "dim":
                ok, allowed = type(value) is int and 1 <= value <= 64, "an integer in [1, 64]"
            elif key == "dtype":
                ok = isinstance(value, str) and value in WEIGHTS_DTYPES
                allowed = "one of " + ", ".join(map(repr, WEIGHTS_DTYPES))
            else:
                param = self.schema[key]
                allowed = param.allowed()
                try:
                    param.validate(value)
                    ok = True
                except ValueError:
                    ok = False
            if key not in config:
                raise ValueError(f"{where}: the file is invalid: its metadata has no {key!r} (expected {allowed})")
            if not ok:
                raise ValueError(f"{where}: the file is invalid: its metadata's {key!r} is {value!r}; "
                                 f"allowed: {allowed}")
        return config

    def _compare(self, config: dict, shapes: dict, where: str) -> None:
        mine = self._config()
        for key in ("dim", *ARCHITECTURE):
            if config.get(key) != mine[key]:
                what = "state dimension" if key == "dim" else f"parameter {key!r}"
                raise ValueError(f"{where}: {what}: file has {config.get(key)!r}, this model has {mine[key]!r}"
                                 + ("" if key == "dim" else f" (set {key}={config.get(key)!r} and reset first)"))
        expected = {k: tuple(v.shape) for k, v in self.field.state_dict().items()}
        for k in sorted(set(expected) | set(shapes)):
            if k not in shapes:
                raise ValueError(f"{where}: {describe_tensor(k)} ({k}) is missing from the file")
            if k not in expected:
                raise ValueError(f"{where}: the file has a tensor {k!r} this model does not")
            if shapes[k] != expected[k]:
                raise ValueError(f"{where}: {describe_tensor(k)}: file has {shapes[k]}, this model has {expected[k]}")
