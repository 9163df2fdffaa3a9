"""A fully-connected network with optional batch or layer normalization (CS231n's FullyConnectedNet).

The architecture, for L = len(hidden_dims) + 1 layers::

    {affine - [batch/layer norm] - relu} x (L - 1) - affine - softmax

Every step is a layer from :mod:`cs231n_norm.layers`; this module only wires
them together and keeps the parameters. The normalization layers run with
``keep_graph=False`` and the closed-form backward passes
(``batchnorm_backward_alt``, ``layernorm_backward``): the staged graph is for
learning, not for training.
"""

import numbers

import numpy as np

from . import _checks as check
from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)

NORMALIZATIONS = (None, "batchnorm", "layernorm")
ACTIVATIONS = ("relu", "tanh")


def tanh_forward(x):
    """tanh nonlinearity. x: any shape. Returns out (shape of x) and cache."""
    x = check.float_array("x", x)
    check.finite_input("x", x)
    out = np.tanh(x)
    return out, ("tanh", out)


def tanh_backward(dout, cache):
    """Backward pass for tanh: ``dout * (1 - tanh(x)^2)``. Returns dx (shape of x)."""
    if not (isinstance(cache, tuple) and len(cache) == 2 and cache[0] == "tanh"):
        raise TypeError(f"cache must be the cache returned by tanh_forward, got {check.describe(cache)}")
    out = cache[1]
    dout = check.float_array("dout", dout)
    check.same_shape("dout", dout, out.shape)
    return dout * (1 - np.square(out))


_ACTIVATION_LAYERS = {"relu": (relu_forward, relu_backward), "tanh": (tanh_forward, tanh_backward)}


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {check.describe(value)}")
    return int(value)


