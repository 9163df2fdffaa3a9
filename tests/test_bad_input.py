"""Bad input is rejected with an error naming the argument, what it got and what it
needs; and no function modifies its inputs (except the running statistics in bn_param).
"""

import numpy as np
import pytest

from cs231n_norm import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    check_step,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    explore_backward,
    layernorm_backward,
    layernorm_backward_staged,
    layernorm_forward,
    normalization_graph,
    normalize,
    normalize_backward,
    pytorch_bn_param,
    rel_error,
    relu_backward,
    relu_forward,
    rmsnorm_backward,
    rmsnorm_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    update_running_stats,
)

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 5)) + np.arange(5)
G5, B5 = RNG.standard_normal(5), RNG.standard_normal(5)
X4 = RNG.standard_normal((2, 6, 2, 2)) + np.arange(6).reshape(1, 6, 1, 1)
G6, B6 = RNG.standard_normal(6), RNG.standard_normal(6)
G6_4, B6_4 = G6.reshape(1, 6, 1, 1), B6.reshape(1, 6, 1, 1)
TRAIN = {"mode": "train"}


def with_nan(x, index, value=np.nan):
    x = x.copy()
    x[index] = value
    return x


def as_matrix(x):
    """np.matrix(x), without numpy's PendingDeprecationWarning about the class itself."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(x)


def bn(**changes):
    return {"mode": "train", **changes}


def bn_cache():
    return batchnorm_forward(X, G5, B5, bn())[1]


def ln_cache():
    return layernorm_forward(X, G5, B5, {})[1]


def sbn_cache():
    return spatial_batchnorm_forward(X4, G6, B6, bn())[1]


def gn_cache():
    return spatial_groupnorm_forward(X4, G6_4, B6_4, 2, {})[1]


D = r"dtype float32 or float64, got dtype"
# (id, call, exception, message regex)
CASES = [
    # ---- batchnorm_forward
    ("bn x rank 1", lambda: batchnorm_forward(X[0], G5, B5, bn()), ValueError, r"x must have 2 dimensions, got shape \(5,\)"),
    ("bn x rank 3", lambda: batchnorm_forward(X[None], G5, B5, bn()), ValueError, r"x must have 2 dimensions, got shape \(1, 4, 5\)"),
    ("bn x int", lambda: batchnorm_forward(np.ones((4, 5), int), G5, B5, bn()), TypeError, rf"x must have {D} int64; convert explicitly, e\.g\. x\.astype\(np\.float64\)"),
    ("bn x object", lambda: batchnorm_forward(X.astype(object), G5, B5, bn()), TypeError, rf"x must have {D} object; convert explicitly"),
    ("bn x float16", lambda: batchnorm_forward(X.astype(np.float16), G5, B5, bn()), TypeError, rf"x must have {D} float16"),
    ("bn x string", lambda: batchnorm_forward("x", G5, B5, bn()), TypeError, r"x must be a numpy array, got str 'x'"),
    ("bn x ragged", lambda: batchnorm_forward([[1.0, 2.0], [3.0]], G5, B5, bn()), ValueError, r"x must be a rectangular array of numbers, got list"),
    ("bn gamma shape", lambda: batchnorm_forward(X, G5[:4], B5, bn()), ValueError, r"gamma must have shape \(5,\), got shape \(4,\)"),
    ("bn beta shape", lambda: batchnorm_forward(X, G5, B5[None], bn()), ValueError, r"beta must have shape \(5,\), got shape \(1, 5\)"),
    ("bn gamma int", lambda: batchnorm_forward(X, np.ones(5, int), B5, bn()), TypeError, rf"gamma must have {D} int64"),
    ("bn param not dict", lambda: batchnorm_forward(X, G5, B5, ["train"]), TypeError, r"bn_param must be a dict, got list \['train'\]"),
    ("bn mode missing", lambda: batchnorm_forward(X, G5, B5, {"eps": 1e-5}), ValueError, r"bn_param\['mode'\] is required: 'train' or 'test'; got keys \['eps'\]"),
    ("bn mode unknown", lambda: batchnorm_forward(X, G5, B5, bn(mode="eval")), ValueError, r"bn_param\['mode'\] must be 'train' or 'test', got 'eval'"),
    ("bn eps zero", lambda: batchnorm_forward(X, G5, B5, bn(eps=0)), ValueError, r"bn_param\['eps'\] must be a positive finite number, got int 0"),
    ("bn eps negative", lambda: batchnorm_forward(X, G5, B5, bn(eps=-1e-5)), ValueError, r"bn_param\['eps'\] must be a positive finite number, got float -1e-05"),
    ("bn momentum > 1", lambda: batchnorm_forward(X, G5, B5, bn(momentum=1.5)), ValueError, r"bn_param\['momentum'\] must be a number in \[0, 1\], got float 1.5"),
    ("bn momentum < 0", lambda: batchnorm_forward(X, G5, B5, bn(momentum=-0.1)), ValueError, r"bn_param\['momentum'\] must be a number in \[0, 1\], got float -0.1"),
    ("bn batch of one", lambda: batchnorm_forward(X[:1], G5, B5, bn()), ValueError, r"x must hold at least 2 examples in train mode .*got shape \(1, 5\)"),
    ("bn nan", lambda: batchnorm_forward(with_nan(X, (1, 2)), G5, B5, bn()), ValueError, r"x contains 1 NaN or inf value\(s\) \(first at index \(1, 2\), value nan\)"),
    ("bn inf", lambda: batchnorm_forward(with_nan(X, (3, 0), np.inf), G5, B5, bn()), ValueError, r"x contains 1 NaN or inf value\(s\) \(first at index \(3, 0\), value inf\)"),
    ("bn nan no graph", lambda: batchnorm_forward(with_nan(X, (0, 4)), G5, B5, bn(keep_graph=False)), ValueError, r"x contains 1 NaN or inf"),
    ("bn nan test", lambda: batchnorm_forward(with_nan(X, (0, 0)), G5, B5, {"mode": "test", "running_mean": G5, "running_var": np.ones(5)}), ValueError, r"x contains 1 NaN or inf"),
    ("bn test no stats", lambda: batchnorm_forward(X, G5, B5, {"mode": "test"}), ValueError, r"bn_param\['running_mean'\] is missing: test mode normalizes with the running statistics"),
    ("bn running shape", lambda: batchnorm_forward(X, G5, B5, bn(running_mean=np.zeros(4))), ValueError, r"bn_param\['running_mean'\] must have shape \(5,\), got shape \(4,\)"),
    ("bn running var negative in train mode", lambda: batchnorm_forward(X, G5, B5, bn(running_mean=np.zeros(5), running_var=-np.ones(5))), ValueError, r"bn_param\['running_var'\] must be >= 0 everywhere \(a variance\), got minimum -1.0"),
    ("bn unbiased flag a string", lambda: batchnorm_forward(X, G5, B5, bn(running_var_unbiased="no")), TypeError, r"bn_param\['running_var_unbiased'\] must be True or False, got str 'no'"),
    ("bn keep_graph a string", lambda: batchnorm_forward(X, G5, B5, bn(keep_graph="no")), TypeError, r"bn_param\['keep_graph'\] must be True or False, got str 'no'"),
    ("ln keep_graph an int", lambda: layernorm_forward(X, G5, B5, {"keep_graph": 0}), TypeError, r"ln_param\['keep_graph'\] must be True or False, got int 0"),
    ("bn x np.matrix", lambda: batchnorm_forward(as_matrix(X), G5, B5, bn()), TypeError, r"x must be a plain numpy array, got matrix; pass np.asarray\(x\)"),
    ("bn gamma too large for float32", lambda: batchnorm_forward(X.astype(np.float32), np.full(5, 1e39), B5, bn()), ValueError, r"gamma has values too large for float32, the dtype of x \(largest magnitude 1e\+39\)"),
    ("bn x masked", lambda: batchnorm_forward(np.ma.masked_greater(X, 3), G5, B5, bn()), TypeError, r"x must be a plain numpy array, got MaskedArray; .*x\.filled"),
    ("bn running int", lambda: batchnorm_forward(X, G5, B5, bn(running_var=np.ones(5, int))), TypeError, rf"bn_param\['running_var'\] must have {D} int64"),
    ("bn running var < 0", lambda: batchnorm_forward(X, G5, B5, {"mode": "test", "running_mean": G5, "running_var": -np.ones(5)}), ValueError, r"bn_param\['running_var'\] must be >= 0 everywhere \(a variance\), got minimum -1.0"),
    # ---- batch norm backward passes
    ("bn bw dout shape", lambda: batchnorm_backward(X.T, bn_cache()), ValueError, r"dout must have shape \(4, 5\), got shape \(5, 4\)"),
    ("bn bw alt dout shape", lambda: batchnorm_backward_alt(X[:2], bn_cache()), ValueError, r"dout must have shape \(4, 5\), got shape \(2, 5\)"),
    ("bn bw dout int", lambda: batchnorm_backward_alt(np.ones((4, 5), int), bn_cache()), TypeError, rf"dout must have {D} int64"),
    ("bn bw ln cache", lambda: batchnorm_backward(X, ln_cache()), ValueError, r"cache comes from layernorm_forward, but batchnorm_backward needs the cache of batchnorm_forward"),
    ("bn bw alt ln cache", lambda: batchnorm_backward_alt(X, ln_cache()), ValueError, r"cache comes from layernorm_forward, but batchnorm_backward_alt needs"),
    ("bn bw affine cache", lambda: batchnorm_backward(X, affine_forward(X, np.ones((5, 5)), B5)[1]), TypeError, r"cache must be the cache returned by batchnorm_forward, got tuple \('affine'"),
    ("bn bw no graph", lambda: batchnorm_backward(X, batchnorm_forward(X, G5, B5, bn(keep_graph=False))[1]), ValueError, r"cache has no staged graph .*keep_graph"),
    # ---- layer norm
    ("ln x rank", lambda: layernorm_forward(X4, G5, B5, {}), ValueError, r"x must have 2 dimensions, got shape \(2, 6, 2, 2\)"),
    ("ln x int", lambda: layernorm_forward(np.ones((4, 5), np.int32), G5, B5, {}), TypeError, rf"x must have {D} int32"),
    ("ln gamma shape", lambda: layernorm_forward(X, G6, B5, {}), ValueError, r"gamma must have shape \(5,\), got shape \(6,\)"),
    ("ln param", lambda: layernorm_forward(X, G5, B5, None), TypeError, r"ln_param must be a dict, got NoneType None"),
    ("ln eps", lambda: layernorm_forward(X, G5, B5, {"eps": -1.0}), ValueError, r"ln_param\['eps'\] must be a positive finite number, got float -1.0"),
    ("ln mode typo", lambda: layernorm_forward(X, G5, B5, {"mode": "tset"}), ValueError, r"ln_param\['mode'\] must be 'train' or 'test' when given, got 'tset'"),
    ("ln one feature", lambda: layernorm_forward(X[:, :1], G5[:1], B5[:1], {}), ValueError, r"x must have at least 2 features for layer norm .*got shape \(4, 1\)"),
    ("ln nan", lambda: layernorm_forward(with_nan(X, (2, 1)), G5, B5, {}), ValueError, r"x contains 1 NaN or inf value\(s\) \(first at index \(2, 1\)"),
    ("ln bw dout", lambda: layernorm_backward(X[:, :4], ln_cache()), ValueError, r"dout must have shape \(4, 5\), got shape \(4, 4\)"),
    ("ln bw bn cache", lambda: layernorm_backward(X, bn_cache()), ValueError, r"cache comes from batchnorm_forward, but layernorm_backward needs the cache of layernorm_forward"),
    ("ln staged bn cache", lambda: layernorm_backward_staged(X, bn_cache()), ValueError, r"cache comes from batchnorm_forward, but layernorm_backward_staged needs"),
    ("ln staged no graph", lambda: layernorm_backward_staged(X, layernorm_forward(X, G5, B5, {"keep_graph": False})[1]), ValueError, r"cache has no staged graph"),
    # ---- RMSNorm
    ("rms gamma", lambda: rmsnorm_forward(X, G6, {}), ValueError, r"gamma must have shape \(5,\), got shape \(6,\)"),
    ("rms eps", lambda: rmsnorm_forward(X, G5, {"eps": 0.0}), ValueError, r"rms_param\['eps'\] must be a positive finite number, got float 0.0"),
    ("rms nan", lambda: rmsnorm_forward(with_nan(X, (0, 1)), G5, {}), ValueError, r"x contains 1 NaN or inf"),
    ("rms bw cache", lambda: rmsnorm_backward(X, ln_cache()), ValueError, r"cache comes from layernorm_forward, but rmsnorm_backward needs the cache of rmsnorm_forward"),
    # ---- spatial batch norm
    ("sbn x rank", lambda: spatial_batchnorm_forward(X, G5, B5, bn()), ValueError, r"x must have 4 dimensions, got shape \(4, 5\)"),
    ("sbn gamma 4d", lambda: spatial_batchnorm_forward(X4, G6_4, B6, bn()), ValueError, r"gamma must have shape \(6,\), got shape \(1, 6, 1, 1\)"),
    ("sbn mode", lambda: spatial_batchnorm_forward(X4, G6, B6, {}), ValueError, r"bn_param\['mode'\] is required"),
    ("sbn momentum", lambda: spatial_batchnorm_forward(X4, G6, B6, bn(momentum=2)), ValueError, r"bn_param\['momentum'\] must be a number in \[0, 1\], got int 2"),
    ("sbn one value", lambda: spatial_batchnorm_forward(X4[:1, :, :1, :1], G6, B6, bn()), ValueError, r"x must hold at least 2 values per channel in train mode \(N\*H\*W >= 2\), got shape \(1, 6, 1, 1\)"),
    ("sbn nan", lambda: spatial_batchnorm_forward(with_nan(X4, (1, 5, 0, 1)), G6, B6, bn()), ValueError, r"x contains 1 NaN or inf value\(s\) \(first at index \(1, 5, 0, 1\)"),
    ("sbn bw gn cache", lambda: spatial_batchnorm_backward(X4, gn_cache()), ValueError, r"cache comes from spatial_groupnorm_forward, but spatial_batchnorm_backward needs"),
    ("sbn bw dout", lambda: spatial_batchnorm_backward(X4[:1], sbn_cache()), ValueError, r"dout must have shape \(2, 6, 2, 2\), got shape \(1, 6, 2, 2\)"),
    # ---- group norm
    ("gn G not divisor", lambda: spatial_groupnorm_forward(X4, G6_4, B6_4, 4, {}), ValueError, r"G must be a positive integer dividing the number of channels C=6, got int 4"),
    ("gn G zero", lambda: spatial_groupnorm_forward(X4, G6_4, B6_4, 0, {}), ValueError, r"G must be a positive integer dividing .* got int 0"),
    ("gn G float", lambda: spatial_groupnorm_forward(X4, G6_4, B6_4, 2.0, {}), ValueError, r"G must be a positive integer .* got float 2.0"),
    ("gn gamma 1d", lambda: spatial_groupnorm_forward(X4, G6, B6_4, 2, {}), ValueError, r"gamma must have shape \(1, 6, 1, 1\), got shape \(6,\)"),
    ("gn eps", lambda: spatial_groupnorm_forward(X4, G6_4, B6_4, 2, {"eps": float("nan")}), ValueError, r"gn_param\['eps'\] must be a positive finite number, got float nan"),
    ("gn tiny groups", lambda: spatial_groupnorm_forward(X4[:, :, :1, :1], G6_4, B6_4, 6, {}), ValueError, r"each group must hold at least 2 values \(C/G\*H\*W >= 2\), got shape \(2, 6, 1, 1\) with G=6"),
    ("gn nan", lambda: spatial_groupnorm_forward(with_nan(X4, (0, 0, 0, 0), -np.inf), G6_4, B6_4, 3, {}), ValueError, r"x contains 1 NaN or inf value\(s\) \(first at index \(0, 0, 0, 0\), value -inf\)"),
    ("gn x int", lambda: spatial_groupnorm_forward(np.ones((2, 6, 2, 2), int), G6_4, B6_4, 3, {}), TypeError, rf"x must have {D} int64"),
    ("gn bw sbn cache", lambda: spatial_groupnorm_backward(X4, sbn_cache()), ValueError, r"cache comes from spatial_batchnorm_forward, but spatial_groupnorm_backward needs"),
    # ---- affine, ReLU, softmax
    ("affine x rank", lambda: affine_forward(X[0], np.ones((5, 3)), np.ones(3)), ValueError, r"x must have at least 2 dimensions \(N, \.\.\.\), got shape \(5,\)"),
    ("affine w shape", lambda: affine_forward(X4, np.ones((5, 3)), np.ones(3)), ValueError, r"w must have shape \(24, M\) to match x of shape \(2, 6, 2, 2\), got shape \(5, 3\)"),
    ("affine b shape", lambda: affine_forward(X, np.ones((5, 3)), np.ones(4)), ValueError, r"b must have shape \(3,\), got shape \(4,\)"),
    ("affine x int", lambda: affine_forward(np.ones((2, 5), int), np.ones((5, 3)), np.ones(3)), TypeError, rf"x must have {D} int64"),
    ("affine nan", lambda: affine_forward(with_nan(X, (0, 0)), np.ones((5, 3)), np.ones(3)), ValueError, r"x contains 1 NaN or inf"),
    ("affine bw cache", lambda: affine_backward(X, relu_forward(X)[1]), TypeError, r"cache must be the cache returned by affine_forward, got tuple \('relu'"),
    ("affine bw dout", lambda: affine_backward(X, affine_forward(X, np.ones((5, 3)), np.ones(3))[1]), ValueError, r"dout must have shape \(4, 3\), got shape \(4, 5\)"),
    ("relu x object", lambda: relu_forward(X.astype(object)), TypeError, rf"x must have {D} object"),
    ("relu nan", lambda: relu_forward(with_nan(X, (1, 1))), ValueError, r"x contains 1 NaN or inf"),
    ("relu bw cache", lambda: relu_backward(X, bn_cache()), TypeError, r"cache must be the cache returned by relu_forward, got NormCache"),
    ("relu bw dout", lambda: relu_backward(X.T, relu_forward(X)[1]), ValueError, r"dout must have shape \(4, 5\), got shape \(5, 4\)"),
    ("softmax y float", lambda: softmax_loss(X, np.zeros(4)), TypeError, r"y must be an integer array of labels, got dtype float64; convert explicitly, e\.g\. y\.astype\(np\.int64\)"),
    ("softmax y shape", lambda: softmax_loss(X, np.zeros(3, int)), ValueError, r"y must have shape \(4,\), got shape \(3,\)"),
    ("softmax no classes", lambda: softmax_loss(np.ones((2, 0)), np.zeros(2, int)), ValueError, r"x must hold at least one class score per example, got shape \(2, 0\)"),
    ("rel_error of None", lambda: rel_error(None, np.ones(1)), TypeError, r"rel_error needs two arrays of numbers, got x None"),
    ("softmax y range", lambda: softmax_loss(X, np.array([0, 1, 5, 2])), ValueError, r"y must hold labels in \[0, 4\], got values in \[0, 5\]"),
    ("softmax x rank", lambda: softmax_loss(X4, np.zeros(2, int)), ValueError, r"x must have 2 dimensions, got shape \(2, 6, 2, 2\)"),
    ("softmax nan", lambda: softmax_loss(with_nan(X, (3, 3)), np.zeros(4, int)), ValueError, r"x contains 1 NaN or inf"),
    ("softmax empty", lambda: softmax_loss(np.zeros((0, 3)), np.zeros(0, int)), ValueError, r"x must hold at least one example .*got shape \(0, 3\)"),
    # ---- running statistics
    ("update param", lambda: update_running_stats(None, G5, G5, 4), TypeError, r"bn_param must be a dict, got NoneType"),
    ("update count", lambda: update_running_stats({}, G5, G5, 1), ValueError, r"count must be an integer >= 2 \(values per statistic\), got int 1"),
    ("update shapes", lambda: update_running_stats({}, G5, G6, 4), ValueError, r"batch_var must have shape \(5,\), got shape \(6,\)"),
    ("update old shape", lambda: update_running_stats({"running_mean": G6}, G5, G5, 4), ValueError, r"bn_param\['running_mean'\] must have shape \(5,\), got shape \(6,\)"),
    ("update momentum", lambda: update_running_stats({"momentum": 9}, G5, G5, 4), ValueError, r"bn_param\['momentum'\] must be a number in \[0, 1\], got int 9"),
    ("pytorch features", lambda: pytorch_bn_param(0), ValueError, r"num_features must be a positive integer, got int 0"),
    ("pytorch momentum", lambda: pytorch_bn_param(3, momentum=1.1), ValueError, r"momentum must be a number in \[0, 1\], got float 1.1"),
    ("pytorch eps", lambda: pytorch_bn_param(3, eps=0.0), ValueError, r"eps must be a positive finite number, got float 0.0"),
    ("pytorch dtype", lambda: pytorch_bn_param(3, dtype=np.int64), TypeError, r"dtype must be np.float32 or np.float64, got"),
    # ---- the core and the graph
    ("normalize x int", lambda: normalize(np.ones((3, 2), int), (0,), 1e-5), TypeError, rf"x must have {D} int64"),
    ("normalize axes", lambda: normalize(X, (2,), 1e-5), ValueError, r"axes must be a tuple of distinct axes in 0\.\.1 \(x has 2 dimensions\), got tuple \(2,\)"),
    ("normalize eps", lambda: normalize(X, (0,), -1.0), ValueError, r"eps must be a positive finite number, got float -1.0"),
    ("normalize_backward shapes", lambda: normalize_backward(X[:2], X, np.ones((1, 5)), (0,)), ValueError, r"dx_hat must have shape \(4, 5\), got shape \(2, 5\)"),
    ("normalize_backward inv_std", lambda: normalize_backward(X, X, np.ones((4, 1)), (0,)), ValueError, r"inv_std must have shape \(1, 5\), got shape \(4, 1\)"),
    ("graph axis", lambda: normalization_graph(X, G5, B5, 1e-5, 2), ValueError, r"axis must be 0 \(batch norm\) or 1 \(layer norm\), got int 2"),
    ("graph gamma", lambda: normalization_graph(X, G6, B5, 1e-5, 0), ValueError, r"gamma must have shape \(5,\), got shape \(6,\)"),
    ("graph dout", lambda: explore_backward(normalization_graph(X, G5, B5, 1e-5, 0), X.T), ValueError, r"dout must have shape \(4, 5\) \(the graph's output\), got shape \(5, 4\)"),
    ("check_step step", lambda: check_step("mu"), TypeError, r"step must be a BackwardStep \(from explore_backward\), got str 'mu'"),
    ("gradcheck h", lambda: eval_numerical_gradient(np.sum, X, h=0), ValueError, r"h must be a positive finite number, got int 0"),
    ("gradcheck x int", lambda: eval_numerical_gradient_array(lambda v: v, np.ones(3, int), np.ones(3)), TypeError, rf"x must have {D} int64"),
    ("rel_error shapes", lambda: rel_error(X, X.T), ValueError, r"rel_error needs x and y of the same shape, got x \(4, 5\) and y \(5, 4\)"),
]


# NaN and inf outside x: the upstream gradient of every backward pass, the parameters,
# the stored running statistics (in both modes).
STATS = {"running_mean": G5, "running_var": np.ones(5)}
NAN_DOUT = r"dout contains 1 NaN or inf value\(s\) \(first at index \(2, 3\), value nan\); the backward pass needs a finite upstream gradient"
NAN_DOUT4 = r"dout contains 1 NaN or inf value\(s\) \(first at index \(1, 2, 0, 1\), value nan\); the backward pass needs"
DOUT = RNG.standard_normal(X.shape)
DOUT4 = RNG.standard_normal(X4.shape)


def bn_test_cache():
    return batchnorm_forward(X, G5, B5, {"mode": "test", **STATS})[1]


def affine_cache():
    return affine_forward(X, RNG.standard_normal((5, 3)), np.ones(3))[1]


def too_large_dout():
    """Finite, but its column sums (dbeta) overflow float64: 1e308 + 1e308 = inf."""
    dout = DOUT.copy()
    dout[:2, 1] = 1e308
    return dout


CASES += [
    # ---- dout in every backward pass
    ("bn bw dout nan", lambda: batchnorm_backward(with_nan(DOUT, (2, 3)), bn_cache()), ValueError, NAN_DOUT),
    ("bn bw dout inf", lambda: batchnorm_backward(with_nan(DOUT, (0, 1), -np.inf), bn_cache()), ValueError, r"dout contains 1 NaN or inf value\(s\) \(first at index \(0, 1\), value -inf\)"),
    ("bn bw alt dout nan", lambda: batchnorm_backward_alt(with_nan(DOUT, (2, 3)), bn_cache()), ValueError, NAN_DOUT),
    ("bn bw alt dout inf", lambda: batchnorm_backward_alt(with_nan(DOUT, (3, 4), np.inf), bn_cache()), ValueError, r"dout contains 1 NaN or inf value\(s\) \(first at index \(3, 4\), value inf\)"),
    ("bn bw alt dout too large", lambda: batchnorm_backward_alt(too_large_dout(), bn_cache()), ValueError, r"dout has values too large to backpropagate in float64 \(largest magnitude 1e\+308\): its sums over the batch \(the parameter gradients\) overflow\. Rescale dout \(divide it by a constant\)$"),
    ("bn bw test dout nan", lambda: batchnorm_backward(with_nan(DOUT, (2, 3)), bn_test_cache()), ValueError, NAN_DOUT),
    ("bn bw alt test dout nan", lambda: batchnorm_backward_alt(with_nan(DOUT, (2, 3)), bn_test_cache()), ValueError, NAN_DOUT),
    ("ln bw dout nan", lambda: layernorm_backward(with_nan(DOUT, (2, 3)), ln_cache()), ValueError, NAN_DOUT),
    ("ln staged dout nan", lambda: layernorm_backward_staged(with_nan(DOUT, (2, 3)), ln_cache()), ValueError, NAN_DOUT),
    ("rms bw dout nan", lambda: rmsnorm_backward(with_nan(DOUT, (2, 3)), rmsnorm_forward(X, G5, {})[1]), ValueError, NAN_DOUT),
    ("sbn bw dout nan", lambda: spatial_batchnorm_backward(with_nan(DOUT4, (1, 2, 0, 1)), sbn_cache()), ValueError, NAN_DOUT4),
    ("sbn bw test dout nan", lambda: spatial_batchnorm_backward(with_nan(DOUT4, (1, 2, 0, 1)), spatial_batchnorm_forward(X4, G6, B6, {"mode": "test", "running_mean": G6, "running_var": np.ones(6)})[1]), ValueError, NAN_DOUT4),
    ("gn bw dout nan", lambda: spatial_groupnorm_backward(with_nan(DOUT4, (1, 2, 0, 1)), gn_cache()), ValueError, NAN_DOUT4),
    ("affine bw dout nan", lambda: affine_backward(with_nan(DOUT[:, :3], (2, 1)), affine_cache()), ValueError, r"dout contains 1 NaN or inf value\(s\) \(first at index \(2, 1\), value nan\); the backward pass needs"),
    ("affine bw dout too large", lambda: affine_backward(too_large_dout()[:, :3], affine_cache()), ValueError, r"dout has values too large to backpropagate in float64 .*: its sums over the batch \(db\) overflow\. Rescale dout \(divide it by a constant\)$"),
    # ---- gamma, beta, w, b
    ("bn gamma nan", lambda: batchnorm_forward(X, with_nan(G5, 3), B5, bn()), ValueError, r"gamma contains 1 NaN or inf value\(s\) \(first at index \(3,\), value nan\); the scale gamma must be finite"),
    ("bn beta inf", lambda: batchnorm_forward(X, G5, with_nan(B5, 0, np.inf), bn()), ValueError, r"beta contains 1 NaN or inf value\(s\) \(first at index \(0,\), value inf\); the shift beta must be finite"),
    ("bn gamma nan test", lambda: batchnorm_forward(X, with_nan(G5, 1), B5, {"mode": "test", **STATS}), ValueError, r"gamma contains 1 NaN or inf value\(s\) \(first at index \(1,\)"),
    ("bn gamma nan no graph", lambda: batchnorm_forward(X, with_nan(G5, 1), B5, bn(keep_graph=False)), ValueError, r"gamma contains 1 NaN or inf"),
    ("ln gamma nan", lambda: layernorm_forward(X, with_nan(G5, 4), B5, {}), ValueError, r"gamma contains 1 NaN or inf value\(s\) \(first at index \(4,\)"),
    ("ln beta nan", lambda: layernorm_forward(X, G5, with_nan(B5, 4), {"keep_graph": False}), ValueError, r"beta contains 1 NaN or inf value\(s\) \(first at index \(4,\)"),
    ("rms gamma nan", lambda: rmsnorm_forward(X, with_nan(G5, 2), {}), ValueError, r"gamma contains 1 NaN or inf value\(s\) \(first at index \(2,\)"),
    ("sbn beta nan", lambda: spatial_batchnorm_forward(X4, G6, with_nan(B6, 5), bn()), ValueError, r"beta contains 1 NaN or inf value\(s\) \(first at index \(5,\)"),
    ("gn gamma nan", lambda: spatial_groupnorm_forward(X4, with_nan(G6_4, (0, 2, 0, 0)), B6_4, 2, {}), ValueError, r"gamma contains 1 NaN or inf value\(s\) \(first at index \(0, 2, 0, 0\)"),
    ("graph beta nan", lambda: normalization_graph(X, G5, with_nan(B5, 1), 1e-5, 0), ValueError, r"beta contains 1 NaN or inf value\(s\) \(first at index \(1,\)"),
    ("graph x nan", lambda: normalization_graph(with_nan(X, (1, 1)), G5, B5, 1e-5, 1), ValueError, r"x contains 1 NaN or inf value\(s\) \(first at index \(1, 1\)"),
    ("affine w nan", lambda: affine_forward(X, with_nan(np.ones((5, 3)), (4, 2)), np.ones(3)), ValueError, r"w contains 1 NaN or inf value\(s\) \(first at index \(4, 2\), value nan\); the weights must be finite"),
    ("affine b inf", lambda: affine_forward(X, np.ones((5, 3)), with_nan(np.ones(3), 0, -np.inf)), ValueError, r"b contains 1 NaN or inf value\(s\) \(first at index \(0,\), value -inf\); the biases must be finite"),
    # ---- stored running statistics, test and train mode
    ("bn test running_mean nan", lambda: batchnorm_forward(X, G5, B5, {"mode": "test", "running_mean": with_nan(G5, 2), "running_var": np.ones(5)}), ValueError, r"bn_param\['running_mean'\] contains 1 NaN or inf value\(s\) \(first at index \(2,\), value nan\); running statistics must be finite"),
    ("bn test running_var nan", lambda: batchnorm_forward(X, G5, B5, {"mode": "test", "running_mean": G5, "running_var": with_nan(np.ones(5), 0)}), ValueError, r"bn_param\['running_var'\] contains 1 NaN or inf value\(s\) \(first at index \(0,\), value nan\)"),
    ("bn test running_var inf", lambda: batchnorm_forward(X, G5, B5, {"mode": "test", "running_mean": G5, "running_var": with_nan(np.ones(5), 0, np.inf)}), ValueError, r"bn_param\['running_var'\] contains 1 NaN or inf value\(s\) \(first at index \(0,\), value inf\)"),
    ("bn train running_mean nan", lambda: batchnorm_forward(X, G5, B5, bn(running_mean=with_nan(G5, 1), running_var=np.ones(5))), ValueError, r"bn_param\['running_mean'\] contains 1 NaN or inf value\(s\) \(first at index \(1,\)"),
    ("bn train running_var nan", lambda: batchnorm_forward(X, G5, B5, bn(running_var=with_nan(np.ones(5), 3))), ValueError, r"bn_param\['running_var'\] contains 1 NaN or inf value\(s\) \(first at index \(3,\)"),
    ("bn train running_var nan momentum 0", lambda: batchnorm_forward(X, G5, B5, bn(momentum=0.0, running_var=with_nan(np.ones(5), 3))), ValueError, r"bn_param\['running_var'\] contains 1 NaN or inf"),
    ("sbn test running_mean nan", lambda: spatial_batchnorm_forward(X4, G6, B6, {"mode": "test", "running_mean": with_nan(G6, 4), "running_var": np.ones(6)}), ValueError, r"bn_param\['running_mean'\] contains 1 NaN or inf value\(s\) \(first at index \(4,\)"),
    ("sbn train running_var nan", lambda: spatial_batchnorm_forward(X4, G6, B6, bn(running_var=with_nan(np.ones(6), 0))), ValueError, r"bn_param\['running_var'\] contains 1 NaN or inf value\(s\) \(first at index \(0,\)"),
    # ---- mode of a type other than str (checked before its value)
    ("bn mode array", lambda: batchnorm_forward(X, G5, B5, {"mode": np.array(["train", "test"])}), ValueError, r"bn_param\['mode'\] must be the string 'train' or 'test', got array of shape \(2,\) and dtype <U5"),
    ("bn mode array of one", lambda: batchnorm_forward(X, G5, B5, {"mode": np.array(["train"])}), ValueError, r"bn_param\['mode'\] must be the string 'train' or 'test', got array of shape \(1,\)"),
    ("bn mode bytes", lambda: batchnorm_forward(X, G5, B5, {"mode": b"train"}), ValueError, r"bn_param\['mode'\] must be the string 'train' or 'test', got bytes b'train'"),
    ("bn mode None", lambda: batchnorm_forward(X, G5, B5, {"mode": None}), ValueError, r"bn_param\['mode'\] must be the string 'train' or 'test', got NoneType None"),
    ("sbn mode array", lambda: spatial_batchnorm_forward(X4, G6, B6, {"mode": np.array(["test"])}), ValueError, r"bn_param\['mode'\] must be the string 'train' or 'test', got array of shape \(1,\)"),
    ("ln mode array", lambda: layernorm_forward(X, G5, B5, {"mode": np.array(["train", "test"])}), ValueError, r"ln_param\['mode'\] must be the string 'train' or 'test' when given, got array of shape \(2,\)"),
    ("gn mode list", lambda: spatial_groupnorm_forward(X4, G6_4, B6_4, 2, {"mode": ["train"]}), ValueError, r"gn_param\['mode'\] must be the string 'train' or 'test' when given, got list \['train'\]"),
    # ---- empty arrays
    ("bn no features", lambda: batchnorm_forward(np.zeros((4, 0)), np.zeros(0), np.zeros(0), bn()), ValueError, r"x must not be empty, got shape \(4, 0\) \(axis 1 has size 0\): there is nothing to normalize"),
    ("bn no features test", lambda: batchnorm_forward(np.zeros((4, 0)), np.zeros(0), np.zeros(0), {"mode": "test", "running_mean": np.zeros(0), "running_var": np.ones(0)}), ValueError, r"x must not be empty, got shape \(4, 0\) \(axis 1 has size 0\)"),
    ("bn no examples test", lambda: batchnorm_forward(np.zeros((0, 5)), G5, B5, {"mode": "test", **STATS}), ValueError, r"x must not be empty, got shape \(0, 5\) \(axis 0 has size 0\)"),
    ("ln no examples", lambda: layernorm_forward(np.zeros((0, 5)), G5, B5, {}), ValueError, r"x must not be empty, got shape \(0, 5\) \(axis 0 has size 0\)"),
    ("ln no examples no graph", lambda: layernorm_forward(np.zeros((0, 5)), G5, B5, {"keep_graph": False}), ValueError, r"x must not be empty, got shape \(0, 5\)"),
    ("rms no examples", lambda: rmsnorm_forward(np.zeros((0, 5)), G5, {}), ValueError, r"x must not be empty, got shape \(0, 5\)"),
    ("sbn no channels", lambda: spatial_batchnorm_forward(np.zeros((2, 0, 2, 2)), np.zeros(0), np.zeros(0), bn()), ValueError, r"x must not be empty, got shape \(2, 0, 2, 2\) \(axis 1 has size 0\)"),
    ("sbn no examples test", lambda: spatial_batchnorm_forward(np.zeros((0, 6, 2, 2)), G6, B6, {"mode": "test", "running_mean": G6, "running_var": np.ones(6)}), ValueError, r"x must not be empty, got shape \(0, 6, 2, 2\)"),
    ("gn no examples", lambda: spatial_groupnorm_forward(np.zeros((0, 6, 2, 2)), G6_4, B6_4, 2, {}), ValueError, r"x must not be empty, got shape \(0, 6, 2, 2\)"),
    ("graph empty", lambda: normalization_graph(np.zeros((0, 5)), G5, B5, 1e-5, 1), ValueError, r"x must not be empty, got shape \(0, 5\)"),
]


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf on the way to the check
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # a sum of 1e308s, on the way
@pytest.mark.parametrize("call, error, message", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


# Finite values so large that the variance overflows the dtype (the squares of the
# deviations exceed ~3e38 in float32, ~1.8e308 in float64). Without the check, the
# output was all zeros (x_hat = (x - mean) / sqrt(inf)) and running_var became inf.
TOO_LARGE = {np.float32: 1e20, np.float64: 1e200}
LARGE_VALUE_LAYERS = {  # name: (shape of x, call with x and a bn_param)
    "batchnorm": ((4, 5), lambda x, p: batchnorm_forward(x, G5, B5, p)),
    "batchnorm no graph": ((4, 5), lambda x, p: batchnorm_forward(x, G5, B5, dict(p, keep_graph=False))),
    "layernorm": ((4, 5), lambda x, p: layernorm_forward(x, G5, B5, {})),
    "layernorm no graph": ((4, 5), lambda x, p: layernorm_forward(x, G5, B5, {"keep_graph": False})),
    "rmsnorm": ((4, 5), lambda x, p: rmsnorm_forward(x, G5, {})),
    "normalization_graph": ((4, 5), lambda x, p: normalization_graph(x, G5, B5, 1e-5, 0)),
    "spatial_batchnorm": ((2, 6, 2, 2), lambda x, p: spatial_batchnorm_forward(x, G6, B6, p)),
    "groupnorm": ((2, 6, 2, 2), lambda x, p: spatial_groupnorm_forward(x, G6_4, B6_4, 3, {})),
}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the squares, on the way to the check
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("layer", list(LARGE_VALUE_LAYERS))
def test_values_too_large_to_normalize_are_reported(layer, dtype):
    """x is finite, but its variance overflows: a ValueError naming x and the dtype, with
    the fix (rescale; float64 for float32 input); bn_param's running statistics untouched."""
    shape, call = LARGE_VALUE_LAYERS[layer]
    x = (RNG.standard_normal(shape) * TOO_LARGE[dtype]).astype(dtype)
    assert np.isfinite(x).all()
    bn_param = {"mode": "train", "running_mean": np.zeros(shape[1]), "running_var": np.ones(shape[1])}
    before = {key: value.copy() for key, value in bn_param.items() if key != "mode"}
    name = np.dtype(dtype).name
    fix = r"Rescale x \(divide it by a constant\) or convert it to float64$" if dtype == np.float32 else r"Rescale x \(divide it by a constant\)$"
    overflowing = "its mean square overflows" if layer == "rmsnorm" else "its variance overflows"
    with pytest.raises(ValueError, match=rf"x has values too large to normalize in {name} \(largest magnitude .*\): {overflowing}\. {fix}"):
        call(x, bn_param)
    for key, value in before.items():
        np.testing.assert_array_equal(bn_param[key], value)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("layer", ["batchnorm", "spatial_batchnorm"])
