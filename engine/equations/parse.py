"""The whitelist parser of user-typed equations (ODE systems, two-species
reaction–diffusion, and the XPPAUT ``.ode`` subset).

The text is data, never code: each expression goes through Python's ``ast``
parser and is then rebuilt node by node into a :class:`~.tree.Node` tree,
accepting only numbers, names, ``+ - * / ^ **``, unary minus, single
comparisons and calls of known functions; anything else (attribute access,
lambda, comprehensions, strings, subscripts, …) is refused with a message
that names the line and column. Nothing is ever passed to ``eval``, ``exec``
or ``sympify``. Sizes are bounded before ``ast`` sees the text (length, line
count, bracket depth), and constant folding never computes a huge power.

Pure Python (no torch, no Qt): the GUI process imports this module to show
errors as the user types.

API::

    parse_ode(text) -> OdeSpec        # native syntax (XPPAUT's subset accepted too)
    parse_rd(text) -> RdSpec          # two species with lap(); see parse_rd
    parse_xpp(text) -> OdeSpec        # an XPPAUT .ode file (text or bytes)
    check(text, kind="ode") -> EquationError | None   # for an editor

Every error is an :class:`EquationError` (a ``ValueError``) whose ``str`` is
``line L, col C: message`` and which carries ``line``, ``col``, ``message``.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

from attractor_lab.engine.equations.tree import (
    BUILTIN_CONSTANTS, FUNCTIONS, Node, derivative, is_num, make, num, size, sym, symbols,
)

#: the longest text accepted (characters)
MAX_TEXT = 64 * 1024
#: the most lines accepted
MAX_LINES = 2000
#: the deepest bracket nesting accepted in one expression
MAX_DEPTH = 50
#: the most operations in one expression tree (after helper functions are expanded)
MAX_NODES = 20_000
#: the deepest chain of operations in one tree
MAX_TREE_DEPTH = 150
#: the largest constant exponent accepted
MAX_EXPONENT = 1000.0
#: the most state variables of an ODE system
MAX_VARIABLES = 64
#: names no definition may take
RESERVED = {"t", "lap"}
#: XPPAUT constructs refused, with what they are
UNSUPPORTED = {
    "table": "tables", "markov": "Markov processes", "wiener": "Wiener (noise) processes",
    "global": "global flags (discontinuous events)", "volt": "Volterra integral equations",
    "special": "special network operators", "set": "parameter sets", "bdry": "boundary-value problems",
    "export": "DLL exports", "solv": "algebraic solves", "vector": "vectors", "options": "option files",
    "bndry": "boundary-value problems", "delay": "delay equations", "markov-process": "Markov processes",
}
#: @ options that map onto ours
XPP_OPTIONS = {"total", "dt", "method", "meth", "xlo", "xhi", "ylo", "yhi", "nplot", "xp", "yp", "zp",
               "maxstor", "bounds", "bound", "bell", "back", "axes", "lt", "xplot", "yplot",
               "tol", "atol", "rtol", "toler", "njmp", "trans", "nout", "small", "smc"}
#: XPPAUT integration methods and ours
XPP_METHODS = {"rungekutta": "rk4", "runge": "rk4", "rk": "rk4", "rk4": "rk4", "euler": "euler",
               "modeuler": "adaptive_heun", "heun": "adaptive_heun", "qualrk": "dopri5", "qualrk4": "dopri5",
               "dorprin": "dopri8", "dp83": "dopri8", "dp5": "dopri5", "rk45": "dopri5", "stiff": "dopri5",
               "cvode": "dopri5", "gear": "dopri5", "rosen": "dopri5", "rb23": "bosh3", "backeul": "dopri5",
               "adams": "dopri5", "ymp": "dopri5", "discrete": None, "volterra": None}


class EquationError(ValueError):
    """A refused equation text: ``str`` is ``line L, col C: message`` (1-based)."""

    def __init__(self, line: int, col: int, message: str):
        self.line, self.col, self.message = int(line), int(col), " ".join(str(message).split())
        super().__init__(f"line {self.line}, col {self.col}: {self.message}")


@dataclass(frozen=True)
class ParamSpec:
    """A declared parameter: a live slider over [lo, hi]."""

    name: str
    value: float
    lo: float
    hi: float
    line: int = 0
    ranged: bool = False  # True when the text gave the range


@dataclass(frozen=True)
class OdeSpec:
    """A parsed ODE system: dx_i/dt = rhs[i](x, params, t)."""

    variables: tuple[str, ...]
    rhs: tuple[Node, ...]
    params: tuple[ParamSpec, ...]
    init: tuple[float, ...]
    aux: tuple[tuple[str, Node], ...] = ()
    options: dict = field(default_factory=dict)
    text: str = ""

    @property
    def dim(self) -> int:
        return len(self.variables)

    @property
    def uses_time(self) -> bool:
        return any("t" in symbols(r) for r in self.rhs)

    def jacobian(self) -> tuple[tuple[Node, ...], ...]:
        """The exact Jacobian ∂rhs_i/∂x_j as trees."""
        return tuple(tuple(derivative(r, x) for x in self.variables) for r in self.rhs)

    def equations_text(self) -> str:
        return "\n".join(f"d{x}/dt = {r}" for x, r in zip(self.variables, self.rhs))


@dataclass(frozen=True)
class RdSpec:
    """A parsed two-species reaction–diffusion system:
    ∂u/∂t = Du ∇²u + f(u, v), ∂v/∂t = Dv ∇²v + g(u, v)."""

    species: tuple[str, str]
    reaction: tuple[Node, Node]
    params: tuple[ParamSpec, ...]  # the reaction's, then Du and Dv
    rest: tuple[float, float] | None  # 'init': the background of the seedings
    excited: tuple[float, float] | None  # 'seed': what a seed holds
    guess: tuple[float, float] | None  # 'guess': where the steady-state solve starts
    text: str = ""

    def jacobian(self) -> tuple[tuple[Node, Node], tuple[Node, Node]]:
        u, v = self.species
        return tuple(tuple(derivative(r, s) for s in (u, v)) for r in self.reaction)

    def equations_text(self) -> str:
        u, v = self.species
        f, g = self.reaction
        return f"∂{u}/∂t = Du ∇²{u} + {f}\n∂{v}/∂t = Dv ∇²{v} + {g}"


# ---- reading the text ---------------------------------------------------------------
def _decode(text) -> str:
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise EquationError(line, col, f"the text is not UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    if not isinstance(text, str):
        raise EquationError(1, 1, f"equations must be text, not {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise EquationError(1, 1, f"the text has {len(text)} characters; at most {MAX_TEXT} are accepted")
    lines = text.count("\n") + 1
    if lines > MAX_LINES:
        raise EquationError(MAX_LINES + 1, 1, f"the text has {lines} lines; at most {MAX_LINES} are accepted")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise EquationError(line, 1, "the text holds a NUL character")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _logical_lines(text: str):
    """(line number, column offset, statement) with comments dropped and ``\\`` continuations joined."""
    pending: list | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        body = raw.split("#", 1)[0].rstrip()
        if pending is not None:
            pending[2] += " " + body.strip()
        else:
            pending = [number, 0, body]
        if pending[2].endswith("\\"):
            pending[2] = pending[2][:-1]
            continue
        line, _, s = pending
        pending = None
        stripped = s.strip()
        if stripped:
            yield line, len(s) - len(s.lstrip()), stripped
    if pending is not None and pending[2].strip():
        s = pending[2]
        yield pending[0], len(s) - len(s.lstrip()), s.strip()


# ---- one expression ------------------------------------------------------------------
@dataclass
class _Expr:
    tree: Node
    refs: list  # (kind "sym"/"call", name, line, col, nargs)
    line: int
    col: int


_NODE_WORDS = {
    "Attribute": "attribute access", "Lambda": "lambda", "ListComp": "a comprehension",
    "SetComp": "a comprehension", "DictComp": "a comprehension", "GeneratorExp": "a comprehension",
    "Subscript": "indexing", "Starred": "unpacking", "JoinedStr": "a string", "List": "a list",
    "Tuple": "a tuple", "Dict": "a dict", "Set": "a set", "NamedExpr": "an assignment expression",
    "BoolOp": "and/or", "IfExp": "an if-expression", "Await": "await", "Yield": "yield",
    "YieldFrom": "yield", "Slice": "a slice", "FormattedValue": "a string",
}
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
ALLOWED = "numbers, names, + - * / ^ (or **), comparisons and calls of known functions"


def _caret_to_power(s: str) -> tuple[str, list[int]]:
    """``^`` → ``**`` (right-associative, as in mathematics); a map from the new text's
    columns to the old one's."""
    out, cols = [], []
    for i, ch in enumerate(s):
        if ch == "^":
            out.append("**")
            cols += [i, i]
        else:
            out.append(ch)
            cols.append(i)
    cols.append(len(s))
    return "".join(out), cols