def check_architecture(hidden_dims, normalization, activation):
    """Validate the architecture arguments shared by FullyConnectedNet and the sweep trainer.

    Returns hidden_dims as a tuple of ints.
    """
    if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__iter__"):
        raise TypeError(f"hidden_dims must be a list of positive integers, got {check.describe(hidden_dims)}")
    hidden_dims = tuple(hidden_dims)
    if not hidden_dims:
        raise ValueError("hidden_dims must hold at least one hidden layer size, got an empty list")
    hidden_dims = tuple(_positive_int(f"hidden_dims[{i}]", h) for i, h in enumerate(hidden_dims))
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {check.describe(normalization)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {check.describe(activation)}")
    if normalization == "layernorm" and min(hidden_dims) < 2:
        raise ValueError(f"layer norm needs hidden layers of at least 2 units, got hidden_dims {hidden_dims}")
    return hidden_dims


class FullyConnectedNet:
    """Fully-connected net, ``{affine - [norm] - activation} x (L-1) - affine - softmax``.

    Parameters
    ----------
    hidden_dims : list of int, the size of each hidden layer
    input_dim : int, number of input features D
    num_classes : int, number of classes C
    normalization : None, 'batchnorm' or 'layernorm'
    weight_scale : float > 0, standard deviation of the initial weights
        (``W = weight_scale * standard normal``; biases and beta start at 0, gamma at 1)
    reg : float >= 0, L2 strength: the loss adds ``0.5 * reg * sum(W**2)`` over all W
    dtype : np.float32 or np.float64; inputs are converted to it
    seed : int or None, seed of ``np.random.default_rng`` that draws the weights
        (layer by layer, W1 first)
    activation : 'relu' or 'tanh'

    Attributes
    ----------
    params : dict, 'W1', 'b1', ..., 'WL', 'bL', and 'gamma1', 'beta1', ... for
        the L-1 normalization layers. Shapes: W_i (d_{i-1}, d_i), b_i, gamma_i, beta_i (d_i,).
    bn_params : list of L-1 dicts, one per normalization layer (empty without
        normalization): the ``bn_param`` / ``ln_param`` of each layer, holding
        the running statistics of batch norm once trained.
    recorded : list of dicts, filled by ``loss(..., record=True)``
    """

    def __init__(self, hidden_dims, input_dim=64, num_classes=10, normalization=None,
                 weight_scale=1e-2, reg=0.0, dtype=np.float64, seed=None, activation="relu"):
        self.hidden_dims = check_architecture(hidden_dims, normalization, activation)
        self.input_dim = _positive_int("input_dim", input_dim)
        self.num_classes = _positive_int("num_classes", num_classes)
        self.weight_scale = check.positive_number("weight_scale", weight_scale)
        if not isinstance(reg, numbers.Real) or isinstance(reg, bool) or not np.isfinite(reg) or reg < 0:
            raise ValueError(f"reg must be a finite number >= 0, got {check.describe(reg)}")
        self.reg = float(reg)
        if np.dtype(dtype).type not in check.FLOAT_DTYPES:
            raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
        self.dtype = np.dtype(dtype).type
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an int or None, got {check.describe(seed)}")
        self.seed = seed
        self.normalization = normalization
        self.activation = activation
        self.num_layers = len(self.hidden_dims) + 1

        rng = np.random.default_rng(seed)
        dims = (self.input_dim, *self.hidden_dims, self.num_classes)
        self.params = {}
        for i in range(1, self.num_layers + 1):
            d_in, d_out = dims[i - 1], dims[i]
            # drawn in float64 and rounded once, so float32 and float64 nets start alike
            self.params[f"W{i}"] = (self.weight_scale * rng.standard_normal((d_in, d_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(d_out, dtype=self.dtype)
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(d_out, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(d_out, dtype=self.dtype)
        # the running statistics appear after the first training step (CS231n starts them at 0)
        self.bn_params = [{"mode": "train", "keep_graph": False} for _ in self.hidden_dims] if normalization else []
        self.recorded = []

    def __repr__(self):
        return (f"FullyConnectedNet(hidden_dims={list(self.hidden_dims)}, input_dim={self.input_dim}, "
                f"num_classes={self.num_classes}, normalization={self.normalization!r}, "
                f"weight_scale={self.weight_scale:g}, reg={self.reg:g}, dtype={self.dtype.__name__}, "
                f"seed={self.seed}, activation={self.activation!r})")

    # ------------------------------------------------------------------ state

    def get_state(self):
        """A deep copy of everything that defines the trained net's outputs.

        Returns
        -------
        dict: the entries of ``params`` plus, for batch norm, 'running_mean{i}' and
        'running_var{i}' of each normalization layer that has them.
        """
        state = {name: value.copy() for name, value in self.params.items()}
        for i, bn_param in enumerate(self.bn_params, start=1):
            for key in ("running_mean", "running_var"):
                if bn_param.get(key) is not None:
                    state[f"{key}{i}"] = np.array(bn_param[key], copy=True)
        return state

    def set_state(self, state):
        """Load a state from :meth:`get_state` (copies, so `state` stays untouched)."""
        state = check.param_dict("state", state)
        missing = [name for name in self.params if name not in state]
        if missing:
            raise ValueError(f"state lacks the parameters {missing}; it must come from get_state()")
        for name, value in self.params.items():
            new = check.float_array(f"state['{name}']", state[name], dtype=self.dtype)
            check.same_shape(f"state['{name}']", new, value.shape)
            self.params[name] = new.copy()
        for i, bn_param in enumerate(self.bn_params, start=1):
            for key in ("running_mean", "running_var"):
                if f"{key}{i}" in state:
                    bn_param[key] = np.array(state[f"{key}{i}"], dtype=self.dtype, copy=True)
                else:
                    bn_param.pop(key, None)

    # ------------------------------------------------------------------ forward and backward

    def loss(self, X, y=None, record=False):
        """Class scores (test mode), or the loss and its gradients (train mode).

        Parameters
        ----------
        X : ndarray, shape (N, D) (or (N, d_1, ..., d_k) with product D)
        y : ndarray of int, shape (N,), or None
        record : bool
            Store, for every hidden layer, its input to the normalization
            ('pre_norm'), the normalization's output ('post_norm', equal to
            'pre_norm' without normalization), the activation's output
            ('activation') and dL/d(activation) ('activation_grad', None in test
            mode) in ``self.recorded``. The returned values are unchanged.

        Returns
        -------
        If y is None (test mode: batch norm uses its running statistics):
            scores : ndarray, shape (N, C)
        Else (train mode):
            loss : float
            grads : dict, same keys and shapes as ``self.params``
        """
        X = check.float_array("X", X, dtype=self.dtype)
        if X.ndim < 2 or int(np.prod(X.shape[1:])) != self.input_dim:
            raise ValueError(f"X must have shape (N, {self.input_dim}), got shape {X.shape}")
        X = X.reshape(len(X), self.input_dim)
        mode = "test" if y is None else "train"
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        activation_forward, activation_backward = _ACTIVATION_LAYERS[self.activation]
        norm_forward = {"batchnorm": batchnorm_forward, "layernorm": layernorm_forward}.get(self.normalization)

        caches = []
        records = []
        h = X
        for i in range(1, self.num_layers):
            a, affine_cache = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            norm_cache = None
            n = a
            if norm_forward is not None:
                n, norm_cache = norm_forward(a, self.params[f"gamma{i}"], self.params[f"beta{i}"], self.bn_params[i - 1])
            h, activation_cache = activation_forward(n)
            caches.append((affine_cache, norm_cache, activation_cache))
            if record:
                records.append({"pre_norm": a, "post_norm": n, "activation": h, "activation_grad": None})
        L = self.num_layers
        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        if y is None:
            if record:
                self.recorded = records
            return scores

        loss, dscores = softmax_loss(scores, y)
        if self.reg:
            loss += 0.5 * self.reg * sum(float(np.sum(np.square(self.params[f"W{i}"]))) for i in range(1, L + 1))

        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)
        norm_backward = {"batchnorm": batchnorm_backward_alt, "layernorm": layernorm_backward}.get(self.normalization)
        for i in range(L - 1, 0, -1):
            affine_cache, norm_cache, activation_cache = caches[i - 1]
            if record:
                records[i - 1]["activation_grad"] = dh
            dn = activation_backward(dh, activation_cache)
            da = dn
            if norm_backward is not None:
                da, grads[f"gamma{i}"], grads[f"beta{i}"] = norm_backward(dn, norm_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(da, affine_cache)
        if self.reg:
            for i in range(1, L + 1):
                grads[f"W{i}"] = grads[f"W{i}"] + self.reg * self.params[f"W{i}"]
        if record:
            self.recorded = records
        return loss, grads

    def predict(self, X, batch_size=1000):
        """Predicted class of every row of X (test mode), computed `batch_size` rows at a time."""
        X = check.float_array("X", X)
        batch_size = _positive_int("batch_size", batch_size)
        if len(X) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.argmax(self.loss(X[i:i + batch_size]), axis=1) for i in range(0, len(X), batch_size)])