def test_test_mode_values_that_overflow_once_normalized_are_reported(layer):
    """Finite x, but a running variance so small that (x - mean) / sqrt(var + eps) overflows."""
    shape, call = LARGE_VALUE_LAYERS[layer]
    C = shape[1]
    bn_param = {"mode": "test", "running_mean": np.zeros(C), "running_var": np.full(C, 1e-12)}
    x = np.full(shape, 1e307)
    with pytest.raises(ValueError, match=r"x has values too large to normalize in float64 \(largest magnitude "
                                         r"1e\+307\): normalized with the running statistics .* they overflow"):
        call(x, bn_param)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_non_finite_errors_are_value_errors_and_floating_point_errors():
    """A ValueError for callers; a FloatingPointError for the training loop, which marks a
    net whose activations overflowed as diverged (tests/test_solver.py)."""
    with pytest.raises(ValueError) as caught:
        batchnorm_forward(with_nan(X, (0, 0)), G5, B5, {"mode": "train"})
    assert isinstance(caught.value, FloatingPointError)
    with pytest.raises(FloatingPointError, match="too large to normalize"):
        batchnorm_forward(X * 1e200, G5, B5, {"mode": "train"})


def test_bad_input_leaves_bn_param_alone():
    """A rejected call must not have updated the running statistics first."""
    bn_param = {"mode": "train", "running_mean": np.zeros(5), "running_var": np.ones(5)}
    before = {key: value.copy() for key, value in bn_param.items() if key != "mode"}
    with pytest.raises(ValueError):
        batchnorm_forward(with_nan(X, (0, 0)), G5, B5, bn_param)
    for key, value in before.items():
        np.testing.assert_array_equal(bn_param[key], value)


