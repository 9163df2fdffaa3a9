#!/usr/bin/env python
"""Write notebooks/05_weight_init.ipynb (unexecuted); then store it executed with

    python tools/build_notebook_05.py && python tools/run_notebooks.py 05

Every cell carries slide metadata; the prose, equations and calls live here so the
notebook can be regenerated after a change. Only the widget cell is tagged
nbval-ignore-output; every other output is compared.
"""
from nbbuild import NOTEBOOKS, code, md, save

PATH = NOTEBOOKS / "05_weight_init.ipynb"

NAV = ("[← 04 Layer norm and the family](04_layernorm_and_family.ipynb) | [Index](00_index.ipynb) | "
       "[06 Batch size →](06_batch_size.ipynb)")


cells = [
    md(NAV + r"""

# 05 · Weight-initialization sensitivity

Before batch norm, training a deep net meant choosing the scale of the initial weights with
care: too small and the signal fades layer by layer, too large and it explodes. Batch norm
and layer norm were sold on making this choice matter much less. Here we *measure* that
claim: 60 five-layer nets (no norm, batch norm, layer norm, each at 20 weight scales from
$10^{-4}$ to $1$) trained on real handwritten digits, then we open the nets up at
initialization and look at every layer's activations and gradients.
""", "slide"),
    md(r"""
## Learning goals

After this notebook (about **30 minutes**) you can:

- predict from $\operatorname{Var}(a) = n\,s^2\operatorname{Var}(h)$ how a plain net's activations shrink or grow with the weight scale $s$;
- read the three classic plots (best training accuracy, best validation accuracy, final loss against weight scale) and say where each kind of net trains;
- explain why a normalized layer does not care about the scale of the weights before it, and where that stops being true ($\epsilon$);
- use per-layer activation and gradient histograms (and the saturated share of tanh units) to diagnose a badly initialized net.
""", "subslide"),
    code("""
%matplotlib inline
import numpy as np
from IPython.display import display

from cs231n_norm.data import load_dataset
from cs231n_norm.experiments import (
    layer_statistics,
    reliable_scale_range,
    weight_init_sensitivity,
    weight_init_table,
)
from cs231n_norm.model import FullyConnectedNet
from cs231n_norm.plots.experiments import layer_histograms_figure, weight_init_figure
from cs231n_norm.solver import train
from cs231n_norm.widgets.weight_init import WeightInitExplorer, build_weight_init_explorer
""", "skip"),
    md(r"""
## The data

scikit-learn ships 1,797 real 8×8 images of handwritten digits, so this notebook runs offline.
We keep the classic CS231n setting of a *small* training set (1,000 examples) and a fixed,
seeded validation set of 300; every feature is standardized with the training set's mean and
standard deviation. With CIFAR-10 downloaded, `load_dataset("auto")` would pick it instead;
this notebook asks for the digits explicitly so its stored outputs never change.
""", "slide"),
    code("""
dataset = load_dataset("digits", num_train=1000)
print(dataset.message)
print("train:", dataset.X_train.shape, " validation:", dataset.X_val.shape)
"""),
    md(r"""
## Why the scale matters: one line of variance

A hidden layer computes $a = hW$ with $n$ inputs and weights drawn as
$W_{kj} \sim \mathcal{N}(0, s^2)$, independently of the inputs. Then $a_j$ has mean 0 and

$$\operatorname{Var}(a_j) = n\, s^2\, \mathbb{E}[h_k^2]$$

(the mean *square* of the inputs, not their variance: a ReLU's outputs are never negative, so
their mean is not 0). A ReLU keeps half of that: for a symmetric $a$ with mean 0,
$\mathbb{E}[\mathrm{relu}(a)^2] = \tfrac{1}{2} \operatorname{Var}(a)$. Layer after layer the
factor $\tfrac{1}{2} n s^2$ multiplies: below $s^\ast = \sqrt{2/n}$ (He initialization; $0.14$ for $n = 100$) the signal
fades geometrically, above it, it grows geometrically. With batch or layer norm after each
affine layer, $a$ is divided by its own standard deviation, so $s$ cancels out:
$\mathrm{BN}(s\,a) = \mathrm{BN}(a)$ as long as $\operatorname{Var}(s\,a) \gg \epsilon$.
""", "slide"),
    md(r"""
## The experiment: 60 nets, 20 weight scales

Architecture: 5 hidden layers of 100 units, `{affine - [norm] - relu} x 5 - affine - softmax`.
Every net: Adam, learning rate $2 \cdot 10^{-3}$, 10 epochs, batch size 50, seed 0. The sweep trainer
trains all 20 scales of one kind of net at once (stacked weights, batched matrix products), so
the whole run takes seconds. The same run from a terminal:
`python -m cs231n_norm weight-init --dataset digits --out results.json`.
""", "slide"),
    code("""
result = weight_init_sensitivity(dataset, progress=False)
print(f"{result.num_runs} nets trained; settings:")
settings = ("hidden_dims", "num_epochs", "batch_size", "learning_rate", "update_rule",
            "seeds", "dtype")
for key in settings:
    print(f"  {key}: {result.config[key]}")
"""),
    md(r"""
### Best validation accuracy

The one that matters. The baseline (grey) does well only in a narrow band of scales up to
$s^\ast \approx 0.14$; batch norm (blue) and layer norm (orange) are high over most of the
range, and both fall off above about $0.2$. This is **one seed**: 0.01 of accuracy is 3 of the
300 validation examples, so wiggles of a point or two between neighbouring scales are noise.
The claims checked below are the ones with a wide margin on this seed; to see the rest
averaged over five seeds, run `python -m cs231n_norm weight-init --seeds 0,1,2,3,4` (under a
minute).
""", "slide"),
    code("""
display(weight_init_figure(result, "best_val_acc"))
"""),
    code("""
print(weight_init_table(result, "best_val_acc", digits=2))
""", "subslide"),
    md(r"""
### Best training accuracy and final training loss

At the smallest scales the baseline does not learn at all: its final loss is
$\ln 10 \approx 2.303$, the loss of a net that gives every class probability $1/10$.
At the largest scale, $s = 1$, its final loss is in the hundreds: the activations have
exploded, so the scores are huge and every mistake is made with near-certainty. The normalized
nets reach at least 95% training accuracy at every scale (asserted below).
""", "slide"),
    code("""
display(weight_init_figure(result, "best_train_acc"))
""", "-"),
    code("""
display(weight_init_figure(result, "final_train_loss"))
""", "subslide"),
    md(r"""
### The claim, checked

We call a scale *good* when the net reaches 90% validation accuracy, and measure the widest
run of consecutive good scales, in decades ($\log_{10}$ of highest over lowest scale).
""", "subslide"),
    code("""
norms = ("none", "batchnorm", "layernorm")
ranges = {norm: reliable_scale_range(result, norm, threshold=0.9) for norm in norms}
for norm, r in ranges.items():
    print(f"{norm:>9}: {r['count']:>2} good scales, {r['low']:.1e} .. {r['high']:.1e}, "
          f"{r['decades']:.2f} decades")

assert ranges["none"]["decades"] < 1, "baseline: good over less than a decade"
assert ranges["batchnorm"]["decades"] > 3, "BN: over more than three decades"
assert ranges["layernorm"]["decades"] > 3, "LN: over more than three decades"
assert ranges["batchnorm"]["count"] >= 3 * ranges["none"]["count"]
scales = result.columns["weight_scale"]
bn_up_to_a_quarter = result.select(norm="batchnorm") & (scales <= 0.25)
bn_worst = result.columns["best_val_acc"][bn_up_to_a_quarter].min()
assert bn_worst >= 0.95, "BN: >= 95% at every scale up to 0.25"
"""),
    code("""
for norm in ("batchnorm", "layernorm"):
    fit = result.columns["best_train_acc"][result.select(norm=norm)].min()
    assert fit >= 0.95, f"{norm}: >= 95% training accuracy at every scale"
    print(f"{norm}: lowest best training accuracy over the 20 scales {fit:.3f}")

final_loss = result.columns["final_train_loss"]
smallest, largest = scales.min(), scales.max()
loss_at = {s: final_loss[result.select(norm="none", weight_scale=s)][0]
           for s in (smallest, largest)}
assert abs(loss_at[smallest] - np.log(10)) < 0.01, "at 1e-4: the uniform guess"
assert loss_at[largest] > 100, "at s = 1: a loss in the hundreds"
print(f"baseline: final loss {loss_at[smallest]:.3f} at scale {smallest:.0e} "
      f"(ln 10 = {np.log(10):.3f}), {loss_at[largest]:.0f} at scale {largest:.0e}")
""", "subslide"),
    md(r"""
## Inside the nets at initialization

Why does the baseline fail at small scales? Pass 500 training examples through a freshly
initialized net and record, for every hidden layer, the ReLU outputs and the gradient of the
loss with respect to them. At $s = 10^{-4}$ the variance line predicts a factor of
$\tfrac{1}{2} \cdot 100 \cdot 10^{-8} = 5 \cdot 10^{-7}$ per layer in mean square, so each
layer's outputs are about $\sqrt{5 \cdot 10^{-7}} \approx 7 \cdot 10^{-4}$ times the previous layer's.
The gradients reaching the first layers are as tiny, so the weights barely move.
""", "slide"),
    code("""
tiny_plain = layer_statistics(dataset, weight_scale=1e-4, norm="none")
print(tiny_plain.table())
stds = [layer["activation"]["std"] for layer in tiny_plain.layers]
ratios = [later / earlier for earlier, later in zip(stds, stds[1:])]
predicted = np.sqrt(0.5 * 100 * 1e-4**2)  # sqrt(n s^2 / 2)
assert all(abs(np.log(r / predicted)) < np.log(1.25) for r in ratios), ratios
print("layer-to-layer ratio of activation std:", ", ".join(f"{r:.1e}" for r in ratios),
      f"(predicted {predicted:.1e})")
"""),
    md(r"""
With batch norm after every affine layer, the same tiny weights shrink the activations by a
factor of about 5 per layer instead of about 1,400. Why not 1? At $s = 10^{-4}$ the variance of
$a$ in layer 1 is at most $64 \cdot 10^{-8}$ (64 standardized inputs; a few pixels are always 0),
about $6 \cdot 10^{-7}$, smaller than $\epsilon = 10^{-5}$, so batch norm divides by
$\sqrt{\operatorname{Var}(a) + \epsilon} \approx \sqrt{\epsilon}$ rather than by the standard
deviation, and its output is about 4 times too small (computed below); the next layer starts from that smaller
input, and so on. This is the one place where the weight scale still leaks through at
initialization. At $s = 10^{-2}$, far from $\epsilon$, every layer looks the same.
""", "slide"),
    code("""
tiny_bn = layer_statistics(dataset, weight_scale=1e-4, norm="batchnorm")
fine_bn = layer_statistics(dataset, weight_scale=1e-2, norm="batchnorm")
print(tiny_bn.table())
print()
print(fine_bn.table())

bn_stds = [layer["activation"]["std"] for layer in tiny_bn.layers]
bn_ratios = [later / earlier for earlier, later in zip(bn_stds, bn_stds[1:])]
assert all(0.1 < r < 0.5 for r in bn_ratios), bn_ratios
print("batch norm at 1e-4, layer-to-layer ratio of activation std:",
      ", ".join(f"{r:.2f}" for r in bn_ratios))
fine_stds = [layer["activation"]["std"] for layer in fine_bn.layers]
assert max(fine_stds) < 1.1 * min(fine_stds), "at 1e-2: every BN layer alike"
""", "subslide"),
    code("""
X = dataset.X_train[:500]  # the examples layer_statistics passes through the net
# Var(a) = s^2 times the sum of E[x_k^2] over the inputs; BN's output has std
# sqrt(Var(a) / (Var(a) + eps)) instead of 1
var_a = 1e-4**2 * (X**2).mean(axis=0).sum()
predicted = np.sqrt(var_a / (var_a + 1e-5))
relu_std = np.sqrt(0.5 - 1 / (2 * np.pi))  # std of relu(z) for z ~ N(0, 1)
measured = tiny_bn.layers[0]["activation"]["std"] / relu_std
print(f"layer 1: Var(a) = {var_a:.1e}; batch norm's output is {1 / measured:.1f} times "
      f"too small (predicted {1 / predicted:.1f})")
assert abs(measured / predicted - 1) < 0.1
""", "subslide"),
    md(r"""
### Why it does not show in the accuracy

Batch norm's accuracy at $10^{-4}$ is as good as anywhere (the curve above). Training gets the
weights out of the $\epsilon$ region at once: Adam moves every weight by about the learning rate
per step *whatever the size of its gradient*, so 20 steps of $2 \cdot 10^{-3}$ take weights of
standard deviation $10^{-4}$ to about $10^{-2}$, where $\operatorname{Var}(a) \gg \epsilon$.
Measured on one net (the $\gamma$s barely move):
""", "subslide"),
    code("""
net = FullyConnectedNet([100] * 5, input_dim=64, normalization="batchnorm",
                        weight_scale=1e-4, seed=0)
train(net, dataset.as_dict(), num_epochs=1, batch_size=50,
      optim_config={"learning_rate": 2e-3}, progress=False)
weight_stds = [net.params[f"W{i}"].std() for i in range(1, 7)]
gammas = [np.abs(net.params[f"gamma{i}"]).mean() for i in range(1, 6)]
print("std of W1..W6 after one epoch (20 steps):",
      ", ".join(f"{s:.1e}" for s in weight_stds))
print("mean |gamma1..gamma5|:", ", ".join(f"{g:.3f}" for g in gammas))
assert all(s > 50 * 1e-4 for s in weight_stds), "the weights grew more than 50x"
assert all(abs(g - 1) < 0.05 for g in gammas), "gamma stayed near its initial 1"
"""),
    md(r"""
### Histograms, layer by layer

One line per layer (Karpathy's makemore picture): left the ReLU outputs (their share of exact
zeros is in the legend), right the gradients flowing back into them. The baseline at
$10^{-4}$: layer 1 is visible, every later layer is a spike at zero.
""", "subslide"),
    code("""
display(layer_histograms_figure(tiny_plain))
"""),
    md(r"""
Batch norm at $10^{-2}$: every layer has the same picture.
""", "subslide"),
    code("""
display(layer_histograms_figure(fine_bn))
"""),
    md(r"""
## Explore: pick a weight scale and a norm

Slide through the 20 scales and switch between no norm, batch norm and layer norm (and ReLU
or tanh). Each setting is computed the first time you ask for it and cached, so the picture
updates within a second. Things to find: the scale at which the plain net's layers have equal
spreads ($s^\ast$); how the gradient histograms of the plain net at $s = 1$ differ between the
first and last layer; what tanh does at large scales.
""", "slide"),
    code("""
explorer = WeightInitExplorer(dataset)
display(build_weight_init_explorer(dataset, explorer=explorer,
                                   weight_scale=1e-4, norm="none"))
""", tags=["nbval-ignore-output"]),
    md(r"""
## Saturation: tanh at large scales

With tanh instead of ReLU, a large scale does not explode: tanh squashes everything into
$(-1, 1)$. But a unit with $|\tanh(a)| > 0.97$ has local gradient $1 - \tanh^2(a) < 0.06$: it is
*saturated*, and passes almost no gradient back. At $s = 1$ most units of the plain net are
saturated; batch norm brings its inputs back to unit variance, and only a few percent are.
""", "slide"),
    code("""
tanh_plain = layer_statistics(dataset, weight_scale=1.0, norm="none", activation="tanh")
tanh_bn = layer_statistics(dataset, weight_scale=1.0, norm="batchnorm",
                           activation="tanh")
print(tanh_plain.table())
print()
print(tanh_bn.table())
assert all(layer["activation"]["saturated"] > 0.5 for layer in tanh_plain.layers)
assert all(layer["activation"]["saturated"] < 0.05 for layer in tanh_bn.layers)
"""),
    md(r"""
## Summary

- Without normalization, each layer multiplies the mean square of the activations by about
  $\tfrac{1}{2} n s^2$: below $s^\ast = \sqrt{2/n}$ the signal and the gradients vanish (the net
  stays at loss $\ln 10$), above it they explode.
- Measured on the digits: the plain net reaches 90% validation accuracy only within less than a
  decade of scales, up to $s^\ast$; batch norm over more than three decades, layer norm over
  over more than three as well (asserted above; on this seed a little wider than batch norm).
- A normalized layer divides out the weight scale; only when $\operatorname{Var}(a)$ falls below
  $\epsilon$ does the scale leak through again, and Adam's first steps take the weights out of
  that region.
- One seed: differences of a point or two of accuracy are noise (3 to 6 of 300 examples).
- Per-layer histograms of activations and gradients (and the saturated share for tanh) show a
  bad initialization before any training.

""", "slide"),
    md(r"""
## Questions

**1.** For a plain ReLU net with hidden layers of 400 units, which weight scale keeps the activation
variance constant from layer to layer?

<details><summary>Answer</summary>

$s^\ast = \sqrt{2/n} = \sqrt{2/400} \approx 0.071$ (He initialization): then $\tfrac{1}{2} n s^2 = 1$.
</details>

**2.** At initialization with $s = 10^{-4}$, batch norm's outputs are about 4 times too small in
layer 1 and shrink further layer by layer. Which hyperparameter sets the scale at which this
starts? And why does batch norm's accuracy at $10^{-4}$ not suffer?

<details><summary>Answer</summary>

$\epsilon$: the first layer's pre-activations have variance about $6 \cdot 10^{-7}$, below
$\epsilon = 10^{-5}$, so the layer divides by about $\sqrt{\epsilon}$; a smaller $\epsilon$ (say
$10^{-9}$) moves the problem to smaller scales. The accuracy does not suffer because training
leaves that region at once: Adam moves each weight by about the learning rate per step whatever
the size of its gradient, and after one epoch the weights are about 100 times larger (measured
above). Differences of a point between batch norm's small scales are single-seed noise.
</details>

**3.** The plain net at $s = 1$ still reaches some accuracy although its final loss is in the
hundreds. How can both be true?

<details><summary>Answer</summary>

Accuracy only needs the largest score to be in the right place; the loss punishes confident
mistakes without bound. Exploded activations make the scores enormous, so every mistake is made
with near-certainty and costs a huge loss, while many examples are still classified right.
</details>
""", "subslide"),
    md(NAV, "skip"),
]

if __name__ == "__main__":
    save(PATH, cells)
