"""Step-through explorer of the staged backward pass (notebook 02).

The explorer walks :func:`cs231n_norm.graph.explore_backward`, the same list
of steps the staged backward pass takes, one node at a time. For the current
node it shows the formula, the local derivative, the gradient arriving from
the node's consumers (upstream), the gradient it sends on to each input
(downstream), their shapes, and a numerical check of that one node
(:func:`cs231n_norm.graph.check_step`); the graph picture highlights the node.

The update logic is plain functions that tests call directly:
:func:`step_view` (the facts about one step), :func:`gradient_route` (in words,
how a gradient changes shape on the way back: summed over a broadcast axis, or
spread evenly by a mean), :func:`describe_step` (the facts as HTML with LaTeX,
for the live explorer), :func:`step_markdown` (the same as Markdown, for stored
notebook outputs, displayed with :class:`MarkdownText` so they are compared) and
:func:`draw_step` (the figure). :func:`build_staged_explorer`
wires them to ipywidgets.
"""

import html
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from .. import _checks as check
from ..graph import Graph, Mean, check_step, explore_backward, normalization_graph
from ..layers import _cache_of, _upstream
from ..plots.graph import draw_graph, node_symbol
from .coupling import figure_png

CHECK_TOLERANCE = 1e-8  # a node's local backward passes when its rel error is below this
_TOLERANCE_TEXT = f"{CHECK_TOLERANCE:.0e}".replace("e-0", "e-")  # '1e-8'


class MarkdownText:
    """Markdown for a notebook output, whose plain-text form is the same Markdown source.

    ``IPython.display.Markdown`` stores "<IPython.core.display.Markdown object>" as its
    plain text, and plain text is what nbval compares: a derivation shown that way could
    change unnoticed. Displayed, this renders as Markdown in Jupyter and in the slides,
    and the stored plain text is the source itself, compared like any printed output.
    """

    def __init__(self, markdown):
        self.markdown = str(markdown)

    def _repr_markdown_(self):
        return self.markdown

    def __repr__(self):
        return self.markdown


