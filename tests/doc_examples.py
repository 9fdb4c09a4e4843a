"""The code examples of README.md and docs/: found, and run, so that they cannot go stale.

Every fenced block must name its language. ``python`` blocks run in one namespace per page, in
order (a page reads like a notebook: a later block may use an earlier block's names); ``sh``
blocks run with bash (``-e``, ``pipefail``) with ``attractor-lab`` on ``PATH`` (a block of
nothing but ``attractor-lab`` commands other than ``sweep`` runs them in this process, through
``attractor_lab.app.cli.main``: the same code, without importing torch once a line). Both run in a
temporary folder per page that holds a link to the repository's ``presets/``, so the files an
example writes (``t.npz``) stay there and a later block of the page can read them. Other
languages (``text``, ``toml``, ``json``) are shown, not run.

An HTML comment right before a block (invisible on the site and on GitHub) adjusts how it runs;
one directive a line::

    <!-- doc-test
    skip: opens the window                 (never run: counted and reported, with its reason)
    replace: sim.step(1000) => sim.step(50)    (run on reduced sizes; OLD must occur in the block)
    setup: import numpy as np              (Python run before the block, not shown)
    file: vdp.txt                          (a file in the page's folder: the indented lines below)
        dx/dt = y
    raises: ValueError                     (the block must raise this; the page goes on after it)
    slow                                   (marked slow: a long example, still run by `make test`)
    -->

Lines indented by four spaces continue the directive above them (``file:``, ``setup:``).
tests/test_doc_examples.py runs one test per block; a block that fails, a directive that does
not apply (``replace`` of text the block lacks) and an unknown directive fail it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
SHOWN = {"text", "toml", "json", "ini", "yaml", "console", "output", "diff"}
DIRECTIVES = ("skip", "replace", "setup", "file", "raises", "slow")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_COMMENT = re.compile(r"<!--\s*doc-test\b(?P<body>.*?)-->", re.S)


class DocExampleError(Exception):
    """A block that failed, or a directive that does not fit its block."""


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str  # the info string's first word ('' when none)
    code: str
    skip: str | None = None
    replace: list[tuple[str, str]] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    raises: str | None = None
    slow: bool = False
    errors: list[str] = field(default_factory=list)  # directives that do not parse

    @property
    def kind(self) -> str | None:
        """'python', 'sh', or None for a block that is shown, not run."""
        return RUN.get(self.lang)

    @property
    def where(self) -> str:
        try:
            return f"{self.path.relative_to(ROOT)}:{self.line}"
        except ValueError:
            return f"{self.path}:{self.line}"

    def source(self) -> str:
        """The code as run: with the replacements applied."""
        code = self.code
        for old, new in self.replace:
            if old not in code:
                raise DocExampleError(f"{self.where}: 'replace: {old} => …' does not occur in the block")
            code = code.replace(old, new)
        return code


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md, every page under docs/ (not docs/incoming/, drafts the integrator folds in) and
    benchmarks/README.md (the site includes it)."""
    pages = sorted(p for p in (root / "docs").rglob("*.md") if "incoming" not in p.relative_to(root / "docs").parts)
    return [root / "README.md", *pages, root / "benchmarks" / "README.md"]


def _directives(body: str, block: Block) -> None:
    current: tuple[str, str] | None = None  # ("file", name) or ("setup", "") collecting indented lines
    for raw in body.splitlines():
        if not raw.strip():
            continue
        if raw.startswith("    ") and current is not None:
            kind, name = current
            if kind == "file":
                block.files[name] += raw[4:] + "\n"
            else:
                block.setup.append(raw[4:])
            continue
        current = None
        key, _, value = raw.strip().partition(":")
        key, value = key.strip(), value.strip()
        if key == "slow" and not value:
            block.slow = True
        elif key == "skip" and value:
            block.skip = value
        elif key == "replace" and "=>" in value:
            old, new = (s.strip() for s in value.split("=>", 1))
            block.replace.append((old, new))
        elif key == "setup":
            if value:
                block.setup.append(value)
            current = ("setup", "")
        elif key == "file" and value:
            block.files[value] = ""
            current = ("file", value)
        elif key == "raises" and value:
            block.raises = value
        else:
            block.errors.append(f"{block.where}: doc-test directive {raw.strip()!r} not understood "
                                f"(known: {', '.join(DIRECTIVES)}; skip needs a reason, replace 'OLD => NEW')")


def parse(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the directives of the comment before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i, last_end = 0, 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        j = i + 1
        while j < len(lines):
            closing = lines[j].strip()
            if len(closing) >= len(fence) and set(closing) == {fence[0]}:
                break
            j += 1
        if j >= len(lines):
            raise DocExampleError(f"{path}:{i + 1}: code block never closed")
        body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1:j]]
        block = Block(path, i + 1, m.group("info").strip().split(" ")[0].strip("{}."), "\n".join(body) + "\n")
        before = "\n".join(lines[last_end:i])
        comments = list(_COMMENT.finditer(before))
        if comments and not before[comments[-1].end():].strip():  # only blank lines between comment and fence
            _directives(comments[-1].group("body"), block)
        blocks.append(block)
        i = last_end = j + 1
    return blocks


# ---- running --------------------------------------------------------------------------------------

