"""Notebook 07 works end to end: with correct solutions filled in, every check passes.

The stored notebook is the learner's version (skeletons that return None; every
check says "not implemented yet"; nbval runs it green). Here each exercise cell
(``metadata.exercise``) is replaced by a solution, the notebook is executed in a
fresh kernel exactly as tools/run_notebooks.py does, and every check cell
(``metadata.selfcheck``) must then report "passed". A deliberately wrong
solution must make its check report the mistake, so the test can fail.
"""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "07_exercises.ipynb"

SOLUTIONS = {
    "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == "train":
        mu = x.mean(axis=0)
        xmu = x - mu
        var = (xmu ** 2).mean(axis=0)
        std = np.sqrt(var + eps)
        inv_std = 1 / std
        x_hat = xmu * inv_std
        out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = {"x_hat": x_hat, "xmu": xmu, "inv_std": inv_std, "std": std,
                 "gamma": gamma}
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
''',
    "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    x_hat, xmu, inv_std = cache["x_hat"], cache["xmu"], cache["inv_std"]
    std, gamma = cache["std"], cache["gamma"]
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dinv_std = (dx_hat * xmu).sum(axis=0)
    dxmu = dx_hat * inv_std
    dstd = -dinv_std / std ** 2
    dvar = 0.5 * dstd / std
    dxmu += 2 * xmu * dvar / N
    dmu = -dxmu.sum(axis=0)
    dx = dxmu + dmu / N
    return dx, dgamma, dbeta
''',
    "batchnorm_backward_alt": '''
def batchnorm_backward_alt(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
''',
    "layernorm_forward": '''
def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    return gamma * x_hat + beta, (x_hat, inv_std, gamma)
''',
    "layernorm_backward": '''
def layernorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    dx = inv_std / D * (D * g - g.sum(axis=1, keepdims=True)
                        - x_hat * (g * x_hat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta
''',
}


def _run_notebooks_module():
    spec = importlib.util.spec_from_file_location("_run_notebooks_for_07", ROOT / "tools" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cells_by(nb, key):
    return {cell.metadata[key]: cell for cell in nb.cells if key in cell.metadata}


def _report_text(cell):
    texts = []
    for output in cell.outputs:
        if "text" in output:
            texts.append(output["text"])
        elif "data" in output and "text/plain" in output["data"]:
            texts.append(output["data"]["text/plain"])
    return "".join(texts)


def _execute_with(solutions, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    exercises = _cells_by(nb, "exercise")
    assert set(exercises) == set(SOLUTIONS), f"exercise cells: {sorted(exercises)}"
    for name, source in solutions.items():
        exercises[name].source = source.strip("\n")
    path = tmp_path / NOTEBOOK.name
    nbformat.write(nb, path)
    runner = _run_notebooks_module()
    with runner.kernel_environment():
        ok, message = runner.execute(path)
    assert ok, message
    return nbformat.read(path, as_version=4)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    return _execute_with(SOLUTIONS, tmp_path_factory.mktemp("nb07"))


def test_stored_notebook_is_the_learners_version():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    checks = _cells_by(nb, "selfcheck")
    assert len(checks) == 5
    for name, cell in checks.items():
        text = _report_text(cell)
        assert "not implemented yet" in text and "still returns None" in text, (name, text)
    for name, cell in _cells_by(nb, "exercise").items():
        assert "TODO" in cell.source and "None" in cell.source, name


def test_with_solutions_every_check_passes(solved):
    checks = _cells_by(solved, "selfcheck")
    assert len(checks) == 5
    for name, cell in checks.items():
        text = _report_text(cell)
        assert ": passed." in text and "not yet right" not in text, (name, text)
        assert "float32 precision" not in text, (name, text)


def test_a_wrong_solution_is_named_in_the_notebook(tmp_path):
    wrong = dict(SOLUTIONS)
    wrong["batchnorm_backward_alt"] = SOLUTIONS["batchnorm_backward_alt"].replace(
        "dx = gamma * inv_std", "dx = inv_std")  # forgets gamma
    checks = _cells_by(_execute_with(wrong, tmp_path), "selfcheck")
    assert ": passed." in _report_text(checks["check_batchnorm_backward"])
    text = _report_text(checks["check_batchnorm_backward_alt"])
    assert "1. [dx_missing_gamma]" in text, text
