"""The catalogue of mistakes that :mod:`cs231n_norm.selfcheck` recognises, as data.

Every entry is a mistake people really make when they write batch or layer
normalization by hand. Each has a stable ``id`` (reports, tests and notebooks
refer to it), a short ``title``, the ``symptom`` it leaves behind (what a check
measures: the diagnosis works from symptoms, never from reading source code),
the likely ``cause`` in the learner's code, and a ``hint`` of where to look
that stops short of the solution.

Use :func:`mistake` to look one up by id; ``CATALOGUE`` holds them all, in a
stable order (forward, backward, running statistics, other layers, general).
The ids ``eps_outside_sqrt``, ``eps_missing`` and ``ignores_eps`` cover eps
wherever it is used: train mode, test mode and the backward pass.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """One catalogue entry.

    id : str, stable identifier (snake_case)
    title : str, one line
    symptom : str, what a check sees when this mistake is made
    cause : str, what the code most likely does
    hint : str, where to look (never the full solution)
    """

    id: str
    title: str
    symptom: str
    cause: str
    hint: str


CATALOGUE = (
    # ------------------------------------------------------------ forward pass
    Mistake(
        "unbiased_variance",
        "Variance divided by N-1 instead of N",
        "The normalized output has a spread of sqrt((n-1)/n) instead of 1, n being the number of "
        "values each statistic is taken over (N for batch norm, D for layer norm, N*H*W for "
        "spatial batch norm, C/G*H*W for group norm): 0.87 at n=4, 0.99 at n=64, so large "
        "errors for small n and small ones for large n. With a backward written for N, the "
        "classic gradient check at N=4 prints a dx error of 0.35 to 1 (20 random draws).",
        "The variance is the unbiased estimate (ddof=1, or a sum divided by N-1).",
        "Compare the number your variance line divides by (or the ddof you give np.var / np.std) "
        "with the definition of sigma^2 in the exercise.",
    ),
    Mistake(
        "eps_outside_sqrt",
        "eps added to the standard deviation instead of the variance",
        "A tiny error (about 5e-6 for features of variance 1) that becomes large (0.5 or more) "
        "for a feature whose variance is comparable to eps; the classic gradient check prints a "
        "small dx error (2.5e-6 to 2e-3 in our measurements, depending on the draw and on how "
        "the backward is written), easy to take for round-off. It can sit in the forward pass, "
        "in test mode, or only in a backward pass that recomputes the standard deviation.",
        "The denominator is sqrt(var) + eps instead of sqrt(var + eps).",
        "Write out each denominator you compute (forward, test mode, and any standard deviation "
        "your backward recomputes) and compare it, symbol by symbol, with the formula in the "
        "exercise: where exactly does eps appear?",
    ),
    Mistake(
        "eps_missing",
        "eps left out of the denominator",
        "Right to about 1e-5 for features of variance 1, wrong by a factor of up to ~3 for a "
        "feature whose variance (~1e-6) is comparable to eps, and inf or NaN for a constant "
        "feature. Like eps_outside_sqrt it can sit in train mode, test mode or the backward pass.",
        "The denominator is sqrt(var) (or np.std(x)), with no eps anywhere.",
        "Find every place you divide by a standard deviation (forward, test mode, backward) and "
        "compare it with the formula in the exercise term by term.",
    ),
    Mistake(
        "ignores_eps",
        "eps taken as 1e-5 whatever the param dict says",
        "Right whenever the param dict leaves 'eps' out; wrong on the input whose param dict "
        "sets eps = 1e-3 (one feature there has a variance comparable to that eps).",
        "eps is hard-coded (eps = 1e-5), or read from the param dict under another name.",
        "The param dict carries the settings the caller chose: trace where your eps comes from.",
    ),
    Mistake(
        "batchnorm_wrong_axis",
        "Batch norm statistics taken over the wrong axis",
        "Shapes that broadcast only when N == D: an error for N != D, and silently wrong "
        "output when N == D (each example normalized over its own features).",
        "mean/var are taken over axis 1 (the features) instead of axis 0 (the batch).",
        "Batch norm computes one mean and one variance per feature, over the examples: "
        "which axis indexes the examples?",
    ),
    Mistake(
        "layernorm_wrong_axis",
        "Layer norm statistics taken over the batch axis",
        "The per-example (row) means of the normalized output are not 0, while the "
        "per-feature (column) means are: that is batch norm. A gradient check of your own "
        "forward still passes, because the backward matches the wrong forward.",
        "mean/var are taken over axis 0, or the BN code was copied without changing the axis.",
        "Layer norm normalizes each example over its own features: which axis is that?",
    ),
    Mistake(
        "layernorm_gamma_before_transpose",
        "Layer norm via the transpose trick, with gamma and beta applied before transposing back",
        "An error for N != D; when N == D the output is silently wrong: example i is scaled by "
        "gamma[i] and shifted by beta[i] instead of feature j by gamma[j] and beta[j].",
        "Batch norm (with gamma and beta) applied to x.T, then the result transposed back.",
        "gamma and beta belong to the features, whatever axis you normalize over: check, at the line "
        "where you apply them, which axis of that array indexes the features.",
    ),
    Mistake(
        "missing_keepdims",
        "A per-example statistic broadcast along the wrong axis",
        "An error for N != D; when N == D the output is silently wrong "
        "(x[i, j] - mean[j] instead of x[i, j] - mean[i]).",
        "mean/var over axis 1 without keepdims=True: shape (N,) broadcasts against the columns.",
        "Check the shapes of your mean and variance: they should broadcast against each row.",
    ),
    # ------------------------------------------------------------ backward pass
    Mistake(
        "missing_variance_path",
        "Backward ignores that the variance depends on x",
        "dx is wrong (classic check: rel error ~1) while dgamma and dbeta are right; dx "
        "matches the gradient with the variance treated as a constant.",
        "The gradient through var (dvar and its contribution back to x) is missing or "
        "never added to dx.",
        "x reaches the output three ways: directly, through the mean and through the "
        "variance. Follow the variance node in your graph and make sure its gradient "
        "reaches dx.",
    ),
    Mistake(
        "missing_mean_path",
        "Backward ignores that the mean depends on x",
        "dx is wrong while dgamma and dbeta are right; dx matches the gradient with the "
        "mean treated as a constant.",
        "The gradient through mu (dmu / N added back to every example) is missing.",
        "Follow the mean node: its gradient must flow back to every x_i it was computed from.",
    ),
    Mistake(
        "missing_1_over_n",
        "1/N missing when a batch statistic's gradient is sent back to x",
        "dx is wrong (classic check: rel error ~1); it matches the gradient whose mean "
        "and/or variance paths are N times too large.",
        "The backward of a mean node broadcasts its upstream gradient without dividing by N.",
        "The local derivative of mean(x) with respect to one x_i is 1/N: check each place a "
        "batch statistic's gradient is broadcast back.",
    ),
    Mistake(
        "dx_missing_gamma",
        "dx forgets the gamma factor",
        "dx is right when gamma = 1 and wrong by a factor of 1/gamma per feature otherwise.",
        "The gradient with respect to x_hat was taken to be dout instead of gamma * dout.",
        "out = gamma * x_hat + beta: what is d out / d x_hat?",
    ),
    Mistake(
        "dgamma_uses_x",
        "dgamma computed with x instead of x_hat",
        "dgamma is wrong and equals sum(dout * x) over the batch; dx and dbeta are right.",
        "dgamma = sum(dout * x) instead of sum(dout * x_hat).",
        "gamma multiplies the normalized input: which array does it multiply in the forward?",
    ),
    Mistake(
        "dbeta_mean_not_sum",
        "dbeta averaged over the batch instead of summed",
        "dbeta is N times too small (it equals the mean of dout); dx and dgamma are right.",
        "np.mean(dout, axis=...) where a sum is needed.",
        "beta is added to every example: how do the contributions of the N examples combine "
        "into one gradient? Compare the ratio the check prints with N.",
    ),
    Mistake(
        "dgamma_mean_not_sum",
        "dgamma averaged over the batch instead of summed",
        "dgamma is N times too small; dx and dbeta are right.",
        "np.mean(dout * x_hat, axis=...) where a sum is needed.",
        "gamma scales every example: how do the contributions of the N examples combine into "
        "one gradient? Compare the ratio between yours and the correct one with N.",
    ),
    # ------------------------------------------------------------ running statistics
    Mistake(
        "running_stats_not_saved",
        "Running statistics not written back into bn_param",
        "After training steps bn_param has no (or unchanged) running_mean / running_var; "
        "test mode then normalizes with zeros and its outputs explode (std ~300 for eps=1e-5).",
        "The updated running_mean / running_var are computed into local variables only.",
        "bn_param is how the statistics survive from one call to the next: check that the "
        "train branch stores them in it.",
    ),
    Mistake(
        "momentum_reversed",
        "Momentum applied to the new batch value instead of the old running value",
        "The running mean after a few steps matches momentum * batch + (1 - momentum) * old; "
        "the classic notebook check cannot see this.",
        "running = (1 - momentum) * running + momentum * batch (PyTorch's meaning of momentum).",
        "Compare your update line with the update formula in the exercise (or in CS231n's "
        "batchnorm_forward docstring): which term, the old running value or the new batch "
        "value, does momentum multiply there?",
    ),
    Mistake(
        "momentum_hard_coded",
        "momentum taken as 0.9 whatever bn_param says",
        "The running statistics are right when bn_param leaves 'momentum' out, and match the "
        "running average with momentum 0.9 when bn_param sets momentum = 0.6.",
        "momentum is hard-coded (momentum = 0.9), or read from bn_param under another name.",
        "bn_param carries the settings the caller chose: trace where your momentum comes from.",
    ),
    Mistake(
        "running_std_instead_of_var",
        "Running standard deviation kept instead of running variance",
        "running_var follows the running average of the batch standard deviation; test-mode "
        "outputs are scaled wrongly (stds up to ~6 for features of scale 4).",
        "The running average is fed sqrt(var) (or std) instead of var.",
        "Test mode divides by sqrt(running_var + eps): what must running_var hold for that to work?",
    ),
    Mistake(
        "running_var_unbiased",
        "Running variance stored unbiased (PyTorch's convention)",
        "running_var is N/(N-1) times the value CS231n's convention gives.",
        "The running average is fed the unbiased batch variance, as torch.nn.BatchNorm1d does.",
        "This suite follows CS231n: running_var averages the same biased variance the batch "
        "was normalized with (see notebook 01 on PyTorch's conventions).",
    ),
    Mistake(
        "batch_stats_in_test_mode",
        "Batch statistics used in test mode",
        "Test-mode outputs are 'too clean': per-feature means exactly 0 and stds exactly 1 "
        "(before gamma and beta) whatever the running statistics say.",
        "The test branch computes the mean and variance of the test batch.",
        "In test mode the layer must not look at the batch statistics: it uses running_mean "
        "and running_var from bn_param.",
    ),
    Mistake(
        "running_stats_updated_in_test_mode",
        "Running statistics changed in test mode",
        "bn_param['running_mean'] / ['running_var'] change when the layer runs in test mode.",
        "The running-average update also runs in the test branch.",
        "Only training updates the running statistics; test mode only reads them.",
    ),
    # ------------------------------------------------------------ other layers
    Mistake(
        "spatial_bn_channels_mixed",
        "Spatial batch norm reshaped to (-1, C) without moving the channels last",
        "Output matches batch norm of x.reshape(-1, C): per-channel statistics are not 0/1, "
        "visible only when channels have different offsets.",
        "x.reshape(-1, C) on an (N, C, H, W) array mixes values of different channels in one column.",
        "A reshape keeps memory order: which axis must be last before you flatten to (-1, C)? "
        "Undo the same steps, in reverse, on the way back.",
    ),
    Mistake(
        "groupnorm_interleaved_groups",
        "Group norm groups made of interleaved instead of contiguous channels",
        "Output matches groups {0, G, 2G, ...}, {1, G+1, ...} instead of "
        "{0, ..., C/G-1}, {C/G, ...}; visible only when channels have different offsets.",
        "x.reshape(N, C // G, G, H, W) (or a transpose) puts channel c in group c % G.",
        "Group g holds C/G neighbouring channels: reshape so the group index comes first.",
    ),
    # ------------------------------------------------------------ general
    Mistake(
        "wrong_output_shape",
        "A returned array has the wrong shape",
        "out or dx does not have the shape of x, or dgamma / dbeta not the shape of gamma / beta.",
        "A missing or extra keepdims, a reshape not undone, or a sum over the wrong axes.",
        "Print the shapes of what you return and compare them with the docstring.",
    ),
    Mistake(
        "wrong_output_dtype",
        "A returned array has the wrong dtype",
        "For float64 inputs, out, dx, dgamma, dbeta or a running statistic comes back as "
        "float16 (about 3 significant digits, too few to tell a right result from a wrong "
        "one), as integers (every value rounded), as booleans or as complex numbers. float64 "
        "is expected; float32 is accepted (computing in float32 on purpose is fine).",
        "An astype(...) to a smaller or integer type, or a result array created with an "
        "explicit dtype (np.zeros(shape, dtype=int), np.empty_like of an integer array) and "
        "then filled in.",
        "Print the dtype of every array you return and follow each one back to the line where "
        "it was created or converted.",
    ),
    Mistake(
        "wrong_return_value",
        "The function returns something other than the documented values",
        "The forward must return (out, cache), the backward (dx, dgamma, dbeta).",
        "A missing return, values in a different order, or only one of them returned.",
        "Compare your return statement with the docstring.",
    ),
    Mistake(
        "input_modified",
        "An input array was modified in place",
        "x, gamma, beta or dout holds different values after the call.",
        "An in-place operation (x -= mean, dout *= gamma, ...) on an argument or on a view of one.",
        "Look for in-place operators (-=, *=, out=...) applied to an argument, or to a slice or "
        "reshape of one (they share its memory).",
    ),
    Mistake(
        "raised_exception",
        "The function raised an error",
        "An exception on some input shapes (often a broadcast error that appears only when N != D).",
        "A shape mismatch, a missing key in the param dict, or a typo.",
        "Read the error message shown with the input shape that triggered it.",
    ),
)

_BY_ID = {entry.id: entry for entry in CATALOGUE}
if len(_BY_ID) != len(CATALOGUE):  # pragma: no cover - guards the data above
    raise RuntimeError("duplicate mistake ids in the catalogue")

IDS = tuple(entry.id for entry in CATALOGUE)


def mistake(mistake_id):
    """The catalogue entry with this id.

    Raises
    ------
    KeyError naming the known ids when `mistake_id` is not one of them.
    """
    try:
        return _BY_ID[mistake_id]
    except (KeyError, TypeError):
        raise KeyError(f"no mistake with id {mistake_id!r}; known ids: {', '.join(IDS)}") from None