@dataclass
class Page:
    """The state shared by the blocks of one page: its folder, its Python namespace, how far it ran."""

    path: Path
    folder: Path
    namespace: dict = field(default_factory=dict)
    done: int = 0  # blocks run (or passed over) so far
    failed: str | None = None


def new_page(path: Path, folder: Path) -> Page:
    folder.mkdir(parents=True, exist_ok=True)
    presets = folder / "presets"
    if not presets.exists():
        presets.symlink_to(ROOT / "presets", target_is_directory=True)
    bin_dir = folder / ".bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "attractor-lab"
    tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m attractor_lab "$@"\n')
    tool.chmod(0o755)
    return Page(path, folder, {"__name__": "__doc_example__"})


def _run_python(block: Block, code: str, page: Page) -> None:
    old = os.getcwd()
    os.chdir(page.folder)
    try:
        for line in block.setup:
            exec(compile(line, f"{block.where} (setup)", "exec"), page.namespace)
        # padded so that a traceback names the page's own line numbers
        exec(compile("\n" * block.line + code, str(block.path), "exec"), page.namespace)
    finally:
        os.chdir(old)


#: subcommands run in the test's own process when a block holds only attractor-lab commands (torch
#: is imported once, not once a line); `sweep` starts Dask clusters and always runs in a shell
IN_PROCESS = {"presets", "models", "run", "movie", "analyse", "--version", "thumbnails"}


def _commands(code: str) -> list[tuple[list[str], str | None]] | None:
    """The block as (attractor-lab arguments, stdout file) per command, or None when it holds
    anything else (pipes, other programs, variables): then bash runs it."""
    import shlex

    out = []
    for line in code.replace("\\\n", " ").splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            return None
        if not words:
            continue
        target = None
        if len(words) >= 2 and words[-2] == ">":
            words, target = words[:-2], words[-1]
        if words[0] != "attractor-lab" or len(words) < 2 or words[1] not in IN_PROCESS or \
                any(c in line.split("#")[0] for c in "|&;$`<()") or any(w.startswith(">") for w in words):
            return None
        out.append((words[1:], target))
    return out or None


def _run_in_process(block: Block, commands, page: Page) -> None:
    import contextlib
    import io

    from attractor_lab.app.cli import main

    old = os.getcwd()
    os.chdir(page.folder)
    try:
        for args, target in commands:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if target is not None:
                Path(target).write_text(out.getvalue())
            if code:
                tail = "\n".join((out.getvalue() + err.getvalue()).strip().splitlines()[-25:])
                raise DocExampleError(f"{block.where}: `attractor-lab {' '.join(args)}` exited with {code}:\n"
                                      f"{textwrap.indent(tail, '    ')}")
    finally:
        os.chdir(old)


def _run_sh(block: Block, code: str, page: Page, timeout: float) -> None:
    commands = None if block.setup else _commands(code)
    if commands is not None:
        return _run_in_process(block, commands, page)
    env = dict(os.environ)
    env["PATH"] = f"{page.folder / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    bash = shutil.which("bash") or "/bin/bash"
    setup = "\n".join(block.setup)
    script = f"set -eo pipefail\n{setup}\n{code}"
    try:
        r = subprocess.run([bash, "-c", script], cwd=page.folder, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DocExampleError(f"{block.where}: the shell block ran over {timeout:.0f} s") from None
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-25:])
        raise DocExampleError(f"{block.where}: the shell block exited with {r.returncode}:\n{textwrap.indent(tail, '    ')}")


def run_block(block: Block, page: Page, timeout: float = 280.0) -> None:
    """Run one block in its page's folder and namespace; DocExampleError says what went wrong."""
    if block.errors:
        raise DocExampleError("\n".join(block.errors))
    code = block.source()
    for name, content in block.files.items():
        (page.folder / name).write_text(content)
    try:
        if block.kind == "python":
            _run_python(block, code, page)
        else:
            _run_sh(block, code, page, timeout)
    except DocExampleError:
        if block.raises:
            raise DocExampleError(f"{block.where}: expected {block.raises}, but the block failed otherwise") from None
        raise
    except BaseException as exc:  # the example's own error: report it with the page's line numbers
        if isinstance(exc, KeyboardInterrupt):
            raise
        if block.raises and type(exc).__name__ == block.raises:
            return
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        raise DocExampleError(f"{block.where}: the example raised {type(exc).__name__}: {exc}\n{tb}") from None
    if block.raises:
        raise DocExampleError(f"{block.where}: expected the block to raise {block.raises}; it did not")


def run_page_upto(page: Page, blocks: list[Block], index: int) -> None:
    """Run the runnable, unskipped blocks of a page before ``index`` that have not run yet (a
    later block may use their names and files), then block ``index``."""
    while page.done < index:
        b = blocks[page.done]
        page.done += 1
        if b.kind is None or b.skip:
            continue
        if page.failed:
            break
        try:
            run_block(b, page)
        except DocExampleError as exc:
            page.failed = f"{b.where} failed"
            raise DocExampleError(f"an earlier block of the page failed, so this one cannot run:\n{exc}") from None
    if page.failed:
        raise DocExampleError(f"an earlier block of the page failed ({page.failed}), so this one cannot run")
    page.done = index + 1
    try:
        run_block(blocks[index], page)
    except DocExampleError:
        page.failed = f"{blocks[index].where} failed"
        raise