def example_inputs(N=4, D=3, seed=0):
    """Small float64 inputs for a batch-norm layer, with different statistics per feature.

    Feature j has mean ``-2 + 3 j`` and standard deviation ``0.5 * 2**j``, so a
    mixed-up axis shows; gamma, beta and the upstream gradient dout are random
    (never ones: see notebook 02).

    Returns
    -------
    dict with x (N, D), gamma (D,), beta (D,), dout (N, D), all float64
    """
    for name, value in (("N", N), ("D", D)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {check.describe(value)}")
    rng = np.random.default_rng(seed)
    means = -2.0 + 3.0 * np.arange(D)
    stds = 0.5 * 2.0 ** np.arange(D)
    return {
        "x": rng.normal(means, stds, size=(N, D)),
        "gamma": rng.uniform(0.5, 2.0, size=D) * rng.choice([-1.0, 1.0], size=D),
        "beta": rng.normal(size=D),
        "dout": rng.normal(size=(N, D)),
    }


@dataclass
class StepView:
    """Everything the explorer shows about one backward step."""

    index: int  # position in the backward walk, 0 = the output node
    count: int  # number of steps in the walk
    name: str
    symbol: str  # LaTeX symbol of the node (left-hand side of its formula)
    formula: str
    local_derivative: str
    upstream: np.ndarray  # dL/d(node), complete when the step runs
    downstream: dict  # input name -> the part of dL/d(input) this node sends
    input_symbols: dict  # input name -> LaTeX symbol
    errors: dict  # input name -> rel error of the analytic part against centred differences
    is_mean: bool = False  # the node is a mean (it reduces its input over an axis)

    @property
    def passed(self):
        return all(error < CHECK_TOLERANCE for error in self.errors.values())

    def route(self, name):
        """In words, how the gradient sent to input `name` is shaped from the one arriving
        (see :func:`gradient_route`)."""
        return gradient_route(np.shape(self.upstream), np.shape(self.downstream[name]), self.is_mean)


_AXIS_NAMES = {0: "rows (examples)", 1: "columns (features)"}


def _axes_words(axes, shape):
    """'the 4 rows (examples)' for axes (0,) of shape (4, 3); joined with 'and' for several."""
    names = _AXIS_NAMES if len(shape) == 2 else {}
    return " and ".join(f"the {shape[axis]} {names.get(axis, f'entries along axis {axis}')}" for axis in axes)


def gradient_route(upstream_shape, downstream_shape, is_mean):
    """How a node turns the gradient arriving (upstream) into the one it sends to an input.

    Three cases, told apart by the shapes:

    - the same shape: elementwise, nothing to say (returns ``""``);
    - the input is smaller: the forward pass broadcast it (a (1, D) mean
      subtracted from all N rows, a (D,) gamma multiplying them), so its gradient
      is the **sum** of the gradients of all the copies, over the broadcast axes;
    - the input is larger: the node reduced it. For a mean over m values every
      input entry gets ``1/m`` of the gradient: it is **spread evenly** back, not summed.

    Parameters
    ----------
    upstream_shape, downstream_shape : tuple of int
    is_mean : bool, whether the node is a mean (the only reducing node of the graph)

    Returns
    -------
    str, e.g. ``"summed over the 4 rows (examples), along which the forward pass broadcast it"``
    """
    upstream_shape, downstream_shape = tuple(upstream_shape), tuple(downstream_shape)
    if upstream_shape == downstream_shape:
        return ""
    if int(np.prod(downstream_shape)) < int(np.prod(upstream_shape)):
        aligned = (1,) * (len(upstream_shape) - len(downstream_shape)) + downstream_shape
        axes = [a for a, (up, down) in enumerate(zip(upstream_shape, aligned)) if down == 1 and up > 1]
        return f"summed over {_axes_words(axes, upstream_shape)}, along which the forward pass broadcast it"
    aligned = (1,) * (len(downstream_shape) - len(upstream_shape)) + upstream_shape
    axes = [a for a, (up, down) in enumerate(zip(aligned, downstream_shape)) if up == 1 and down > 1]
    count = int(np.prod([downstream_shape[a] for a in axes]))
    if not is_mean:
        return f"copied back over {_axes_words(axes, downstream_shape)}"
    return (f"spread evenly back over {_axes_words(axes, downstream_shape)}, "
            f"1/{count} to each (the node is a mean)")


def _check_steps(steps):
    if not isinstance(steps, (list, tuple)) or not steps:
        raise TypeError(f"steps must be the non-empty list from explore_backward, got {check.describe(steps)}")
    return steps


def _check_index(index, count):
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
        raise ValueError(f"index must be an integer in [0, {count - 1}], got {check.describe(index)}")
    return int(index)


def step_view(graph, steps, index, h=1e-6):
    """The facts about backward step `index`, with a fresh numerical check of that node.

    Parameters
    ----------
    graph : cs231n_norm.graph.Graph the steps were made from
    steps : list of BackwardStep, from ``explore_backward(graph, dout)``
    index : int, 0 <= index < len(steps) (0 is the output node, the first step backward)
    h : float, the step of the centred differences

    Returns
    -------
    StepView
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a cs231n_norm.graph.Graph, got {check.describe(graph)}")
    steps = _check_steps(steps)
    index = _check_index(index, len(steps))
    step = steps[index]
    node = step.node
    return StepView(
        index=index,
        count=len(steps),
        name=node.name,
        symbol=node_symbol(node),
        formula=node.formula,
        local_derivative=node.local_derivative,
        upstream=step.upstream,
        downstream=dict(step.downstream),
        input_symbols={name: node_symbol(graph[name]) for name in node.inputs},
        errors=check_step(step, h=h),
        is_mean=isinstance(node.op, Mean),
    )


def _shape(array):
    return str(tuple(int(n) for n in np.shape(array)))


def describe_step(view):
    """The step as HTML with LaTeX (for ipywidgets.HTMLMath, or IPython's HTML display).

    Lists the node, its formula, its local derivative, the upstream gradient's
    shape, each downstream gradient's shape (and, where the shapes differ, whether
    it was summed over a broadcast axis or spread evenly by a mean:
    :func:`gradient_route`), and the numerical check with its exact rel error
    (for the live explorer; :func:`step_markdown` prints a bound instead).
    """
    if not isinstance(view, StepView):
        raise TypeError(f"view must be a StepView from step_view, got {check.describe(view)}")
    up = rf"\frac{{\partial L}}{{\partial {view.symbol}}}"
    lines = [
        f"<b>Step {view.index + 1} of {view.count}: node <code>{html.escape(view.name)}</code></b>",
        rf"forward: $${view.formula}$$",
        rf"local derivative: $${view.local_derivative}$$",
        rf"arrives (upstream): ${up}$, shape {_shape(view.upstream)}",
    ]
    for name, part in view.downstream.items():
        symbol = view.input_symbols[name]
        route = view.route(name)
        route = f", {route}" if route else ""
        error = view.errors[name]
        verdict = "&#10004;" if error < CHECK_TOLERANCE else "&#10008; WRONG"
        lines.append(
            rf"sends to <code>{html.escape(name)}</code>: "
            rf"${up} \cdot \frac{{\partial {view.symbol}}}{{\partial {symbol}}}$, shape {_shape(part)}{route}; "
            f"numerical check: rel error {error:.1e} {verdict}"
        )
    return "<br>".join(lines)


def step_markdown(view):
    """The step as Markdown with LaTeX (for ``IPython.display.Markdown``; renders on the web too).

    The same facts as :func:`describe_step`, with one difference: a check that
    passes is reported as the bound it passed (``rel error < 1e-8``), not as its
    exact value. The exact value of a rel error of ~1e-13 is rounding noise that
    changes with the CPU and the numpy build, and notebook outputs are compared
    as text. A check that fails shows its exact error.
    """
    if not isinstance(view, StepView):
        raise TypeError(f"view must be a StepView from step_view, got {check.describe(view)}")
    up = rf"\frac{{\partial L}}{{\partial {view.symbol}}}"
    lines = [
        f"**Step {view.index + 1} of {view.count}: node `{view.name}`**",
        "",
        f"- forward: ${view.formula}$",
        f"- local derivative: ${view.local_derivative}$",
        f"- arrives (upstream): ${up}$, shape {_shape(view.upstream)}",
    ]
    for name, part in view.downstream.items():
        route = view.route(name)
        route = f", {route}" if route else ""
        error = view.errors[name]
        if error < CHECK_TOLERANCE:
            verdict = f"rel error < {_TOLERANCE_TEXT} ✔"
        else:
            verdict = f"rel error {error:.1e} ✘ WRONG"
        local = rf"\frac{{\partial {view.symbol}}}{{\partial {view.input_symbols[name]}}}"
        lines.append(
            f"- sends to `{name}`: ${up} \\cdot {local}$, shape {_shape(part)}{route}; "
            f"numerical check of this node: {verdict}"
        )
    return "\n".join(lines)


def _heatmap(ax, values, title, rows):
    """Values as coloured cells with their numbers; `rows` fixes the height so every
    panel uses the same cell size (a (1, D) gradient is a strip, not a stretched block)."""
    values = np.atleast_2d(values)
    limit = float(np.max(np.abs(values))) or 1.0
    ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="equal")
    if values.size <= 40:
        for (i, j), value in np.ndenumerate(values):
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)


def draw_step(graph, view, figsize=(12.5, 4.6)):
    """Figure of one step: the graph with the current node highlighted (top) and
    heatmaps of the gradient arriving and the gradients sent on (bottom).

    Parameters
    ----------
    graph : the Graph the steps were made from
    view : StepView from :func:`step_view`

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(view, StepView):
        raise TypeError(f"view must be a StepView from step_view, got {check.describe(view)}")
    order = [node.name for node in reversed(graph.nodes) if not node.is_input]
    done = order[: view.index]
    fig = Figure(figsize=figsize, layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.35, 1])
    draw_graph(graph, highlight=view.name, done=done, ax=top.add_subplot(),
               title=f"backward step {view.index + 1} of {view.count}: node {view.name}")
    panels = [(view.upstream, rf"arrives: $\partial L/\partial {view.symbol}$  {_shape(view.upstream)}")]
    for name, part in view.downstream.items():
        panels.append((part, rf"sent to {name}: part of $\partial L/\partial {view.input_symbols[name]}$  {_shape(part)}"))
    axes = np.atleast_1d(bottom.subplots(1, len(panels)))
    rows = max(np.atleast_2d(values).shape[0] for values, _ in panels)
    for ax, (values, title) in zip(axes, panels):
        _heatmap(ax, values, title, rows)
    return fig


