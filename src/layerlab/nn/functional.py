"""Functional forms (no state) of the nn modules: ``nn.functional.relu(x)`` etc."""

from .activations import (  # noqa: F401
    binary_step, elu, gelu, identity, leaky_relu, lisht, log_softmax, mish, prelu, relu, relu6,
    selu, sigmoid, silu, softmax, softplus, swish, tanh,
)
from .dropout import dropout  # noqa: F401
from .linear import linear, maxout  # noqa: F401
from .losses import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, contrastive_loss, cross_entropy,
    euclidean_loss, hinge_loss, huber_loss, kl_div, mse_loss, nll_loss,
)
from .normalization import batch_norm, group_norm, layer_norm  # noqa: F401
