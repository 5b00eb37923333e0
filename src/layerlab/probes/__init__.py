"""Probes: look inside a network while it trains (or on one forward pass).

Each probe is a Trainer callback that samples every ``every`` steps and stores
reduced statistics (numbers and fixed-bin histogram counts, never tensors) as tidy
records ``{"step", "layer", "kind", "stat", "value"}``:

- :class:`ActivationStats` — per layer, the distribution of pre-activations and
  activations: mean, std, percentiles, histogram, fraction saturated, dead units;
- :class:`GradientStats` — per parameter, the gradient norm, its ratio to the previous
  layer's (vanishing / exploding) and the sign agreement of each unit's gradients;
- :class:`UpdateRatio` — per parameter, ‖Δw‖/‖w‖ of each update;
- :class:`Symmetry` — per Linear layer, the distances between its units' weight vectors.

Without a Trainer: ``with ActivationStats(model) as p: model(x)`` then ``p.summary()``.

Which modules are activations, where they saturate and whether their units can die
are read from the activation classes' traits (``nn.Activation``: ``saturates``,
``can_die``), never from a list of names.
"""

from .activations import ActivationStats
from .base import DEFAULT_EVERY, Probe, can_die, is_activation, saturation_range
from .gradients import GradientStats, sign_agreement
from .landscape import loss_landscape, plot_landscape
from .symmetry import Symmetry, unit_distances
from .updates import UpdateRatio

__all__ = [
    "Probe", "DEFAULT_EVERY", "ActivationStats", "GradientStats", "UpdateRatio", "Symmetry",
    "sign_agreement", "unit_distances", "saturation_range", "can_die", "is_activation",
    "loss_landscape", "plot_landscape",
]
