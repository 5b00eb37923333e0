"""Tensor and the graph: reverse-mode automatic differentiation.

A ``Tensor`` wraps an ``np.ndarray``. Every differentiable op creates its output
with :func:`make_node`, which records the inputs (``parents``) and a closure that
maps the gradient of the output to the gradients of the inputs — the local
derivative, written right next to the forward in ``ops.py`` and ``nn/``. Tensor's
operators and methods (``+``, ``@``, ``.tanh()``, ``.sum()``, ...) are defined in the
class below, each a one-line call into ``ops`` (so ``help(Tensor)`` and type checkers
see them).

``backward()`` is the notes' "sum over all paths, computed by dynamic
programming" (seed 002): nodes are visited in reverse topological order (computed
iteratively, so a 10,000-op chain does not hit the recursion limit); the gradient
reaching a node along several paths is summed before it flows further.

Broadcasting is undone here, once: a gradient whose shape differs from its
input's is summed back to the input's shape (:func:`sum_to`). No op does that
itself.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .backend import get_default_dtype, xp

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "make_node", "sum_to"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context in which ops record no graph (inference, parameter updates)."""
    prev = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = prev


@contextlib.contextmanager
def enable_grad():
    """Context that re-enables graph recording inside :func:`no_grad`."""
    prev = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = prev


