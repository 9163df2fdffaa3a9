"""Every dashboard, served code-free by Voila, renders and reacts in a real browser.

One Voila server (tools/serve_dashboards.py's command) serves dashboards/ for the
module. Each test opens one dashboard, moves its knobs, waits until the picture has
changed and settled, compares the displayed numbers with the package's own pure
functions and the final picture, byte for byte, with the package's rendering of
the same knob settings, records the response time (action -> new picture) and saves a
screenshot in tests/artifacts/. Timings are reported, not asserted.

The first group of tests needs no browser: the dashboards exist, are clean, show
no code, and their one code cell runs.
"""
from __future__ import annotations

import html
import importlib.util
import re

import nbformat
import numpy as np
import pytest

from browser_helpers import ROOT, act_and_wait_for_plot, displayed_png, wait_until_settled


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f"_cs231n_norm_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve = _load_tool("serve_dashboards")
EXPECTED = ["01_coupling.ipynb", "02_staged_backward.ipynb", "03_normalization_axes.ipynb",
            "04_weight_init.ipynb", "05_batch_size.ipynb"]


def _text(markup: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _normalized(text: str) -> str:
    """Whitespace collapsed, none before punctuation (tags and layout add some)."""
    return re.sub(r" ([,.;:)])", r"\1", " ".join(text.split()))


# ---- without a browser ------------------------------------------------------------------

def test_every_explorer_has_a_dashboard():
    assert serve.dashboard_names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_dashboard_is_a_title_an_instruction_and_one_call(name):
    nb = nbformat.read(ROOT / "dashboards" / name, as_version=4)
    nbformat.validate(nb)
    kinds = [cell.cell_type for cell in nb.cells]
    assert kinds == ["markdown", "code"], f"{name}: cells {kinds}"
    assert nb.cells[0].source.startswith("# "), f"{name}: the first cell must be a '# Title'"
    assert "build_" in nb.cells[1].source and "explorer(" in nb.cells[1].source
    assert not nb.cells[1].outputs, f"{name}: store dashboards without outputs (Voila runs them)"


@pytest.mark.parametrize("name", EXPECTED)
def test_dashboard_code_builds_its_widget(name):
    import ipywidgets

    nb = nbformat.read(ROOT / "dashboards" / name, as_version=4)
    *body, last = nb.cells[1].source.strip().splitlines()
    namespace = {}
    exec("\n".join(body), namespace)  # noqa: S102 - our own dashboard's code
    widget = eval(last, namespace)  # noqa: S307
    assert isinstance(widget, ipywidgets.Widget), f"{name}: last line gives {type(widget).__name__}"


def test_voila_command_serves_dashboards_on_localhost_only():
    command = serve.voila_command(8866)
    assert "--Voila.ip=127.0.0.1" in command and "--port=8866" in command
    assert "--template=classroom" in command
    env = serve.voila_environment({"JUPYTER_PATH": "/elsewhere"})
    assert env["JUPYTER_PATH"].split(":")[0] == str(serve.TEMPLATE_ROOT)
    assert (serve.TEMPLATE_ROOT / "voila" / "templates" / "classroom" / "index.html.j2").is_file()
    with pytest.raises(ValueError, match="port must be in 1..65535, got 0"):
        serve.voila_command(0)
    with pytest.raises(TypeError, match="port must be an int, got str"):
        serve.voila_command("8866")


# ---- in the browser -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def voila(start_server):
    server = start_server(serve.voila_command, "/", "voila", env=serve.voila_environment())
    yield server
    server.stop()


def open_dashboard(new_page, voila, name):
    page = new_page()
    page.goto(voila.url(serve.DASHBOARD_URL.format(name=name)), wait_until="commit")
    image = page.locator("img.widget-image")
    image.wait_for(state="visible", timeout=120_000)  # the kernel starts and runs the cell first
    wait_until_settled(image)
    assert "import" not in page.locator("body").inner_text(), "code is visible on the dashboard"
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    return page, image


def slider(page, description):
    label = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(description)}$"))
    return page.locator(".widget-slider").filter(has=label)


def type_into_readout(page, widget, value):
    readout = widget.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def press_on_handle(page, widget, key):
    widget.locator(".noUi-handle").focus()
    page.keyboard.press(key)


def summary_text(page, index=0):
    return _normalized(page.locator(".widget-html").nth(index).inner_text())


