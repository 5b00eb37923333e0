"""Neural-network modules: each a forward map with its analytic derivative."""

from . import functional, init  # noqa: F401  (nn.functional, nn.init)
from .activations import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .module import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