def _check_depth(s: str, line: int, col: int) -> None:
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise EquationError(line, col + i, f"more than {MAX_DEPTH} nested brackets")
        elif ch in ")]}":
            depth -= 1


def _check_power(n: Node, line: int, col: int) -> Node:
    """Refuse a power whose exponent is a huge constant (never computed)."""
    if n.kind == "pow" and is_num(n.args[1]) and abs(n.args[1].value) > MAX_EXPONENT:
        raise EquationError(line, col, f"the exponent {n.args[1].value:.6g} is too large (at most "
                                       f"{MAX_EXPONENT:g} in magnitude)")
    if n.kind == "pow" and is_num(n.args[0]) and is_num(n.args[1]):
        raise EquationError(line, col, f"the power {n} is too large to compute")
    return n


def _balanced(s: str, i: int, line: int, col: int) -> int:
    """The index just after the bracket that closes the one at ``s[i]`` (an ``(``)."""
    depth = 0
    for j in range(i, len(s)):
        depth += {"(": 1, ")": -1}.get(s[j], 0)
        if depth == 0:
            return j + 1
    raise EquationError(line, col + i, "a bracket '(' is never closed")


_IF = re.compile(r"(?<![A-Za-z0-9_])if\s*\(")


def _if_then_else(s: str, line: int, col: int) -> str:
    """XPPAUT's ``if(c)then(a)else(b)`` → ``ifelse(c, a, b)`` (nested ones too)."""
    while (m := _IF.search(s)) is not None:
        parts, at = [], m.end() - 1
        for word in ("then", "else", None):
            end = _balanced(s, at, line, col)
            parts.append(s[at + 1:end - 1])
            if word is None:
                break
            rest = re.match(r"\s*" + word + r"\s*\(", s[end:])
            if rest is None:
                raise EquationError(line, col + m.start(), f"if(…) must be followed by {word}(…): "
                                                           "write if(condition)then(value)else(value)")
            at = end + rest.end() - 1
        s = s[:m.start()] + "ifelse(" + ", ".join(parts) + ")" + s[end:]
    return s


