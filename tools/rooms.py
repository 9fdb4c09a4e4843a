"""The rooms of the package and the move of engine/'s root modules into them (re-runnable).

Two things live here:

* **The table** (``MOVES``, ``ROOT_ROOMS``, ``SUBPACKAGE_ROOMS``, ``LEVELS``,
  ``UPWARD_EXCEPTIONS``, :func:`room_of`): which room each module of the
  installed package belongs to and which rooms it may import. tests/test_layers.py
  reads it, before the move and after it alike (a module is placed by its old
  root name or by its new subpackage).
* **The tool** (``python tools/rooms.py``): ``git mv`` of each module of
  ``MOVES`` into its subpackage, each subpackage's ``__init__.py`` (a two-line
  docstring: what it holds, what it may import), and every reference rewritten
  across the repository: Python imports in all their forms (absolute, ``from
  attractor_lab.engine import presets``, relative ``from ..presets import``,
  ``from . import presets``), dotted module paths in code and strings
  (``monkeypatch``/``mock.patch`` targets, ``-m attractor_lab.engine.server``,
  entry points), ``engine/presets.py`` paths and ``engine.presets`` names in
  docs, comments, the Makefile and the PyInstaller spec.

It is idempotent (a second run changes nothing) and works on files it has never
seen: run it again after merging a branch written against the old paths.
``--check`` changes nothing and exits 1 when something is left to do.

    python tools/rooms.py            # move and rewrite (in a git checkout: git mv)
    python tools/rooms.py --check    # what would change; exit status 1 if anything
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

# ---- the table -----------------------------------------------------------------------------

#: engine/'s root modules that move, and the subpackage (room) each moves into
MOVES = {
    # transport: the engine process and whoever talks to it
    "protocol": "transport",  # wire format, signing, connection files
    "security": "transport",  # bind addresses, CURVE, connection-file ownership
    "heartbeat": "transport",  # is the engine alive
    "server": "transport",  # the engine process
    "server_jobs": "transport",  # its requests that answer later
    "server_requests": "transport",  # its requests that answer at once
    "memory": "transport",  # the server's memory budget for resets and loads
    "client": "transport",  # the blocking client
    "runtime": "transport",  # where running engines leave their connection files
    "remote": "transport",  # al.connect(): a Simulation whose model lives in an engine
    "server_analysis": "transport",  # its analyse request: analysis jobs, polled in pieces
    # storage: what is written to disk and read back
    "presets": "storage",  # preset files (TOML, .ode)
    "contracts": "storage",  # a preset's claims, checked headless
    "recorder": "storage",  # trajectory files
    "thumbnails": "storage",  # preset thumbnails, rendered
    "thumbnail_cache": "storage",  # where they are cached (no torch)
    # analysis: the analyses run in pieces (and their contract claims) beside the numerics
    "analysis_runs": "analysis",
}

#: modules that stay at engine/'s root, and their room
ROOT_ROOMS = {
    "__init__": "facade",  # version and lazy re-exports only
    "__main__": "entry",  # python -m attractor_lab.engine: starts a server
    "params": "core",
    "patterns": "core",
    "device": "core",
    "picture": "core",
    "files": "core",  # safe writes: every room writes files
    "arrays": "core",  # which arrays may travel or be stored: protocol and contracts
    "shipped": "core",  # where the shipped presets and checkpoints lie
    "analysis_spec": "core",  # an [analysis] table checked (no torch: the window reads it too)
    "contours": "core",  # marching squares: the nullclines models draw and analysis builds on
    "api": "api",  # create(), Simulation: the scripting API
    "notebook": "api",  # what local and remote Simulations share
}

#: engine/'s subpackages (existing and new), and their room
SUBPACKAGE_ROOMS = {
    "equations": "equations",
    "theory": "theory",
    "models": "models",
    "analysis": "analysis",
    "storage": "storage",
    "transport": "transport",
    "sweep": "sweep",
}

#: rooms from the lowest up: a module may import its own room and the rooms of lower levels,
#: never a room of its own level or above. ``facade`` (attractor_lab/__init__.py and
#: engine/__init__.py: a version string and lazy re-exports) is outside the order.
LEVELS = [
    ("core", "widgets"),
    ("equations", "theory"),
    ("models",),
    ("api",),
    ("analysis",),
    ("storage",),
    ("transport", "sweep"),
    ("app",),
    ("entry",),  # python -m attractor_lab (the CLI) and python -m attractor_lab.engine (a server)
]

#: imports that run upward on purpose: (importing module, imported room) -> why
UPWARD_EXCEPTIONS = {
    ("attractor_lab.engine.analysis.fields", "storage"):
        "vector_field('name') also takes a preset name (a user-facing convenience; imported in the "
        "function, so analysis still loads without storage)",
}

#: each subpackage's __init__.py: what it holds (line 1), what it may import (line 2)
DOCSTRINGS = {
    "transport": (
        "The engine process and its clients: protocol, signing, heartbeat, server, memory budget, clients.",
        "May import engine's root modules, models, analysis, storage; never sweep, app, widgets or Qt.",
    ),
    "storage": (
        "What is stored: presets and their contracts, trajectory recordings, preset thumbnails.",
        "May import engine's root modules, equations, theory, models, analysis; never transport or Qt.",
    ),
}


def level_of(room: str) -> int | None:
    for i, rooms in enumerate(LEVELS):
        if room in rooms:
            return i
    return None


def room_of(module: str) -> str | None:
    """The room of a dotted module of the installed package, before or after the move; None if
    the table does not place it (a new root module of engine/ must be declared above)."""
    parts = module.split(".")
    if parts[0] != "attractor_lab":
        return None
    if len(parts) == 1:
        return "facade"
    if parts[1] in ("app", "widgets"):
        return parts[1]
    if parts[1] == "__main__":  # python -m attractor_lab
        return "entry"
    if parts[1] != "engine":
        return None
    if len(parts) == 2:
        return "facade"
    name = parts[2]
    if name in MOVES:
        return MOVES[name]
    if name in SUBPACKAGE_ROOMS:
        return SUBPACKAGE_ROOMS[name]
    return ROOT_ROOMS.get(name)


# ---- the tool ------------------------------------------------------------------------------

PKG = "attractor_lab.engine"
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".spec", ".sh", ".yml", ".yaml",
                 ".in", ".json", ".ode", ".xml", ".desktop", ".html"}
TEXT_NAMES = {"Makefile", "MANIFEST.in", "Dockerfile"}
SELF = Path(__file__).resolve()
_NAMES = "|".join(sorted(MOVES, key=len, reverse=True))
#: attractor_lab.engine.presets (code, strings, docs): dotted, in any file
_DOTTED = re.compile(rf"(?<![\w.])attractor_lab\.engine\.({_NAMES})(?![\w])")
#: attractor_lab/engine/presets.py (installed layout)
_PKG_PATH = re.compile(rf"(?<![\w.-])attractor_lab/engine/({_NAMES})\.py(?![\w])")
#: engine/presets.py (repository layout): docs, comments, strings
_PATH = re.compile(rf"(?<![\w.-])engine/({_NAMES})\.py(?![\w])")
#: engine.presets (short dotted name in docstrings, comments and Markdown)
_SHORT = re.compile(rf"(?<![\w.])engine\.({_NAMES})(?![\w])")
#: "engine" / "presets.py" (a path built in code)
_JOINED = re.compile(rf"""(["'])engine\1(\s*[/,]\s*)(["'])({_NAMES})\.py\3""")
#: from attractor_lab.engine import presets (one name, in Markdown or any text)
_FROM_ONE = re.compile(rf"\bfrom attractor_lab\.engine import ({_NAMES})(?=[ \t]*(?:#|$|\n|`|\s+as\s))", re.M)


def _dest(name: str) -> str:
    return f"{PKG}.{MOVES[name]}.{name}"


def new_module(module: str) -> str:
    """The dotted module path after the move (unchanged when it does not move)."""
    m = re.match(rf"attractor_lab\.engine\.({_NAMES})(\..*)?$", module)
    return f"{_dest(m.group(1))}{m.group(2) or ''}" if m else module


def rewrite_text(text: str, python: bool) -> str:
    text = _DOTTED.sub(lambda m: _dest(m.group(1)), text)
    text = _PKG_PATH.sub(lambda m: f"attractor_lab/engine/{MOVES[m.group(1)]}/{m.group(1)}.py", text)
    text = _JOINED.sub(lambda m: f"{m[1]}engine{m[1]}{m[2]}{m[3]}{MOVES[m[4]]}{m[3]}{m[2]}{m[3]}{m[4]}.py{m[3]}",
                       text)
    if python:  # the short forms only where they are prose: strings and comments
        text = _in_prose(text, lambda s: _PATH.sub(_path_sub, _SHORT.sub(_short_sub, s)))
        return _LONG_FROM.sub(_wrap_from, text)
    text = _FROM_ONE.sub(lambda m: f"from {PKG}.{MOVES[m.group(1)]} import {m.group(1)}", text)
    return _SHORT.sub(_short_sub, _PATH.sub(_path_sub, text))


#: a one-line import from a moved module's new place (wrapped when the longer path makes it too long)
_LONG_FROM = re.compile(rf"^([ \t]*)from (attractor_lab\.engine\.(?:{'|'.join(sorted(set(MOVES.values())))})\.\w+) "
                        r"import ([\w ,]+?)[ \t]*$", re.M)
MAX_LINE = 120


def _wrap_from(m):
    if len(m.group(0)) <= MAX_LINE:
        return m.group(0)
    names = [n.strip() for n in m.group(3).split(",") if n.strip()]
    return _format_from(m.group(2), names, m.group(1)) if len(names) > 1 else m.group(0)


def _path_sub(m):
    return f"engine/{MOVES[m.group(1)]}/{m.group(1)}.py"


def _short_sub(m):
    return f"engine.{MOVES[m.group(1)]}.{m.group(1)}"


def _in_prose(source: str, fix) -> str:
    """Apply ``fix`` to the string and comment tokens of Python ``source`` only."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    edits = []
    for tok in tokens:
        if tok.type in (tokenize.STRING, tokenize.COMMENT) or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            new = fix(tok.string)
            if new != tok.string:
                a = starts[tok.start[0] - 1] + tok.start[1]
                b = starts[tok.end[0] - 1] + tok.end[1]
                if source[a:b] == tok.string:
                    edits.append((a, b, new))
    for a, b, new in sorted(edits, reverse=True):
        source = source[:a] + new + source[b:]
    return source


def _module_of(rel: Path) -> tuple[str, bool] | None:
    """Dotted module of a repository file (engine/x.py -> attractor_lab.engine.x), and whether it
    is a package's __init__."""
    parts = list(rel.with_suffix("").parts)
    if not parts or parts[0] not in ("engine", "app", "widgets", "attractor_lab"):
        return None
    is_init = parts[-1] == "__init__"
    if is_init:
        parts = parts[:-1]
    base = [] if parts[0] == "attractor_lab" else ["attractor_lab"]
    return ".".join(base + parts), is_init


def _col(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _format_from(module: str, names: list[str], indent: str) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(indent) + len(line) <= MAX_LINE:
        return line
    inner = "".join(f"{indent}    {n},\n" for n in names)
    return f"from {module} import (\n{inner}{indent})"


def rewrite_imports(source: str, module: str | None, is_init: bool, moved_from: str | None) -> str:
    """Rewrite ``from`` imports that a text substitution cannot: names of moved modules imported
    from ``attractor_lab.engine`` (split off), and relative imports that reach a moved module or
    sit in a file that moved in this run (made absolute). ``moved_from``: the file's module before
    this run's move (its relative imports were written for that place)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    here = moved_from or module
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            if here is None:
                continue
            package = here.split(".") if is_init else here.split(".")[:-1]
            if node.level - 1 > len(package):
                continue
            base = package[: len(package) - (node.level - 1)]
            absolute = ".".join(base + ([node.module] if node.module else []))
        else:
            absolute = node.module or ""
        if not absolute.startswith("attractor_lab"):
            continue
        target = new_module(absolute)
        groups: dict[str, list[str]] = {}
        for alias in node.names:  # from attractor_lab.engine import presets, models: presets moves
            mod = f"{PKG}.{MOVES[alias.name]}" if absolute == PKG and alias.name in MOVES else target
            groups.setdefault(mod, []).append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
        if not node.level and list(groups) == [target]:
            continue  # nothing split off: a moved module path alone is left to the text pass
        if node.level and not moved_from and list(groups) == [absolute]:
            continue  # relative, in a file that stays, reaching nothing that moves
        start, end = node.lineno - 1, node.end_lineno - 1
        a = _col(lines[start], node.col_offset)
        b = _col(lines[end], node.end_col_offset)
        before = lines[start][:a]
        indent = before if not before.strip() else ""
        joiner = f"\n{indent}" if indent or not before.strip() else "; "
        text = joiner.join(_format_from(mod, names, indent) for mod, names in groups.items())
        edits.append((start, a, end, b, text))
    for start, a, end, b, text in sorted(edits, reverse=True):
        head, tail = lines[start][:a], lines[end][b:]
        lines[start:end + 1] = [head + text + tail]
    return "".join(lines)


def _files(root: Path, use_git: bool) -> list[Path]:
    if use_git:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                             capture_output=True).stdout.decode().split("\0")
        paths = [root / p for p in out if p]
    else:
        paths = [p for p in root.rglob("*") if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted({p for p in paths if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES)})


def init_text(room: str) -> str:
    what, may = DOCSTRINGS[room]
    return f'"""{what}\n\n{may}\n"""\n'


def run(root: Path, check: bool = False, use_git: bool | None = None) -> list[str]:
    """Move and rewrite under ``root``; return what changed (or would change, with ``check``)."""
    root = root.resolve()
    if use_git is None:
        use_git = (root / ".git").exists()
    changes: list[str] = []
    moved: dict[str, str] = {}  # new module -> old module (this run's moves)
    engine = root / "engine"
    for room in sorted(set(MOVES.values())):
        init = engine / room / "__init__.py"
        if not init.exists():
            changes.append(f"create {init.relative_to(root)}")
            if not check:
                init.parent.mkdir(exist_ok=True)
                init.write_text(init_text(room))
                if use_git:
                    subprocess.run(["git", "add", str(init)], cwd=root, check=True)
    for name, room in MOVES.items():
        src, dst = engine / f"{name}.py", engine / room / f"{name}.py"
        if src.exists() and dst.exists():
            raise SystemExit(f"both {src.relative_to(root)} and {dst.relative_to(root)} exist: merge them by hand")
        if src.exists():
            changes.append(f"move {src.relative_to(root)} -> {dst.relative_to(root)}")
            moved[f"{PKG}.{room}.{name}"] = f"{PKG}.{name}"
            if not check:
                if use_git:
                    subprocess.run(["git", "mv", str(src), str(dst)], cwd=root, check=True)
                else:
                    src.rename(dst)
    for path in _files(root, use_git):
        if path.resolve() == SELF:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if "\0" in text:
            continue
        rel = path.relative_to(root)
        python = path.suffix == ".py"
        new = text
        if python:
            info = _module_of(rel)
            module, is_init = info if info else (None, False)
            if check and module is not None:  # the move has not happened: look from the old place
                new = rewrite_imports(new, module, is_init, None)
            else:
                new = rewrite_imports(new, module, is_init, moved.get(module) if module else None)
        new = rewrite_text(new, python)
        if new != text:
            changes.append(f"rewrite {rel}")
            if not check:
                path.write_text(new, encoding="utf-8")
    return changes


def leftovers(root: Path) -> list[str]:
    """Code that names a moved module in a way no rule rewrites (attribute chains such as
    ``engine.presets.load_preset`` after ``from attractor_lab import engine``, module paths built
    from pieces): for a person to look at."""
    pattern = re.compile(rf"(?<![\w.])engine\.({_NAMES})\b|attractor_lab\.engine\.[\"']|\"attractor_lab\.engine\.\" *\+")
    found = []
    for path in _files(root, (root / ".git").exists()):
        if path.suffix != ".py" or path.resolve() == SELF:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        code = _in_prose(text, lambda s: " " * len(s) if "\n" not in s else "\n" * s.count("\n"))
        for i, line in enumerate(code.splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=SELF.parent.parent, help="repository root (default: this one)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    parser.add_argument("--no-git", action="store_true", help="plain renames and a walk of the tree instead of git")
    args = parser.parse_args(argv)
    changes = run(args.root, check=args.check, use_git=False if args.no_git else None)
    for line in changes:
        print(line)
    for line in leftovers(args.root):
        print(f"look at: {line}", file=sys.stderr)
    print(f"{len(changes)} change{'s' * (len(changes) != 1)}{' to make' if args.check else ''}", file=sys.stderr)
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
