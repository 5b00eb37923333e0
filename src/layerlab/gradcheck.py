"""Finite-difference gradient checking (float64, central differences)."""

from __future__ import annotations

import numpy as np

from .tensor import Tensor, no_grad

__all__ = ["gradcheck", "gradcheck_module", "GradcheckError"]


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree."""


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0,
              names=None) -> bool:
    """Check the gradients of ``fn`` against central differences in float64.

    ``fn(*inputs)`` may return a tensor of any shape; it is reduced to the scalar
    L = Σ r ⊙ fn(inputs) with a fixed random ``r``, so every output entry counts.
    For each input that requires grad, dL/dx from ``backward()`` is compared with
    (L(x + ε e_i) − L(x − ε e_i)) / 2ε for every entry i.

    Inputs are converted to float64 copies (the originals are not touched).
    Returns True, or raises :class:`GradcheckError` naming the input (``names[k]``
    when given, else "input k"), the worst index, the analytic and the numeric values.
    """
    if names is not None and len(names) != len(inputs):
        raise ValueError(f"gradcheck: {len(names)} names for {len(inputs)} inputs")
    xs = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            # a C-ordered copy, so that the flat view perturbed below is the array itself
            xs.append(Tensor(np.array(x.data, dtype=np.float64, order="C"), requires_grad=x.requires_grad))
        else:
            xs.append(x)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in xs):
        raise ValueError("gradcheck: no input requires grad; nothing to check")

    out = fn(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned {out.dtype} for float64 inputs (a silent downcast?)")
    r = np.random.default_rng(seed).standard_normal(out.shape)

    def loss_value() -> float:
        with no_grad():
            return float(np.sum(r * fn(*xs).data))

    (out * Tensor(r)).sum().backward()

    for k, x in enumerate(xs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=np.float64)
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            hi = loss_value()
            flat[i] = old - eps
            lo = loss_value()
            flat[i] = old
            numeric.reshape(-1)[i] = (hi - lo) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            worst = np.unravel_index(int(np.argmax(err)), x.shape)
            what = names[k] if names is not None else f"input {k}"
            raise GradcheckError(
                f"gradcheck: {what} (shape {x.shape}) at index {tuple(int(i) for i in worst)}: "
                f"analytic {analytic[worst]:.10g} vs numeric {numeric[worst]:.10g} "
                f"(atol={atol}, rtol={rtol}, eps={eps})"
            )
    return True


def gradcheck_module(module, *inputs, **kwargs) -> bool:
    """:func:`gradcheck` of ``module(*inputs)`` with respect to the inputs *and* every parameter
    of ``module``: each parameter is swapped for gradcheck's float64 copy during the check and
    put back afterwards (the module is otherwise untouched). An error names the parameter.
    ``kwargs`` go to :func:`gradcheck` (eps, atol, rtol, seed)."""
    named = list(module.named_parameters())
    n_in = len(inputs)

    def fn(*args):
        saved = []
        for (name, _), t in zip(named, args[n_in:]):
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            saved.append((owner, leaf, owner._parameters[leaf]))
            owner._parameters[leaf] = t  # route the forward through gradcheck's copy
        try:
            return module(*args[:n_in])
        finally:
            for owner, leaf, p in saved:
                owner._parameters[leaf] = p

    labels = [f"input {i}" for i in range(n_in)] + [f"parameter '{n}'" for n, _ in named]
    return gradcheck(fn, *inputs, *(p for _, p in named), names=labels, **kwargs)
