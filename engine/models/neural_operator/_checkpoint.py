"""Neural-operator checkpoints: ``weights.safetensors`` plus ``card.json`` in one folder.

The card says what the operator is (system, grid, Δt, the viscosity and forcing
ranges it was trained on, the architecture), how it was made (data, epochs,
time, device, the command) and how good it is (one-step and 10-step relative
L2 errors on a held-out test split, and the persistence baseline). The weights
file holds the tensors (float32 or float16) and a copy of the card in its
metadata, written atomically.

Loading (:func:`load_checkpoint`) never unpickles anything: the card is JSON,
checked key by key (:func:`validate_card`); the weights are opened with
safetensors, every tensor's name and shape compared with the architecture the
card declares before a value is read; the file's own copy of the card must
agree with card.json, and its SHA-256 must be the one the card records. Any
mismatch is refused with a ``ValueError`` that names the checkpoint and what
does not fit.

Shipped checkpoints live in ``presets/operators/<name>/`` (:func:`shipped_checkpoints`).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch

from attractor_lab.engine.models.neural_operator._data import SYSTEMS
from attractor_lab.engine.models.neural_operator._fno import ACTIVATIONS, ARCH_KEYS, NeuralOperator, expected_shapes

FORMAT = "attractor-lab/neural-operator"
VERSION = 1
WEIGHTS = "weights.safetensors"
CARD = "card.json"
WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}
INITIAL_TEXT = {
    "burgers": "Li et al.'s Gaussian random field 625(−Δ + 25 I)^−2 on [0, 1); a third of the samples instead "
               "1–3 plateaus (height ±1.5, tanh edges) on half such a field; ν log-uniform over the range",
    "navier_stokes": "Li et al.'s Gaussian random field 7^{3/2}(−Δ + 49 I)^−2.5; a third of the samples instead "
                     "1–6 Gaussian vortices (σ 0.03–0.08, peak ±1…±6) on 0.3× such a field; ν log-uniform and the "
                     "forcing amplitude uniform over their ranges",
}
ERROR_DEFINITION = ("relative L2 error ‖pred − true‖₂/‖true‖₂ per sample over the grid, averaged over samples; "
                    "one_step: every consecutive pair of the test trajectories; ten_step: the operator fed its own "
                    "output 10 times from every test snapshot that has 10 after it, the error at the 10th step")


def shipped_dir() -> Path:
    from attractor_lab.engine.shipped import shipped_presets_dir

    return shipped_presets_dir() / "operators"


def shipped_checkpoints() -> dict[str, Path]:
    """Name → folder of every shipped checkpoint (a folder holding a card.json)."""
    folder = shipped_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if (p / CARD).is_file()}


def make_card(*, system, grid, dt, viscosity_range, forcing_range, architecture, data, training, errors,
              weights_dtype="float32") -> dict:
    spec = SYSTEMS[system]
    card = {"format": FORMAT, "version": VERSION, "system": system, "grid": int(grid), "dt": float(dt),
            "length": float(spec["length"]), "viscosity_range": [float(v) for v in viscosity_range],
            "forcing_range": [float(v) for v in forcing_range], "architecture": dict(architecture),
            "data": dict(data), "training": dict(training),
            "errors": {**errors, "definition": ERROR_DEFINITION}, "weights_dtype": weights_dtype}
    validate_card(card, "make_card")
    return card


# ---- validation ------------------------------------------------------------------------------
def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_card(card, where: str) -> dict:
    """Check a card's keys, types and values; raise ``ValueError`` naming the first problem."""
    def bad(key, what):
        raise ValueError(f"{where}: card.json: {key!r} {what}")

    if not isinstance(card, dict):
        raise ValueError(f"{where}: card.json must hold a JSON object, not {type(card).__name__}")
    for key in ("format", "version", "system", "grid", "dt", "viscosity_range", "forcing_range", "architecture",
                "errors", "weights_dtype"):
        if key not in card:
            bad(key, "is missing")
    if card["format"] != FORMAT:
        bad("format", f"is {card['format']!r}; expected {FORMAT!r}")
    if card["version"] != VERSION:
        bad("version", f"is {card['version']!r}; this program reads version {VERSION}")
    if card["system"] not in SYSTEMS:
        bad("system", f"is {card['system']!r}; expected one of {', '.join(SYSTEMS)}")
    if not _integer(card["grid"]) or not 8 <= card["grid"] <= 8192:
        bad("grid", f"is {card['grid']!r}; expected an integer in [8, 8192]")
    if not _number(card["dt"]) or card["dt"] <= 0:
        bad("dt", f"is {card['dt']!r}; expected a number > 0")
    for key, positive in (("viscosity_range", True), ("forcing_range", False)):
        r = card[key]
        if (not isinstance(r, list) or len(r) != 2 or not all(_number(v) for v in r) or r[0] > r[1]
                or (positive and r[0] <= 0) or (not positive and r[0] < 0)):
            bad(key, f"is {r!r}; expected [low, high] with {'0 < ' if positive else '0 <= '}low <= high")
    if card["weights_dtype"] not in WEIGHTS_DTYPES:
        bad("weights_dtype", f"is {card['weights_dtype']!r}; expected one of {', '.join(WEIGHTS_DTYPES)}")
    arch = card["architecture"]
    if not isinstance(arch, dict):
        bad("architecture", "must be an object")
    for key in ARCH_KEYS:
        if key not in arch:
            bad(f"architecture.{key}", "is missing")
        if not _integer(arch[key]) or arch[key] < 1 or arch[key] > 4096:
            bad(f"architecture.{key}", f"is {arch[key]!r}; expected an integer in [1, 4096]")
    dims = SYSTEMS[card["system"]]["dims"]
    if arch["dims"] != dims:
        bad("architecture.dims", f"is {arch['dims']}; {card['system']} is {dims}D")
    if arch["in_channels"] != (2 if dims == 1 else 3):
        bad("architecture.in_channels", f"is {arch['in_channels']}; a {dims}D operator reads {2 if dims == 1 else 3}")
    if arch["modes"] > card["grid"] // 2:
        bad("architecture.modes", f"is {arch['modes']}; the grid {card['grid']} holds at most {card['grid'] // 2}")
    if arch.get("activation", "gelu") not in ACTIVATIONS:
        bad("architecture.activation", f"is {arch.get('activation')!r}; expected one of {', '.join(ACTIVATIONS)}")
    errors = card["errors"]
    if not isinstance(errors, dict) or not all(_number(errors.get(k)) and errors[k] >= 0
                                               for k in ("one_step", "ten_step")):
        bad("errors", "must hold one_step and ten_step as numbers >= 0")
    if "weights_sha256" in card and not (isinstance(card["weights_sha256"], str) and len(card["weights_sha256"]) == 64):
        bad("weights_sha256", "must be 64 hexadecimal digits")
    return card


