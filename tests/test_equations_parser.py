"""The whitelist parser of user-typed equations: what it accepts, and every hostile or broken
input refused with a one-line message naming line and column (no torch needed)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from attractor_lab.engine.equations import EquationError, check, parse_ode, parse_rd, parse_xpp
from attractor_lab.engine.equations.tree import derivative, num, substitute

VDP = """dx/dt = y
dy/dt = mu*(1 - x^2)*y - x
par mu = 1.5 [0, 10]      # value [min, max]: a slider
init x = 2, y = 0
"""


def test_van_der_pol_parses_with_its_slider_and_start():
    spec = parse_ode(VDP)
    assert spec.variables == ("x", "y")
    assert [(p.name, p.value, p.lo, p.hi) for p in spec.params] == [("mu", 1.5, 0.0, 10.0)]
    assert spec.init == (2.0, 0.0)
    assert str(spec.rhs[1]) == "mu*(1 - x^2)*y - x"


def test_primes_helpers_constants_and_both_powers():
    spec = parse_ode("""
        number k = 2
        f(a, b) = a**2 + b^2      # helper function
        r = sqrt(f(x, y))         # named expression
        x' = -k*x + r
        y' = heav(x) - min(x, y) + max(1, y) + atan2(y, x)
        par unused = 0
    """)
    assert spec.variables == ("x", "y")
    assert str(spec.rhs[0]) == "-2*x + sqrt(x^2 + y^2)"
    assert spec.init == (0.0, 0.0)  # XPPAUT's default start


def test_caret_is_right_associative_like_mathematics():
    spec = parse_ode("dx/dt = 2^3^2\ndy/dt = -y")
    assert spec.rhs[0].value == 512.0  # 2^(3^2), not (2^3)^2 = 64


def test_exact_jacobian_of_lotka_volterra():
    spec = parse_ode("dx/dt = a*x - b*x*y\ndy/dt = d*x*y - g*y\npar a=1, b=2, d=3, g=4")
    jac = spec.jacobian()
    env = {"x": 0.7, "y": 1.3, "a": 1.0, "b": 2.0, "d": 3.0, "g": 4.0}

    def value(n):
        t = substitute(n, {k: num(v) for k, v in env.items()})
        assert t.kind == "num", str(t)
        return t.value

    got = [[value(e) for e in row] for row in jac]
    want = [[1 - 2 * 1.3, -2 * 0.7], [3 * 1.3, 3 * 0.7 - 4]]
    assert sum(got, []) == pytest.approx(sum(want, []), abs=1e-15)


def test_derivatives_of_every_function_agree_with_finite_differences():
    import math

    from attractor_lab.engine.equations.tree import FUNCTIONS

    for name, nargs in FUNCTIONS.items():
        if name in ("heav", "sign", "floor", "ceil", "flr", "mod"):
            continue
        args = {1: "(x)", 2: "(x, 0.3)", 3: "(x > 0, x^3, 0.3)"}[nargs]
        spec = parse_ode(f"dx/dt = {name}{args}\ndy/dt = 0")
        d = derivative(spec.rhs[0], "x")
        from attractor_lab.engine.equations.torchgen import compile_tree

        f, df = compile_tree(spec.rhs[0]), compile_tree(d)
        x0, h = 0.41, 1e-6
        fd = (f({"x": x0 + h}) - f({"x": x0 - h})) / (2 * h)
        assert df({"x": x0}) == pytest.approx(fd, rel=1e-6, abs=1e-8), name
        assert not math.isnan(df({"x": x0}))


HOSTILE = {
    "attribute": ("dx/dt = x.__class__\ndy/dt = 0", 1, "attribute access is not allowed"),
    "dunder import": ("dx/dt = 0\ndy/dt = __import__('os').system('true')", 2, "is not allowed"),
    "dunder call": ("dx/dt = __import__('os')\ndy/dt = 0", 1, "'__import__' is not allowed"),
    "call outside whitelist": ("dx/dt = open(x)\ndy/dt = 0", 1, "unknown function 'open' — known: abs, acos"),
    "eval": ("dx/dt = eval(x)\ndy/dt = 0", 1, "unknown function 'eval'"),
    "lambda": ("dx/dt = (lambda q: q)(x)\ndy/dt = 0", 1, "is not allowed"),
    "comprehension": ("dx/dt = sum([q for q in x])\ndy/dt = 0", 1, "a comprehension is not allowed"),
    "string": ("dx/dt = 'rm -rf'\ndy/dt = 0", 1, "is not allowed"),
    "subscript": ("dx/dt = x[0]\ndy/dt = 0", 1, "indexing is not allowed"),
    "huge exponent": ("dx/dt = x^9^9^9\ndy/dt = 0", 1, "too large"),
    "huge constant power": ("dx/dt = 9^9^9\ndy/dt = 0", 1, "too large"),
    "nested parentheses": ("dx/dt = " + "(" * 10_000 + "x" + ")" * 10_000 + "\ndy/dt = 0", 1, "nested brackets"),
    "megabyte": ("dx/dt = x\ndy/dt = " + "x+" * 500_000 + "x", 1, "at most 65536 are accepted"),
    "undefined": ("dx/dt = -k*x\ndy/dt = 0", 1, "undefined symbol 'k' — declare it with 'par k = …'"),
    "unknown function": ("dx/dt = 0\ndy/dt = sinn(x)", 2, "unknown function 'sinn' — known: abs, acos"),
    "duplicate": ("dx/dt = 1\ndy/dt = 0\ndx/dt = 2", 3, "duplicate definition of 'x' (first defined on line 1)"),
    "duplicate par": ("par a = 1\ndx/dt = a\ndy/dt = 0\npar a = 2", 4, "duplicate definition of 'a'"),
    "wrong arity": ("dx/dt = sin(x, 2)\ndy/dt = 0", 1, "'sin' takes 1 argument, not 2"),
    "circular": ("a = b\nb = a\ndx/dt = a\ndy/dt = 0", 1, "circular definition"),
    "syntax": ("dx/dt = x +* 2\ndy/dt = 0", 1, "syntax error"),
    "infinite literal": ("dx/dt = 1e999\ndy/dt = 0", 1, "too large"),
    "digits": ("dx/dt = " + "9" * 5000 + "\ndy/dt = 0", 1, "too many digits"),
    "no equations": ("par a = 1", 1, "no equations"),
    "time as a name": ("t = 2\ndx/dt = t\ndy/dt = 0", 1, "'t' is reserved"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_refused_with_one_line_naming_line_and_column(name):
    text, line, words = HOSTILE[name]
    with pytest.raises(EquationError) as info:
        parse_ode(text)
    msg = str(info.value)
    assert "\n" not in msg
    assert re.match(rf"line {line}, col \d+: ", msg), msg
    assert words in msg, msg
    assert info.value.line == line and info.value.col >= 1


def test_columns_point_at_the_culprit():
    err = check("dx/dt = y\ndy/dt = mu*(1 - x^2)*y - sinn(x)\npar mu = 1")
    assert (err.line, err.col) == (2, 26)
    err = check("dx/dt = y\ndy/dt = x + kk")
    assert (err.line, err.col) == (2, 13)


def test_non_utf8_bytes_are_refused_with_their_position():
    with pytest.raises(EquationError, match=r"line 2, col 9: the text is not UTF-8 \(byte 0xff\)"):
        parse_ode(b"dx/dt = y\ndy/dt = \xff")


def test_parsing_never_runs_the_text(tmp_path):
    marker = tmp_path / "ran"
    text = f"dx/dt = __import__('pathlib').Path({str(marker)!r}).touch()\ndy/dt = 0"
    assert check(text) is not None
    assert not marker.exists()


def test_parser_imports_neither_torch_nor_qt():
    code = ("import sys; import attractor_lab.engine.equations as e; e.parse_ode('dx/dt=y\\ndy/dt=-x');"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'numpy', 'sympy')];"
            "print(bad); assert not bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_reaction_diffusion_reads_diffusion_and_reaction():
    spec = parse_rd("""
        du/dt = Du*lap(u) + a - (b + 1)*u + u^2*v
        dv/dt = Dv*lap(v) + b*u - u^2*v
        par a = 3 [0.01, 20], b = 9 [0, 100], Du = 1 [0, 100], Dv = 8 [0, 100]
    """)
    assert spec.species == ("u", "v")
    assert [p.name for p in spec.params] == ["a", "b", "Du", "Dv"]
    assert str(spec.reaction[0]) == "a - (b + 1)*u + u^2*v"
    numbers = parse_rd("du/dt = 0.16*lap(u) - u*v^2\ndv/dt = lap(v)*0.08 + u*v^2")
    assert [(p.name, p.value) for p in numbers.params] == [("Du", 0.16), ("Dv", 0.08)]


@pytest.mark.parametrize("text, words", [
    ("du/dt = Du*lap(v)\ndv/dt = Dv*lap(v)\npar Du=1, Dv=1", "the Laplacian must be of u itself"),
    ("du/dt = u*lap(u)\ndv/dt = Dv*lap(v)\npar Dv=1", "must be constant"),
    ("du/dt = k*lap(u)\ndv/dt = Dv*lap(v)\npar k=1, Dv=1", "must be the parameter Du or a number"),
    ("du/dt = -u\ndv/dt = Dv*lap(v)\npar Dv=1", "no diffusion for u"),
    ("du/dt = Du*lap(u)\npar Du=1", "two species"),
    ("dx/dt = lap(x)\ndy/dt = 0", "lap() is the Laplacian of reaction–diffusion"),
])
def test_reaction_diffusion_refusals(text, words):
    kind = "ode" if text.startswith("dx") else "rd"
    err = check(text, kind)
    assert err is not None and words in str(err), err
    assert re.match(r"line \d+, col \d+: ", str(err))


@pytest.mark.parametrize("construct, words", [
    ("table f f.tab", "tables"), ("markov z 2", "Markov"), ("wiener w", "Wiener"),
    ("global 1 x {x=0}", "global"), ("z' = delay(x, 1)", "unknown function 'delay'"),
])
def test_xpp_constructs_outside_the_subset_are_refused_by_name(construct, words):
    text = f"x' = -x\ny' = x\n{construct}\ndone\n"
    with pytest.raises(EquationError) as info:
        parse_xpp(text)
    assert info.value.line == 3 and words in str(info.value)


def test_xpp_subset():
    spec = parse_xpp("""# FitzHugh-Nagumo
