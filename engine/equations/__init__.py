"""User-typed equations: the whitelist parser, expression trees, exact derivatives.

Torch-free and Qt-free (both processes import it). The torch code generated from
the trees lives in :mod:`attractor_lab.engine.equations.torchgen` (engine only).

The parser API (see :mod:`.parse`)::

    from attractor_lab.engine.equations import EquationError, parse_ode, parse_rd, parse_xpp, check
    spec = parse_ode("dx/dt = y\\ndy/dt = -x")      # OdeSpec
    err = check(text, "rd")                        # None, or EquationError(line, col, message)

:func:`schema_params` gives the parameters (``Param``) a custom model has for a text,
so presets, the CLI and the window build the same sliders.
"""

from __future__ import annotations

from attractor_lab.engine.equations.parse import (
    EquationError, OdeSpec, ParamSpec, RdSpec, check, parse_ode, parse_rd, parse_xpp,
)

#: models whose parameters follow from their ``equations`` text, and the parser each uses
EQUATION_MODELS = {"custom_ode": "ode", "custom_rd": "rd"}

__all__ = ["EquationError", "OdeSpec", "RdSpec", "ParamSpec", "parse_ode", "parse_rd", "parse_xpp", "check",
           "EQUATION_MODELS", "declared_params", "expand_schema", "spec_of"]


def spec_of(model: str, text):
    """The parsed spec of ``text`` for equation model ``model``."""
    kind = EQUATION_MODELS[model]
    return parse_rd(text) if kind == "rd" else parse_ode(text)


def declared_params(spec) -> tuple:
    """``Param`` declarations (live sliders) of a spec's ``par`` lines, in order."""
    from attractor_lab.engine.params import Param

    out = []
    for p in spec.params:
        step = (p.hi - p.lo) / 200.0 if p.hi > p.lo else None
        out.append(Param(p.name, "float", p.value, p.lo, p.hi,
                         help=f"declared on line {p.line}" + ("" if p.ranged else " (range not given: default)"),
                         step=step))
    return tuple(out)


def expand_schema(model: str, schema: dict, values: dict) -> dict:
    """``schema`` (name → Param) of ``model`` with the parameters its ``equations`` text
    in ``values`` (or the default text) declares. Unchanged for other models. Raises
    :class:`EquationError` (a ``ValueError``) for a text that does not parse."""
    if model not in EQUATION_MODELS or "equations" not in schema:
        return schema
    text = values.get("equations", schema["equations"].default)
    if not isinstance(text, str):
        raise ValueError(f"parameter 'equations': expected text, got {type(text).__name__}")
    extra = declared_params(spec_of(model, text))
    out = dict(schema)
    for p in extra:
        if p.name in out and p.name not in ("Du", "Dv"):
            raise EquationError(p_line(spec_of(model, text), p.name), 1,
                                f"parameter '{p.name}' clashes with the model's own parameter of that name; "
                                "choose another name")
        out[p.name] = p
    return out


def p_line(spec, name: str) -> int:
    return next((p.line for p in spec.params if p.name == name), 1)
