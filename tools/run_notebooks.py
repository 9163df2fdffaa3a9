#!/usr/bin/env python
"""Execute the stored notebooks in place, so their outputs match the package.

THE command to regenerate notebooks after changing cs231n_norm (run it from
anywhere; paths are resolved against this checkout):

    python tools/run_notebooks.py            # every notebooks/NN_*.ipynb, in order
    python tools/run_notebooks.py 01 03      # a subset: by number prefix ...
    python tools/run_notebooks.py notebooks/02_staged_backward.ipynb   # ... or path

What it does, per notebook:
- runs every code cell top to bottom in a fresh "python3" kernel of *this*
  interpreter (the one running the script), cwd = notebooks/, a fixed per-cell
  timeout, a clean temporary IPython profile (no user startup files, plain
  uncoloured tracebacks) and PYTHONHASHSEED=0 (stable set/dict-of-str order);
- fails loudly on any error, except in cells tagged ``raises-exception``
  (such a cell must raise: a tagged cell that runs cleanly is an error too);
  cells tagged ``skip-execution`` are not run and keep no outputs;
- normalises what would otherwise make diffs noisy: kernelspec/language_info
  metadata without version numbers, no stored widget state, no per-cell timing,
  consecutive stream outputs merged (as nbval does before comparing),
  no empty code cells, this checkout's absolute path removed from outputs,
  widget model ids replaced by stable ones;
- writes the notebook only if it executed without unexpected errors.

Exit status: 0 if every selected notebook ran, 1 otherwise (the stored files of
the failing notebooks are left untouched).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PACKAGE = "cs231n_norm"

CELL_TIMEOUT = 300  # seconds per cell; the same limit nbval uses in pyproject.toml
STARTUP_TIMEOUT = 60  # seconds for the kernel to start

KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}
# What ipykernel reports, minus the version number (which differs between machines).
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"

# IPython configuration for every kernel we (and the test suite) start.
_KERNEL_CONFIG = """\
# Written by tools/run_notebooks.py: plain tracebacks, no user startup files.
c.InteractiveShell.colors = "nocolor"
c.HistoryManager.enabled = False
# Hide the kernel's own log warnings (e.g. "running over TCP without encryption"
# from ipykernel >= 7.4 on 127.0.0.1); errors are still shown.
c.IPKernelApp.log_level = "ERROR"
"""


@contextlib.contextmanager
def kernel_environment():
    """Environment for reproducible kernels; restored on exit.

    Kernels inherit the environment of the process that starts them, so this
    covers nbclient here and nbval in the test suite (see conftest.py).
    """
    saved = {k: os.environ.get(k) for k in ("IPYTHONDIR", "PYTHONHASHSEED")}
    with tempfile.TemporaryDirectory(prefix="cs231n_norm_ipython_") as ipython_dir:
        profile = Path(ipython_dir) / "profile_default"
        profile.mkdir()
        (profile / "ipython_kernel_config.py").write_text(_KERNEL_CONFIG)
        os.environ["IPYTHONDIR"] = ipython_dir
        os.environ["PYTHONHASHSEED"] = "0"
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def package_location_problem(python: str = sys.executable) -> str | None:
    """Why a kernel of `python` would not import this checkout's package, or None.

    A stale non-editable install would silently regenerate the notebooks with old
    code (and nbval would test old code), so we check where the import resolves,
    from notebooks/ exactly as a kernel sees it.
    """
    code = (
        "import importlib.util as u; s = u.find_spec(%r); "
        "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"
        % PACKAGE
    )
    proc = subprocess.run(
        [python, "-c", code], cwd=NOTEBOOK_DIR, capture_output=True, text=True
    )
    found = proc.stdout.strip()
    expected = ROOT / PACKAGE
    if proc.returncode != 0 or not found:
        return (
            f"{PACKAGE} is not importable by {python}; install this checkout with\n"
            f"    pip install -e {ROOT}"
        )
    if Path(found).resolve() != expected.resolve():
        return (
            f"{python} imports {PACKAGE} from {found},\n"
            f"not from this checkout ({expected}); fix with\n"
            f"    pip install -e {ROOT}"
        )
    return None


def discover(selection: list[str] | None = None) -> list[Path]:
    """The notebooks to run, in reading order.

    `selection` items are paths to .ipynb files, or number prefixes ("01", "1")
    or name prefixes ("01_batch") of notebooks in notebooks/.
    """
    available = sorted(NOTEBOOK_DIR.glob(NOTEBOOK_GLOB))
    if not selection:
        return available
    chosen: list[Path] = []
    for item in selection:
        path = Path(item)
        if item.endswith(".ipynb"):
            if not path.exists():
                path = NOTEBOOK_DIR / path.name
            if not path.exists():
                raise SystemExit(f"no such notebook: {item}")
            matches = [path.resolve()]
        else:
            prefix = item.zfill(2) if item.isdigit() else item
            matches = [p for p in available if p.name.startswith(prefix)]
            if not matches:
                names = ", ".join(p.name for p in available) or "none"
                raise SystemExit(f"no notebook matches {item!r} (available: {names})")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen, key=lambda p: p.name)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _strip_root(text, root_prefixes):
    if isinstance(text, str):
        for prefix in root_prefixes:
            text = text.replace(prefix, "")
        return text
    if isinstance(text, list):  # multi-line strings may be stored as lists
        return [_strip_root(t, root_prefixes) for t in text]
    return text


_CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


def coalesce_streams(outputs):
    """Merge consecutive stream outputs of the same name; apply carriage returns.

    How a kernel splits one cell's printing into messages depends on timing, so
    without this the same output is stored as one or as several pieces; nbval
    merges them the same way before comparing. A progress bar redrawn with "\r"
    keeps only its final state.
    """
    merged = []
    for output in outputs:
        if (
            output.get("output_type") == "stream"
            and merged
            and merged[-1].get("output_type") == "stream"
            and merged[-1].get("name") == output.get("name")
        ):
            merged[-1]["text"] = _as_text(merged[-1]["text"]) + _as_text(output["text"])
        else:
            merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream":
            output["text"] = _CARRIAGE_RETURN.sub("", _as_text(output["text"]))
    return merged


def _as_text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def normalise(nb, stem: str) -> None:
    """Make the stored form of an executed notebook independent of machine and run."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = copy.deepcopy(LANGUAGE_INFO)
    nb.metadata.pop("widgets", None)  # widget state: random model ids, megabytes
    root_prefixes = sorted({str(ROOT) + os.sep, str(ROOT.resolve()) + os.sep}, key=len, reverse=True)
    widget_number = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        cell.outputs = coalesce_streams(cell.outputs)
        for output in cell.outputs:
            if "text" in output:
                output["text"] = _strip_root(output["text"], root_prefixes)
            if "traceback" in output:
                output["traceback"] = _strip_root(output["traceback"], root_prefixes)
            if "evalue" in output:
                output["evalue"] = _strip_root(output["evalue"], root_prefixes)
            data = output.get("data", {})
            for mime in list(data):
                if mime.startswith("text/"):
                    data[mime] = _strip_root(data[mime], root_prefixes)
            if WIDGET_VIEW_MIME in data:
                widget_number += 1
                view = dict(data[WIDGET_VIEW_MIME])
                view["model_id"] = f"{stem}-widget-{widget_number:03d}"
                data[WIDGET_VIEW_MIME] = view


