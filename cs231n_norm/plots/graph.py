"""Picture of a staged computational graph (notebook 02 and its explorer).

The picture is generated from the same :class:`cs231n_norm.graph.Graph` that
the staged backward pass walks: one box per node (its symbol and the shape of
its value), one black arrow per forward edge (input -> node) and one red
dashed arrow per backward edge (node -> input: the gradient the node sends
on). Nothing about batch norm is hard-coded; a different node list gives a
different picture.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..graph import Graph

BOX_WIDTH, BOX_HEIGHT = 0.78, 0.56
FORWARD_COLOR, BACKWARD_COLOR = "black", "tab:red"
HIGHLIGHT_COLOR, UPSTREAM_COLOR = "gold", "tab:orange"


def _check_graph(graph):
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a cs231n_norm.graph.Graph, got {type(graph).__name__}")
    if not graph.nodes:
        raise ValueError("graph has no nodes")
    return graph


def edges(graph):
    """Forward edges of `graph` as (input name, node name) pairs, in node order."""
    return [(source, node.name) for node in _check_graph(graph).nodes for source in node.inputs]


def layout(graph):
    """Positions for drawing: {node name: (column, row)}.

    Columns follow the evaluation order: an operation sits one column right of
    its deepest input, so every forward edge points right. Inputs consumed by
    the first operations (the data ``x``) start the main row 0; inputs joined in
    later (the parameters gamma, beta) sit on row -1, one column left of the node
    that first uses them.
    """
    graph = _check_graph(graph)
    column = {}
    for node in graph.nodes:
        if not node.is_input:
            column[node.name] = 1 + max(column.get(name, 0) for name in node.inputs)
    position = {}
    for node in graph.nodes:
        if node.is_input:
            consumers = [column[other.name] for other in graph.nodes if node.name in other.inputs]
            first_use = min(consumers) if consumers else 1
            position[node.name] = (first_use - 1, 0 if first_use == 1 else -1)
        else:
            position[node.name] = (column[node.name], 0)
    return position


def node_symbol(node):
    """The LaTeX symbol of a node: the left-hand side of its formula (``\\hat{x}`` for x_hat)."""
    return node.formula.split("=", 1)[0].strip()


def _shape_text(shape):
    return str(tuple(int(n) for n in shape))


def nodes_markdown(graph):
    """The node list as a Markdown table: node, inputs, shape, forward formula, local derivative (LaTeX)."""
    graph = _check_graph(graph)
    rows = ["| # | node | inputs | shape | forward | local derivative |", "|---|---|---|---|---|---|"]
    for number, node in enumerate(graph.nodes):
        inputs = ", ".join(f"`{name}`" for name in node.inputs) or "(input)"
        derivative = f"${node.local_derivative}$" if node.local_derivative else ""
        rows.append(f"| {number} | `{node.name}` | {inputs} | {_shape_text(node.shape)} | ${node.formula}$ | {derivative} |")
    return "\n".join(rows)


def _arrow(ax, start, end, color, style, rad, lw, zorder, alpha=1.0):
    patch = FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=11, color=color, lw=lw, linestyle=style,
        connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0, zorder=zorder, alpha=alpha,
    )
    ax.add_patch(patch)


def _edge_points(a, b, offset):
    """End points of an edge from box centre a to box centre b, trimmed to the box borders,
    shifted sideways by `offset` (so the forward and backward arrows of one edge run side by side)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    direction = (b - a) / np.linalg.norm(b - a)
    normal = np.array([-direction[1], direction[0]])
    # distance from a box centre to its border along `direction`
    reach = min(BOX_WIDTH / 2 / max(abs(direction[0]), 1e-9), BOX_HEIGHT / 2 / max(abs(direction[1]), 1e-9)) + 0.03
    return tuple(a + direction * reach + normal * offset), tuple(b - direction * reach + normal * offset)


