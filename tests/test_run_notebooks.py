"""tools/run_notebooks.py: selection, normalisation, and two real executions."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "_run_notebooks_under_test", ROOT / "tools" / "run_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_discover_selects_by_number_name_or_path():
    everything = tool.discover()
    assert everything == sorted(everything, key=lambda p: p.name)
    assert everything[0].name == "00_index.ipynb"
    assert tool.discover(["0"]) == tool.discover(["00"]) == [tool.NOTEBOOK_DIR / "00_index.ipynb"]
    assert tool.discover(["00_ind"]) == tool.discover(["notebooks/00_index.ipynb"])[:1]
    with pytest.raises(SystemExit, match="no notebook matches '99'"):
        tool.discover(["99"])
    with pytest.raises(SystemExit, match="no such notebook"):
        tool.discover(["missing.ipynb"])


def test_normalise_removes_machine_and_run_specific_details():
    nb = new_notebook(cells=[
        new_code_cell("x", execution_count=1, metadata={"execution": {"iopub.status.busy": "t"}},
                      outputs=[
                          new_output("stream", name="stderr",
                                     text=f"{tool.ROOT}/cs231n_norm/core.py:1: UserWarning: w\n"),
                          new_output("display_data", data={
                              "text/plain": "Box()",
                              tool.WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0,
                                                      "model_id": "4f1c0a9e8b7d"}}),
                      ]),
    ])
    nb.metadata["kernelspec"] = {"name": "myenv", "display_name": "My env", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    tool.normalise(nb, "05_demo")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "version" not in nb.metadata["language_info"]
    assert "widgets" not in nb.metadata
    cell = nb.cells[0]
    assert "execution" not in cell.metadata
    assert cell.outputs[0]["text"] == "cs231n_norm/core.py:1: UserWarning: w\n"
    assert cell.outputs[1]["data"][tool.WIDGET_VIEW_MIME]["model_id"] == "05_demo-widget-001"
    nbformat.validate(nb)


def test_prepare_drops_empty_cells_and_clears_skipped_ones():
    nb = new_notebook(cells=[
        new_markdown_cell("text"),
        new_code_cell("   \n"),
        new_code_cell("slow()", execution_count=7, metadata={"tags": ["skip-execution"]},
                      outputs=[new_output("stream", name="stdout", text="old\n")]),
    ])
    notes = tool.prepare(nb)
    assert notes == ["removed an empty code cell"]
    assert [c.cell_type for c in nb.cells] == ["markdown", "code"]
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None


def _write(path: Path, cells) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_execute_runs_in_order_and_allows_only_tagged_errors(tmp_path):
    path = tmp_path / "01_demo.ipynb"
    _write(path, [
        new_code_cell("import os\nprint(sorted({'b', 'a'}), os.path.basename(os.getcwd()))"),
        new_code_cell("raise ValueError('on purpose')", metadata={"tags": ["raises-exception"]}),
        new_code_cell(""),
        new_code_cell("never_run()", metadata={"tags": ["skip-execution", "nbval-skip"]}),
        new_code_cell("print(os.environ['PYTHONHASHSEED'])"),
    ])
    with tool.kernel_environment():
        ok, message = tool.execute(path, timeout=60)
    assert ok, message
    assert message.startswith("updated") and "removed an empty code cell" in message
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in nb.cells]
    assert counts == [1, 2, None, 3]
    assert nb.cells[0].outputs[0]["text"] == f"['a', 'b'] {tmp_path.name}\n"  # cwd = its folder
    error = nb.cells[1].outputs[0]
    assert (error["ename"], error["evalue"]) == ("ValueError", "on purpose")
    assert "\x1b[" not in "".join(error["traceback"]), "tracebacks must not be coloured"
    assert nb.cells[3].outputs[0]["text"] == "0\n"
    assert nb.metadata["language_info"]["name"] == "python"


def test_execute_leaves_a_failing_notebook_untouched(tmp_path):
    path = tmp_path / "02_broken.ipynb"
    _write(path, [
        new_code_cell("print('fine')"),
        new_code_cell("1 / 0"),
        new_code_cell("x = 1", metadata={"tags": ["raises-exception"]}),
    ])
    before = path.read_bytes()
    with tool.kernel_environment():
        ok, message = tool.execute(path, timeout=60)
    assert not ok and "ZeroDivisionError" in message
    assert path.read_bytes() == before

    _write(path, [new_code_cell("x = 1", metadata={"tags": ["raises-exception"]})])
    before = path.read_bytes()
    with tool.kernel_environment():
        ok, message = tool.execute(path, timeout=60)
    assert not ok and "tagged raises-exception but raised nothing" in message
    assert path.read_bytes() == before


def test_kernel_environment_is_restored():
    before = {k: os.environ.get(k) for k in ("IPYTHONDIR", "PYTHONHASHSEED")}
    with tool.kernel_environment():
        config = Path(os.environ["IPYTHONDIR"]) / "profile_default" / "ipython_kernel_config.py"
        assert "nocolor" in config.read_text()
    assert {k: os.environ.get(k) for k in before} == before


def test_stream_pieces_are_merged_like_nbval_does():
    outputs = [
        new_output("stream", name="stdout", text="Instance norm: 24 means"),
        new_output("stream", name="stdout", text="\n[[0 0]]\n"),
        new_output("stream", name="stderr", text="  0%|   | 0/2\r100%|###| 2/2\n"),
        new_output("display_data", data={"text/plain": "<Figure>"}),
        new_output("stream", name="stdout", text="after\n"),
    ]
    merged = tool.coalesce_streams(outputs)
    assert [(o.get("name"), o.get("text")) for o in merged] == [
        ("stdout", "Instance norm: 24 means\n[[0 0]]\n"),
        ("stderr", "100%|###| 2/2\n"),
        (None, None),
        ("stdout", "after\n"),
    ]