# ------------------------------------------------------------------ inputs are never modified


def forward_calls():
    """(name, function, args) for every forward-style public function; bn_param dicts last."""
    x32 = X.astype(np.float32)
    stats = {"running_mean": G5.copy(), "running_var": np.ones(5)}
    stats6 = {"running_mean": G6.copy(), "running_var": np.ones(6)}
    return [
        ("batchnorm train", batchnorm_forward, (X, G5, B5, {"mode": "train"})),
        ("batchnorm train no graph", batchnorm_forward, (X, G5, B5, {"mode": "train", "keep_graph": False})),
        ("batchnorm train float32 x, float64 gamma", batchnorm_forward, (x32, G5, B5, {"mode": "train", **stats})),
        ("batchnorm test", batchnorm_forward, (X, G5, B5, {"mode": "test", **stats})),
        ("batchnorm pytorch", batchnorm_forward, (X, G5, B5, pytorch_bn_param(5))),
        ("layernorm", layernorm_forward, (X, G5, B5, {"mode": "train"})),
        ("rmsnorm", rmsnorm_forward, (X, G5, {})),
        ("spatial batchnorm train", spatial_batchnorm_forward, (X4, G6, B6, {"mode": "train", **stats6})),
        ("spatial batchnorm test", spatial_batchnorm_forward, (X4, G6, B6, {"mode": "test", **stats6})),
        ("groupnorm", spatial_groupnorm_forward, (X4, G6_4, B6_4, 3, {})),
        ("affine", affine_forward, (X4, RNG.standard_normal((24, 3)), B5[:3])),
        ("relu", relu_forward, (X,)),
        ("softmax_loss", softmax_loss, (X, np.array([0, 1, 2, 3]))),
        ("normalize", normalize, (X, (0,), 1e-5)),
        ("normalization_graph", normalization_graph, (X, G5, B5, 1e-5, 1)),
        ("update_running_stats", update_running_stats, ({"momentum": 0.5, **stats}, G5, np.ones(5), 4)),
        ("rel_error", rel_error, (X, X + 1)),
        ("eval_numerical_gradient", eval_numerical_gradient, (np.sum, X)),
        ("eval_numerical_gradient_array", eval_numerical_gradient_array, (np.tanh, X, G5 * np.ones((4, 1)))),
    ]