def screenshot(page, artifacts, name):
    path = artifacts / f"dashboard_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_coupling_dashboard(new_page, voila, artifacts, record_timing):
    from cs231n_norm.widgets.coupling import draw_coupling, example_batch, figure_png, move_one_value

    page, image = open_dashboard(new_page, voila, "01_coupling.ipynb")
    x = example_batch(N=8, D=3, seed=0)

    def moved_start(row, column):  # where the widget starts a newly picked value: two stds up
        return round(float(x[row, column] + 2 * x[:, column].std()), 2)

    def expected_summary(state):
        new_value = state.x_after[state.row, state.column]
        return _normalized(
            f"x[{state.row}, {state.column}]: {x[state.row, state.column]:.2f} → {new_value:.2f}. "
            f"Batch norm changed {int(state.batchnorm_rows_moved.sum())} of 8 examples, "
            f"layer norm {int(state.layernorm_rows_moved.sum())}.")

    ms = act_and_wait_for_plot(page, image, lambda: type_into_readout(page, slider(page, "new value"), "3.5"))
    record_timing("01_coupling", "new value slider (readout 3.5)", ms)
    state = move_one_value(x, 2, 0, 3.5)
    assert summary_text(page) == expected_summary(state)
    assert int(state.batchnorm_rows_moved.sum()) == 8 and int(state.layernorm_rows_moved.sum()) == 1

    ms = act_and_wait_for_plot(page, image, lambda: press_on_handle(page, slider(page, "example"), "ArrowRight"))
    record_timing("01_coupling", "example slider (key ArrowRight: 3)", ms)
    state = move_one_value(x, 3, 0, moved_start(3, 0))
    assert summary_text(page) == expected_summary(state)
    assert displayed_png(image) == figure_png(draw_coupling(state), dpi=80)

    ms = act_and_wait_for_plot(page, image, lambda: press_on_handle(page, slider(page, "feature"), "ArrowRight"))
    record_timing("01_coupling", "feature slider (key ArrowRight: 1)", ms)
    assert slider(page, "feature").locator(".widget-readout").inner_text() == "1"
    state = move_one_value(x, 3, 1, moved_start(3, 1))
    assert summary_text(page) == expected_summary(state)
    # feature 1 of example 3 moved: every example's feature-1 output under batch norm, one row under layer norm
    assert int(state.batchnorm_rows_moved.sum()) == 8 and int(state.layernorm_rows_moved.sum()) == 1
    assert slider(page, "new value").locator(".widget-readout").inner_text() == f"{moved_start(3, 1):.2f}"
    assert displayed_png(image) == figure_png(draw_coupling(state), dpi=80)
    screenshot(page, artifacts, "01_coupling")


def test_staged_backward_dashboard(new_page, voila, artifacts, record_timing):
    from cs231n_norm.graph import explore_backward, normalization_graph
    from cs231n_norm.widgets.coupling import figure_png
    from cs231n_norm.widgets.staged import describe_step, draw_step, example_inputs, step_view

    page, image = open_dashboard(new_page, voila, "02_staged_backward.ipynb")
    inputs = example_inputs()
    graph = normalization_graph(inputs["x"], inputs["gamma"], inputs["beta"], 1e-5, 0)
    steps = explore_backward(graph, inputs["dout"])
    step = slider(page, "step")

    def shown_step():
        return int(step.locator(".widget-readout").inner_text())

    for number in (2, 3):
        ms = act_and_wait_for_plot(page, image, lambda: page.get_by_role("button", name="next ▶").click())
        record_timing("02_staged_backward", f"next button (step {number})", ms)
        assert shown_step() == number
    ms = act_and_wait_for_plot(page, image, lambda: page.get_by_role("button", name="◀ previous").click())
    record_timing("02_staged_backward", "previous button (step 2)", ms)
    assert shown_step() == 2
    ms = act_and_wait_for_plot(page, image, lambda: type_into_readout(page, step, len(steps)))
    record_timing("02_staged_backward", f"step slider (readout {len(steps)})", ms)
    assert shown_step() == len(steps)

    view = step_view(graph, steps, len(steps) - 1)
    expected = _text(describe_step(view))
    shown = _normalized(page.locator(".widget-htmlmath").inner_text())
    # MathJax typesets the LaTeX, so compare the plain-text facts: step, node, shapes, check result
    assert view.passed
    assert shown.startswith(f"Step {len(steps)} of {len(steps)}: node ")
    for pattern in (r"Step \d+ of \d+: node \w+", r"shape \(\d+(?:, \d+)*\)", r"rel error \S+ ✔"):
        assert re.findall(pattern, expected), pattern
        assert re.findall(pattern, shown) == re.findall(pattern, expected), pattern
    assert displayed_png(image) == figure_png(draw_step(graph, view), dpi=80)
    screenshot(page, artifacts, "02_staged_backward")