def parse_expression(s: str, line: int, col: int, rd: bool = False) -> _Expr:
    """One expression at (line, col) (1-based col of its first character) into a tree."""
    _check_depth(s, line, col)
    if not s.strip():
        raise EquationError(line, col, "an expression is missing")
    s = _if_then_else(s, line, col)
    text, cols = _caret_to_power(s)
    try:
        tree = ast.parse(text.strip(), mode="eval")
        lead = len(text) - len(text.lstrip())
    except SyntaxError as exc:
        if "digits" in str(exc.msg):
            raise EquationError(line, col, "a number with too many digits") from None
        at = (exc.offset or 1) - 1 + (len(text) - len(text.lstrip()))
        at = cols[min(max(at, 0), len(cols) - 1)]
        raise EquationError(line, col + at, f"syntax error ({exc.msg}); expressions hold {ALLOWED}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise EquationError(line, col, f"the expression cannot be read ({type(exc).__name__}): too long or "
                                       "too deeply nested") from None
    refs: list = []

    def where(node) -> int:
        at = getattr(node, "col_offset", 0) + lead
        return col + cols[min(max(at, 0), len(cols) - 1)]

    def refuse(node, what: str):
        raise EquationError(line, where(node), f"{what} is not allowed; expressions hold {ALLOWED}")

    def conv(node, level: int) -> Node:
        if level > MAX_TREE_DEPTH:
            raise EquationError(line, where(node), f"more than {MAX_TREE_DEPTH} nested operations")
        if isinstance(node, ast.Expression):
            return conv(node.body, level)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                refuse(node, f"the operator {type(node.op).__name__}")
            return _check_power(make(op, conv(node.left, level + 1), conv(node.right, level + 1)), line,
                                where(node))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return make("neg", conv(node.operand, level + 1))
            if isinstance(node.op, ast.UAdd):
                return conv(node.operand, level + 1)
            refuse(node, f"the operator {type(node.op).__name__}")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                refuse(node, f"the constant {v!r}"[:80])
            try:
                v = float(v)
            except OverflowError:
                raise EquationError(line, where(node), "a number too large") from None
            if not math.isfinite(v):
                raise EquationError(line, where(node), "a number too large")
            return num(v)
        if isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise EquationError(line, where(node), f"the name {node.id!r} is not allowed")
            refs.append(("sym", node.id, line, where(node), 0))
            return sym(node.id)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                refuse(node.func, "calling something other than a function name")
            if node.keywords:
                refuse(node, "a keyword argument")
            name = node.func.id
            if name.startswith("__"):
                raise EquationError(line, where(node), f"the name {name!r} is not allowed; known functions: "
                                                       + ", ".join(sorted(FUNCTIONS)))
            if any(isinstance(a, ast.Starred) for a in node.args):
                refuse(node, "unpacking")
            refs.append(("call", name, line, where(node), len(node.args)))
            args = tuple(conv(a, level + 1) for a in node.args)
            return Node("call", name, args)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                refuse(node, "a chained comparison")
            op = _CMPOPS[type(node.ops[0])] if type(node.ops[0]) in _CMPOPS else None
            if op is None:
                refuse(node, f"the comparison {type(node.ops[0]).__name__}")
            return Node("cmp", op, (conv(node.left, level + 1), conv(node.comparators[0], level + 1)))
        refuse(node, _NODE_WORDS.get(type(node).__name__, type(node).__name__))

    try:
        out = conv(tree, 0)
    except RecursionError:
        raise EquationError(line, col, "the expression is too deeply nested") from None
    return _Expr(out, refs, line, col)


# ---- statements --------------------------------------------------------------------
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_RE_DDT = re.compile(rf"^d({_NAME})\s*/\s*dt\s*=(.*)$")
_RE_PRIME = re.compile(rf"^({_NAME})\s*'\s*=(.*)$")
_RE_INIT0 = re.compile(rf"^({_NAME})\s*\(\s*0\s*\)\s*=(.*)$")
_RE_MAP = re.compile(rf"^({_NAME})\s*\(\s*t\s*\+\s*1\s*\)\s*=")
_RE_FUNC = re.compile(rf"^({_NAME})\s*\(([^()]*)\)\s*=(.*)$")
_RE_ALIAS = re.compile(rf"^({_NAME})\s*=(.*)$")
_RE_KEYWORD = re.compile(rf"^({_NAME})\s+(?=[A-Za-z_!])")
_RE_ITEM = re.compile(rf"(?:^|(?<=[\s,]))({_NAME})\s*=")
_RE_RANGE = re.compile(r"^(.*?)\[(.*)\]\s*$", re.S)
KEYWORDS = {"par": "par", "param": "par", "params": "par", "parameter": "par", "p": "par",
            "init": "init", "i": "init", "number": "number", "num": "number", "n": "number", "const": "number",
            "aux": "aux", "a": "aux", "seed": "seed", "guess": "guess"}