def draw_graph(graph, highlight=None, done=(), ax=None, figsize=(12.5, 2.9), title=None):
    """Draw `graph`: boxes for nodes, black forward arrows, red dashed backward arrows.

    Parameters
    ----------
    graph : cs231n_norm.graph.Graph
    highlight : optional node name: the node the backward pass is at. Its box is
        gold, the gradients arriving at it (upstream) are thick orange arrows and
        the gradients it sends on to its inputs are thick red arrows.
    done : node names whose backward step is already finished (tinted red)
    ax : optional matplotlib Axes to draw into; by default a new Figure is made
    figsize : size of the new Figure
    title : optional title

    Returns
    -------
    matplotlib.figure.Figure (the one `ax` belongs to, when given)
    """
    graph = _check_graph(graph)
    names = [node.name for node in graph.nodes]
    if highlight is not None and highlight not in names:
        raise ValueError(f"highlight must be a node name of the graph ({', '.join(names)}), got {highlight!r}")
    unknown = sorted(set(done) - set(names))
    if unknown:
        raise ValueError(f"done must hold node names of the graph ({', '.join(names)}), got unknown {unknown}")
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    position = layout(graph)

    for source, target in edges(graph):
        a, b = position[source], position[target]
        span = b[0] - a[0]
        skips = a[1] == b[1] and span > 1  # runs along a row past other nodes: bend it
        arrives = target == highlight  # the forward edge into the highlighted node...
        sends = arrives  # ...carries back the gradient it sends on
        receives = source == highlight  # the highlighted node's consumers send it gradient
        back_color = BACKWARD_COLOR if sends else (UPSTREAM_COLOR if receives else BACKWARD_COLOR)
        back_lw = 2.6 if (sends or receives) else 1.0
        back_alpha = 1.0 if (sends or receives or highlight is None) else 0.45
        if skips:
            # forward arc above the row, backward arc below it
            bend = 0.55 / span
            start, end = (a[0] + 0.1, a[1] + BOX_HEIGHT / 2), (b[0] - 0.1, b[1] + BOX_HEIGHT / 2)
            _arrow(ax, start, end, FORWARD_COLOR, "-", -bend, 1.0, 1)
            start, end = (b[0] - 0.1, b[1] - BOX_HEIGHT / 2), (a[0] + 0.1, a[1] - BOX_HEIGHT / 2)
            _arrow(ax, start, end, back_color, "--", -bend, back_lw, 2, back_alpha)
        else:
            start, end = _edge_points(a, b, 0.07)
            _arrow(ax, start, end, FORWARD_COLOR, "-", 0.0, 1.0, 1)
            start, end = _edge_points(b, a, 0.07)
            _arrow(ax, start, end, back_color, "--", 0.0, back_lw, 2, back_alpha)

    for node in graph.nodes:
        x, y = position[node.name]
        if node.name == highlight:
            face = HIGHLIGHT_COLOR
        elif node.name in done:
            face = "mistyrose"
        elif node.is_input:
            face = "lightcyan"
        else:
            face = "white"
        box = FancyBboxPatch((x - BOX_WIDTH / 2, y - BOX_HEIGHT / 2), BOX_WIDTH, BOX_HEIGHT,
                             boxstyle="round,pad=0.0,rounding_size=0.08", facecolor=face,
                             edgecolor="black", lw=2.0 if node.name == highlight else 1.0, zorder=3)
        ax.add_patch(box)
        ax.text(x, y + 0.09, f"${node_symbol(node)}$", ha="center", va="center", fontsize=12, zorder=4)
        ax.text(x, y - 0.16, f"{node.name} {_shape_text(node.shape)}", ha="center", va="center", fontsize=6.5,
                family="monospace", color="dimgray", zorder=4)

    columns = [p[0] for p in position.values()]
    rows = [p[1] for p in position.values()]
    ax.set_xlim(min(columns) - 0.55, max(columns) + 0.55)
    ax.set_ylim(min(rows) - 0.5, max(rows) + 0.75)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.plot([], [], color=FORWARD_COLOR, lw=1, label="forward: value")
    ax.plot([], [], color=BACKWARD_COLOR, lw=1, ls="--", label="backward: gradient")
    if highlight is not None:
        ax.plot([], [], color=UPSTREAM_COLOR, lw=2.6, ls="--", label="gradient arriving (upstream)")
        ax.plot([], [], color=BACKWARD_COLOR, lw=2.6, ls="--", label="gradient sent on (downstream)")
    ax.legend(loc="lower left", fontsize=7, frameon=False, ncols=2 if highlight is None else 4)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
