"""The staged computational graph of a normalization layer, as data.

The forward pass is an ordered list of small named nodes (mean, subtract,
square, ...). Each node knows its own forward function and its own *local*
derivative; the staged backward pass is nothing more than a walk over the list
in reverse, handing each node the gradient that arrived from its consumers and
adding what it sends on into the gradients of its inputs (micrograd's idea,
applied to whole arrays).

The same node list drives the step-through explorer of notebook 02: every
step of :meth:`Graph.backward_steps` is one node, with the upstream gradient it
received and the downstream gradients it produced.

Batch norm and layer norm share one builder, :func:`normalization_graph`; only
the axis that the two mean nodes reduce over differs. That is why the seed's
"transpose trick" works: normalizing the rows of ``x`` is normalizing the
columns of ``x.T``. The transpose is only a relabelling of axes; gamma and
beta stay per feature in both layers, so in the trick they must be applied
after transposing back.
"""

from dataclasses import dataclass, field

import numpy as np

from . import _checks as check


def sum_to_shape(grad, shape):
    """Sum `grad` over the axes that broadcasting stretched to reach `grad.shape`.

    An input of shape ``shape`` that was broadcast in the forward pass receives
    the sum of the gradients of all the copies it was broadcast into.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


# ---------------------------------------------------------------- operations
# Each operation: forward(*inputs) -> value, and
# backward(upstream, inputs, value) -> one gradient per input (its local derivative
# times the upstream gradient, summed back to the input's shape).


class Mean:
    def __init__(self, axis):
        self.axis = axis

    def forward(self, a):
        # accumulated in float64 (see core.normalize): float32 sums of many large values drift
        return a.mean(axis=self.axis, keepdims=True, dtype=np.float64).astype(a.dtype, copy=False)

    def backward(self, upstream, inputs, value):
        (a,) = inputs
        count = a.shape[self.axis]
        return (np.broadcast_to(upstream / count, a.shape).copy(),)


class Subtract:
    def forward(self, a, b):
        return a - b

    def backward(self, upstream, inputs, value):
        a, b = inputs
        return sum_to_shape(upstream, a.shape), sum_to_shape(-upstream, b.shape)


class Square:
    def forward(self, a):
        return a**2

    def backward(self, upstream, inputs, value):
        (a,) = inputs
        return (2 * a * upstream,)


class SqrtPlusEps:
    def __init__(self, eps):
        self.eps = eps

    def forward(self, a):
        return np.sqrt(a + self.eps)

    def backward(self, upstream, inputs, value):
        return (upstream / (2 * value),)

    def check_step_size(self, h, a):
        return h * (np.abs(a) + self.eps)  # sqrt(a + eps) bends on the scale of a + eps


class Reciprocal:
    def forward(self, a):
        return 1 / a

    def backward(self, upstream, inputs, value):
        return (-upstream * value**2,)  # d(1/a)/da = -1/a^2 = -value^2

    def check_step_size(self, h, a):
        return h * np.abs(a)  # 1/a bends on the scale of a


class Multiply:
    def forward(self, a, b):
        return a * b

    def backward(self, upstream, inputs, value):
        a, b = inputs
        return sum_to_shape(upstream * b, a.shape), sum_to_shape(upstream * a, b.shape)


class Add:
    def forward(self, a, b):
        return a + b

    def backward(self, upstream, inputs, value):
        a, b = inputs
        return sum_to_shape(upstream, a.shape), sum_to_shape(upstream, b.shape)


# ---------------------------------------------------------------- the graph


@dataclass
class Node:
    """One stage of the forward pass.

    name: what the node computes (``'mu'``, ``'x_hat'``, ...); inputs: names of
    the nodes it reads; op: the operation (None for an input); value: its
    forward value; formula / local_derivative: LaTeX for the explorer.
    """

    name: str
    inputs: tuple
    op: object
    value: np.ndarray
    formula: str
    local_derivative: str = ""

    @property
    def shape(self):
        return self.value.shape

    @property
    def is_input(self):
        return self.op is None


@dataclass
class BackwardStep:
    """What one node does during the staged backward pass."""

    node: Node
    upstream: np.ndarray  # dL/d(node value), complete: every consumer has already added its part
    downstream: dict  # input name -> the part of dL/d(input) this node contributes
    input_values: list  # the forward values of the node's inputs, in order


@dataclass
class Graph:
    """An ordered list of nodes; the order is a valid (topological) evaluation order."""

    nodes: list = field(default_factory=list)

    def input(self, name, value, formula):
        self.nodes.append(Node(name, (), None, value, formula))

    def add(self, name, op, inputs, formula, local_derivative):
        values = [self[i].value for i in inputs]
        self.nodes.append(Node(name, tuple(inputs), op, op.forward(*values), formula, local_derivative))

    def __getitem__(self, name):
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")

    def __len__(self):
        return len(self.nodes)

    @property
    def output(self):
        return self.nodes[-1]

    def backward_steps(self, dout):
        """Walk the nodes in reverse, yielding one :class:`BackwardStep` per operation.

        Reverse topological order guarantees that when a node is reached, every
        node that consumed its value has already passed its gradient back, so the
        node's upstream gradient is complete.
        """
        if np.shape(dout) != self.output.shape:
            raise ValueError(f"dout must have shape {self.output.shape} (the graph's output), got shape {np.shape(dout)}")
        grads = {self.output.name: dout}
        for node in reversed(self.nodes):
            if node.is_input:
                continue
            upstream = grads.pop(node.name)
            input_values = [self[name].value for name in node.inputs]
            parts = node.op.backward(upstream, input_values, node.value)
            downstream = dict(zip(node.inputs, parts))
            for name, part in downstream.items():
                grads[name] = grads[name] + part if name in grads else part
            yield BackwardStep(node, upstream, downstream, input_values)
        return grads  # what is left: the gradients of the input nodes

    def backward(self, dout):
        """Staged backward: return {input name: gradient} for every input node."""
        # The walk's return value (the input gradients) arrives with StopIteration;
        # keeping it out of the graph means a backward pass never changes its cache.
        steps = self.backward_steps(dout)
        while True:
            try:
                next(steps)
            except StopIteration as finished:
                return finished.value

    def nbytes(self):
        """Bytes held by the node values (what a cache of this graph keeps alive)."""
        return sum(node.value.nbytes for node in self.nodes)


def normalization_graph(x, gamma, beta, eps, axis):
    """Build the staged graph of ``out = gamma * (x - mean) / sqrt(var + eps) + beta``.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    gamma, beta : ndarray, shape (D,)
        Per-feature scale and shift (for both batch norm and layer norm),
        converted to x's dtype.
    eps : float
    axis : int
        0 reduces over the batch (batch norm: statistics per feature, index i),
        1 reduces over the features (layer norm: statistics per example, index j).

    Returns
    -------
    Graph with nodes x, gamma, beta, mu, xmu, sq, var, std, inv_std, x_hat,
    scaled, out (in this order).
    """
    x = check.float_array("x", x, ndim=2)
    check.not_empty("x", x)
    gamma, beta = check.scale_and_shift(x, gamma, beta, (x.shape[1],))
    eps = check.positive_number("eps", eps)
    if axis not in (0, 1) or isinstance(axis, bool):
        raise ValueError(f"axis must be 0 (batch norm) or 1 (layer norm), got {check.describe(axis)}")
    k = "i" if axis == 0 else "j"  # the index the statistics sum over
    count = "N" if axis == 0 else "D"
    # NaN or inf in x would make numpy warn at every node on the way to the clear error
    # below: the values are built quietly, and that error is the one report.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        g = Graph()
        g.input("x", x, r"x")
        g.input("gamma", gamma, r"\gamma")
        g.input("beta", beta, r"\beta")
        g.add("mu", Mean(axis), ["x"],
              rf"\mu = \frac{{1}}{{{count}}}\sum_{k} x_{k}",
              rf"\frac{{\partial \mu}}{{\partial x_{k}}} = \frac{{1}}{{{count}}}")
        g.add("xmu", Subtract(), ["x", "mu"],
              r"x_\mu = x - \mu",
              r"\frac{\partial x_\mu}{\partial x} = 1,\quad \frac{\partial x_\mu}{\partial \mu} = -1 \text{ (summed over " + k + ")}")
        g.add("sq", Square(), ["xmu"],
              r"s = x_\mu^2",
              r"\frac{\partial s}{\partial x_\mu} = 2 x_\mu")
        g.add("var", Mean(axis), ["sq"],
              rf"\sigma^2 = \frac{{1}}{{{count}}}\sum_{k} s_{k}",
              rf"\frac{{\partial \sigma^2}}{{\partial s_{k}}} = \frac{{1}}{{{count}}}")
        g.add("std", SqrtPlusEps(eps), ["var"],
              r"\sigma_\epsilon = \sqrt{\sigma^2 + \epsilon}",
              r"\frac{\partial \sigma_\epsilon}{\partial \sigma^2} = \frac{1}{2\sigma_\epsilon}")
        g.add("inv_std", Reciprocal(), ["std"],
              r"r = 1 / \sigma_\epsilon",
              r"\frac{\partial r}{\partial \sigma_\epsilon} = -\frac{1}{\sigma_\epsilon^2}")
        g.add("x_hat", Multiply(), ["xmu", "inv_std"],
              r"\hat{x} = x_\mu \, r",
              r"\frac{\partial \hat{x}}{\partial x_\mu} = r,\quad \frac{\partial \hat{x}}{\partial r} = x_\mu \text{ (summed over " + k + ")}")
        g.add("scaled", Multiply(), ["gamma", "x_hat"],
              r"z = \gamma \hat{x}",
              r"\frac{\partial z}{\partial \hat{x}} = \gamma,\quad \frac{\partial z}{\partial \gamma} = \hat{x} \text{ (summed over i)}")
        g.add("out", Add(), ["scaled", "beta"],
              r"y = z + \beta",
              r"\frac{\partial y}{\partial z} = 1,\quad \frac{\partial y}{\partial \beta} = 1 \text{ (summed over i)}")
    # NaN or inf in x, or values whose squares overflow, leave the (small) variance not finite
    check.finite_input("x", x, statistic=g["var"].value)
    return g


def check_step(step, h=1e-6):
    """Numerically check one node's local backward: return {input name: rel error}.

    The node is treated as a function of its inputs; its analytic downstream
    gradients are compared with centred differences of
    ``sum(node.forward(inputs) * upstream)``. Use float64 values.

    Steps: the nodes that are linear or quadratic in each input (all but two) have
    no truncation error in a centred difference, so they take a large step,
    1e-3 * (1 + |entry|); the two curved ones, sqrt(var + eps) and 1/std, take
    `h` times each entry's own scale, since a variance can be 1e-8 in one feature
    and 10 in the next.
    """
    from .gradcheck import eval_numerical_gradient_array, rel_error

    if not isinstance(step, BackwardStep):
        raise TypeError(f"step must be a BackwardStep (from explore_backward), got {check.describe(step)}")
    node = step.node
    # copies, so the numerical perturbation cannot disturb the graph's stored values
    inputs = [np.array(v, dtype=np.float64) for v in step.input_values]
    errors = {}
    for position, name in enumerate(node.inputs):
        def f(value, position=position):
            args = list(inputs)
            args[position] = value
            return node.op.forward(*args)

        step_size = getattr(node.op, "check_step_size", None)
        if step_size is None:
            # Linear or quadratic in this input: the centred difference is exact for any
            # step, so take a large one, against which rounding is negligible.
            steps = 1e-3 * (1 + np.abs(inputs[position]))
        else:
            steps = step_size(h, inputs[position])
        numeric = eval_numerical_gradient_array(f, inputs[position], step.upstream, h=steps)
        errors[name] = rel_error(step.downstream[name], numeric)
    return errors


def explore_backward(graph, dout):
    """All backward steps of `graph` as a list (for the step-through explorer)."""
    return list(graph.backward_steps(dout))
