"""Every Python and shell example of README.md and docs/ runs (tests/doc_examples.py says how, and
how a page marks a block to skip, to run on reduced sizes, or to raise)."""

from __future__ import annotations

import pytest

from tests.doc_examples import ROOT, SHOWN, DocExampleError, doc_files, new_page, parse, run_page_upto

FILES = doc_files()
BLOCKS = {path: parse(path) for path in FILES}


def _params():
    out = []
    for path, blocks in BLOCKS.items():
        for i, b in enumerate(blocks):
            if b.kind is None:
                continue
            marks = [pytest.mark.slow] if b.slow else []
            out.append(pytest.param(path, i, id=f"{path.relative_to(ROOT)}:{b.line}", marks=marks))
    return out


_PAGES: dict = {}


@pytest.fixture(scope="module")
def pages_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("doc_pages")


@pytest.mark.parametrize("path, index", _params())
def test_example_runs(path, index, pages_folder):
    block = BLOCKS[path][index]
    if block.skip:
        pytest.skip(f"{block.where}: marked skip: {block.skip}")
    page = _PAGES.get(path)
    if page is None:
        page = _PAGES[path] = new_page(path, pages_folder / str(path.relative_to(ROOT)).replace("/", "__"))
    try:
        run_page_upto(page, BLOCKS[path], index)
    except DocExampleError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_every_block_names_a_known_language_and_every_directive_parses():
    problems = []
    for path, blocks in BLOCKS.items():
        for b in blocks:
            if b.kind is None and b.lang not in SHOWN:
                problems.append(f"{b.where}: code block language {b.lang!r}: name it (python and sh run; "
                                f"{', '.join(sorted(SHOWN))} are shown only)")
            if b.kind is None and (b.skip or b.replace or b.setup or b.files or b.raises):
                problems.append(f"{b.where}: doc-test directives on a block that does not run")
            problems += b.errors
    assert not problems, "\n".join(problems)


def test_the_inventory_of_examples(capsys):
    """How many examples run and how many are skipped, and why (printed with -s; a skip always
    has a reason, and the skipped ones stay a minority)."""
    runnable = [b for blocks in BLOCKS.values() for b in blocks if b.kind is not None]
    skipped = [b for b in runnable if b.skip]
    with capsys.disabled():
        print(f"\ndoc examples: {len(runnable)} runnable blocks in {len(FILES)} files, "
              f"{len(runnable) - len(skipped)} run, {len(skipped)} skipped:")
        for b in skipped:
            print(f"  skip {b.where}: {b.skip}")
    assert all(b.skip.strip() for b in skipped)
    assert len(skipped) * 2 < len(runnable), "most examples must run"
    assert any(p.name == "README.md" for p in FILES) and len(FILES) > 10


# ---- the collector itself: a broken example must fail it -------------------------------------------

def _page(tmp_path, text):
    md = tmp_path / "page.md"
    md.write_text(text)
    return md, parse(md), new_page(md, tmp_path / "run")


def test_a_broken_python_example_fails(tmp_path):
    md, blocks, page = _page(tmp_path, "Intro\n\n```python\nimport math\nx = math.sqrt(4)\n```\n\n"
                                       "```python\nassert x == 3, 'x is ' + str(x)\n```\n")
    run_page_upto(page, blocks, 0)
    with pytest.raises(DocExampleError, match=r"page.md:8: the example raised AssertionError: x is 2.0(.|\n)*page.md\", line 9"):
        run_page_upto(page, blocks, 1)


def test_a_broken_shell_example_fails_and_names_the_output(tmp_path):
    md, blocks, page = _page(tmp_path, "```sh\nattractor-lab --version\nattractor-lab no-such-preset\n```\n")
    with pytest.raises(DocExampleError, match=r"page.md:1: the shell block exited with 2(.|\n)*no-such-preset"):
        run_page_upto(page, blocks, 0)


def test_a_broken_command_run_in_process_fails(tmp_path):
    md, blocks, page = _page(tmp_path, "```sh\nattractor-lab models --json > models.json\n"
                                       "attractor-lab run no_such_preset --steps 1 --out t.npz   # a typo\n```\n")
    with pytest.raises(DocExampleError, match=r"`attractor-lab run no_such_preset --steps 1 --out t.npz` exited with"):
        run_page_upto(page, blocks, 0)
    assert (page.folder / "models.json").read_text().lstrip().startswith(("{", "["))


def test_directives_reduce_skip_set_up_and_expect_errors(tmp_path):
    md, blocks, page = _page(tmp_path, """
<!-- doc-test
replace: n = 10**9 => n = 3
setup: import json
file: data.txt
    hello
-->

```python
n = 10**9
text = open("data.txt").read().strip()
json.dumps(text)
```

<!-- doc-test
raises: ValueError
-->
```python
int("x")
```

<!-- doc-test
skip: opens a window
-->
```sh
make run
```

```python
assert (n, text) == (3, "hello")
```
""")
    assert [b.kind for b in blocks] == ["python", "python", "sh", "python"]
    assert blocks[2].skip == "opens a window"
    run_page_upto(page, blocks, 3)  # runs 0, 1 (expected to raise), passes over the skipped 2, then 3
    assert page.namespace["n"] == 3


def test_a_directive_that_does_not_apply_fails(tmp_path):
    md, blocks, page = _page(tmp_path, "<!-- doc-test\nreplace: nothing => here\n-->\n```python\nx = 1\n```\n"
                                       "<!-- doc-test\nraises: ValueError\n-->\n```python\ny = 2\n```\n"
                                       "<!-- doc-test\nsikp: typo\n-->\n```python\nz = 3\n```\n")
    with pytest.raises(DocExampleError, match="does not occur in the block"):
        run_page_upto(page, blocks, 0)
    with pytest.raises(DocExampleError, match="expected the block to raise ValueError"):
        run_page_upto(new_page(md, tmp_path / "run2"), blocks[1:], 0)
    assert blocks[2].errors and "not understood" in blocks[2].errors[0]