!eps2 = eps*2
f(v) = v - v^3/3
v' = f(v) - w + I \\
   + 0
w' = eps2/2*(v + a - b*w)
param I=0.5, a=.7 b=0.8
par eps=0.08
v(0)=-1
init w=1
number zz=3
aux speed = sqrt(v^2 + w^2)
@ total=100, dt=0.05, method=rk4, xp=v, yp=w, xlo=-2.5, xhi=2.5, ylo=-1, yhi=2
done
this line is after done and ignored
""")
    assert spec.variables == ("v", "w")
    assert [p.name for p in spec.params] == ["I", "a", "b", "eps"]
    assert spec.init == (-1.0, 1.0)
    assert spec.options == {"total": 100.0, "dt": 0.05, "method": "rk4", "xp": "v", "yp": "w",
                            "xlo": -2.5, "xhi": 2.5, "ylo": -1.0, "yhi": 2.0}
    assert [name for name, _ in spec.aux] == ["speed"]
    assert str(spec.rhs[1]) == "eps*2/2*(v + a - b*w)"


def test_helper_expansion_bombs_are_refused():
    doubling = ["f0(x) = x*x"] + [f"f{i}(x) = f{i - 1}(x)*f{i - 1}(x)" for i in range(1, 40)]
    aliases = ["a0 = x"] + [f"a{i} = a{i - 1}*a{i - 1}" for i in range(1, 60)]
    for lines, last in ((doubling, "f39(x)"), (aliases, "a59")):
        err = check("\n".join(lines + [f"dx/dt = {last}", "dy/dt = 0"]))
        # refused at the first helper that passes the limit, never expanded to 2^39 operations
        assert err is not None and "expands to more than 20000 operations" in str(err)


def test_xpp_names_are_case_insensitive_as_in_xppaut(tmp_path):
    """XPPAUT reads V and v as one name: a published file mixing them loads, runs, and keeps
    its comment (the title) as written."""
    import attractor_lab as al
    from attractor_lab.engine.storage.presets import load_preset

    path = tmp_path / "mixed.ode"
    path.write_text("# A Mixed-Case Oscillator\nV' = W\nw' = -v - A*W\npar A=0.1\nInit V=1\ndone\n")
    preset = load_preset(path)
    assert preset.title == "A Mixed-Case Oscillator"
    spec = parse_xpp(path.read_text())
    assert spec.variables == ("V", "W") and spec.init == (1.0, 0.0)  # as first spelled
    sim = al.create(preset.model, device="cpu", **preset.params)
    sim.step(5)
    assert np.isfinite(sim.observables()["var_V"])


def test_xpp_if_then_else_is_a_true_select_with_its_own_derivative():
    """if(c)then(a)else(b): the branch not taken may be infinite (1/x at x = 0) without
    spoiling the value, and the exact Jacobian is the taken branch's."""
    import torch

    from attractor_lab.engine.equations import torchgen
    from attractor_lab.engine.equations.tree import derivative

    spec = parse_xpp("x' = if(x>0)then(1/x)else(-x^2)\ny' = flr(y) + X\ndone\n")
    f = torchgen.vector_field(spec.variables, spec.rhs)
    x = torch.tensor([[0.0, 1.5], [2.0, -0.5], [-3.0, 0.0]], dtype=torch.float64)
    out = f(torch.tensor(0.0), x, {})
    assert torch.equal(out[:, 0], torch.tensor([-0.0, 0.5, -9.0], dtype=torch.float64))
    assert torch.equal(out[:, 1], torch.tensor([1.0, 1.0, -3.0], dtype=torch.float64))
    jac = torchgen.matrix_field(spec.variables, [[derivative(r, v) for v in spec.variables] for r in spec.rhs])
    j = jac(torch.tensor(0.0), x, {})
    assert torch.allclose(j[:, 0, 0], torch.tensor([0.0, -0.25, 6.0], dtype=torch.float64))  # -2x | -1/x²
    with pytest.raises(EquationError, match="line 1, col .*followed by then"):
        parse_xpp("x' = if(x>0)(1)\ny' = x\n")