class Node:
    """One recorded op: its inputs and the closure ``g -> (g_input, ...)``."""

    __slots__ = ("parents", "backward", "op")

    def __init__(self, parents, backward, op):
        self.parents = parents
        self.backward = backward
        self.op = op

    def free(self):
        # Drop the closure (and the arrays it saved) and the references to inputs,
        # as PyTorch frees saved tensors; a second backward through it then raises.
        self.backward = None
        self.parents = ()


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (the inverse of broadcasting)."""
    if g.shape == shape:
        return g
    full = np.broadcast_shapes(g.shape, shape)
    if full != g.shape:  # a backward may return a gradient that only broadcasts to its input
        g = xp.broadcast_to(g, full)
    lead = g.ndim - len(shape)
    if lead > 0:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        return xp.asarray(data)
    arr = xp.asarray(data)
    if arr.dtype.kind == "f":  # Python floats take the default dtype, not float64
        arr = arr.astype(get_default_dtype(), copy=False)
    return arr


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Args:
        data: an ``np.ndarray`` (its dtype is kept) or Python data (float data
            becomes the default dtype, float32).
        requires_grad: record ops on this tensor so that ``backward()`` fills
            ``.grad``. Only floating tensors may require grad.

    ``.grad`` is an ``np.ndarray`` of the same shape and dtype, accumulated across
    ``backward()`` calls until set to ``None`` (``zero_grad``).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "name", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to Tensor's reflected operators

    def __init__(self, data, requires_grad: bool = False, dtype=None, _ctx: Node | None = None):
        arr = _as_array(data, dtype)
        self.data = arr
        self.grad = None
        self._ctx = _ctx
        self.name = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad; got dtype {self.data.dtype} "
                f"(shape {self.data.shape}). Cast it first, e.g. tensor(x, dtype=np.float32)."
            )
        self.requires_grad = bool(flag)
        return self

    # -- plain properties -------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that produced this tensor (None for a leaf)."""
        return None if self._ctx is None else self._ctx.op

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = ""
        if self._ctx is not None:
            extra = f", grad_fn={self._ctx.op}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.data.dtype}{extra})"

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.data.size} elements, expected 1")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype) -> "Tensor":
        """A copy in another dtype; differentiable between floating dtypes."""
        dt = np.dtype(dtype)
        src = self.data.dtype
        out = self.data.astype(dt)
        if dt.kind != "f":
            return Tensor(out)
        return make_node(out, (self,), lambda g: (g.astype(src),), "astype")

    def __setitem__(self, idx, value):
        if self.requires_grad or self._ctx is not None:
            raise RuntimeError(
                f"in-place assignment into a tensor that is part of the graph (shape {self.shape}) "
                "would make its gradients wrong; build a new tensor (e.g. with where/concatenate) "
                "or assign to .data under no_grad if you mean to change a parameter."
            )
        self.data[idx] = value.data if isinstance(value, Tensor) else value

    __hash__ = object.__hash__

    # -- operators and methods -------------------------------------------------------
    # Thin methods over the primitives of ``ops.py`` (each forward with its backward there).
    # ``_ops`` is bound at the bottom of this module: ops imports Tensor from here.

    def __add__(self, other) -> "Tensor":
        """self + other (:func:`layerlab.ops.add`)."""
        return _ops.add(self, other)

    def __radd__(self, other) -> "Tensor":
        return _ops.add(self, other)

    def __sub__(self, other) -> "Tensor":
        """self − other (:func:`layerlab.ops.sub`)."""
        return _ops.sub(self, other)

    def __rsub__(self, other) -> "Tensor":
        return _ops.sub(other, self)

    def __mul__(self, other) -> "Tensor":
        """self · other, elementwise (:func:`layerlab.ops.mul`)."""
        return _ops.mul(self, other)

    def __rmul__(self, other) -> "Tensor":
        return _ops.mul(self, other)

    def __truediv__(self, other) -> "Tensor":
        """self / other (:func:`layerlab.ops.div`)."""
        return _ops.div(self, other)

    def __rtruediv__(self, other) -> "Tensor":
        return _ops.div(other, self)

    def __neg__(self) -> "Tensor":
        return _ops.neg(self)

    def __pow__(self, other) -> "Tensor":
        """self ** other (:func:`layerlab.ops.pow`)."""
        return _ops.pow(self, other)

    def __rpow__(self, other) -> "Tensor":
        return _ops.pow(other, self)

    def __matmul__(self, other) -> "Tensor":
        """self @ other (:func:`layerlab.ops.matmul`)."""
        return _ops.matmul(self, other)

    def __rmatmul__(self, other) -> "Tensor":
        return _ops.matmul(other, self)

    def __getitem__(self, idx) -> "Tensor":
        """self[idx], basic or integer-array indexing (:func:`layerlab.ops.getitem`)."""
        return _ops.getitem(self, idx)

    def __abs__(self) -> "Tensor":
        return _ops.abs(self)

    # comparisons give a bool Tensor outside the graph
    def __lt__(self, other) -> "Tensor":
        return Tensor(np.less(self.data, other.data if isinstance(other, Tensor) else other))

    def __le__(self, other) -> "Tensor":
        return Tensor(np.less_equal(self.data, other.data if isinstance(other, Tensor) else other))

    def __gt__(self, other) -> "Tensor":
        return Tensor(np.greater(self.data, other.data if isinstance(other, Tensor) else other))

    def __ge__(self, other) -> "Tensor":
        return Tensor(np.greater_equal(self.data, other.data if isinstance(other, Tensor) else other))

    def __eq__(self, other) -> "Tensor":  # type: ignore[override]
        return Tensor(np.equal(self.data, other.data if isinstance(other, Tensor) else other))

    def __ne__(self, other) -> "Tensor":  # type: ignore[override]
        return Tensor(np.not_equal(self.data, other.data if isinstance(other, Tensor) else other))

    def add(self, other) -> "Tensor":
        """self + other."""
        return _ops.add(self, other)

    def matmul(self, other) -> "Tensor":
        """self @ other."""
        return _ops.matmul(self, other)

    def pow(self, other) -> "Tensor":
        """self ** other."""
        return _ops.pow(self, other)

    def exp(self) -> "Tensor":
        """e^self;  derivative e^self."""
        return _ops.exp(self)

    def log(self) -> "Tensor":
        """ln self;  derivative 1/self."""
        return _ops.log(self)

    def sqrt(self) -> "Tensor":
        """√self;  derivative 1/(2√self)."""
        return _ops.sqrt(self)

    def abs(self) -> "Tensor":
        """|self|;  derivative sign(self) (0 at 0)."""
        return _ops.abs(self)

    def tanh(self) -> "Tensor":
        """tanh(self);  derivative 1 − tanh²."""
        return _ops.tanh(self)

    def sigmoid(self) -> "Tensor":
        """σ(self) = 1/(1 + e^−self);  derivative σ(1 − σ)."""
        return _ops.sigmoid(self)

    def relu(self) -> "Tensor":
        """max(0, self);  derivative [self > 0]."""
        return _ops.relu(self)

    def clip(self, lo=None, hi=None) -> "Tensor":
        """self clipped to [lo, hi];  derivative 1 inside, 0 outside."""
        return _ops.clip(self, lo, hi)

    def maximum(self, other) -> "Tensor":
        """Elementwise max (a tie's gradient goes to self)."""
        return _ops.maximum(self, other)

    def minimum(self, other) -> "Tensor":
        """Elementwise min (a tie's gradient goes to self)."""
        return _ops.minimum(self, other)

    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Σ over ``axis`` (all axes by default)."""
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Mean over ``axis`` (all axes by default)."""
        return _ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Max over ``axis``; the gradient is split evenly between ties."""
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Min over ``axis``; the gradient is split evenly between ties."""
        return _ops.min(self, axis, keepdims)

    def var(self, axis=None, keepdims: bool = False, ddof: int = 0) -> "Tensor":
        """Variance over ``axis`` (biased, ``ddof=0``, by default)."""
        return _ops.var(self, axis, keepdims, ddof)

    def logsumexp(self, axis=None, keepdims: bool = False) -> "Tensor":
        """log Σ e^self over ``axis``, computed stably;  derivative softmax(self)."""
        return _ops.logsumexp(self, axis, keepdims)

    def argmax(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Index of the max over ``axis`` (an integer Tensor, outside the graph)."""
        return Tensor(xp.argmax(self.data, axis=axis, keepdims=keepdims))

    def argmin(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Index of the min over ``axis`` (an integer Tensor, outside the graph)."""
        return Tensor(xp.argmin(self.data, axis=axis, keepdims=keepdims))

    def reshape(self, *shape) -> "Tensor":
        """The same entries in another shape (``t.reshape(2, 3)`` or ``t.reshape((2, 3))``)."""
        return _ops.reshape(self, *shape)

    def permute(self, *axes) -> "Tensor":
        """Reorder the axes (all reversed when none are given)."""
        return _ops.permute(self, *axes)

    def transpose(self, axis0: int | None = None, axis1: int | None = None) -> "Tensor":
        """Swap two axes (all axes reversed when none are given)."""
        return _ops.transpose(self, axis0, axis1)

    @property
    def T(self) -> "Tensor":
        """All axes reversed (the transpose of a matrix)."""
        return _ops.permute(self)

    def broadcast_to(self, *shape) -> "Tensor":
        """Broadcast to ``shape``; the gradient is summed back."""
        return _ops.broadcast_to(self, *shape)

    expand = broadcast_to

    def pad(self, pad_width, value: float = 0.0) -> "Tensor":
        """Constant padding with ``np.pad`` widths."""
        return _ops.pad(self, pad_width, value)

    # -- backward -----------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating into ``.grad`` of the leaves.

        Args:
            grad: dL/dself. May be omitted only for a tensor with one element.
            retain_graph: keep the graph so that ``backward`` can be called again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"backward(): tensor of shape {self.shape} does not require grad and has no graph "
                "(were its inputs created with requires_grad=True, outside no_grad()?)"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward(): tensor of shape {self.shape} is not a scalar; pass grad= of shape "
                    f"{self.shape} (dL/d this tensor), or reduce it first (e.g. .sum())"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape}, expected the tensor's shape {self.shape}")

        topo = _toposort(self)
        grads = {id(self): grad}
        given = {id(grad)}  # arrays handed out already: must be copied before a leaf owns them
        for node in reversed(topo):
            g = grads.pop(id(node), None)
            ctx = node._ctx
            if ctx is None:
                if g is None:
                    continue
                if not isinstance(g, np.ndarray):  # NumPy scalar from a 0-d op: .grad is an ndarray
                    g = xp.asarray(g)
                if node.grad is None:
                    node.grad = g.copy() if (id(g) in given or g.base is not None or not g.flags.writeable) else g
                else:
                    np.add(node.grad, g, out=node.grad)
                given.add(id(node.grad))
                continue
            if g is None:
                continue
            given.add(id(g))
            pgrads = ctx.backward(g)
            for p, pg in zip(ctx.parents, pgrads):
                if pg is None or not p.requires_grad:
                    continue
                if pg.shape != p.data.shape:
                    pg = sum_to(pg, p.data.shape)
                k = id(p)
                prev = grads.get(k)
                grads[k] = pg if prev is None else prev + pg
            if not retain_graph:
                ctx.free()


