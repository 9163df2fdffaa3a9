"""Every stored notebook is clean: executed in order, error-free, navigable.

Static checks only (nbformat, no kernels), so this runs in well under a second.
nbval (see pyproject.toml) re-executes the notebooks and compares outputs; these
checks catch what nbval cannot see, or explain it better. The conventions are
written down in the README ("Notebook conventions"); each failure message names
the notebook, the cell and the rule.

Fix a failure by editing the notebook, then regenerating it with
``python tools/run_notebooks.py NN`` (never by saving from JupyterLab).
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
INDEX = "00_index.ipynb"

# Tags that nbval / nbclient understand. A tag that looks like one of these but
# is misspelt would be silently ignored, so such tags are rejected.
KNOWN_TEST_TAGS = {
    "nbval-ignore-output",  # nbval: run the cell, do not compare its outputs
    "nbval-check-output",  # nbval: compare outputs (the default in strict mode)
    "nbval-skip",  # nbval: do not run the cell at all
    "raises-exception",  # nbval + nbclient: the cell must raise
    "skip-execution",  # nbclient (tools/run_notebooks.py): do not run the cell
}
TEST_TAG_LOOKALIKE = re.compile(r"nbval|raise|skip|exception|ignore", re.IGNORECASE)

ADDRESS = re.compile(r"0x[0-9a-f]{6,}", re.IGNORECASE)
LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=[\"']([^\"']+)[\"']")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
GOALS_WITHIN = 3  # the "Learning goals" heading is in one of the first 3 cells
SUMMARY_WITHIN = 4  # the "Summary" heading is in one of the last 4 cells


def _load(path: Path):
    return nbformat.read(path, as_version=4)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _number(path: Path) -> int:
    return int(path.name[:2])


def _code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _output_texts(output):
    """Every piece of text in an output, as strings."""
    def join(value):
        return "".join(value) if isinstance(value, list) else str(value)

    if "text" in output:
        yield join(output["text"])
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            yield join(value) if not isinstance(value, dict) else str(value)
    if "evalue" in output:
        yield str(output["evalue"])
    for line in output.get("traceback", []):
        yield line


def _link_targets(source: str) -> list[str]:
    targets = []
    for md, html in LINK_TARGET.findall(source):
        target = (md or html).split("#", 1)[0]
        if target:
            targets.append(target)
    return targets


def _notebook_links(source: str) -> set[str]:
    """Relative links to notebooks, as file names (anchors dropped)."""
    return {
        t for t in _link_targets(source)
        if t.endswith(".ipynb") and "://" not in t and not t.startswith("/")
    }


def _headings(cell) -> list[str]:
    if cell.cell_type != "markdown":
        return []
    return [h.strip().lower() for h in HEADING.findall(cell.source)]


# --------------------------------------------------------------------- checks
# Each check takes (path, nb) and returns a list of problems (empty = clean).


def check_format(path, nb):
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return [f"not a valid nbformat 4 notebook: {exc.message}"]
    return []


def check_kernel_metadata(path, nb):
    problems = []
    name = nb.metadata.get("kernelspec", {}).get("name")
    if name != "python3":
        problems.append(f"metadata.kernelspec.name is {name!r}, expected 'python3'")
    language = nb.metadata.get("language_info", {}).get("name")
    if language != "python":
        problems.append(f"metadata.language_info.name is {language!r}, expected 'python'")
    if "widgets" in nb.metadata:
        problems.append("metadata.widgets (stored widget state) present")
    return problems


def check_executed_in_order(path, nb):
    problems = []
    expected = 1
    for index, cell in _code_cells(nb):
        tags = _tags(cell)
        if not cell.source.strip():
            problems.append(f"cell {index}: empty code cell")
            continue
        if "skip-execution" in tags:
            if cell.execution_count is not None or cell.outputs:
                problems.append(f"cell {index}: tagged skip-execution but has been executed")
            if "nbval-skip" not in tags:
                problems.append(
                    f"cell {index}: tagged skip-execution without nbval-skip "
                    "(nbval would run it)"
                )
            continue
        if cell.execution_count is None:
            problems.append(f"cell {index}: not executed (tag it skip-execution + nbval-skip if intended)")
        elif cell.execution_count != expected:
            problems.append(
                f"cell {index}: execution_count {cell.execution_count}, expected {expected} "
                "(cells must be executed once, top to bottom)"
            )
        expected = (cell.execution_count or expected) + 1
        for output in cell.outputs:
            count = output.get("execution_count")
            if output.get("output_type") == "execute_result" and count != cell.execution_count:
                problems.append(f"cell {index}: output execution_count {count} != cell's")
    return problems


def check_errors(path, nb):
    problems = []
    for index, cell in _code_cells(nb):
        has_error = any(o.get("output_type") == "error" for o in cell.outputs)
        expects_error = "raises-exception" in _tags(cell)
        if has_error and not expects_error:
            ename = next(o.get("ename") for o in cell.outputs if o.get("output_type") == "error")
            problems.append(f"cell {index}: stored error output ({ename}) but not tagged raises-exception")
        if expects_error and not has_error and cell.execution_count is not None:
            problems.append(f"cell {index}: tagged raises-exception but has no error output")
    return problems


def check_tags(path, nb):
    problems = []
    for index, cell in enumerate(nb.cells):
        for tag in _tags(cell):
            if TEST_TAG_LOOKALIKE.search(tag) and tag not in KNOWN_TEST_TAGS:
                problems.append(
                    f"cell {index}: unknown tag {tag!r} (known: {', '.join(sorted(KNOWN_TEST_TAGS))})"
                )
    return problems


def check_output_text(path, nb):
    problems = []
    roots = {str(ROOT), str(ROOT.resolve())}
    for index, cell in _code_cells(nb):
        for output in cell.outputs:
            for text in _output_texts(output):
                if "/tmp/" in text:
                    problems.append(f"cell {index}: output contains a /tmp/ path")
                match = ADDRESS.search(text)
                if match:
                    problems.append(
                        f"cell {index}: output contains a memory address ({match.group()}); "
                        "end the cell with plt.show() or assign the result (_ = ...)"
                    )
                if any(r in text for r in roots):
                    problems.append(
                        f"cell {index}: output contains this checkout's absolute path "
                        "(regenerate with tools/run_notebooks.py)"
                    )
    return sorted(set(problems))


def check_no_trailing_semicolon(path, nb):
    """nbval ignores a trailing ';', so the stored and the tested outputs differ."""
    problems = []
    for index, cell in _code_cells(nb):
        lines = [l for l in cell.source.rstrip().splitlines() if l.strip() and not l.strip().startswith("#")]
        if lines and lines[-1].rstrip().endswith(";"):
            problems.append(
                f"cell {index}: last line ends with ';' (nbval ignores it): "
                "use plt.show() or _ = ... instead"
            )
    return problems


def check_matplotlib_inline(path, nb):
    code = _code_cells(nb)
    if not code:
        return ["no code cells"]
    index, first = code[0]
    if "%matplotlib inline" not in first.source:
        return [f"first code cell (cell {index}) does not contain '%matplotlib inline'"]
    return []


def check_learning_goals(path, nb):
    first_code = next((i for i, c in _code_cells(nb)), len(nb.cells))
    for index, cell in enumerate(nb.cells[: min(GOALS_WITHIN, first_code)]):
        if any(h.startswith("learning goals") for h in _headings(cell)):
            return []
    return [
        f"no '## Learning goals' heading in the first {GOALS_WITHIN} cells "
        "(before the first code cell)"
    ]


def check_summary(path, nb):
    start = max(0, len(nb.cells) - SUMMARY_WITHIN)
    for cell in nb.cells[start:]:
        if any(h.startswith("summary") for h in _headings(cell)):
            return []
    return [f"no '## Summary' heading in the last {SUMMARY_WITHIN} cells"]


def check_questions(path, nb):
    """01+: the closing cells ask 2-4 questions, each answer hidden in a <details> block."""
    if path.name == INDEX:
        return []
    closing = "\n".join(c.source for c in nb.cells[-SUMMARY_WITHIN:] if c.cell_type == "markdown")
    opened, closed = closing.count("<details>"), closing.count("</details>")
    if not 2 <= opened <= 4 or opened != closed:
        return [f"the last {SUMMARY_WITHIN} cells hold {opened} <details> answer blocks "
                f"({closed} closed); expected 2-4 questions, each with its answer in <details>...</details>"]
    return []


def check_navigation(path, nb):
    """01+: first and last cell are markdown with links to previous, index, next."""
    if path.name == INDEX:
        return []
    problems = []
    names = sorted({p.name for p in NOTEBOOKS} | {path.name})
    position = names.index(path.name)
    previous = names[position - 1] if position > 0 else None
    following = names[position + 1] if position + 1 < len(names) else None
    required = {INDEX}
    if previous:
        required.add(previous)
    if following:
        required.add(following)
    for where, cell in (("first", nb.cells[0]), ("last", nb.cells[-1])) if nb.cells else ():
        if cell.cell_type != "markdown":
            problems.append(f"{where} cell is not a markdown navigation cell")
            continue
        missing = required - _notebook_links(cell.source)
        if missing:
            problems.append(f"{where} cell lacks navigation links to {', '.join(sorted(missing))}")
    if not nb.cells:
        problems.append("notebook has no cells")
    return problems


def check_link_targets(path, nb):
    """Relative links in markdown point at files that exist (00 may link ahead)."""
    if path.name == INDEX:
        return []
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for target in _link_targets(cell.source):
            if "://" in target or target.startswith(("mailto:", "/", "data:")):
                continue
            if not (path.parent / target).exists():
                problems.append(f"cell {index}: link target {target!r} does not exist")
    return problems


SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
CODE_COLUMNS = 88  # a deck's 1280-pixel slide shows 88 columns of code (tools/build_slides.py)
READING_TIME = re.compile(r"about \*\*\d+ minutes\*\*", re.IGNORECASE)


def check_slide_metadata(path, nb):
    """Every cell has a slide type nbconvert knows, and the first cell opens a slide."""
    problems = []
    for index, cell in enumerate(nb.cells):
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if kind not in SLIDE_TYPES:
            problems.append(f"cell {index}: slideshow.slide_type is {kind!r}, expected one of {sorted(SLIDE_TYPES)}")
    if nb.cells and nb.cells[0].get("metadata", {}).get("slideshow", {}).get("slide_type") != "slide":
        problems.append("cell 0: the first cell must be a 'slide' (the deck's title slide)")
    return problems


def check_reading_time(path, nb):
    """01+: the opening cells say how long the notebook takes ("about **25 minutes**")."""
    if path.name == INDEX:
        return []
    opening = "\n".join(c.source for c in nb.cells[:GOALS_WITHIN] if c.cell_type == "markdown")
    if not READING_TIME.search(opening):
        return [f"the first {GOALS_WITHIN} cells do not say how long the notebook takes "
                f"(expected e.g. 'about **25 minutes**')"]
    return []


def check_code_width(path, nb):
    """Code shown on a slide fits it: no line longer than CODE_COLUMNS characters."""
    problems = []
    for index, cell in _code_cells(nb):
        if cell.get("metadata", {}).get("slideshow", {}).get("slide_type") == "skip":
            continue
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if len(line) > CODE_COLUMNS:
                problems.append(f"cell {index} line {number}: {len(line)} characters, "
                                f"at most {CODE_COLUMNS} fit on a slide: {line[:40]!r}...")
    return problems


CHECKS = [
    check_format,
    check_kernel_metadata,
    check_executed_in_order,
    check_errors,
    check_tags,
    check_output_text,
    check_no_trailing_semicolon,
    check_matplotlib_inline,
    check_learning_goals,
    check_summary,
    check_questions,
    check_navigation,
    check_link_targets,
    check_slide_metadata,
    check_reading_time,
    check_code_width,
]

_CACHE: dict[Path, object] = {}


def _notebook(path):
    if path not in _CACHE:
        _CACHE[path] = _load(path)
    return _CACHE[path]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path, check):
    problems = check(path, _notebook(path))
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_index_exists_and_notebooks_are_numbered_uniquely():
    assert (NOTEBOOK_DIR / INDEX).exists(), f"notebooks/{INDEX} is missing"
    numbers = [_number(p) for p in NOTEBOOKS]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not duplicates, f"two notebooks share the number(s) {duplicates}"


def _index_links() -> set[str]:
    nb = _notebook(NOTEBOOK_DIR / INDEX)
    links: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            links |= _notebook_links(cell.source)
    return links


@pytest.mark.skipif(not (NOTEBOOK_DIR / INDEX).exists(), reason="no index")
def test_index_links_every_notebook():
    missing = sorted(p.name for p in NOTEBOOKS if p.name != INDEX and p.name not in _index_links())
    assert not missing, f"{INDEX} does not link to: {', '.join(missing)}"


@pytest.mark.skipif(not (NOTEBOOK_DIR / INDEX).exists(), reason="no index")
def test_index_links_point_at_existing_notebooks():
    """The index may link ahead to planned notebooks: reported as a skip, not a failure."""
    ahead = sorted(t for t in _index_links() if not (NOTEBOOK_DIR / t).exists())
    if ahead:
        pytest.skip(f"{INDEX} links to notebooks not written yet: {', '.join(ahead)}")


# ------------------------------------------------ the checks themselves work


def _bad_notebook():
    """One notebook that breaks every rule once."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    cells = [
        new_code_cell("import numpy as np", execution_count=2),  # no nav, no %matplotlib
        new_markdown_cell("# Title\n\n[missing](no_such_notebook.ipynb)"),
        new_code_cell("", execution_count=None),
        new_code_cell("plt.plot([1]);", execution_count=3, outputs=[
            new_output("execute_result", {"text/plain": "<Line2D at 0x7f3a2b1c4d90>"}, execution_count=3),
            new_output("stream", name="stderr", text="/tmp/ipykernel_1/1.py:1: UserWarning\n"),
        ]),
        new_code_cell("1/0", execution_count=4, outputs=[
            new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[]),
        ]),
        new_code_cell("x = 1", execution_count=5, metadata={"tags": ["nbval-ignore-ouput", "raises-exception"]}),
        new_code_cell("y = 2", execution_count=None, metadata={"tags": ["skip-execution"]}),
        new_code_cell("z = 3", execution_count=None),
        new_code_cell("w = 4", execution_count=6),
        new_code_cell("total = " + " + ".join(["value"] * 20), execution_count=7),  # 165 columns
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python", "display_name": "Python", "language": "python"}
    nb.metadata["widgets"] = {}
    return nb


