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


def quick_run(name: str, store, tmp_path_factory, overrides=None, figureless=()) -> QuickRun:
    """Run ``name`` --quick (seed 0) into ``store``; skip when it needs Fashion-MNIST and there is none.

    Checks every run's promises: it finished; every figure is a PNG; every claim has its measured figure, its
    conditions and a saved figure (except the ids in ``figureless``: arithmetic claims with nothing to draw);
    the claims stored in ``claims.json`` are the ones returned.
    """
    out = tmp_path_factory.mktemp(name)
    outcome = run_experiment(name, quick=True, overrides=overrides, out_dir=out, seed=0, store=store, show=False)
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