class _Collector:
    """Gathers the statements of a text; names are checked once all are known."""

    def __init__(self, rd: bool, xpp: bool):
        self.rd, self.xpp = rd, xpp
        self.odes: dict[str, _Expr] = {}
        self.params: dict[str, tuple] = {}  # name → (_Expr value, lo _Expr|None, hi _Expr|None, line)
        self.numbers: dict[str, _Expr] = {}
        self.aliases: dict[str, _Expr] = {}
        self.functions: dict[str, tuple[tuple[str, ...], _Expr]] = {}
        self.init: dict[str, _Expr] = {}
        self.seed: dict[str, _Expr] = {}
        self.guess: dict[str, _Expr] = {}
        self.aux: dict[str, _Expr] = {}
        self.options: dict = {}
        self.defined: dict[str, int] = {}  # name → line of its definition

    def define(self, name: str, line: int, col: int, what: str) -> None:
        if name in RESERVED:
            raise EquationError(line, col, f"'{name}' is reserved ({'time' if name == 't' else 'the Laplacian'}); "
                                           f"choose another name for this {what}")
        if name in FUNCTIONS:
            raise EquationError(line, col, f"'{name}' is a built-in function; choose another name for this {what}")
        if name.startswith("__"):
            raise EquationError(line, col, f"the name {name!r} is not allowed")
        if name in self.defined:
            raise EquationError(line, col, f"duplicate definition of '{name}' (first defined on line "
                                           f"{self.defined[name]})")
        self.defined[name] = line

    def statement(self, line: int, off: int, s: str) -> bool:
        """Read one statement; False at ``done``."""
        col = off + 1
        low = s.lower()
        if low == "done":
            return False
        if s.startswith("@"):
            self._options(line, col + 1, s[1:])
            return True
        if s.startswith("!"):
            m = _RE_ALIAS.match(s[1:].strip())
            if not m:
                raise EquationError(line, col, "a derived constant reads '!name = expression'")
            self._alias(line, col + 1 + (len(s[1:]) - len(s[1:].lstrip())), m)
            return True
        if _RE_MAP.match(s):
            raise EquationError(line, col, "maps x(t+1) = … are not supported (difference equations); "
                                           "write differential equations x' = …")
        m = _RE_KEYWORD.match(s)
        if m:
            word = m.group(1).lower()
            if word in UNSUPPORTED:
                raise EquationError(line, col, f"'{m.group(1)}' is not supported (XPPAUT {UNSUPPORTED[word]}); "
                                               "supported: x' = …, dx/dt = …, par, init, number, !name = …, "
                                               "f(x) = …, aux, @ options, done")
            if word in KEYWORDS:
                self._keyword(KEYWORDS[word], line, col + m.end(), s[m.end():])
                return True
        low_word = re.match(_NAME, s)
        if low_word and low_word.group(0).lower() in UNSUPPORTED and s[low_word.end():].lstrip()[:1] not in ("=", "(", "'"):
            word = low_word.group(0).lower()
            raise EquationError(line, col, f"'{low_word.group(0)}' is not supported (XPPAUT {UNSUPPORTED[word]})")
        m = _RE_DDT.match(s) or _RE_PRIME.match(s)
        if m:
            name = m.group(1)
            self.define(name, line, col, "variable")
            body = m.group(2)
            self.odes[name] = self._expr(body, line, col + m.start(2))
            return True
        m = _RE_INIT0.match(s)
        if m:
            self._set_init(self.init, m.group(1), m.group(2), line, col, col + m.start(2))
            return True
        m = _RE_FUNC.match(s)
        if m:
            name = m.group(1)
            self.define(name, line, col, "function")
            args = tuple(a.strip() for a in m.group(2).split(",")) if m.group(2).strip() else ()
            for a in args:
                if not re.fullmatch(_NAME, a):
                    raise EquationError(line, col, f"function {name}: argument {a!r} is not a name")
            if len(set(args)) != len(args):
                raise EquationError(line, col, f"function {name}: an argument is named twice")
            if len(args) > 9:
                raise EquationError(line, col, f"function {name}: at most 9 arguments")
            self.functions[name] = (args, self._expr(m.group(3), line, col + m.start(3)))
            return True
        m = _RE_ALIAS.match(s)
        if m:
            self._alias(line, col, m)
            return True
        if "=" not in s:
            raise EquationError(line, col, f"cannot read {s[:40]!r}: a statement reads dx/dt = …, x' = …, "
                                           "par name = value [min, max], init x = value, name = expression "
                                           "or f(x) = expression")
        raise EquationError(line, col, f"cannot read the left-hand side {s.split('=', 1)[0].strip()[:40]!r}: "
                                       "write dx/dt = …, x' = …, name = … or f(x) = …")

    def _expr(self, body: str, line: int, col: int) -> _Expr:
        lead = len(body) - len(body.lstrip())
        return parse_expression(body.strip(), line, col + lead, self.rd)

    def _alias(self, line, col, m) -> None:
        name = m.group(1)
        self.define(name, line, col, "name")
        self.aliases[name] = self._expr(m.group(2), line, col + m.start(2))

    def _items(self, line: int, col: int, body: str):
        """``name = value`` items (comma- or space-separated) of a par/init/number/aux line."""
        found = list(_RE_ITEM.finditer(body))
        if not found or body[: found[0].start()].strip(" ,"):
            raise EquationError(line, col, f"expected name = value, found {body.strip()[:40]!r}")
        for k, m in enumerate(found):
            end = found[k + 1].start() if k + 1 < len(found) else len(body)
            value = body[m.end():end].rstrip().rstrip(",")
            yield m.group(1), col + m.start(1), value, col + m.end()

    def _keyword(self, kind: str, line: int, col: int, body: str) -> None:
        for name, ncol, value, vcol in self._items(line, col, body):
            if kind == "par":
                self.define(name, line, ncol, "parameter")
                lo = hi = None
                r = _RE_RANGE.match(value)
                if r:
                    bounds = r.group(2).split(",")
                    if len(bounds) != 2:
                        raise EquationError(line, vcol + r.start(2), "a range reads [min, max]")
                    rstart = vcol + r.start(2)
                    lo = self._expr(bounds[0], line, rstart)
                    hi = self._expr(bounds[1], line, rstart + len(bounds[0]) + 1)
                    value = r.group(1)
                self.params[name] = (self._expr(value, line, vcol), lo, hi, line)
            elif kind == "number":
                self.define(name, line, ncol, "constant")
                self.numbers[name] = self._expr(value, line, vcol)
            elif kind == "aux":
                self.define(name, line, ncol, "auxiliary quantity")
                self.aux[name] = self._expr(value, line, vcol)
            elif kind == "init":
                self._set_init(self.init, name, value, line, ncol, vcol)
            elif kind in ("seed", "guess"):
                if not self.rd:
                    raise EquationError(line, col, f"'{kind}' is for reaction–diffusion systems (custom_rd)")
                self._set_init(getattr(self, kind), name, value, line, ncol, vcol)

    def _set_init(self, table, name, value, line, ncol, vcol) -> None:
        if name in table:
            raise EquationError(line, ncol, f"duplicate initial value of '{name}'")
        table[name] = self._expr(value, line, vcol)

    def _options(self, line: int, col: int, body: str) -> None:
        for name, ncol, value, vcol in self._items(line, col, body):
            key = name.lower()
            if key not in XPP_OPTIONS:
                raise EquationError(line, ncol, f"unknown option '{name}'; the options read are total, dt, method, "
                                                "xlo, xhi, ylo, yhi, nplot, xp, yp (others of XPPAUT's display "
                                                "options are accepted and ignored)")
            v = value.strip()
            if key in ("xp", "yp", "zp", "method", "meth"):
                self.options[key] = (v, line, vcol)
            else:
                try:
                    self.options[key] = (float(v), line, vcol)
                except ValueError:
                    raise EquationError(line, vcol, f"option '{name}' needs a number, not {v[:30]!r}") from None


