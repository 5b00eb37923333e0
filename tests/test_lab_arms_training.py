"""The seeds and arms of linearity, symmetry, training_init and deep_relu_init go through ``ctx.map`` and share
nothing: each --quick run, in a loop and with every item on its own (reversed, fresh copies, the global NumPy
generator scrambled), gives the same claims, records and store rows. (Their other tests: test_lab_training.py.)"""

from __future__ import annotations

import pytest

from lab_quick import assert_arms_independent

#: the items through ctx.map in each --quick run
QUICK_ITEMS = {
    "linearity": 5,        # 4 networks and the search for the best straight line
    "symmetry": 10,        # 2 activations × (zeros, constant: float64 and float32; Xavier: float32)
    "training_init": 9,    # 3 (inputs, η) conditions × 1 seed × 3 initialisations
    "deep_relu_init": 8,   # 2 η × 2 seeds × 2 initialisations
}


@pytest.mark.parametrize("name", sorted(QUICK_ITEMS))
def test_arms_are_independent(name, store, tmp_path_factory):
    assert_arms_independent(name, store, tmp_path_factory, min_items=QUICK_ITEMS[name])
