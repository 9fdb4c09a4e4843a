"""Torch functions generated from parsed expression trees (engine process only).

A tree becomes a Python closure over torch operations, composed node by node:
no source text is generated and nothing is evaluated, so the function can do
nothing the whitelisted tree does not say. The functions take an environment
``{name: tensor or float}`` and broadcast over the tensors' shapes, on their
device and in their dtype (float32 or float64); they are plain torch code, so
``torch.compile`` traces them like the built-in kernels. Values that hold no
tensor (parameters only) are computed with :mod:`math`.
"""

from __future__ import annotations

import math
import operator
from typing import Callable

import torch

from attractor_lab.engine.equations.tree import Node

Env = dict


def _safe(mf):
    def f(*xs):
        try:
            return float(mf(*xs))
        except (ValueError, ArithmeticError):
            return math.nan
    return f


def _unary(tf, mf):
    mf = _safe(mf)

    def f(x):
        return tf(x) if isinstance(x, torch.Tensor) else mf(x)
    return f


def _heav(x):
    return (x >= 0).to(x.dtype)


def _sign_f(x):
    return math.copysign(1.0, x) if x != 0 else 0.0


def _binary_minmax(tf, pyf, clamp_key):
    def f(a, b):
        ta, tb = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
        if ta and tb:
            return tf(a, b)
        if ta:
            return torch.clamp(a, **{clamp_key: b})
        if tb:
            return torch.clamp(b, **{clamp_key: a})
        return pyf(a, b)
    return f


