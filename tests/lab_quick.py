"""One way to run an experiment's --quick variant in a test and check what every run must have."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from layerlab.lab import Claim
from layerlab.lab.runner import Outcome, run_experiment

PNG = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass
class QuickRun:
    outcome: Outcome
    out: Path
    claims: dict[str, Claim]  # by id
    stored: dict              # claims.json: what a reader gets back (config, claims, records, figures)
    figures: set[str]

    @property
    def records(self):
        return self.stored["records"]


def quick_run(name: str, store, tmp_path_factory, overrides=None, figureless=(), executor=None) -> QuickRun:
    """Run ``name`` --quick (seed 0) into ``store``; skip when it needs Fashion-MNIST and there is none.

    Checks every run's promises: it finished; every figure is a PNG; every claim has its measured figure, its
    conditions and a saved figure (except the ids in ``figureless``: arithmetic claims with nothing to draw);
    the claims stored in ``claims.json`` are the ones returned.
    """
    out = tmp_path_factory.mktemp(name)
    outcome = run_experiment(name, quick=True, overrides=overrides, out_dir=out, seed=0, store=store, show=False,
                             executor=executor)
    if not outcome.ok and "needs Fashion-MNIST" in (outcome.error or ""):
        pytest.skip(f"{name} needs Fashion-MNIST, which is not available here")
    assert outcome.ok, outcome.error
    stored = json.loads((out / "claims.json").read_text())
    figures = {f["name"] for f in stored["figures"]}
    for f in figures:
        assert (out / f"{f}.png").read_bytes().startswith(PNG), f
    for c in outcome.claims:
        assert c.measured and c.conditions, c
        assert c.figure in figures or (c.id in figureless and c.figure is None), c
    assert {c["id"]: c["holds"] for c in stored["claims"]} == {c.id: c.holds for c in outcome.claims}
    return QuickRun(outcome, out, {c.id: c for c in outcome.claims}, stored, figures)


class ScrambledArms:
    """An executor for ``ctx.map`` that tests an experiment's arms are independent, without processes: it runs
    the items in reverse order, each from a fresh cloudpickle copy of ``fn`` (as a worker would get), with
    the global NumPy and layerlab generators set to something else before each, and pickles each result back (as a pool
    does). An experiment whose arms share nothing gives the same numbers and store rows as its plain loop."""

    def __init__(self):
        self.items = 0

    def map(self, fn, items, *, ctx=None, label=""):
        import pickle

        import cloudpickle
        import numpy as np

        from layerlab import random as llrandom
        from layerlab.lab.context import run_arm

        fn_blob = cloudpickle.dumps(fn)
        out = {}
        for i in reversed(range(len(items))):
            np.random.seed(7919 + i)
            llrandom.seed(7919 + i)  # layerlab's global generator (nn.Linear(rng=None), the init functions)
            out[i] = pickle.loads(pickle.dumps(run_arm(fn_blob, cloudpickle.dumps(items[i]))))  # as a pool returns it
        self.items += len(items)
        return [out[i] for i in range(len(items))]


def assert_arms_independent(name: str, store, tmp_path_factory, overrides=None, figureless=(), min_items=2,
                            volatile=(), volatile_claims=()):
    """``name --quick`` in a loop and with :class:`ScrambledArms`: the same claims, records and store rows,
    and at least ``min_items`` items went through ``ctx.map``.

    ``volatile``: record fields (at any depth) and store metric names (substrings) that are wall-clock
    measurements, left out of the comparison;
    ``volatile_claims``: ids of claims whose verdict rests on wall-clock time (their text and verdict are
    not compared; every other claim is). Returns the two ``QuickRun``s."""
    serial = quick_run(name, store, tmp_path_factory, overrides, figureless)
    arms = ScrambledArms()
    mapped = quick_run(name, store, tmp_path_factory, overrides, figureless, executor=arms)
    assert arms.items >= min_items, f"{name}: only {arms.items} item(s) went through ctx.map"
    import numpy as np

    strip = ("elapsed", "started", "run_id", "out_dir", "figures")

    def drop(v):
        if isinstance(v, dict):
            return {k: drop(x) for k, x in v.items() if k not in volatile}
        if isinstance(v, list):
            return [drop(x) for x in v]
        return v

    def canon(value):
        if isinstance(value, dict) and "claims" in value:
            value = {**value, "claims": [c for c in value["claims"] if c.get("id") not in volatile_claims]}
        return json.dumps(drop(value), sort_keys=True, ensure_ascii=False)

    for key in ("claims", "records", "notes"):
        assert canon({key: serial.stored[key]}) == canon({key: mapped.stored[key]}), \
            f"{name}: {key} differ between the loop and ctx.map"
    assert canon({k: v for k, v in serial.stored.items() if k not in strip}) == \
        canon({k: v for k, v in mapped.stored.items() if k not in strip})
    assert [f["name"] for f in serial.stored["figures"]] == [f["name"] for f in mapped.stored["figures"]]
    m1, m2 = store.metrics(serial.outcome.run_id), store.metrics(mapped.outcome.run_id)
    assert sorted(m1) == sorted(m2)
    for k in m1:
        if any(v in k for v in volatile):
            continue
        np.testing.assert_array_equal(m1[k].steps, m2[k].steps, err_msg=k)
        np.testing.assert_array_equal(m1[k].values, m2[k].values, err_msg=k)
    p1, p2 = store.probes(serial.outcome.run_id), store.probes(mapped.outcome.run_id)
    assert [(r.step, r.layer, r.stat) for r in p1] == [(r.step, r.layer, r.stat) for r in p2]
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value), err_msg=f"{a.layer} {a.stat}")
    return serial, mapped
