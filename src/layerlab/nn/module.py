"""Module, Parameter and the containers (Sequential, ModuleList, Residual).

A :class:`Module` is a function with state, as seed 003 puts it: "modules of
modules are just as easy". Assigning a :class:`Parameter` or a ``Module`` to an
attribute registers it (PyTorch's ``__setattr__`` routing), so ``parameters()``,
``state_dict()``, ``train()/eval()`` and ``to(dtype)`` walk the tree without each
module listing its own (micrograd's hand-written ``parameters()`` is easy to get
wrong). Non-trainable state (BatchNorm's running statistics) lives in *buffers*:
plain ``np.ndarray``\\ s registered with :meth:`Module.register_buffer`.
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import float_dtype, get_default_dtype, xp
from ..tensor import Tensor

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "Residual", "RemovableHandle", "IncompatibleKeys"]


class Parameter(Tensor):
    """A leaf tensor that is a module's learnable weight (``requires_grad=True``).

    Args:
        data: an array (or a Tensor, whose data is taken). float32 and float64
            arrays keep their dtype; anything else (lists, ints, float16) becomes
            the default dtype (``layerlab.get_default_dtype()``, float32 unless set).
        requires_grad: default True.

    The array is not copied when it already has the right dtype.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        keep = isinstance(data, (np.ndarray, np.generic)) and data.dtype in (np.float32, np.float64)
        arr = xp.asarray(data) if keep else xp.asarray(data, dtype=get_default_dtype())
        super().__init__(arr, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``.remove()`` unregisters the hook
    (also usable as a context manager)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.id = next(RemovableHandle._ids)
        self._hooks = weakref.ref(hooks)

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(s: str, n: int = 2) -> str:
    lines = s.split("\n")
    return lines[0] + "".join("\n" + " " * n + line for line in lines[1:])


def _check_name(name, what: str, owner) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{type(owner).__name__}: {what} name must be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise ValueError(f"{type(owner).__name__}: {what} name {name!r} must be non-empty and contain no '.'")


class Module:
    """Base class of every layer: holds parameters, buffers and sub-modules.

    A subclass calls ``super().__init__()`` first, assigns its ``Parameter``\\ s and
    sub-modules as attributes, and defines ``forward``. Calling the module runs
    ``forward`` (and the forward hooks, when any are registered).

    ``training`` (True after construction) is switched for the whole tree by
    :meth:`train` / :meth:`eval`; Dropout and BatchNorm read it.
    """

    training: bool

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, x) in the subclass")

    def __call__(self, *args, **kwargs):
        if self._forward_hooks or self._forward_pre_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    # -- registration ---------------------------------------------------------------------
    def _registry(self, key: str):
        reg = self.__dict__.get(key)
        if reg is None:
            raise AttributeError(
                f"cannot assign to {type(self).__name__} before Module.__init__() was called; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        return reg

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            params = self._registry("_parameters")
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            mods = self._registry("_modules")
            self._forget(name)
            mods[name] = value
        else:
            params = d.get("_parameters")
            if params is not None and name in params:
                if value is not None:
                    raise TypeError(
                        f"{type(self).__name__}.{name} is a parameter: assign a Parameter (or None), "
                        f"got {type(value).__name__}; to change its values write to .data"
                    )
                params[name] = None
                return
            mods = d.get("_modules")
            if mods is not None and name in mods:
                if value is not None:
                    raise TypeError(
                        f"{type(self).__name__}.{name} is a sub-module: assign a Module (or None), "
                        f"got {type(value).__name__}"
                    )
                mods[name] = None
                return
            bufs = d.get("_buffers")
            if bufs is not None and name in bufs:
                if value is not None and not isinstance(value, np.ndarray):
                    raise TypeError(
                        f"{type(self).__name__}.{name} is a buffer: assign an np.ndarray (or None), "
                        f"got {type(value).__name__}"
                    )
                bufs[name] = value
                return
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_modules", "_buffers"):
            d[key].pop(name, None)
        d["_non_persistent"].discard(name)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: parameters, buffers, sub-modules.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d.get(key, ()):
                del d[key][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or a None placeholder, e.g. ``bias=False``) under ``name``."""
        _check_name(name, "parameter", self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}.register_parameter('{name}'): expected a Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name)
        self._registry("_parameters")[name] = param

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Register a non-trainable array (e.g. BatchNorm's running mean).

        Persistent buffers are part of :meth:`state_dict`; all buffers are cast by
        :meth:`to` (floating ones) and listed by :meth:`buffers`.
        """
        _check_name(name, "buffer", self)
        if array is not None:
            if isinstance(array, Tensor):
                array = array.data
            if not isinstance(array, np.ndarray):
                raise TypeError(f"{type(self).__name__}.register_buffer('{name}'): expected an np.ndarray or None, "
                                f"got {type(array).__name__}")
        self._forget(name)
        self._registry("_buffers")[name] = array
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` under ``name`` (for names that are not identifiers)."""
        _check_name(name, "module", self)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module('{name}'): expected a Module, "
                            f"got {type(module).__name__}")
        self._forget(name)
        self._registry("_modules")[name] = module

    register_module = add_module

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; ``inputs`` is the
        tuple of positional arguments. A non-None return value replaces the output.
        Returns a handle whose ``.remove()`` unregisters the hook."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None return value
        (a tuple, or a single input) replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # -- traversal ------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = ""):
        """(name, module) for this module (name ``prefix``, "" by default) and every
        descendant, depth first; a module reachable twice is listed once."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) of the direct sub-modules."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, key: str, prefix: str, recurse: bool):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, v in m.__dict__[key].items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), v

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter), e.g. ``("0.weight", p)``; a shared parameter is listed once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        """Every Parameter of the tree (each once), in registration order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """(dotted name, np.ndarray) of every buffer, persistent or not."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The sub-module at dotted path ``target`` ("" is this module)."""
        m = self
        if not target:
            return m
        for part in target.split("."):
            child = m._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(m).__name__} has no sub-module '{part}' (looking up '{target}')")
            m = child
        return m

    def apply(self, fn) -> Module:
        """Call ``fn(m)`` on every sub-module (children first) and on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (counting shared ones once)."""
        return int(sum(p.data.size for p in self.parameters() if p.requires_grad or not trainable_only))

    # -- modes, gradients, dtypes -------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode for the whole tree."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train(mode): mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: Dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, flag: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to None, or to zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def to(self, dtype) -> Module:
        """Cast every parameter (and its grad) and every floating buffer to ``dtype``, in place.

        The Parameter objects stay the same (optimisers holding them keep working).
        Only float32 and float64 are accepted.
        """
        if dtype is None:
            raise TypeError(f"{type(self).__name__}.to(dtype): expected float32 or float64, got None")
        dt = float_dtype(dtype, f"{type(self).__name__}.to(dtype)")
        for p in self.parameters():
            if p.data.dtype != dt:
                p.data = p.data.astype(dt)
                if p.grad is not None:
                    p.grad = p.grad.astype(dt)
        for m in self.modules():
            bufs = m._buffers
            for name, b in bufs.items():
                if b is not None and b.dtype.kind == "f" and b.dtype != dt:
                    bufs[name] = b.astype(dt)
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # -- state ----------------------------------------------------------------------------
    def state_dict(self, prefix: str = "") -> dict:
        """A flat dict ``name -> np.ndarray`` of every parameter and persistent buffer,
        with PyTorch's key names (``"0.weight"``, ``"1.running_mean"``).

        Note: the arrays are the module's own (not copies), as in PyTorch; copy them
        (``{k: v.copy() ...}``) to keep a snapshot while training goes on.
        """
        out = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix=prefix):
            p_ = f"{mod_prefix}." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[p_ + name] = p.data
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[p_ + name] = b
        return out

    def _state_slots(self):
        """name -> (owner module, kind, attribute) for every state_dict entry."""
        slots = OrderedDict()
        for mod_prefix, m in self.named_modules():
            p_ = f"{mod_prefix}." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    slots[p_ + name] = (m, "param", name)
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    slots[p_ + name] = (m, "buffer", name)
        return slots

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        Values are cast to the module's dtype (the module keeps its dtype). Shapes
        must match exactly. With ``strict`` (default) a missing or unexpected key
        raises ValueError; otherwise they are skipped and reported. Nothing is
        changed when an error is raised.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)`` (a named tuple).
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict name -> array, "
                            f"got {type(state_dict).__name__}")
        slots = self._state_slots()
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict if k not in slots]
        errors = []
        if strict and missing:
            errors.append("missing keys (expected by the module, absent from the state dict): " + ", ".join(
                f"'{k}' (expected shape {self._slot_array(slots[k]).shape})" for k in missing))
        if strict and unexpected:
            errors.append("unexpected keys (in the state dict, not in the module): " + ", ".join(
                f"'{k}' (shape {np.shape(_raw(state_dict[k]))})" for k in unexpected))
        values = {}
        for k, slot in slots.items():
            if k not in state_dict:
                continue
            v = _raw(state_dict[k])
            if not isinstance(v, np.ndarray):
                v = np.asarray(v)
            target = self._slot_array(slot)
            if v.shape != target.shape:
                errors.append(f"'{k}': expected shape {target.shape}, found {v.shape} in the state dict")
                continue
            if target.dtype.kind in "fc" and v.dtype.kind not in "fiub":
                errors.append(f"'{k}': expected a numeric array, found dtype {v.dtype}")
                continue
            values[k] = v
        if errors:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(errors))
        for k, v in values.items():
            np.copyto(self._slot_array(slots[k]), v, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    @staticmethod
    def _slot_array(slot) -> np.ndarray:
        m, kind, name = slot
        return m._parameters[name].data if kind == "param" else m._buffers[name]

    # -- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside ``Name(...)``; layers override it (``in_features=784, ...``)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(m), 2))
        name = type(self).__name__
        if not self._modules:
            return f"{name}({extra})"
        return name + "(\n" + "".join("  " + line + "\n" for line in lines) + ")"


def _raw(v):
    return v.data if isinstance(v, Tensor) else v


# -- containers -------------------------------------------------------------------------------

class Sequential(Module):
    """A cascade h = f_n(… f_2(f_1(x))): seed 003's "modules of modules".

    ``Sequential(m1, m2, ...)`` names the children "0", "1", ...;
    ``Sequential(OrderedDict(name=module, ...))`` keeps the given names.
    Indexable (an int gives a module, a slice a new Sequential), ``len``, iterable,
    ``append``.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self._add_checked(name, m)
        else:
            for i, m in enumerate(modules):
                self._add_checked(str(i), m)

    def _add_checked(self, name, m):
        if not isinstance(m, Module):
            raise TypeError(f"Sequential: element {name!r} is a {type(m).__name__}, not a Module "
                            "(wrap functions in a Module, e.g. an activation class)")
        self.add_module(name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"Sequential: index {idx} out of range for {n} modules")
        return idx % n

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[self._index(idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: can only hold Modules, got {type(module).__name__}")
        name = list(self._modules)[self._index(idx)]
        self._modules[name] = module

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        targets = keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]
        for k in targets:
            del self._modules[k]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by the next free integer)."""
        i = len(self._modules)
        while str(i) in self._modules:
            i += 1
        self._add_checked(str(i), module)
        return self


class ModuleList(Module):
    """A list of modules that registers them (so their parameters are found).

    It has no forward: iterate over it in the owner's forward.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _check(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: can only hold Modules, got {type(m).__name__}")
        return m

    def _renumber(self, mods: list) -> None:
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        n = len(mods)
        if not -n <= idx < n:
            raise IndexError(f"ModuleList: index {idx} out of range for {n} modules")
        return mods[idx]

    def __setitem__(self, idx: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods[idx] = self._check(module)
        self._renumber(mods)

    def __delitem__(self, idx) -> None:
        mods = list(self._modules.values())
        del mods[idx]
        self._renumber(mods)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        self._modules[str(len(self._modules))] = self._check(module)
        return self

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, self._check(module))
        self._renumber(mods)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in the owning module's forward")


class Residual(Module):
    """A skip connection (seed 002): h = x + f(x), with f the wrapped module.

    The gradient reaches x along two paths, dh/dx = I + f'(x), so it does not
    vanish however small f'(x) becomes.

    Args:
        module: f; it must map its input to an output of the same shape.
    """

    def __init__(self, module: Module):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual: expected a Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x):
        y = self.module(x)
        if y.shape != x.shape:
            raise ValueError(
                f"Residual: the wrapped module {_short(self.module)} maps input {tuple(x.shape)} to "
                f"{tuple(y.shape)}; the skip connection x + f(x) needs f to keep the shape"
            )
        return x + y


def _short(m: Module) -> str:
    extra = m.extra_repr()
    return f"{type(m).__name__}({extra})" if "\n" not in extra else type(m).__name__