@pytest.mark.parametrize("name, function, args", forward_calls(), ids=[c[0] for c in forward_calls()])
def test_forward_functions_do_not_modify_their_inputs(name, function, args, unmodified):
    """Every argument is unchanged afterwards: arrays exactly, dicts key by key, except
    bn_param's running_mean / running_var, which may be *replaced* (never written into)."""
    arrays = [a for a in args if not isinstance(a, dict)]
    params = [a for a in args if isinstance(a, dict)]
    param_copies = [{k: v for k, v in p.items() if k not in ("running_mean", "running_var")} for p in params]
    old_stats = [{k: p[k] for k in ("running_mean", "running_var") if k in p} for p in params]
    with unmodified(*arrays, *param_copies, *old_stats):
        function(*args)
    for copy_, param in zip(param_copies, params):
        assert {k: v for k, v in param.items() if k not in ("running_mean", "running_var")}.keys() == copy_.keys()


def backward_calls():
    """(name, backward, dout, cache) for every backward pass, with every kind of cache."""
    rng = np.random.default_rng(3)
    d2, d4 = rng.standard_normal(X.shape), rng.standard_normal(X4.shape)
    stats = {"running_mean": G5.copy(), "running_var": np.ones(5)}
    stats6 = {"running_mean": G6.copy(), "running_var": np.ones(6)}
    bn_train = batchnorm_forward(X, G5, B5, {"mode": "train"})[1]
    bn_plain = batchnorm_forward(X, G5, B5, {"mode": "train", "keep_graph": False})[1]
    bn_test = batchnorm_forward(X, G5, B5, {"mode": "test", **stats})[1]
    affine_out, affine_cache = affine_forward(X4, rng.standard_normal((24, 3)), B5[:3])
    return [
        ("batchnorm_backward", batchnorm_backward, d2, bn_train),
        ("batchnorm_backward test", batchnorm_backward, d2, bn_test),
        ("batchnorm_backward float32 dout", batchnorm_backward, d2.astype(np.float32), bn_train),
        ("batchnorm_backward_alt", batchnorm_backward_alt, d2, bn_train),
        ("batchnorm_backward_alt no graph", batchnorm_backward_alt, d2, bn_plain),
        ("batchnorm_backward_alt test", batchnorm_backward_alt, d2, bn_test),
        ("layernorm_backward", layernorm_backward, d2, layernorm_forward(X, G5, B5, {})[1]),
        ("layernorm_backward_staged", layernorm_backward_staged, d2, layernorm_forward(X, G5, B5, {})[1]),
        ("rmsnorm_backward", rmsnorm_backward, d2, rmsnorm_forward(X, G5, {})[1]),
        ("spatial_batchnorm_backward", spatial_batchnorm_backward, d4, spatial_batchnorm_forward(X4, G6, B6, {"mode": "train"})[1]),
        ("spatial_batchnorm_backward test", spatial_batchnorm_backward, d4, spatial_batchnorm_forward(X4, G6, B6, {"mode": "test", **stats6})[1]),
        ("spatial_groupnorm_backward", spatial_groupnorm_backward, d4, spatial_groupnorm_forward(X4, G6_4, B6_4, 2, {})[1]),
        ("affine_backward", affine_backward, rng.standard_normal(affine_out.shape), affine_cache),
        ("relu_backward", relu_backward, d2, relu_forward(X)[1]),
        ("explore_backward", lambda dout, graph: explore_backward(graph, dout), d2, normalization_graph(X, G5, B5, 1e-5, 0)),
    ]