def prepare(nb) -> list[str]:
    """Clean up before execution; return notes about what was changed."""
    notes = []
    kept = []
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.strip():
            notes.append("removed an empty code cell")
            continue
        if cell.cell_type == "code" and "skip-execution" in _tags(cell):
            cell.outputs = []
            cell.execution_count = None
        kept.append(cell)
    nb.cells = kept
    return notes


def _kernel_manager_class():
    """AsyncKernelManager whose "python3" is always this interpreter's ipykernel."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisInterpreterSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name == KERNELSPEC["name"]:
                return self.kernel_spec_class(
                    resource_dir=ipykernel.kernelspec.RESOURCES,
                    **ipykernel.kernelspec.get_kernel_dict(),
                )
            return super().get_kernel_spec(kernel_name)

    class ThisInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _default_ksm(self):
            return ThisInterpreterSpecs(data_dir=self.data_dir)

    return ThisInterpreterKernelManager


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> tuple[bool, str]:
    """Run one notebook in place. Returns (ok, message)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    original_text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original_text, as_version=4)
    notes = prepare(nb)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    client = NotebookClient(
        nb,
        kernel_name=KERNELSPEC["name"],
        kernel_manager_class=_kernel_manager_class(),
        timeout=timeout,
        startup_timeout=STARTUP_TIMEOUT,
        interrupt_on_timeout=False,
        allow_errors=False,  # errors allowed only in cells tagged raises-exception
        record_timing=False,
        store_widget_state=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        return False, f"{type(exc).__name__}:\n{exc}"

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "raises-exception" not in _tags(cell):
            continue
        if not any(o.get("output_type") == "error" for o in cell.outputs):
            return False, (
                f"cell {index} is tagged raises-exception but raised nothing:\n"
                + cell.source
            )

    normalise(nb, path.stem)
    nbformat.validate(nb)
    new_text = nbformat.writes(nb)
    if not new_text.endswith("\n"):
        new_text += "\n"
    if new_text == original_text:
        return True, "unchanged" + "".join(f"; {n}" for n in notes)
    path.write_text(new_text, encoding="utf-8")
    return True, "updated" + "".join(f"; {n}" for n in notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        help="notebooks to run: paths, or number/name prefixes such as 01 or 02_staged "
        "(default: every notebooks/NN_*.ipynb)",
    )
    parser.add_argument(
        "--timeout", type=int, default=CELL_TIMEOUT,
        help=f"seconds per cell (default {CELL_TIMEOUT})",
    )
    args = parser.parse_args(argv)

    paths = discover(args.notebooks)
    if not paths:
        print(f"no notebooks found in {NOTEBOOK_DIR}", file=sys.stderr)
        return 1
    problem = package_location_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1

    failures = []
    with kernel_environment():
        for path in paths:
            start = time.perf_counter()
            print(f"{path.name}: running ...", flush=True)
            ok, message = execute(path, timeout=args.timeout)
            seconds = time.perf_counter() - start
            if ok:
                print(f"{path.name}: {message} ({seconds:.1f} s)", flush=True)
            else:
                failures.append(path.name)
                print(f"{path.name}: FAILED after {seconds:.1f} s; file left unchanged\n"
                      f"{message}\n", file=sys.stderr, flush=True)
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