def backward_without_variance_path(dout, cache):
    """A deliberately WRONG batch-norm backward, for teaching: it treats the variance as a constant.

    ``dx = gamma * inv_std * (dout - mean_i(dout))`` keeps the path through the
    mean but drops the one through the variance. Like the true dx, its columns
    sum to zero, and for ``dout = ones`` it returns exactly zero, which is also
    the true gradient: a check with ``dout = ones`` cannot tell it from the
    right answer. A random dout can.

    Parameters
    ----------
    dout : ndarray, shape (N, D)
    cache : from ``batchnorm_forward`` in train mode

    Returns
    -------
    dx : ndarray, shape (N, D) (wrong, except when dout is constant per feature)
    """
    cache = _cache_of(cache, "batchnorm", "backward_without_variance_path")
    dout = _upstream(dout, cache)
    return cache.gamma * cache.inv_std * (dout - dout.mean(axis=0, keepdims=True))


def build_staged_explorer(x=None, gamma=None, beta=None, dout=None, eps=1e-5, axis=0, dpi=80):
    """A step-through explorer of the staged backward pass of batch norm (axis=0) or layer norm (axis=1).

    Parameters
    ----------
    x : ndarray (N, D), gamma, beta : (D,), dout : (N, D): default :func:`example_inputs`
        (keep them small: every element is shown and numerically checked)
    eps : float
    axis : 0 (batch norm) or 1 (layer norm)
    dpi : resolution of the picture

    Returns
    -------
    ipywidgets.VBox: Previous / Next buttons and a slider over the steps, the
    step's description (HTMLMath) and the picture (Image).
    """
    import ipywidgets as widgets

    defaults = example_inputs()
    x = check.float_array("x", defaults["x"] if x is None else x, ndim=2)
    N, D = x.shape
    gamma = check.float_array("gamma", defaults["gamma"] if gamma is None else gamma, dtype=np.float64)
    beta = check.float_array("beta", defaults["beta"] if beta is None else beta, dtype=np.float64)
    dout = check.float_array("dout", defaults["dout"] if dout is None else dout, dtype=np.float64)
    check.same_shape("gamma", gamma, (D,))
    check.same_shape("beta", beta, (D,))
    check.same_shape("dout", dout, (N, D))
    eps = check.positive_number("eps", eps)
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (batch norm) or 1 (layer norm), got {check.describe(axis)}")

    graph = normalization_graph(x.astype(np.float64), gamma, beta, eps, axis)
    steps = explore_backward(graph, dout)
    slider = widgets.IntSlider(value=1, min=1, max=len(steps), description="step", continuous_update=False)
    previous = widgets.Button(description="◀ previous", layout=widgets.Layout(width="110px"))
    following = widgets.Button(description="next ▶", layout=widgets.Layout(width="110px"))
    text = widgets.HTMLMath()
    picture = widgets.Image(format="png")

    def show(change=None):
        view = step_view(graph, steps, slider.value - 1)
        text.value = describe_step(view)
        picture.value = figure_png(draw_step(graph, view), dpi=dpi)

    def move(delta):
        slider.value = min(max(slider.value + delta, slider.min), slider.max)

    previous.on_click(lambda _: move(-1))
    following.on_click(lambda _: move(+1))
    slider.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([previous, following, slider]), text, picture])