# ---- resolving names -------------------------------------------------------------------
class _Resolver:
    def __init__(self, c: _Collector, state: tuple[str, ...], lap: bool):
        self.c, self.state, self.lap = c, state, lap
        self.params = set(c.params)
        self.done: dict[str, Node] = {}
        self.stack: list[str] = []

    def known_functions(self) -> str:
        names = sorted(FUNCTIONS) + sorted(self.c.functions) + (["lap"] if self.lap else [])
        return ", ".join(names)

    def check_refs(self, e: _Expr, local: tuple[str, ...] = ()) -> None:
        for kind, name, line, col, nargs in e.refs:
            if kind == "call":
                if name in FUNCTIONS:
                    want = FUNCTIONS[name]
                elif name in self.c.functions:
                    want = len(self.c.functions[name][0])
                elif name == "lap" and self.lap:
                    want = 1
                elif name == "lap":
                    raise EquationError(line, col, "lap() is the Laplacian of reaction–diffusion systems "
                                                   "(custom_rd), not of an ODE system")
                else:
                    raise EquationError(line, col, f"unknown function '{name}' — known: {self.known_functions()}")
                if nargs != want:
                    raise EquationError(line, col, f"'{name}' takes {want} argument{'s' if want != 1 else ''}, "
                                                   f"not {nargs}")
            elif not (name in local or name in self.state or name in self.params or name in self.c.numbers
                      or name in self.c.aliases or name == "t" or name in BUILTIN_CONSTANTS):
                if name in self.c.functions or name in FUNCTIONS:
                    raise EquationError(line, col, f"'{name}' is a function: call it, e.g. {name}(x)")
                raise EquationError(line, col, f"undefined symbol '{name}' — declare it with 'par {name} = …'"
                                               + (f" (variables: {', '.join(self.state)})" if self.state else ""))

    def resolve(self, e: _Expr, local: dict[str, Node] | None = None) -> Node:
        self.check_refs(e, tuple(local or ()))
        try:
            out = self._walk(e.tree, local or {}, e)
        except RecursionError:
            raise EquationError(e.line, e.col, "the definitions nest too deeply") from None
        if size(out) > MAX_NODES:
            raise EquationError(e.line, e.col, f"expands to more than {MAX_NODES} operations")
        return out

    def _walk(self, n: Node, local: dict, e: _Expr) -> Node:
        if n.kind == "sym":
            name = n.value
            if name in local:
                return local[name]
            if name in self.state or name in self.params or name == "t":
                return n
            if name in self.c.numbers:
                return self.constant(name)
            if name in self.c.aliases:
                return self.alias(name)
            return num(BUILTIN_CONSTANTS[name])
        if n.kind == "num":
            return n
        args = tuple(self._walk(a, local, e) for a in n.args)
        if n.kind == "call" and n.value in self.c.functions:
            names, body = self.c.functions[n.value]
            if n.value in self.stack:
                raise EquationError(body.line, body.col, f"circular definition: {' → '.join(self.stack + [n.value])}")
            self.stack.append(n.value)
            out = self.resolve(body, dict(zip(names, args)))
            self.stack.pop()
            return out
        if n.kind == "call" and n.value == "pow":
            return _check_power(make("pow", *args), e.line, e.col)
        out = make(n.kind, *args, value=n.value)
        if out.kind == "pow":
            _check_power(out, e.line, e.col)
        return out  # sizes are checked where helpers expand (resolve): text alone is bounded

    def alias(self, name: str) -> Node:
        if name not in self.done:
            if name in self.stack:
                e = self.c.aliases[name]
                raise EquationError(e.line, e.col, f"circular definition: {' → '.join(self.stack + [name])}")
            self.stack.append(name)
            self.done[name] = self.resolve(self.c.aliases[name])
            self.stack.pop()
        return self.done[name]

    def constant(self, name: str) -> Node:
        if name not in self.done:
            if name in self.stack:
                e = self.c.numbers[name]
                raise EquationError(e.line, e.col, f"circular definition: {' → '.join(self.stack + [name])}")
            self.stack.append(name)
            self.done[name] = self.number(self.c.numbers[name], f"constant '{name}'")
            self.stack.pop()
        return self.done[name]

    def number(self, e: _Expr, what: str) -> Node:
        """An expression that must come to a number (parameter values, ranges, initial values)."""
        tree = self.resolve(e)
        if not is_num(tree):
            if tree.kind == "pow":
                raise EquationError(e.line, e.col, f"{what}: the power is too large to compute")
            names = sorted(symbols(tree))
            raise EquationError(e.line, e.col, f"{what} must be a number" +
                                (f"; it depends on {', '.join(names)}" if names else ""))
        return tree


