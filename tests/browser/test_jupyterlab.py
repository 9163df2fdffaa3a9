"""Notebook 02 in JupyterLab with its default settings: Run All, then drive the step-through explorer.

JupyterLab 4.6 sends widget messages to a kernel subshell by default
(``commsOverSubshells: perCommTarget``); pyplot-based drawing was measured to come
out blank or half drawn when callbacks run on such a thread. The test checks that
the setting is at its default, clicks through the explorer and compares every
picture the browser shows, byte for byte, with the package's own rendering of that
step. Its copy of the notebook ends with two cells of its own: one records, for
every redraw of the explorer's picture (an observer on the Image widget, called in
the thread that drew it), the thread and the comm message that caused it; the other
prints the record, and the test runs it again after the clicks.

What that shows (JupyterLab 4.6.6, ipykernel 7.4.0):

1. Defaults, as a learner has them: JupyterLab creates one subshell for the widget
   comm target and sends every click over it (the comm messages carry its
   ``subshell_id``), but ipykernel runs a comm's incoming messages on the shell that
   last published on that comm (``BaseComm._reply_subshell_for``): for widgets built
   by a cell, the main shell. The callbacks run on MainThread.
2. Callbacks on JupyterLab's subshell thread: the test's own kernel client runs
   ``send_state()`` for every widget of the explorer on that subshell (a public
   execute request carrying the ``subshell_id``, as JupyterLab's subshell consoles
   send). From then on ipykernel honours the subshell id of the clicks, the callbacks
   run on the subshell's thread (``subshell-<id>``, not MainThread), and the pictures
   must still be exactly the package's.

The only settings changed (in temporary folders, for this test alone) are cosmetic:
no news / update toast and no autosave. Notebook windowing keeps its default
(``contentVisibility``: off-screen cells stay in the page, unrendered); the test
scrolls the explorer into view before it looks at it. The notebook is a copy in a
temporary folder: nothing in the checkout is written.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request

import nbformat
import pytest

from browser_helpers import ROOT, act_and_wait_for_plot, displayed_png, wait_until_settled

NOTEBOOK = "02_staged_backward.ipynb"
TEST_ONLY_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
KERNEL_SETTINGS = "@jupyterlab/apputils-extension:kernels-settings"
NOTEBOOK_SETTINGS = "@jupyterlab/notebook-extension:tracker"
THREADS_MARKER = "CALLBACK_THREADS="

# appended to the test's copy of notebook 02 (Run All runs it after the explorer's cell)
RECORD_THREADS = """\
# added by tests/browser/test_jupyterlab.py: which thread redraws the explorer's picture?
import threading

import ipywidgets


def _descendants(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)


_explorers = [value for value in Out.values() if isinstance(value, ipywidgets.Box)]
assert len(_explorers) == 1, f"expected one explorer among the results, got {_explorers}"
_explorer_widgets = list(_descendants(_explorers[0]))
_pictures = [w for w in _explorer_widgets if isinstance(w, ipywidgets.Image)]
assert len(_pictures) == 1, _pictures
callback_threads = []


def _record_thread(change):
    thread = threading.current_thread()
    header = get_ipython().kernel.get_parent().get("header", {})
    callback_threads.append({
        "thread": thread.name, "class": type(thread).__name__, "main": thread is threading.main_thread(),
        "msg_type": header.get("msg_type"), "subshell_id": header.get("subshell_id"),
    })


_pictures[0].observe(_record_thread, names="value")
"""
PRINT_THREADS = f"""\
# added by tests/browser/test_jupyterlab.py
import json

print("{THREADS_MARKER}" + json.dumps(callback_threads))
"""
# run by the test's kernel client on JupyterLab's comm subshell (phase 2)
PUBLISH_FROM_SUBSHELL = """\
for _widget in _explorer_widgets:
    _widget.send_state()