@pytest.mark.parametrize(
    "check",
    [c for c in CHECKS if c is not check_format],
    ids=lambda c: c.__name__.removeprefix("check_"),
)
def test_each_check_reports_a_broken_notebook(check, tmp_path):
    path = tmp_path / "03_broken.ipynb"
    assert check(path, _bad_notebook()), f"{check.__name__} found nothing wrong"


def test_a_clean_notebook_passes_every_check(tmp_path):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    previous = NOTEBOOKS[-1].name if NOTEBOOKS else INDEX  # 99 comes after all of them
    nav = f"[previous]({previous}) | [Index](00_index.ipynb)"
    nb = new_notebook(cells=[
        new_markdown_cell(f"{nav}\n\n# 99 Clean\n\n## Learning goals\n\nAbout **5 minutes**.\n\n- one"),
        new_code_cell("%matplotlib inline\nimport numpy as np", execution_count=1),
        new_code_cell("raise ValueError('shown on purpose')", execution_count=2,
                      metadata={"tags": ["raises-exception"]}, outputs=[
                          nbformat.v4.new_output("error", ename="ValueError",
                                                 evalue="shown on purpose", traceback=[])]),
        new_code_cell("slow()", metadata={"tags": ["skip-execution", "nbval-skip"]}),
        new_code_cell("x = 1", execution_count=3),
        new_markdown_cell("## Summary\n\n- done"),
        new_markdown_cell("## Questions\n\n**1.** Why?\n\n<details><summary>Answer</summary>\n\nBecause.\n</details>\n\n"
                          "**2.** How?\n\n<details><summary>Answer</summary>\n\nSo.\n</details>"),
        new_markdown_cell(nav),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": "slide"}
    path = NOTEBOOK_DIR / "99_clean.ipynb"  # not written: checks only read `nb`
    for check in CHECKS:
        assert check(path, nb) == [], check.__name__