def _collect(text, rd: bool, xpp: bool) -> _Collector:
    text = _decode(text)
    c = _Collector(rd, xpp)
    for line, off, s in _logical_lines(text):
        _check_depth(s, line, off + 1)
        if len(s) > 8000:
            raise EquationError(line, off + 1, "a statement longer than 8000 characters")
        if not c.statement(line, off, s):
            break
    return c


def _param_specs(c: _Collector, r: _Resolver) -> tuple[ParamSpec, ...]:
    out = []
    if True:  # parameter values and ranges are numbers (r.number refuses a symbol)
        for name, (value, lo, hi, line) in c.params.items():
            v = float(r.number(value, f"the value of parameter '{name}'").value)
            if lo is not None:
                a = float(r.number(lo, f"the minimum of parameter '{name}'").value)
                b = float(r.number(hi, f"the maximum of parameter '{name}'").value)
                if not a <= v <= b:
                    raise EquationError(line, value.col, f"parameter '{name}': value {v:g} outside its range "
                                                         f"[{a:g}, {b:g}]")
                out.append(ParamSpec(name, v, a, b, line, True))
            else:
                a, b = (0.0, 10.0 * v) if v > 0 else (10.0 * v, 0.0) if v < 0 else (-1.0, 1.0)
                out.append(ParamSpec(name, v, a, b, line, False))
    return tuple(out)


def _values(r: _Resolver, table: dict, names: tuple[str, ...], what: str) -> dict[str, float]:
    out = {}
    for name, e in table.items():
        if name not in names:
            raise EquationError(e.line, e.col, f"{what}: '{name}' is not a variable (variables: {', '.join(names)})")
        out[name] = float(r.number(e, f"{what} of '{name}'").value)
    return out


def _no_odes(c: _Collector, what: str):
    raise EquationError(1, 1, f"no equations: write {what}")


def parse_ode(text, *, xpp: bool = False) -> OdeSpec:
    """Parse an ODE system (see the module docstring). Raises :class:`EquationError`."""
    c = _collect(text, rd=False, xpp=xpp)
    if not c.odes:
        _no_odes(c, "dx/dt = … (or x' = …) for each variable")
    variables = tuple(c.odes)
    if len(variables) > MAX_VARIABLES:
        e = c.odes[variables[MAX_VARIABLES]]
        raise EquationError(e.line, 1, f"more than {MAX_VARIABLES} variables")
    r = _Resolver(c, variables, lap=False)
    for name, (args, body) in c.functions.items():
        r.check_refs(body, args)
    params = _param_specs(c, r)
    rhs = tuple(r.resolve(c.odes[x]) for x in variables)
    aux = tuple((name, r.resolve(e)) for name, e in c.aux.items())
    for name in c.aliases:
        r.alias(name)  # every definition is checked, used or not
    init = _values(r, c.init, variables, "the initial value")
    options = _xpp_options(c, variables)
    return OdeSpec(variables, rhs, params, tuple(init.get(x, 0.0) for x in variables), aux, options,
                   text if isinstance(text, str) else _decode(text))


