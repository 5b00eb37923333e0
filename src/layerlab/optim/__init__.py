"""Optimisers, learning-rate schedules and gradient clipping (``torch.optim`` names and semantics)."""

from . import lr_scheduler, schedulers
from .clip import clip_grad_norm, clip_grad_norm_, clip_grad_value, clip_grad_value_
from .optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, RMSprop

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam",
    "lr_scheduler", "schedulers", "clip_grad_norm", "clip_grad_value", "clip_grad_norm_", "clip_grad_value_",
]
