"""Expression trees of user-typed equations, and their exact derivatives.

A :class:`Node` is immutable data: a number, a symbol or an operation on child
nodes. Trees are built only by the whitelist parser (:mod:`.parse`) and by the
functions here, so every tree holds nothing but arithmetic and the functions of
:data:`FUNCTIONS`. Pure Python: no torch, no Qt, no sympy; the GUI process
imports it to check equations as the user types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: known functions and their number of arguments
FUNCTIONS = {
    "exp": 1, "log": 1, "ln": 1, "log10": 1, "sqrt": 1, "abs": 1, "sign": 1, "heav": 1,
    "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1,
    "sinh": 1, "cosh": 1, "tanh": 1, "floor": 1, "ceil": 1,
    "min": 2, "max": 2, "atan2": 2, "pow": 2, "mod": 2,
    "flr": 1,  # XPPAUT's floor
    "ifelse": 3,  # ifelse(c, a, b): a where c ≠ 0, else b; XPPAUT's if(c)then(a)else(b) is written so
}
#: named constants every system may use (not parameters)
BUILTIN_CONSTANTS = {"pi": math.pi, "e": math.e}
#: the largest magnitude a constant may have (folding beyond it is refused)
MAX_CONSTANT = 1e300


@dataclass(frozen=True)
class Node:
    """``kind``: num (``value`` a float), sym (``value`` a name), add, sub, mul, div, pow,
    neg, call (``value`` a function name), cmp (``value`` one of < <= > >= == !=)."""

    kind: str
    value: object = None
    args: tuple = ()

    def __str__(self) -> str:
        return to_text(self)


def num(x: float) -> Node:
    return Node("num", float(x))


def sym(name: str) -> Node:
    return Node("sym", name)


ZERO, ONE = num(0.0), num(1.0)


def is_num(n: Node, value: float | None = None) -> bool:
    return n.kind == "num" and (value is None or n.value == value)


def _fold(kind: str, value, args: tuple) -> Node | None:
    """The constant a node of constant arguments has, or None when folding is unsafe."""
    xs = [a.value for a in args]
    try:
        if kind == "add":
            r = xs[0] + xs[1]
        elif kind == "sub":
            r = xs[0] - xs[1]
        elif kind == "mul":
            r = xs[0] * xs[1]
        elif kind == "div":
            r = xs[0] / xs[1]
        elif kind == "neg":
            r = -xs[0]
        elif kind == "pow":
            if abs(xs[1]) > 1e4 and abs(xs[0]) > 1.0 + 1e-12:
                return None  # a huge power: never computed here
            r = math.pow(xs[0], xs[1])
        else:
            return None
    except (ArithmeticError, ValueError):
        return None
    if isinstance(r, complex) or not math.isfinite(r) or abs(r) > MAX_CONSTANT:
        return None
    return num(r)


def make(kind: str, *args: Node, value=None) -> Node:
    """A node with light simplification (0 and 1 identities, constant folding)."""
    if kind in ("add", "sub", "mul", "div", "pow", "neg") and all(a.kind == "num" for a in args):
        folded = _fold(kind, value, args)
        if folded is not None:
            return folded
    if kind == "add":
        a, b = args
        if is_num(a, 0.0):
            return b
        if is_num(b, 0.0):
            return a
    elif kind == "sub":
        a, b = args
        if is_num(b, 0.0):
            return a
        if is_num(a, 0.0):
            return make("neg", b)
    elif kind == "mul":
        a, b = args
        if is_num(a, 0.0) or is_num(b, 0.0):
            return ZERO
        if is_num(a, 1.0):
            return b
        if is_num(b, 1.0):
            return a
    elif kind == "div":
        a, b = args
        if is_num(a, 0.0) and not is_num(b, 0.0):
            return ZERO
        if is_num(b, 1.0):
            return a
    elif kind == "pow":
        a, b = args
        if is_num(b, 1.0):
            return a
        if is_num(b, 0.0):
            return ONE
    elif kind == "neg":
        (a,) = args
        if a.kind == "neg":
            return a.args[0]
    return Node(kind, value, tuple(args))


def symbols(n: Node, out: set | None = None) -> set:
    """Names of the symbols in ``n``."""
    out = set() if out is None else out
    stack = [n]
    while stack:
        m = stack.pop()
        if m.kind == "sym":
            out.add(m.value)
        stack.extend(m.args)
    return out


def size(n: Node) -> int:
    count, stack = 0, [n]
    while stack:
        m = stack.pop()
        count += 1
        stack.extend(m.args)
    return count


def substitute(n: Node, mapping: dict[str, Node]) -> Node:
    """``n`` with symbols replaced by trees."""
    if n.kind == "sym":
        return mapping.get(n.value, n)
    if not n.args:
        return n
    return make(n.kind, *(substitute(a, mapping) for a in n.args), value=n.value)


def derivative(n: Node, x: str) -> Node:
    """∂n/∂x, exact (symbolic). Comparisons, heav, sign, floor, ceil have derivative 0
    (almost everywhere); abs, min, max the one-sided derivative of their branch."""
    k = n.kind
    if k == "num":
        return ZERO
    if k == "sym":
        return ONE if n.value == x else ZERO
    if x not in symbols(n):
        return ZERO
    if k == "cmp":
        return ZERO
    d = [derivative(a, x) for a in n.args]
    a = n.args
    if k == "add":
        return make("add", d[0], d[1])
    if k == "sub":
        return make("sub", d[0], d[1])
    if k == "neg":
        return make("neg", d[0])
    if k == "mul":
        return make("add", make("mul", d[0], a[1]), make("mul", a[0], d[1]))
    if k == "div":
        # (a'b − ab') / b²
        return make("div", make("sub", make("mul", d[0], a[1]), make("mul", a[0], d[1])), make("mul", a[1], a[1]))
    if k == "pow":
        base, expo = a
        if is_num(d[1], 0.0) and x not in symbols(expo):
            # b · a^(b−1) · a'
            return make("mul", make("mul", expo, make("pow", base, make("sub", expo, ONE))), d[0])
        # a^b (b' ln a + b a'/a)
        return make("mul", n, make("add", make("mul", d[1], make("call", base, value="log")),
                                   make("div", make("mul", expo, d[0]), base)))
    if k == "call":
        return _call_derivative(n.value, a, d)
    raise ValueError(f"cannot differentiate node {k!r}")  # pragma: no cover - trees are whitelisted


def _call_derivative(f: str, a: tuple, d: list) -> Node:
    def call(name, *args):
        return make("call", *args, value=name)

    u = a[0]
    du = d[0]
    if f in ("heav", "sign", "floor", "ceil", "flr"):
        return ZERO
    if f == "ifelse":  # piecewise: the derivative of the branch taken (the condition's is 0 a.e.)
        return call("ifelse", u, d[1], d[2])
    if f == "exp":
        return make("mul", call("exp", u), du)
    if f in ("log", "ln"):
        return make("div", du, u)
    if f == "log10":
        return make("div", du, make("mul", u, num(math.log(10.0))))
    if f == "sqrt":
        return make("div", du, make("mul", num(2.0), call("sqrt", u)))
    if f == "abs":
        return make("mul", call("sign", u), du)
    if f == "sin":
        return make("mul", call("cos", u), du)
    if f == "cos":
        return make("neg", make("mul", call("sin", u), du))
    if f == "tan":
        c = call("cos", u)
        return make("div", du, make("mul", c, c))
    if f == "asin":
        return make("div", du, call("sqrt", make("sub", ONE, make("mul", u, u))))
    if f == "acos":
        return make("neg", make("div", du, call("sqrt", make("sub", ONE, make("mul", u, u)))))
    if f == "atan":
        return make("div", du, make("add", ONE, make("mul", u, u)))
    if f == "sinh":
        return make("mul", call("cosh", u), du)
    if f == "cosh":
        return make("mul", call("sinh", u), du)
    if f == "tanh":
        t = call("tanh", u)
        return make("mul", make("sub", ONE, make("mul", t, t)), du)
    if f in ("min", "max"):
        v, dv = a[1], d[1]
        # min: u where u <= v; max: u where u >= v
        pick_u = Node("cmp", "<=" if f == "min" else ">=", (u, v))
        return make("add", make("mul", pick_u, du), make("mul", make("sub", ONE, pick_u), dv))
    if f == "atan2":
        yv, xv = a
        dy, dx = d
        r2 = make("add", make("mul", xv, xv), make("mul", yv, yv))
        return make("div", make("sub", make("mul", xv, dy), make("mul", yv, dx)), r2)
    if f == "pow":
        return _pow_derivative(a, d)
    if f == "mod":
        return du  # d/du (u mod v) = 1 almost everywhere (v held constant)
    raise ValueError(f"no derivative for {f!r}")  # pragma: no cover


def _pow_derivative(a, d) -> Node:
    base, expo = a
    db, de = d
    if is_num(de, 0.0):
        return make("mul", make("mul", expo, make("pow", base, make("sub", expo, ONE))), db)
    p = make("pow", base, expo)
    return make("mul", p, make("add", make("mul", de, make("call", base, value="log")),
                               make("div", make("mul", expo, db), base)))


_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_OPS = {"add": " + ", "sub": " - ", "mul": "*", "div": "/", "pow": "^"}


def to_text(n: Node, parent: int = 0) -> str:
    """The tree as text in the input syntax (for the equations panel and messages)."""
    k = n.kind
    if k == "num":
        v = n.value
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if k == "sym":
        return n.value
    if k == "call":
        return f"{n.value}({', '.join(to_text(a) for a in n.args)})"
    if k == "cmp":
        return f"({to_text(n.args[0])} {n.value} {to_text(n.args[1])})"
    prec = _PREC[k]
    if k == "neg":
        s = "-" + to_text(n.args[0], prec)
    else:
        left = to_text(n.args[0], prec + (1 if k == "pow" else 0))
        right = to_text(n.args[1], prec + (0 if k in ("add", "mul", "pow") else 1))
        s = left + _OPS[k] + right
    return f"({s})" if prec < parent else s
