#!/usr/bin/env python
"""Write notebooks/02_staged_backward.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_02.py && python tools/run_notebooks.py 02

Every cell carries slide metadata; the prose, equations and calls live here so the
notebook can be regenerated after a change.
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "02_staged_backward.ipynb"

NAV = ("[← 01 Batch norm forward](01_batchnorm_forward.ipynb) | [Index](00_index.ipynb) | "
       "[03 Simplified backward →](03_simplified_backward.ipynb)")


cells = [
    md(f"""
{NAV}

# 02 · Batch normalization: the staged backward pass

The backward pass of batch norm looks frightening as one formula. Cut the forward pass into
small nodes (a mean, a subtraction, a square, ...) and each node's derivative is one line of
high-school calculus; the chain rule, applied node by node in reverse, does the rest. This
is how autograd engines (and Karpathy's micrograd) work. Here the node list is plain data,
`cs231n_norm.graph.normalization_graph`: the picture, the table, the explorer and the backward
pass below all read the same list.
""", "slide"),
    md("""
## Learning goals

After this notebook (about **30 minutes**) you can:

- draw batch norm as a computational graph of nine small operations and give each one's local derivative;
- run the backward pass by hand, node by node in reverse, and say why the order matters;
- explain the rules that make it work: gradients **add** where a value is used twice, are
  **summed** over the axis a value was broadcast along, and are **spread evenly** ($1/N$ each)
  by a mean;
- check every single node, and the whole pass, against numerical gradients;
- explain why a gradient check with `dout = ones` proves nothing for batch norm.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm.gradcheck import eval_numerical_gradient_array, rel_error
from cs231n_norm.graph import explore_backward, normalization_graph
from cs231n_norm.layers import batchnorm_backward, batchnorm_forward
from cs231n_norm.plots.graph import draw_graph, nodes_markdown
from cs231n_norm.widgets.staged import (
    MarkdownText,
    backward_without_variance_path,
    build_staged_explorer,
    draw_step,
    example_inputs,
    step_markdown,
    step_view,
)

np.set_printoptions(precision=4, suppress=True)
""", "skip"),
    # ------------------------------------------------------------------ the graph
    md("""
## Batch norm as a graph of small nodes

A batch $x$ of $N = 4$ examples with $D = 3$ features (each feature with its own mean and
spread), random $\\gamma$, $\\beta$, and a random upstream gradient $\\partial L/\\partial y$ (`dout`): in the
backward pass we pretend some loss $L$ sits on top of the layer and `dout` is what arrives
from it. Everything is float64, so numerical gradients are accurate to about $10^{-10}$.
The forward pass, node by node:
""", "slide"),
    code("""
data = example_inputs(N=4, D=3, seed=0)
x, gamma, beta, dout = data["x"], data["gamma"], data["beta"], data["dout"]
eps = 1e-5

graph = normalization_graph(x, gamma, beta, eps, axis=0)  # axis 0: over the batch
out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
assert np.array_equal(graph["out"].value, out), "the graph computes the layer's output"
assert np.allclose(graph["x_hat"].value.mean(axis=0), 0, atol=1e-12)

print("x per-feature mean:", np.round(x.mean(axis=0), 2))
print("x per-feature std: ", np.round(x.std(axis=0), 2))
print("nodes in evaluation order:", [node.name for node in graph.nodes])
""", "subslide"),
    code("""
# each node: its inputs, shape, forward formula and local derivative
display(MarkdownText(nodes_markdown(graph)))
""", "subslide"),
    md("""
The same list, drawn. Black arrows carry values forward; the red dashed arrows are the way back,
one for every forward edge: each carries the gradient a node sends to one of its inputs. Two
values are used twice: $x$ (by $\\mu$ and by $x_\\mu$) and $x_\\mu$ (by $s$ and by $\\hat{x}$). Those forks are
where the backward pass gets interesting.
""", "subslide"),
    code("""
display(draw_graph(graph, title="batch norm, forward (black) and backward (red)"))
"""),
    # ------------------------------------------------------------------ the rules
    md("""
## The backward pass: the node list in reverse

Every node $c = f(a, b)$ receives the gradient of the loss with respect to its own value,
$\\partial L/\\partial c$ (the **upstream** gradient), multiplies it by its **local derivative** and sends the
result to each input (the **downstream** gradient). An input that feeds several nodes collects
the sum:

$$\\frac{\\partial L}{\\partial a} = \\sum_{c \\,\\text{uses}\\, a} \\frac{\\partial L}{\\partial c}\\,\\frac{\\partial c}{\\partial a}.$$

Three rules follow:

1. **Forks add.** Walking the list in reverse guarantees that when a node is reached, every node
   that used its value has already sent its part, so its upstream gradient is complete.
2. **Broadcasts sum.** $\\mu$ has shape $(1, D)$ but is subtracted from all $N$ rows of $x$: it was
   copied $N$ times in the forward pass, so its gradient is the sum of the $N$ copies' gradients.
   The same holds for $r$ (it multiplies all rows of $x_\\mu$), for $\\gamma$ and for $\\beta$,
   whose gradients are sums over the rows too.
3. **Means spread.** The opposite case: $\\mu$ and $\\sigma^2$ are means over the $N$ rows, so their
   $(1, D)$ gradient goes back to every row with weight $1/N$. Nothing is summed there.
""", "slide"),
    code("""
steps = explore_backward(graph, dout)  # the walk of the staged backward pass
by_name = {step.node.name: step for step in steps}

print("step  node      upstream   sends to")
for number, step in enumerate(steps, start=1):
    sends = ", ".join(f"{name} {part.shape}" for name, part in step.downstream.items())
    print(f"{number:4}  {step.node.name:8}  {str(step.upstream.shape):9}  {sends}")
operations = [node.name for node in graph.nodes if not node.is_input]
assert [step.node.name for step in steps] == operations[::-1], "the node list, reversed"
""", "subslide"),
    # ------------------------------------------------------------------ node by node
    md("""
## Node by node

Each step below shows the node's formula, its local derivative, the shapes, and a numerical
check of *that node alone*: the node is treated as a function of its inputs and its downstream
gradients are compared with centred differences (`graph.check_step`). A wrong local derivative
is caught at the node where it lives.

**The affine part.** $y = z + \\beta$ and $z = \\gamma\\hat{x}$. $\\beta$ and $\\gamma$ are broadcast over the batch, so their
gradients are sums over $i$: these are exactly $d\\beta = \\sum_i \\text{dout}_i$ and
$d\\gamma = \\sum_i \\text{dout}_i\\,\\hat{x}_i$.
""", "slide"),
    code("""
view = step_view(graph, steps, list(by_name).index("out"))
display(MarkdownText(step_markdown(view)))
assert view.passed, view.errors

dbeta_sent = by_name["out"].downstream["beta"]
assert np.allclose(dbeta_sent, dout.sum(axis=0),
                   rtol=1e-13, atol=0), "d beta = sum_i dout_i"
""", "subslide"),
    code("""
view = step_view(graph, steps, list(by_name).index("scaled"))
display(MarkdownText(step_markdown(view)))
assert view.passed, view.errors

x_hat = graph["x_hat"].value
dgamma_sent = by_name["scaled"].downstream["gamma"]
assert np.allclose(dgamma_sent, (dout * x_hat).sum(axis=0), rtol=1e-13, atol=0)
""", "subslide"),
    md("""
**The variance path.** $\\hat{x} = x_\\mu\\, r$ sends gradient two ways: to $x_\\mu$ directly, and to
$r = 1/\\sigma_\\epsilon$, which carries it through $\\sigma_\\epsilon$, $\\sigma^2$ and the square $s = x_\\mu^2$ back to $x_\\mu$. The mean
$\\sigma^2 = \\frac1N \\sum_i s_i$ spreads its gradient evenly over the $N$ examples: $\\partial \\sigma^2/\\partial s_i = 1/N$.
""", "slide"),
    code("""
view = step_view(graph, steps, list(by_name).index("x_hat"))
display(MarkdownText(step_markdown(view)))
assert view.passed, view.errors
"""),
    code("""
for name in ("inv_std", "std"):
    view = step_view(graph, steps, list(by_name).index(name))
    display(MarkdownText(step_markdown(view)))
    assert view.passed, view.errors
""", "subslide"),
    code("""
for name in ("var", "sq"):
    view = step_view(graph, steps, list(by_name).index(name))
    display(MarkdownText(step_markdown(view)))
    assert view.passed, view.errors
""", "subslide"),
    md("""
**The fork at $x_\\mu$ and the mean path.** $x_\\mu$ was used by $s$ and by $\\hat{x}$; its upstream gradient is
the sum of what both sent. Then $x_\\mu = x - \\mu$ sends the gradient to $x$ unchanged and to $\\mu$ with a
minus sign, summed over the batch; $\\mu$ spreads its gradient back over $x$ with weight $1/N$. The
gradient of $x$ is the sum of the two routes, and that is the layer's $dx$.
""", "slide"),
    code("""
for name in ("xmu", "mu"):
    view = step_view(graph, steps, list(by_name).index(name))
    display(MarkdownText(step_markdown(view)))
    assert view.passed, view.errors
"""),
    code("""
fork = by_name["sq"].downstream["xmu"] + by_name["x_hat"].downstream["xmu"]
assert np.array_equal(by_name["xmu"].upstream, fork), "forks add: from s + from x_hat"
via_xmu, via_mu = by_name["xmu"].downstream["x"], by_name["mu"].downstream["x"]
dx = via_xmu + via_mu
dx_layer, dgamma, dbeta = batchnorm_backward(dout, cache)
assert np.array_equal(dx, dx_layer), "dx = route through x_mu + route through mu"
assert np.array_equal(via_mu, np.broadcast_to(via_mu[0], via_mu.shape)), "equal rows"
print("part of dx sent by x_mu (the direct path and the variance path):\\n", via_xmu)
print("part of dx sent by mu (the mean path; the same for every example):\\n", via_mu)
print("dx = their sum:\\n", dx)
""", "subslide"),
    md("""
The mean path adds the same row to every example: $\\mu$ spreads its gradient evenly, $1/N$ each.
Each part alone is wrong; only their sum is the gradient. Forget the route through $\\mu$, or the
one through $\\sigma^2$, and $dx$ is off by a term of the same size as $dx$ itself (both
measured below).
""", "fragment"),
    md("""
**How close are the node checks?** The steps above print each check as the bound it passed.
Seven of the nine nodes are linear or quadratic in each input, and for those a centred
difference has no truncation error at all: they agree up to rounding, below $10^{-12}$. The two
curved ones, $\\sigma_\\epsilon = \\sqrt{\\sigma^2+\\epsilon}$ and $r = 1/\\sigma_\\epsilon$, keep the small truncation error of a finite
step, below $10^{-10}$. (The live explorer below shows the exact numbers.)
""", "subslide"),
    code("""
curved = {"std", "inv_std"}  # sqrt(var + eps) and 1 / std
worst = {"linear or quadratic": 0.0, "curved": 0.0}  # largest rel error of each kind
for index in range(len(steps)):
    view = step_view(graph, steps, index)
    assert view.passed, (view.name, view.errors)
    kind = "curved" if view.name in curved else "linear or quadratic"
    worst[kind] = max(worst[kind], *view.errors.values())
assert worst["linear or quadratic"] < 1e-12 and worst["curved"] < 1e-10
print(f"all {len(steps)} node checks pass; rel error < 1e-12 for the linear and")
print("quadratic nodes, < 1e-10 for the square root and the reciprocal")
"""),
    # ------------------------------------------------------------------ explorer
    md("""
## Step through it yourself

The explorer walks the same steps. For the current node it shows the formula, the local
derivative, the gradient arriving and the gradients sent on (numbers and shapes), and runs the
numerical check of that node afresh; the picture highlights the node (gold), the gradient
arriving (orange) and the gradients it sends (red). Use the buttons or the slider. (It needs a
running kernel; the stored picture below is step 8, the fork at $x_\\mu$.)
""", "slide"),
    code("""
build_staged_explorer(x, gamma, beta, dout, eps=eps)
""", tags=["nbval-ignore-output"]),
    code("""
fork_view = step_view(graph, steps, 7)
assert fork_view.name == "xmu" and fork_view.passed
display(draw_step(graph, fork_view))
""", "subslide"),
    # ------------------------------------------------------------------ whole check
    md("""
## The whole staged backward pass, checked numerically

Every node passed its own check, so the chain must be right, but we check the whole layer
anyway, against centred differences of the full forward pass:

$$\\frac{\\partial L}{\\partial x_k} \\approx \\sum_{i,j} \\text{dout}_{ij}\\,
\\frac{y_{ij}(x + h\\,e_k) - y_{ij}(x - h\\,e_k)}{2h}, \\qquad h = 10^{-5},$$

and the same for $\\gamma$ and $\\beta$. They are compared with `rel_error`, the relative error of the worst
entry $k$:

$$\\max_k \\frac{|a_k - b_k|}{\\max(10^{-8},\\, |a_k| + |b_k|)} .$$

For a correct float64 gradient it is far below the $10^{-8}$ we require; a wrong one gives
0.1 to 1 (two examples below). (An entry
of the gradient that happens to be close to 0 makes the maximum larger: notebook 03 shows it,
and a measure that such an entry does not fool.)
""", "slide"),
    code("""
def forward(x_, gamma_, beta_):
    return batchnorm_forward(x_, gamma_, beta_, {"mode": "train", "eps": eps})[0]


numerical = {
    "dx": eval_numerical_gradient_array(
        lambda v: forward(v, gamma, beta), x.copy(), dout),
    "dgamma": eval_numerical_gradient_array(
        lambda v: forward(x, v, beta), gamma.copy(), dout),
    "dbeta": eval_numerical_gradient_array(
        lambda v: forward(x, gamma, v), beta.copy(), dout),
}
# (later notebooks make these three calls with cs231n_norm.numerical_gradients)
staged = {"dx": dx_layer, "dgamma": dgamma, "dbeta": dbeta}
for name in staged:
    error = rel_error(staged[name], numerical[name])
    assert error < 1e-8, (name, error)
    print(f"{name:6}: staged backward = numerical gradient (rel error < 1e-8)")
""", "subslide"),
    # ------------------------------------------------------------------ dout = ones
    md("""
## Why `dout = ones` proves nothing

A tempting shortcut is to check the gradient with `dout = np.ones(...)`, i.e. of the loss
$L = \\sum_{i,j} y_{ij}$. But batch norm's output sums to the same value whatever $x$ is:

$$\\sum_i y_{ij} = \\gamma_j \\sum_i \\hat{x}_{ij} + N\\beta_j = N\\beta_j ,$$

because $\\hat{x}$ has mean 0 in every column. So the true $dx$ is **zero**, and any backward pass that
returns zero for this `dout` passes. One such broken pass drops the variance path,
$dx = \\gamma\\, r\\,(\\text{dout} - \\operatorname{mean}_i \\text{dout})$: it is exactly zero for a constant `dout`.
Its columns even sum to zero for every `dout`, like the true $dx$'s, so "$dx$ sums to zero per
feature" is no test either.
""", "slide"),
    code("""
ones = np.ones_like(x)
true_dx_ones = batchnorm_backward(ones, cache)[0]
numerical_ones = eval_numerical_gradient_array(
    lambda v: forward(v, gamma, beta), x.copy(), ones)
broken_ones = backward_without_variance_path(ones, cache)

assert np.max(np.abs(true_dx_ones)) < 1e-12, "with dout = ones the true dx is 0"
assert np.max(np.abs(numerical_ones)) < 1e-8, "... and so is the numerical one"
assert np.max(np.abs(broken_ones)) == 0.0, "the broken pass returns exactly 0..."
assert np.allclose(broken_ones, numerical_ones, rtol=0, atol=1e-8), "... and PASSES"

broken = backward_without_variance_path(dout, cache)
assert np.allclose(broken.sum(axis=0), 0, atol=1e-12), "its columns sum to 0, like dx's"
broken_error = rel_error(broken, numerical["dx"])
assert broken_error > 0.1, "a random dout exposes it"
print("dout = ones:  largest |dx| of the true pass < 1e-12, of the broken pass 0.0")
print("              -> both look right")
print(f"random dout:  rel error of the broken dx {broken_error:.2f},")
print("              of the staged dx < 1e-8")
""", "subslide"),
    code("""
# the other half of "forget a route": keep the variance path, drop the one through mu
no_mean_route = cache.gamma * cache.inv_std * (
    dout - cache.x_hat * (dout * cache.x_hat).mean(axis=0))
no_mean_error = rel_error(no_mean_route, numerical["dx"])
assert no_mean_error > 0.1, "dropping the route through mu is as wrong"
print(f"without the route through mu: rel error of dx {no_mean_error:.2f}")
""", "subslide"),
    md("""
So every gradient check in this suite uses a random `dout` (and random $\\gamma$, $\\beta$: with $\\gamma = 1$
a backward pass that forgets the factor $\\gamma$ passes too). One more habit: the walk visits each
node exactly once, so every intermediate gradient is computed once; computing $dx$ a second way
alongside it is wasted work. Notebook 03 folds the whole walk into one line.
""", "fragment"),
    # ------------------------------------------------------------------ summary
    md("""
## Summary

- Batch norm is nine small operations; each has a one-line local derivative (`Node.local_derivative`).
- The staged backward pass walks the node list in reverse: each node multiplies its complete upstream
  gradient by its local derivative and sends the result to its inputs.
- Gradients **add** where a value is used twice ($x$, $x_\\mu$) and are **summed** over the axis along
  which a value was broadcast ($\\mu$, $r$, $\\gamma$, $\\beta$); a mean ($\\mu$, $\\sigma^2$) **spreads** its gradient
  back evenly, $1/N$ to each row.
- Every node, and the whole pass, matches numerical gradients (rel error $< 10^{-8}$ in float64).
- `dout = ones` gives a true $dx$ of 0 and lets wrong backward passes through: always check with a random `dout`.

""", "slide"),
    md("""
## Questions

**1.** Why must the backward pass visit the nodes in *reverse* evaluation order?

<details><summary>Answer</summary>

A node may only pass its gradient on once its own upstream gradient is complete, i.e. once every node
that used its value has sent its part. Reverse topological order guarantees that (for $x_\\mu$: both $s$ and
$\\hat{x}$ come later in the forward pass, so earlier in the backward one).
</details>

**2.** The node $x_\\mu = x - \\mu$ receives an upstream gradient of shape $(N, D)$. What shape does the part it
sends to $\\mu$ have, and how is it computed?

<details><summary>Answer</summary>

$(1, D)$: the local derivative is $-1$ for every element, and $\\mu$ was broadcast over the $N$ rows, so the
upstream gradient is negated and summed over the batch axis.
</details>

**3.** With `dout = ones`, the true $dx$ is zero. Does the same hold for $d\\beta$ and $d\\gamma$?

<details><summary>Answer</summary>

For $d\\gamma$ yes, for $d\\beta$ no. $d\\beta = \\sum_i \\text{dout}_i = N$ per feature, but
$d\\gamma = \\sum_i \\text{dout}_i\\,\\hat{x}_i = \\sum_i \\hat{x}_i = 0$ per feature, like $dx$. So $d\\gamma$ is checked just as
weakly: a $d\\gamma$ that forgets the factor dout ($\\sum_i \\hat{x}_i$) is also 0 and passes.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