def parse_xpp(text) -> OdeSpec:
    """Parse an XPPAUT ``.ode`` file (its common subset; the rest is refused by name).

    Names are case-insensitive in XPPAUT (``V' = …`` and ``v`` are one variable): every
    name is read as it is first spelled in the file, function names and the words of
    ``if(…)then(…)else(…)`` in lower case; the spec's ``text`` is that normalised text."""
    return parse_ode(_xpp_canonical(_decode(text)), xpp=True)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DDT = re.compile(r"\bd([A-Za-z_][A-Za-z0-9_]*)(\s*/\s*)dt\b", re.IGNORECASE)


def _xpp_canonical(text: str) -> str:
    """Each name as first spelled (case-insensitively equal names are one); the statement
    words are left as written (the reader ignores their case); comments kept."""
    lines = [ln.split("#", 1) for ln in text.split("\n")]
    first: dict[str, str] = {}

    def names(code: str):
        code = _DDT.sub(lambda m: " " + m.group(1) + m.group(2) + "dt", code)
        for m in _IDENT.finditer(code):
            yield m
    for parts in lines:
        for m in names(parts[0]):
            first.setdefault(m.group(0).lower(), m.group(0))
    lower_calls = set(FUNCTIONS) | {"if", "then", "else"}

    def fix(code: str) -> str:
        code = _DDT.sub(lambda m: "d" + first.get(m.group(1).lower(), m.group(1)) + m.group(2) + "dt", code)
        lead = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)(?=\s+[A-Za-z_])", code)  # "par a=1", "init x=0"
        keep = lead.end() if lead and lead.group(1).lower() in KEYWORDS.keys() | UNSUPPORTED.keys() else 0
        option = code.lstrip().startswith("@")

        def one(m):
            word, low, after = m.group(0), m.group(0).lower(), code[m.end():].lstrip()[:1]
            if m.start() < keep or option and after == "=":
                return word  # a statement word (read whatever its case), an @ option's name
            if low == "t":
                return "t"
            if low in lower_calls and after == "(":
                return low
            return first.get(low, word)
        return _IDENT.sub(one, code)
    return "\n".join(fix(p[0]) + ("#" + p[1] if len(p) > 1 else "") for p in lines)


def _xpp_options(c: _Collector, variables) -> dict:
    out = {}
    for key, (value, line, col) in c.options.items():
        if key in ("xp", "yp", "zp"):
            if value not in variables:
                raise EquationError(line, col, f"option {key}: '{value}' is not a variable "
                                               f"(variables: {', '.join(variables)})")
            out[key] = value
        elif key in ("method", "meth"):
            m = XPP_METHODS.get(value.lower())
            if value.lower() not in XPP_METHODS or m is None:
                raise EquationError(line, col, f"method '{value}' is not supported; known: "
                                               + ", ".join(k for k, v in XPP_METHODS.items() if v))
            out["method"] = m
        elif key in ("total", "dt", "xlo", "xhi", "ylo", "yhi", "nplot"):
            if key in ("total", "dt") and not value > 0:
                raise EquationError(line, col, f"option {key} must be positive, not {value:g}")
            out[key] = value
    return out


def _lap_split(tree: Node, species: str, other: str, line: int, col: int) -> tuple[Node, Node | None]:
    """(reaction, diffusion coefficient or None) of one RD equation's right-hand side."""
    terms: list[tuple[int, Node]] = []

    def flatten(n: Node, sign: int):
        if n.kind == "add":
            flatten(n.args[0], sign)
            flatten(n.args[1], sign)
        elif n.kind == "sub":
            flatten(n.args[0], sign)
            flatten(n.args[1], -sign)
        elif n.kind == "neg":
            flatten(n.args[0], -sign)
        else:
            terms.append((sign, n))

    flatten(tree, 1)

    def has_lap(n: Node) -> bool:
        stack = [n]
        while stack:
            m = stack.pop()
            if m.kind == "call" and m.value == "lap":
                return True
            stack.extend(m.args)
        return False

    reaction: Node = num(0.0)
    coefficient = None
    for sign, term in terms:
        if not has_lap(term):
            reaction = make("add" if sign > 0 else "sub", reaction, term)
            continue
        coef = None
        if term.kind == "call" and term.value == "lap":
            lap, coef = term, num(1.0)
        elif term.kind == "mul" and term.args[1].kind == "call" and term.args[1].value == "lap":
            lap, coef = term.args[1], term.args[0]
        elif term.kind == "mul" and term.args[0].kind == "call" and term.args[0].value == "lap":
            lap, coef = term.args[0], term.args[1]
        else:
            raise EquationError(line, col, f"d{species}/dt: the diffusion term must read D*lap({species}) "
                                           f"(D a parameter or a number), found {term}")
        target = lap.args[0]
        if not (target.kind == "sym" and target.value == species):
            raise EquationError(line, col, f"d{species}/dt: the Laplacian must be of {species} itself, "
                                           f"lap({species}); found lap({target}) (cross-diffusion is not supported)")
        if has_lap(coef) or {species, other, "t"} & symbols(coef):
            raise EquationError(line, col, f"d{species}/dt: the diffusion coefficient must be constant "
                                           f"(a parameter or a number), found {coef}")
        if coefficient is not None:
            raise EquationError(line, col, f"d{species}/dt: lap({species}) appears twice; write one D*lap({species})")
        coefficient = coef if sign > 0 else make("neg", coef)
    return reaction, coefficient