def _atan2(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        like = a if isinstance(a, torch.Tensor) else b
        a = a if isinstance(a, torch.Tensor) else torch.full_like(like, a)
        b = b if isinstance(b, torch.Tensor) else torch.full_like(like, b)
        return torch.atan2(a, b)
    return math.atan2(a, b)


def _mod(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not isinstance(a, torch.Tensor):
            a = torch.full_like(b, a)
        return torch.remainder(a, b)
    return _safe(lambda x, y: x - y * math.floor(x / y))(a, b)


def _ifelse(c, a, b):
    """a where c ≠ 0, else b — a true select: the branch not taken may be inf or nan."""
    if not any(isinstance(v, torch.Tensor) for v in (c, a, b)):
        return a if c != 0 else b
    like = next(v for v in (c, a, b) if isinstance(v, torch.Tensor))
    c, a, b = (v if isinstance(v, torch.Tensor) else torch.full_like(like, v) for v in (c, a, b))
    return torch.where(c != 0, a, b)


FUNCTIONS: dict[str, Callable] = {
    "exp": _unary(torch.exp, math.exp),
    "log": _unary(torch.log, math.log),
    "ln": _unary(torch.log, math.log),
    "log10": _unary(torch.log10, math.log10),
    "sqrt": _unary(torch.sqrt, math.sqrt),
    "abs": _unary(torch.abs, abs),
    "sign": _unary(torch.sign, _sign_f),
    "heav": _unary(_heav, lambda x: 1.0 if x >= 0 else 0.0),
    "sin": _unary(torch.sin, math.sin),
    "cos": _unary(torch.cos, math.cos),
    "tan": _unary(torch.tan, math.tan),
    "asin": _unary(torch.asin, math.asin),
    "acos": _unary(torch.acos, math.acos),
    "atan": _unary(torch.atan, math.atan),
    "sinh": _unary(torch.sinh, math.sinh),
    "cosh": _unary(torch.cosh, math.cosh),
    "tanh": _unary(torch.tanh, math.tanh),
    "floor": _unary(torch.floor, math.floor),
    "flr": _unary(torch.floor, math.floor),
    "ceil": _unary(torch.ceil, math.ceil),
    "min": _binary_minmax(torch.minimum, min, "max"),
    "max": _binary_minmax(torch.maximum, max, "min"),
    "atan2": _atan2,
    "mod": _mod,
    "ifelse": _ifelse,
}
_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


def _pow(a, b):
    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        return _safe(lambda x, y: x ** y if not (x < 0 and not float(y).is_integer()) else math.nan)(a, b)
    return a ** b


def compile_tree(n: Node) -> Callable[[Env], object]:
    """A function ``env -> value`` computing the tree ``n``."""
    k = n.kind
    if k == "num":
        value = n.value
        return lambda env: value
    if k == "sym":
        name = n.value
        return lambda env: env[name]
    fs = [compile_tree(a) for a in n.args]
    if k == "neg":
        (a,) = fs
        return lambda env: -a(env)
    if k in ("add", "sub", "mul", "div"):
        a, b = fs
        if k == "add":
            return lambda env: a(env) + b(env)
        if k == "sub":
            return lambda env: a(env) - b(env)
        if k == "mul":
            return lambda env: a(env) * b(env)
        return lambda env: a(env) / b(env)
    if k == "pow":
        a, b = fs
        expo = n.args[1]
        if expo.kind == "num" and expo.value == 2.0:
            def square(env):
                x = a(env)
                return x * x
            return square
        if expo.kind == "num" and expo.value == 3.0:
            def cube(env):
                x = a(env)
                return x * x * x
            return cube
        if expo.kind == "num" and expo.value == 0.5:
            sq = FUNCTIONS["sqrt"]
            return lambda env: sq(a(env))
        return lambda env: _pow(a(env), b(env))
    if k == "cmp":
        a, b = fs
        op = _CMP[n.value]

        def compare(env):
            x, y = a(env), b(env)
            r = op(x, y)
            if isinstance(r, torch.Tensor):
                like = x if isinstance(x, torch.Tensor) else y
                return r.to(like.dtype)
            return 1.0 if r else 0.0
        return compare
    if k == "call":
        f = FUNCTIONS[n.value]
        if len(fs) == 1:
            (a,) = fs
            return lambda env: f(a(env))
        if len(fs) == 3:
            a, b, c = fs
            return lambda env: f(a(env), b(env), c(env))
        a, b = fs
        return lambda env: f(a(env), b(env))
    raise ValueError(f"cannot compile node {k!r}")  # pragma: no cover - trees are whitelisted


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.shape == like.shape:
            return value.to(like.dtype)
        return (torch.zeros_like(like) + value).to(like.dtype)
    return torch.full_like(like, value)


def _env(index: tuple, t, x, p) -> dict:
    """The names a tree reads: the parameters, ``t``, and each variable's column of ``x``."""
    env = dict(p)
    env["t"] = t
    for i, name in index:
        env[name] = x[..., i]
    return env


def vector_field(variables: tuple[str, ...], rhs: tuple[Node, ...]) -> Callable:
    """``field(t, x, p)`` → (..., d): dx/dt for states ``x`` (..., d) and parameter values ``p``."""
    fns = [compile_tree(r) for r in rhs]
    index = tuple(enumerate(variables))

    def field(t, x, p):
        env = _env(index, t, x, p)
        like = x[..., 0]
        return torch.stack([_as_tensor(f(env), like) for f in fns], dim=-1)
    return field


def matrix_field(variables: tuple[str, ...], rows) -> Callable:
    """``jacobian(t, x, p)`` → (..., d, d) from a matrix of trees."""
    fns = [[compile_tree(e) for e in row] for row in rows]
    index = tuple(enumerate(variables))

    def jacobian(t, x, p):
        env = _env(index, t, x, p)
        like = x[..., 0]
        return torch.stack([torch.stack([_as_tensor(f(env), like) for f in row], dim=-1) for row in fns], dim=-2)
    return jacobian


def scalar_field(variables: tuple[str, ...], tree: Node) -> Callable:
    """``g(t, x, p)`` → (...,) for one tree (aux quantities)."""
    f = compile_tree(tree)
    index = tuple(enumerate(variables))

    def g(t, x, p):
        env = _env(index, t, x, p)
        return _as_tensor(f(env), x[..., 0])
    return g


def reaction(species: tuple[str, str], trees: tuple[Node, Node]) -> Callable:
    """``reaction(u, v, p)`` → (f, g), the signature of the reaction–diffusion kernels
    (``p`` a dict of parameter values: floats or 0-d tensors)."""
    fu, fv = compile_tree(trees[0]), compile_tree(trees[1])
    su, sv = species

    def react(u, v, p):
        env = dict(p)
        env[su] = u
        env[sv] = v
        return fu(env), fv(env)
    return react
