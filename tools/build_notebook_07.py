#!/usr/bin/env python
"""Write notebooks/07_exercises.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_07.py && python tools/run_notebooks.py 07

The notebook is stored *as given to learners*: the exercise cells hold CS231n-style
skeletons that return None, so every check reports "not implemented yet" and the
notebook runs green under nbval. tests/test_notebook_07_solutions.py fills the
exercise cells (marked with ``metadata.exercise``) with solutions and runs the
notebook to prove every check then passes (check cells carry ``metadata.selfcheck``).
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "07_exercises.ipynb"

NAV = "[← 06 Batch size](06_batch_size.ipynb) | [Index](00_index.ipynb)"


def exercise(name, source):
    """A cell the learner fills in (the solutions test finds it by metadata.exercise)."""
    return code(source, "subslide", exercise=name)


def check(name, source):
    """A cell that runs a self-check and shows its report (metadata.selfcheck names the check).

    On a slide of its own, after the exercise's: a filled-in report is long."""
    return code(source, "subslide", selfcheck=name)


cells = [
    md(NAV + r"""

# 07 · Exercises: write it yourself, and let the check name your mistake

You have seen batch norm and layer norm from the inside. Now write them. After each exercise,
a **self-check** runs your function on inputs chosen to make the common mistakes visible, and
when something is wrong it does not just print `dx error: 0.66`: it tells you *which* mistake
the numbers point to, what it saw, and where to look.
""", "slide"),
    md(r"""
## Learning goals

After this notebook (about **45 minutes**) you can:

- implement batch norm's forward pass with train and test modes and running statistics;
- implement its backward pass twice: staged (node by node) and simplified (one line for $dx$);
- implement layer norm's forward and backward passes;
- read a self-check report, and recognise the classic mistakes by their symptoms.

Work top to bottom: fill in each `TODO`, run the cell, then run the check below it. A check
that says *not implemented yet* is expected until you have written the function.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm.layers import batchnorm_backward_alt as reference_backward
from cs231n_norm.layers import batchnorm_forward as reference_forward
from cs231n_norm.mistakes import CATALOGUE
from cs231n_norm.selfcheck import check_batchnorm_backward, check_batchnorm_forward, check_layernorm
""", "skip"),
    md(r"""
## What a check tells you

Each check runs your functions on several small inputs: shapes with $N = D$ and $N \ne D$
(a wrong axis often only shows in one of them), features with different offsets and scales,
one feature whose variance is tiny (comparable to $\epsilon$), random $\gamma$, $\beta$ and
upstream gradient (never all ones), a `bn_param` that sets its own `eps`, several training
steps (also with a `momentum` of its own), and test mode (also with a feature whose running
variance is tiny). It compares everything with this package's reference layers. If something differs, it compares your numbers
with what each known mistake would have produced on the same inputs: a diagnosis from
*symptoms*, without reading your code.

Here is a report for a typical mistake. The function below is batch norm with PyTorch's meaning
of momentum (the weight of the *new* batch value), a mistake the classic notebook check cannot see:
""", "slide"),
    code("""
def batchnorm_forward_momentum_reversed(x, gamma, beta, bn_param):
    \"\"\"Batch norm whose running averages weight the new batch by `momentum`.

    A deliberate mistake: PyTorch's meaning of momentum in CS231n's formula.
    \"\"\"
    swapped = dict(bn_param, momentum=1 - bn_param.get("momentum", 0.9))
    out, cache = reference_forward(x, gamma, beta, swapped)
    bn_param["running_mean"] = swapped["running_mean"]
    bn_param["running_var"] = swapped["running_var"]
    return out, cache


report = check_batchnorm_forward(batchnorm_forward_momentum_reversed)
assert not report.passed and report.mistakes == ["momentum_reversed"]
report
""", "subslide"),
    md(r"""
The report names the mistake (its catalogue id is `momentum_reversed`), says what it saw
(the running mean after three steps matches the reversed update exactly), the likely cause, and
where to look. The table of measured errors is folded away under *measured errors*.

A backward mistake looks like this. This backward forgets that $\partial\,\mathrm{out} /
\partial \hat{x} = \gamma$:
""", "subslide"),
    code("""
def batchnorm_backward_forgot_gamma(dout, cache):
    \"\"\"A backward pass whose dx lacks the factor gamma (a deliberate mistake).\"\"\"
    dx, dgamma, dbeta = reference_backward(dout, cache)
    # dx is linear in gamma * dout, so dividing by gamma removes it
    return dx / cache.gamma, dgamma, dbeta


report = check_batchnorm_backward(reference_forward, batchnorm_backward_forgot_gamma)
assert not report.passed and report.mistakes == ["dx_missing_gamma"]
print(report)
""", "subslide"),
    md(r"""
The evidence is the signature of this mistake: with $\gamma = 1$ the gradient is right, and with
random $\gamma$ each feature's $dx$ is off by exactly $1/\gamma$. The last note shows the number
the classic check would print for the same code. The checks know these mistakes:
""", "subslide"),
    code("""
# in catalogue order: forward, backward, running statistics, other layers, general
ids = [entry.id for entry in CATALOGUE]
width, rows = max(map(len, ids)) + 4, -(-len(ids) // 2)  # two columns
for row in range(rows):
    print("".join(f"{name:{width}s}" for name in ids[row::rows]).rstrip())
print(f"{len(ids)} mistakes; mistake(id) gives one's title, symptom, cause and hint")
""", "subslide"),
    md(r"""
## Exercise 1 · Batch norm, forward

For a batch $x \in \mathbb{R}^{N \times D}$, in **train** mode, per feature $j$:

$$\mu_j = \frac{1}{N}\sum_{i=1}^N x_{ij}, \qquad
\sigma_j^2 = \frac{1}{N}\sum_{i=1}^N (x_{ij} - \mu_j)^2, \qquad
\hat{x}_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \qquad
\mathrm{out}_{ij} = \gamma_j \hat{x}_{ij} + \beta_j ,$$

and the running statistics move toward the batch's (CS231n's convention, starting from zero):

$$r_\mu \leftarrow m\, r_\mu + (1 - m)\, \mu, \qquad r_{\sigma^2} \leftarrow m\, r_{\sigma^2} + (1 - m)\, \sigma^2 .$$

In **test** mode, normalize with $r_\mu$ and $r_{\sigma^2}$ instead of the batch statistics, and
leave them unchanged. Store in `cache` whatever your backward passes will need.
""", "slide"),
    exercise("batchnorm_forward", """
def batchnorm_forward(x, gamma, beta, bn_param):
    \"\"\"Forward pass for batch normalization.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    gamma, beta : ndarray, shape (D,)
    bn_param : dict with 'mode' ('train' or 'test'); optional 'eps' (1e-5), 'momentum'
        (0.9), 'running_mean' and 'running_var' (shape (D,), zeros when missing)

    Returns
    -------
    out : ndarray, shape (N, D)
    cache : anything your backward passes need
    \"\"\"
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        # TODO: batch mean and variance, normalize, scale and shift, update the running
        # averages; keep what the backward pass needs in cache.
        pass
    elif mode == "test":
        # TODO: normalize with the running statistics, then scale and shift.
        pass
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
"""),
    check("check_batchnorm_forward", """
check_batchnorm_forward(batchnorm_forward)
"""),
    md(r"""
## Exercise 2 · Batch norm, backward, staged

Walk the computational graph of the forward pass backwards, one node at a time (notebook 02):
$\mathrm{out} = \gamma \hat{x} + \beta$, $\hat{x} = (x - \mu) \cdot \mathrm{inv\_std}$,
$\mathrm{inv\_std} = 1/\sqrt{\sigma^2 + \epsilon}$, $\sigma^2 = \mathrm{mean}((x - \mu)^2)$,
$\mu = \mathrm{mean}(x)$. Each node multiplies the gradient arriving from above by its own local
derivative; a node whose input was used twice adds up both contributions. $x$ reaches the output
three ways: directly, through $\mu$ and through $\sigma^2$.
""", "slide"),
    exercise("batchnorm_backward", """
def batchnorm_backward(dout, cache):
    \"\"\"Staged backward pass for batch normalization.

    Parameters
    ----------
    dout : ndarray, shape (N, D): upstream gradient
    cache : what your batchnorm_forward returned

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma, dbeta : ndarray, shape (D,)
    \"\"\"
    dx, dgamma, dbeta = None, None, None
    # TODO: unpack your cache; then dbeta and dgamma; then walk the graph node by node,
    # from out back to x, adding the contributions of every path into dx.
    return dx, dgamma, dbeta
"""),
    check("check_batchnorm_backward", """
check_batchnorm_backward(batchnorm_forward, batchnorm_backward)
"""),
    md(r"""
## Exercise 3 · Batch norm, backward, simplified

Collapse the graph into one expression (notebook 03 derives it). With
$\mathrm{d}\beta = \sum_i \mathrm{dout}_i$ and $\mathrm{d}\gamma = \sum_i \mathrm{dout}_i \, \hat{x}_i$:

$$dx = \frac{\gamma}{N \sqrt{\sigma^2 + \epsilon}}
\Big(N\, \mathrm{dout} - \mathrm{d}\beta - \hat{x} \odot \mathrm{d}\gamma\Big).$$

It takes the same cache as your staged version, and it should agree with it to round-off.
""", "slide"),
    exercise("batchnorm_backward_alt", """
def batchnorm_backward_alt(dout, cache):
    \"\"\"Simplified (closed-form) backward pass for batch normalization.

    Same arguments and results as batchnorm_backward.
    \"\"\"
    dx, dgamma, dbeta = None, None, None
    # TODO: dbeta and dgamma as before, then dx in a single expression.
    return dx, dgamma, dbeta
"""),
    check("check_batchnorm_backward_alt", """
check_batchnorm_backward(batchnorm_forward, batchnorm_backward_alt)
"""),
    md(r"""
## Exercise 4 · Layer norm, forward and backward

Layer norm is the same normalization over the *other* axis: each example $i$ is normalized over
its own $D$ features,

$$\mu_i = \frac{1}{D}\sum_{j} x_{ij}, \qquad \sigma_i^2 = \frac{1}{D}\sum_{j}(x_{ij} - \mu_i)^2,
\qquad \mathrm{out}_{ij} = \gamma_j \frac{x_{ij} - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}} + \beta_j ,$$

with $\gamma$ and $\beta$ still per feature. There are no running statistics, and train and test
mode are the same. In the backward pass, the means in the $dx$ formula are now taken over each
row; $\mathrm{d}\gamma$ and $\mathrm{d}\beta$ are still sums over the examples.
""", "slide"),
    exercise("layernorm_forward", """
def layernorm_forward(x, gamma, beta, ln_param):
    \"\"\"Forward pass for layer normalization.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    gamma, beta : ndarray, shape (D,)
    ln_param : dict with optional 'eps' (1e-5); any 'mode' key is ignored

    Returns
    -------
    out : ndarray, shape (N, D)
    cache : anything your layernorm_backward needs
    \"\"\"
    eps = ln_param.get("eps", 1e-5)
    out, cache = None, None
    # TODO: per-example mean and variance (mind the shapes), normalize, scale and shift.
    return out, cache
"""),
    check("check_layernorm_forward", """
check_layernorm(layernorm_forward)
"""),
    md(r"""
Now its backward pass. Start from the batch-norm version and ask, for every sum and mean in it:
over which axis does *this* statistic run now?
""", "fragment"),
    exercise("layernorm_backward", """
def layernorm_backward(dout, cache):
    \"\"\"Backward pass for layer normalization.

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma, dbeta : ndarray, shape (D,)
    \"\"\"
    dx, dgamma, dbeta = None, None, None
    # TODO
    return dx, dgamma, dbeta
"""),
    check("check_layernorm", """
check_layernorm(layernorm_forward, layernorm_backward)
"""),
    md(r"""
### Going further

The same package checks the convolutional variants of CS231n's `ConvolutionalNetworks.ipynb`:
`check_spatial_batchnorm(forward, backward)` for spatial batch norm on $(N, C, H, W)$ inputs and
`check_groupnorm(forward, backward)` for group norm (it recognises channels mixed by a reshape
without a transpose, and interleaved groups). Import them from `cs231n_norm.selfcheck`.
""", "subslide"),
    md(r"""
## Summary

- A self-check compares your functions with a reference on inputs designed to expose mistakes:
  $N = D$ and $N \ne D$, per-feature offsets and scales, a tiny-variance feature, random
  $\gamma$, $\beta$ and upstream gradient, an `eps` and a `momentum` set in `bn_param`,
  several training steps, test mode.
- Each known mistake leaves a fingerprint: an output spread of $\sqrt{(N-1)/N}$ (unbiased
  variance), an error that appears only at tiny variance ($\epsilon$ outside the square root),
  a $dx$ right only when $\gamma = 1$ (missing $\gamma$), a running mean that matches the
  reversed update (momentum), test outputs that are "too clean" (batch statistics in test mode).
- Passing means agreement to about $10^{-4}$ on every probe; a float64 implementation
  usually agrees to $10^{-15}$. Results must be float64 or float32: a float16 result keeps
  too few digits to be checked, and is reported as `wrong_output_dtype`.

""", "slide"),
    md(r"""
## Questions

**1.** Why does the check use a random upstream gradient instead of `dout = np.ones(...)`?

<details><summary>Answer</summary>

The sum of a batch-norm output over the batch is $N\beta$, whatever $x$ is, so with
`dout = ones` the true $dx$ is exactly zero, and any $dx$ whose columns sum to zero (including
many wrong ones) would pass.
</details>

**2.** Your layer norm uses `x.mean(axis=1)` without `keepdims=True`. Why might it work on a
$5 \times 5$ input and fail on a $4 \times 5$ one, and what does it compute in the first case?

<details><summary>Answer</summary>

The mean has shape $(N,)$ and broadcasts against the *last* axis, which only works when
$N = D$. Then $x_{ij}$ is centred with the mean of row $j$ instead of row $i$: silently wrong.
The check reports this as `missing_keepdims`.
</details>

**3.** A learner's batch norm passes the classic gradient check but the self-check reports
`momentum_reversed`. Why could the classic check not see it?

<details><summary>Answer</summary>

The gradient check only looks at train-mode outputs and their gradients; the running averages
never enter them. They only matter in test mode, after several training steps, which is what
the self-check runs.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
