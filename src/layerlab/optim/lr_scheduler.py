"""``optim.lr_scheduler``: torch's module name for the schedulers in :mod:`layerlab.optim.schedulers`."""

from .schedulers import *  # noqa: F401,F403
from .schedulers import __all__  # noqa: F401
