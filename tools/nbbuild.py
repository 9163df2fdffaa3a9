"""What every tools/build_notebook_NN.py script shares: cell constructors and the writer.

A build script holds a notebook's prose, equations and calls as Python strings, so
the notebook can be regenerated after a change:

    python tools/build_notebook_01.py && python tools/run_notebooks.py 01

The writer gives cells stable ids (their position), so a rebuild changes only
what was edited, not every cell's random id.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def md(source, slide="-"):
    """A Markdown cell with its slide type ('slide', 'subslide', 'fragment', '-', 'skip')."""
    return new_markdown_cell(source.strip("\n"), metadata={"slideshow": {"slide_type": slide}})


def code(source, slide="-", tags=(), **extra_metadata):
    """A code cell with its slide type, nbval/nbconvert tags and any extra metadata."""
    metadata = {"slideshow": {"slide_type": slide}, **extra_metadata}
    if tags:
        metadata["tags"] = list(tags)
    return new_code_cell(source.strip("\n"), metadata=metadata)


def save(path, cells):
    """Validate and write the (unexecuted) notebook; cell ids are stable: cell-00, cell-01, ..."""
    nb = new_notebook(cells=cells)
    for position, cell in enumerate(nb.cells):
        cell.id = f"cell-{position:02d}"
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    number = path.name[:2]
    print(f"wrote {path.relative_to(ROOT)} ({len(cells)} cells); now run: python tools/run_notebooks.py {number}")