# ---- saving ----------------------------------------------------------------------------------------
def save_checkpoint(out, op: NeuralOperator, card: dict) -> Path:
    """Write ``out/weights.safetensors`` (with the card in its metadata) and ``out/card.json``, atomically."""
    from safetensors.torch import save

    from attractor_lab.engine.files import atomic_write_bytes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dtype = WEIGHTS_DTYPES[card["weights_dtype"]]
    card = {k: v for k, v in card.items() if k != "weights_sha256"}
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in op.state_dict().items()}
    data = save(tensors, metadata={"attractor_lab": json.dumps(card, ensure_ascii=False)})
    card["weights_sha256"] = hashlib.sha256(data).hexdigest()
    card["weights_bytes"] = len(data)
    atomic_write_bytes(out / WEIGHTS, data)
    atomic_write_bytes(out / CARD, (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode())
    return out


# ---- loading ---------------------------------------------------------------------------------------
def locate(path) -> tuple[Path, Path]:
    """(weights file, card file) for a checkpoint folder or its weights file."""
    path = Path(path)
    if path.is_dir():
        return path / WEIGHTS, path / CARD
    return path, path.with_name(CARD)


def read_card(path) -> dict:
    """The validated card of a checkpoint (folder or weights file)."""
    _, card_path = locate(path)
    where = f"checkpoint {path}"
    if not card_path.is_file():
        raise ValueError(f"{where}: no {CARD} beside the weights (a checkpoint is a folder holding {WEIGHTS} "
                         f"and {CARD}, as train-operator writes)")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{where}: {CARD} is not readable JSON ({exc})") from None
    return validate_card(card, where)


def load_checkpoint(path, device="cpu") -> tuple[NeuralOperator, dict]:
    """The operator (float32, eval mode, on ``device``) and its card; ``ValueError`` naming any mismatch."""
    from safetensors import SafetensorError, safe_open

    weights_path, _ = locate(path)
    where = f"checkpoint {path}"
    card = read_card(path)
    arch = card["architecture"]
    if not weights_path.is_file():
        raise ValueError(f"{where}: {weights_path.name} is missing")
    raw = weights_path.read_bytes()
    expected = expected_shapes(arch)
    described = " ".join(f"{k}={arch[k]}" for k in ("width", "modes", "layers", "projection"))
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            for k in sorted(set(expected) | set(shapes)):
                if k not in shapes:
                    raise ValueError(f"{where}: tensor {k} is missing from {weights_path.name}; the card's "
                                     f"{described} need it with shape {expected[k]}")
                if k not in expected:
                    raise ValueError(f"{where}: {weights_path.name} has a tensor {k!r} that the card's "
                                     f"architecture ({described}) does not")
                if shapes[k] != expected[k]:
                    raise ValueError(f"{where}: layer {k} has shape {shapes[k]}, the card's {described} "
                                     f"need {expected[k]}")
            tensors = {k: f.get_tensor(k) for k in shapes}
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{where}: {weights_path.name} is not a readable safetensors file (truncated or "
                         f"corrupt?): {exc}") from None
    if "weights_sha256" in card and hashlib.sha256(raw).hexdigest() != card["weights_sha256"]:
        raise ValueError(f"{where}: {weights_path.name} is not the file card.json describes (its SHA-256 differs "
                         "from the card's weights_sha256); retrain, or copy the two files together")
    embedded = None
    if "attractor_lab" in meta:  # the file's copy of the card (save_checkpoint writes one)
        try:
            embedded = json.loads(meta["attractor_lab"])
        except (ValueError, TypeError):
            pass
        if not isinstance(embedded, dict):
            raise ValueError(f"{where}: {weights_path.name} is invalid: its metadata 'attractor_lab' is not the "
                             "JSON object of a card")
    if embedded is not None:
        for key in ("system", "grid", "dt", "viscosity_range", "forcing_range", "architecture", "weights_dtype"):
            if embedded.get(key) != card.get(key):
                raise ValueError(f"{where}: card.json and {weights_path.name} disagree on {key!r} "
                                 f"({card.get(key)!r} against {embedded.get(key)!r})")
    dtype = WEIGHTS_DTYPES[card["weights_dtype"]]
    for k, t in tensors.items():
        if t.dtype != dtype:
            raise ValueError(f"{where}: tensor {k} is {t.dtype}, the card says {card['weights_dtype']}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{where}: tensor {k} holds NaN or inf values")
    for k in ("field_scale", "delta_scale"):
        if not float(tensors[k]) > 0:
            raise ValueError(f"{where}: normalisation {k} is {float(tensors[k])!r}; it must be > 0")
    op = NeuralOperator({**arch, "viscosity_range": card["viscosity_range"], "dt": card["dt"],
                         "length": card.get("length", 1.0)})
    op.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    return op.to(device).eval(), card