"""


@pytest.fixture(scope="module")
def jupyterlab(start_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyterlab")
    work = home / "work"
    work.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    for number, source in enumerate((RECORD_THREADS, PRINT_THREADS)):
        nb.cells.append(nbformat.v4.new_code_cell(source, id=f"browser-test-{number}",
                                                  metadata={"slideshow": {"slide_type": "skip"}}))
    nbformat.validate(nb)
    nbformat.write(nb, work / NOTEBOOK)
    settings = home / "settings"
    for name, values in TEST_ONLY_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    })

    def command(port):
        return [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0", "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={work}",
        ]

    server = start_server(command, "/api", "jupyterlab", env=env)
    server.work = work
    server.runtime = home / "runtime"
    server.code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    yield server
    server.stop()


def _settings(server, plugin):
    with urllib.request.urlopen(server.url(f"/lab/api/settings/{plugin}"), timeout=30) as response:
        return json.load(response)


def _reply(channel, request, timeout=30.0):
    """The reply to `request` on a jupyter_client channel (other replies are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = channel.get_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
            return reply


def run_on_jupyterlab_subshell(server, code):
    """Run `code` in the notebook's kernel on the one subshell JupyterLab created; returns its id.

    A plain execute request whose header carries the subshell id (kernel subshells,
    JEP 91), sent by a kernel client of the test's own (the kernel's connection file
    is in the server's temporary runtime folder).
    """
    from jupyter_client import BlockingKernelClient

    connection_files = sorted(server.runtime.glob("kernel-*.json"))
    assert len(connection_files) == 1, f"expected the notebook's one kernel, found {connection_files}"
    client = BlockingKernelClient(connection_file=str(connection_files[0]))
    client.load_connection_file()
    client.start_channels()
    try:
        request = client.session.msg("list_subshell_request", {})
        client.control_channel.send(request)
        subshells = _reply(client.control_channel, request)["content"]["subshell_id"]
        assert len(subshells) == 1, f"JupyterLab should have made one subshell (widget comm target): {subshells}"
        request = client.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        request["header"]["subshell_id"] = subshells[0]
        client.shell_channel.send(request)
        reply = _reply(client.shell_channel, request)["content"]
        assert reply["status"] == "ok", reply
        return subshells[0]
    finally:
        client.stop_channels()


def test_staged_explorer_in_jupyterlab_with_default_settings(jupyterlab, new_page, artifacts, record_timing):
    from cs231n_norm.graph import explore_backward, normalization_graph
    from cs231n_norm.widgets.coupling import figure_png
    from cs231n_norm.widgets.staged import draw_step, example_inputs, step_view

    # the server folds any admin overrides into the schema's defaults; user settings come on top
    kernel_settings = _settings(jupyterlab, KERNEL_SETTINGS)
    assert kernel_settings["schema"]["properties"]["commsOverSubshells"]["default"] == "perCommTarget"
    assert "commsOverSubshells" not in kernel_settings["settings"], kernel_settings["settings"]
    notebook_settings = _settings(jupyterlab, NOTEBOOK_SETTINGS)
    assert "windowingMode" not in notebook_settings["settings"], notebook_settings["settings"]

    page = new_page(viewport=(1400, 1000))
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text[:300]}"))
    page.goto(jupyterlab.url(f"/lab/tree/{NOTEBOOK}"), wait_until="commit")
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)

    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    prompts_all = """([pattern, count]) => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
        return prompts.length === count && prompts.every(p => new RegExp(pattern).test(p.textContent));
    }"""

    def menu(name, item):
        page.locator(".lm-MenuBar-item", has_text=name).first.click()
        page.locator(".lm-Menu-item", has_text=item).first.click()

    # the stored notebook already shows [1]..[11]: clear first, so "all numbered" means "all ran now"
    menu("Edit", "Clear Outputs of All Cells")
    page.wait_for_function(prompts_all, arg=[r"^\[ \]:?$", jupyterlab.code_cells], timeout=30_000)
    menu("Run", "Run All Cells")
    try:
        page.wait_for_function(prompts_all, arg=[r"^\[\d+\]:?$", jupyterlab.code_cells],
                               timeout=int(os.environ.get("JLAB_RUN_ALL_TIMEOUT", "180")) * 1000)
    except Exception:
        page.screenshot(path=str(artifacts / "jupyterlab_run_all_failed.png"))
        pytest.fail(f"Run All did not finish; prompts {prompts.all_text_contents()}; console:\n"
                    + "\n".join(console[-30:]))
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()

    explorer = page.locator(".widget-vbox").filter(has=page.get_by_role("button", name="next ▶")).last
    explorer.scroll_into_view_if_needed()
    image = explorer.locator("img.widget-image")
    image.wait_for(state="visible", timeout=60_000)
    wait_until_settled(image)
    step = explorer.locator(".widget-slider .widget-readout")

    inputs = example_inputs(N=4, D=3, seed=0)  # what notebook 02 passes to build_staged_explorer (eps 1e-5)
    graph = normalization_graph(inputs["x"], inputs["gamma"], inputs["beta"], 1e-5, 0)
    steps = explore_backward(graph, inputs["dout"])

    def expected_png(number):
        return figure_png(draw_step(graph, step_view(graph, steps, number - 1)), dpi=80)

    def click(button, where):
        before = int(step.inner_text())
        ms = act_and_wait_for_plot(page, image, lambda: explorer.get_by_role("button", name=button).click())
        number = before + (1 if button == "next ▶" else -1)
        record_timing("JupyterLab 02 staged explorer", f"{button} (step {number}){where}", ms)
        assert int(step.inner_text()) == number
        assert displayed_png(image) == expected_png(number), f"step {number}: picture differs from the package's"

    first = int(step.inner_text())
    assert displayed_png(image) == expected_png(first), "the first picture is not the package's rendering"
    # phase 1: the defaults, as a learner has them
    for _ in range(len(steps) - first):
        click("next ▶", "")
    click("◀ previous", "")
    defaults_redraws = len(steps) - first + 1
    # phase 2: the explorer's comms publish once from JupyterLab's comm subshell, so the
    # kernel runs the next clicks there (the thread the frontend's default asks for)
    subshell = run_on_jupyterlab_subshell(jupyterlab, PUBLISH_FROM_SUBSHELL)
    for button in ("◀ previous", "◀ previous", "next ▶"):
        click(button, ", on the subshell")
    page.screenshot(path=str(artifacts / "jupyterlab_02_staged_explorer.png"))

    # run the printing cell again (Ctrl+Enter: run it, stay in it) and read where the redraws ran
    printing_cell = page.locator(".jp-Notebook .jp-CodeCell").last
    printing_cell.scroll_into_view_if_needed()
    prompt_before = printing_cell.locator(".jp-InputPrompt").inner_text()
    printing_cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        r"""([cell, before]) => {
            const prompt = cell.querySelector('.jp-InputPrompt').textContent;
            return /^\[\d+\]:?$/.test(prompt.trim()) && prompt !== before;
        }""",
        arg=[printing_cell.element_handle(), prompt_before], timeout=30_000)
    output = printing_cell.locator(".jp-OutputArea-output").inner_text()
    match = re.search(f"{THREADS_MARKER}(.*)", output)
    assert match, f"the printing cell printed {output!r}"
    redraws = json.loads(match.group(1))
    assert len(redraws) == defaults_redraws + 3, f"{defaults_redraws + 3} clicks, {len(redraws)} redraws: {redraws}"
    # every click came as a comm message over JupyterLab's one comm subshell
    assert all(r["msg_type"] == "comm_msg" and r["subshell_id"] == subshell for r in redraws), redraws
    # 1. defaults: ipykernel 7.4 runs them on the shell that last published on the comm (the
    #    main shell, which ran the cell that built the explorer)
    on_defaults = redraws[:defaults_redraws]
    assert all(r["main"] and r["thread"] == "MainThread" for r in on_defaults), on_defaults
    # 2. after the explorer published from the subshell: its thread, not the main thread
    on_subshell = redraws[defaults_redraws:]
    for r in on_subshell:
        assert not r["main"] and r["thread"] != "MainThread", on_subshell
        assert r["class"] == "SubshellThread" and r["thread"] == f"subshell-{subshell}", on_subshell