@pytest.mark.parametrize("name, backward, dout, cache", backward_calls(), ids=[c[0] for c in backward_calls()])
def test_backward_passes_do_not_modify_dout_or_cache(name, backward, dout, cache, unmodified):
    with unmodified(dout, cache, names=["dout", "cache"]):
        first = backward(dout, cache)
        second = backward(dout, cache)
    first, second = (r if isinstance(r, tuple) else (r,) for r in (first, second))
    if name != "explore_backward":  # a second pass over the same cache gives the same gradients
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)


def test_normalize_backward_and_check_step_do_not_modify_inputs(unmodified):
    x_hat, _, _, inv_std = normalize(X, (0,), 1e-5)
    dx_hat = np.random.default_rng(1).standard_normal(X.shape)
    with unmodified(dx_hat, x_hat, inv_std):
        normalize_backward(dx_hat, x_hat, inv_std, (0,))
    steps = explore_backward(normalization_graph(X, G5, B5, 1e-5, 0), dx_hat)
    with unmodified(steps):
        for step in steps:
            check_step(step)


def test_a_read_only_x_read_through_a_closure_is_warned_about():
    """The copy of a read-only x is nudged; a closure over x never sees it: a silent zero gradient."""
    W = np.ones(3)
    W.flags.writeable = False
    with pytest.warns(RuntimeWarning, match="x is read-only"):
        assert not eval_numerical_gradient(lambda _: float((W ** 2).sum()), W).any()
    with pytest.warns(RuntimeWarning, match="x is read-only"):
        eval_numerical_gradient_array(lambda _: W * 2, W, np.ones(3))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read through its argument: right, and no warning
        np.testing.assert_allclose(eval_numerical_gradient(lambda v: float((v ** 2).sum()), W), 2 * W)


@pytest.mark.parametrize("keep_graph", [True, False])
@pytest.mark.parametrize("x", [with_nan(X, (0, 0), np.inf), (X * 1e20).astype(np.float32)], ids=["inf", "overflow"])
def test_non_finite_input_gives_the_one_clear_error_and_no_numpy_warning(x, keep_graph):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning on the way would replace the error
        with pytest.raises(ValueError, match=r"x (contains 1 NaN or inf|has values too large)"):
            batchnorm_forward(x, G5, B5, bn(keep_graph=keep_graph))
        with pytest.raises(ValueError, match=r"x (contains 1 NaN or inf|has values too large)"):
            layernorm_forward(x, G5, B5, {"keep_graph": keep_graph})