def test_axes_dashboard(new_page, voila, artifacts, record_timing):
    from cs231n_norm.widgets.axes import _png, axes_view  # _png: the widget's own PNG rendering

    page, image = open_dashboard(new_page, voila, "03_normalization_axes.ipynb")
    shape = (4, 6, 2, 2)
    assert summary_text(page) == _normalized(axes_view("groupnorm", 2, shape, "one")[2])

    ms = act_and_wait_for_plot(page, image, lambda: page.locator(".widget-toggle-button", has_text="layer norm").first.click())
    record_timing("03_normalization_axes", "norm toggle (layer norm)", ms)
    assert summary_text(page) == _normalized(axes_view("layernorm", 2, shape, "one")[2])
    groups = slider(page, "G (groups)")
    assert groups.locator(".noUi-target").get_attribute("disabled") is not None, "G must be disabled for layer norm"

    ms = act_and_wait_for_plot(page, image, lambda: page.locator(".widget-toggle-button", has_text="group norm").first.click())
    record_timing("03_normalization_axes", "norm toggle (group norm)", ms)
    assert groups.locator(".noUi-target").get_attribute("disabled") is None, "G must be enabled for group norm"
    ms = act_and_wait_for_plot(page, image, lambda: press_on_handle(page, groups, "ArrowRight"))
    record_timing("03_normalization_axes", "G slider (key ArrowRight: 3)", ms)
    assert summary_text(page) == _normalized(axes_view("groupnorm", 3, shape, "one")[2])

    ms = act_and_wait_for_plot(page, image, lambda: page.get_by_label("every statistic").check())
    record_timing("03_normalization_axes", "colour radio (every statistic)", ms)
    assert summary_text(page) == _normalized(axes_view("groupnorm", 3, shape, "all")[2])
    assert displayed_png(image) == _png(axes_view("groupnorm", 3, shape, "all")[0])
    screenshot(page, artifacts, "03_normalization_axes")


def test_weight_init_dashboard(new_page, voila, artifacts, record_timing):
    from cs231n_norm.data import load_dataset
    from cs231n_norm.widgets.coupling import figure_png
    from cs231n_norm.widgets.weight_init import WeightInitExplorer, summary_html

    page, image = open_dashboard(new_page, voila, "04_weight_init.ipynb")
    explorer = WeightInitExplorer(load_dataset("digits", num_train=1000))
    scales = list(explorer.weight_scales)
    start = scales[int(np.argmin(np.abs(np.log(scales) - np.log(1e-4))))]

    def expected(scale, norm, activation="relu"):
        return _normalized(_text(summary_html(explorer.statistics(scale, norm, activation))))

    assert summary_text(page) == expected(start, "none")
    ms = act_and_wait_for_plot(page, image, lambda: page.locator(".widget-toggle-button", has_text="batch norm").first.click())
    record_timing("04_weight_init", "norm toggle (batch norm)", ms)
    assert summary_text(page) == expected(start, "batchnorm")

    ms = act_and_wait_for_plot(page, image, lambda: press_on_handle(page, slider(page, "weight scale"), "End"))
    record_timing("04_weight_init", "weight scale slider (key End)", ms)
    assert summary_text(page) == expected(scales[-1], "batchnorm")

    ms = act_and_wait_for_plot(page, image, lambda: page.locator(".widget-toggle-button", has_text="tanh").first.click())
    record_timing("04_weight_init", "activation toggle (tanh)", ms)
    assert summary_text(page) == expected(scales[-1], "batchnorm", "tanh")
    assert displayed_png(image) == figure_png(explorer.update(scales[-1], "batchnorm", "tanh")[1], dpi=80)
    screenshot(page, artifacts, "04_weight_init")


def test_batch_size_dashboard(new_page, voila, artifacts, record_timing):
    from cs231n_norm.data import load_dataset
    from cs231n_norm.widgets.batch_size import batch_noise, batch_noise_figure, hidden_units, noise_curve
    from cs231n_norm.widgets.coupling import figure_png

    page, image = open_dashboard(new_page, voila, "05_batch_size.ipynb")
    units = hidden_units(load_dataset("digits", num_train=1000))
    curve = noise_curve(units)
    options = [int(s) for s in curve[0]]

    def expected(size):
        noise = batch_noise(units, size)
        return _normalized(
            f"Batch size {size}: batch norm gives example 0 values from {noise.batchnorm_values.min():.2f} to "
            f"{noise.batchnorm_values.max():.2f} (spread {noise.batchnorm_spread:.2f}); layer norm always "
            f"{noise.layernorm_value:.2f}.")

    assert summary_text(page) == expected(5)
    next_size = options[options.index(5) + 1]
    ms = act_and_wait_for_plot(page, image, lambda: press_on_handle(page, slider(page, "batch size"), "ArrowRight"))
    record_timing("05_batch_size", f"batch size slider (key ArrowRight: {next_size})", ms)
    assert summary_text(page) == expected(next_size)
    ms = act_and_wait_for_plot(page, image, lambda: press_on_handle(page, slider(page, "batch size"), "Home"))
    record_timing("05_batch_size", f"batch size slider (key Home: {options[0]})", ms)
    assert summary_text(page) == expected(options[0])
    assert displayed_png(image) == figure_png(batch_noise_figure(batch_noise(units, options[0]), curve), dpi=80)
    screenshot(page, artifacts, "05_batch_size")
