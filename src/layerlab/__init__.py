"""layerlab: a NumPy deep-learning framework with explicit derivatives, and a lab
that shows how deep networks train."""

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
