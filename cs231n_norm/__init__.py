"""cs231n_norm: batch and layer normalization from the inside.

The layer functions keep CS231n's conventions (``out, cache = *_forward``,
``*_backward(dout, cache)``); see :mod:`cs231n_norm.layers`. The one
normalization they are all built on is in :mod:`cs231n_norm.core`, the staged
computational graph in :mod:`cs231n_norm.graph`.
"""

__version__ = "0.1.0"

from .core import NormCache, normalize, normalize_backward
from .gradcheck import (
    error_relative_to_largest,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    numerical_gradients,
    rel_error,
)
from .graph import Graph, Node, check_step, explore_backward, normalization_graph
from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_backward_staged,
    layernorm_forward,
    pytorch_bn_param,
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