def _toposort(root: Tensor) -> list:
    """Nodes reachable from ``root`` that require grad, inputs before outputs (iterative DFS)."""
    topo = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            topo.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx.backward is None:
                raise RuntimeError(
                    f"backward(): the graph through '{ctx.op}' (output shape {node.shape}) was already "
                    "freed by a previous backward(); call backward(retain_graph=True) the first time "
                    "if you need to backpropagate through it twice."
                )
            for p in ctx.parents:
                if p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
    return topo


def make_node(out: np.ndarray, parents: tuple, backward, op: str) -> Tensor:
    """Wrap ``out`` as the result of an op on ``parents``.

    ``backward(g)`` receives dL/d(out) and returns one gradient per parent (an
    array of the parent's shape, or of a shape that broadcasts to it, or None).
    No graph is recorded under ``no_grad`` or when no parent requires grad.
    """
    t = Tensor.__new__(Tensor)
    # NumPy returns scalars (np.float32), not 0-d arrays, from 0-d arithmetic and full reductions
    t.data = out if isinstance(out, np.ndarray) else xp.asarray(out)
    t.grad = None
    t.name = None
    if is_grad_enabled():
        for p in parents:
            if p.requires_grad:
                t.requires_grad = True
                t._ctx = Node(parents, backward, op)
                return t
    t.requires_grad = False
    t._ctx = None
    return t


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a leaf tensor.

    Python floats and lists become the default dtype (float32); NumPy arrays keep
    theirs (float64 stays float64); ``dtype=`` casts explicitly. The array is not
    copied when it already has the requested dtype.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# Bound last, once Tensor and make_node exist: ops imports them from this module (whichever of
# the two is imported first, the other finds what it needs already defined).
from . import ops as _ops  # noqa: E402
