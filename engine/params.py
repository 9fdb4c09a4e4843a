"""Parameter declarations shared by the engine and the GUI.

A model declares its parameters as a tuple of :class:`Param`. The same
declaration validates values in the scripting API, is sent to the GUI as JSON
(``Param.to_json``) to build the parameter panel, and checks presets. This
module imports neither torch nor Qt, so both processes can use it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("float", "int", "choice", "bool", "text")
#: the longest value of a ``text`` parameter, in characters (a bound on memory; the model that
#: reads the text sets its own, smaller limit and says where the text goes wrong)
MAX_TEXT_PARAM = 2 << 20
#: seeds are 31-bit everywhere: the window's seed box, presets, the CLI, requests, the scripting API
MAX_SEED = 2**31 - 1


def check_seed(value: Any, where: str = "seed") -> int:
    """``value`` as a seed (an integer from 0 to MAX_SEED), else ``ValueError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        try:
            import numpy as np

            if isinstance(value, np.integer) and 0 <= int(value) <= MAX_SEED:
                return int(value)
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
        raise ValueError(f"{where} must be an integer from 0 to {MAX_SEED}, not {value!r}")
    return value


@dataclass(frozen=True)
class Param:
    """One declared model parameter.

    Parameters
    ----------
    name : str
        Scripting name (``F``, ``temperature``, ``pattern_dilution``).
    kind : {"float", "int", "choice", "bool", "text"}
        Value type (``text``: a string of at most :data:`MAX_TEXT_PARAM` characters,
        e.g. the equations of ``custom_ode``; structural).
    default : Any
        Default value; must itself be valid.
    min, max : float, optional
        Inclusive range for numeric kinds.
    unit : str
        Unit shown beside the value ("" for dimensionless).
    help : str
        One line shown as a tooltip and in ``attractor-lab models``.
    live : bool
        True when a change applies to the running simulation; False when it is
        structural and applies at the next reset.
    choices : tuple of str
        Allowed values for ``kind="choice"``.
    log : bool
        Slider moves on a logarithmic scale (positive ranges only).
    step : float, optional
        Suggested spin-box increment.
    shown_when : tuple of (str, tuple of str)
        The parameter panel shows this parameter only while each named choice
        parameter has one of the listed values, e.g. ``(("system", ("duffing",)),)``
        for a parameter that only the Duffing system reads. Validation, presets
        and the scripting API ignore it.
    """

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    unit: str = ""
    help: str = ""
    live: bool = True
    choices: tuple[str, ...] = field(default_factory=tuple)
    log: bool = False
    step: float | None = None
    shown_when: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}")
        self.validate(self.default)
        for condition in self.shown_when:
            if len(condition) != 2 or not isinstance(condition[0], str) or isinstance(condition[1], str):
                raise ValueError(f"parameter {self.name!r}: shown_when holds (choice name, (values, ...)) pairs, "
                                 f"not {condition!r}")

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return f"text of at most {MAX_TEXT_PARAM} characters"
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        what = "an integer" if self.kind == "int" else "a number"
        return f"{what} in [{lo}, {hi}]"

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type.

        Raises
        ------
        ValueError
            Naming the parameter, the value and what is allowed.
        """

        def bad() -> ValueError:
            unit = f" {self.unit}" if self.unit else ""
            return ValueError(f"parameter {self.name!r}: {value!r} is not allowed; expected {self.allowed()}{unit}")

        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise bad()
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise bad()
        if self.kind == "text":
            if isinstance(value, str) and len(value) <= MAX_TEXT_PARAM:
                return value
            raise ValueError(f"parameter {self.name!r}: expected {self.allowed()}, got "
                             + (f"{len(value)} characters" if isinstance(value, str) else type(value).__name__))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # numpy scalars are accepted through their Python value
            try:
                import numpy as np

                if isinstance(value, np.generic) and not isinstance(value, np.bool_):
                    value = value.item()
                else:
                    raise bad()
            except ImportError:  # pragma: no cover - numpy is a dependency
                raise bad() from None
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad()
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad()
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise bad()
        return value

    def to_json(self) -> dict:
        d = asdict(self)
        d["choices"] = list(self.choices)
        d["shown_when"] = [[name, list(values)] for name, values in self.shown_when]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Param":
        d = dict(d)
        d["choices"] = tuple(d.get("choices", ()))
        d["shown_when"] = tuple((name, tuple(values)) for name, values in d.get("shown_when", ()))
        return cls(**d)


def validate_params(schema: dict[str, Param], values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate ``values`` against ``schema``; unknown names raise ``ValueError``."""
    out = {}
    prefix = f"{where}: " if where else ""
    for name, value in values.items():
        if name not in schema:
            known = ", ".join(sorted(schema))
            raise ValueError(f"{prefix}unknown parameter {name!r}; known parameters are: {known}")
        try:
            out[name] = schema[name].validate(value)
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from None
    return out
