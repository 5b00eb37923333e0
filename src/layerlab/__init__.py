"""layerlab: a NumPy deep-learning framework with explicit derivatives, and a lab
that shows how deep networks train.

The public names are imported on first use (PEP 562 module ``__getattr__``): ``import layerlab`` costs
no NumPy, so the ``layerlab`` command starts at once; ``from layerlab import Tensor, nn`` and
``layerlab.Trainer`` work as if everything had been imported up front.
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy table at the end provides, for type checkers and IDEs (py.typed)
    from .backend import get_default_dtype, set_default_dtype
    from .gradcheck import GradcheckError, gradcheck, gradcheck_module
    from .ops import concatenate, logsumexp, maximum, minimum, pad, stack, where
    from .random import seed
    from .serialization import load, save
    from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad, tensor
    from .train import Trainer

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck", "gradcheck_module",
    "GradcheckError",
    "get_default_dtype", "set_default_dtype", "seed", "save", "load", "Trainer",
    "concatenate", "stack", "pad", "where", "maximum", "minimum", "logsumexp",
]


class _LazyPackage(types.ModuleType):
    """A package whose public names are imported on first use (see :func:`_export_lazily`).

    Importing a submodule binds it on its package (``layerlab.tensor`` the module); where a public name
    is also a submodule's name (``layerlab.tensor`` the function, ``layerlab.gradcheck``), the public
    name wins, as it did when the package imported everything up front.
    """

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in vars(self).get("_lazy_exports", {}):
            return
        super().__setattr__(name, value)

    def __reduce__(self):
        # pickled by name, as a plain module is (cloudpickle sends ctx.map's closures to workers)
        return importlib.import_module, (self.__name__,)


def _export_lazily(package: str, exports: dict[str, tuple[str, ...]]) -> None:
    """Give ``package`` a PEP 562 ``__getattr__`` and ``__dir__``: each name of ``exports[submodule]`` is
    ``getattr(import_module(submodule), name)`` on first use (then cached in the package); any other
    name that is a submodule is imported (``layerlab.nn`` without ``import layerlab.nn``).

    Args:
        package: the package's ``__name__``.
        exports: relative submodule (``".tensor"``) → the public names it defines.
    """
    module = sys.modules[package]
    where = {name: sub for sub, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name in where:
            value = getattr(importlib.import_module(where[name], package), name)
        elif name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise  # the submodule exists; something it imports is missing
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        vars(module)[name] = value
        return value

    def __dir__():
        return sorted(set(vars(module)) | set(where))

    module._lazy_exports = where
    module.__getattr__ = __getattr__
    module.__dir__ = __dir__
    module.__class__ = _LazyPackage


_export_lazily(__name__, {
    ".backend": ("get_default_dtype", "set_default_dtype"),
    ".gradcheck": ("GradcheckError", "gradcheck", "gradcheck_module"),
    ".ops": ("concatenate", "logsumexp", "maximum", "minimum", "pad", "stack", "where"),
    ".random": ("seed",),
    ".serialization": ("load", "save"),
    ".tensor": ("Tensor", "enable_grad", "is_grad_enabled", "no_grad", "tensor"),
    ".train": ("Trainer",),
})