def parse_rd(text) -> RdSpec:
    """Parse a two-species reaction–diffusion system::

        du/dt = Du*lap(u) + a - (b + 1)*u + u^2*v
        dv/dt = Dv*lap(v) + b*u - u^2*v
        par a = 3 [0, 20], b = 9 [0, 100], Du = 1 [0, 100], Dv = 8 [0, 100]
        init u = 3, v = 3          # rest state of the seedings (default: the steady state)
        seed u = 4.5, v = 2.4      # what a seed holds (default: 1.5 u, 0.8 v of the rest state)
        guess u = 3, v = 3         # where the steady-state solve starts (default: init)

    Diffusion is either written (``Du*lap(u)`` with a parameter ``Du`` / ``Dv``, or a number
    times ``lap(u)``) or left out of the equations and declared as parameters ``Du`` and ``Dv``.
    """
    c = _collect(text, rd=True, xpp=False)
    if len(c.odes) != 2:
        line = next(iter(c.odes.values())).line if c.odes else 1
        raise EquationError(line, 1, f"a reaction–diffusion system has two species (du/dt = …, dv/dt = …), "
                                     f"not {len(c.odes)}")
    species = tuple(c.odes)
    for name, e in c.aux.items():
        raise EquationError(e.line, e.col, "aux quantities are for ODE systems (custom_ode)")
    r = _Resolver(c, species, lap=True)
    for name, (args, body) in c.functions.items():
        r.check_refs(body, args)
    params = list(_param_specs(c, r))
    reaction, diffusion = [], []
    for s, other in (species, species[::-1]):
        e = c.odes[s]
        tree = r.resolve(e)
        if "t" in symbols(tree):
            raise EquationError(e.line, e.col, f"d{s}/dt depends on time t; reaction–diffusion terms must be autonomous")
        f, coef = _lap_split(tree, s, other, e.line, e.col)
        reaction.append(f)
        diffusion.append(coef)
    for name in c.aliases:
        r.alias(name)
    declared = {p.name: p for p in params}
    for k, (s, coef, dname) in enumerate(zip(species, diffusion, ("Du", "Dv"))):
        e = c.odes[s]
        if coef is None:
            if dname not in declared:
                raise EquationError(e.line, e.col, f"no diffusion for {s}: write {dname}*lap({s}) in d{s}/dt, "
                                                   f"or declare 'par {dname} = …'")
        elif coef.kind == "sym" and coef.value == dname:
            pass
        elif is_num(coef):
            if dname in declared:
                raise EquationError(e.line, e.col, f"d{s}/dt: a number times lap({s}) while parameter {dname} "
                                                   f"is declared; write {dname}*lap({s})")
            if coef.value < 0:
                raise EquationError(e.line, e.col, f"d{s}/dt: the diffusion coefficient must be ≥ 0, not {coef.value:g}")
            params.append(ParamSpec(dname, float(coef.value), 0.0, max(10.0 * coef.value, 1.0), e.line, False))
        else:
            raise EquationError(e.line, e.col, f"d{s}/dt: the diffusion coefficient must be the parameter "
                                               f"{dname} or a number, found {coef}")
    order = [p for p in params if p.name not in ("Du", "Dv")] + [p for p in params if p.name in ("Du", "Dv")]
    for p in order:
        if p.name in ("Du", "Dv") and p.lo < 0:
            raise EquationError(p.line, 1, f"parameter {p.name}: a diffusion coefficient needs a range within [0, …]")
    pairs = {}
    for key, table in (("rest", c.init), ("excited", c.seed), ("guess", c.guess)):
        values = _values(r, table, species, {"rest": "the initial value", "excited": "the seed value",
                                             "guess": "the steady-state guess"}[key])
        if values and len(values) != 2:
            missing = [s for s in species if s not in values][0]
            e = next(iter(table.values()))
            raise EquationError(e.line, e.col, f"give both species ({species[0]} and {species[1]}); "
                                               f"'{missing}' is missing")
        pairs[key] = (values[species[0]], values[species[1]]) if values else None
    return RdSpec(species, (reaction[0], reaction[1]), tuple(order), pairs["rest"], pairs["excited"],
                  pairs["guess"], text if isinstance(text, str) else _decode(text))


def check(text, kind: str = "ode") -> EquationError | None:
    """The first error of ``text`` (``kind``: "ode", "rd" or "xpp"), or None: for an editor."""
    try:
        {"ode": parse_ode, "rd": parse_rd, "xpp": parse_xpp}[kind](text)
    except EquationError as exc:
        return exc
    return None
