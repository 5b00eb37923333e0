"""Claims 20 (bagging) and 21 (dropout vs a bagged ensemble): the bootstrap arithmetic (exact, may be pinned), the
verdict functions on synthetic records (each both ways), and a --quick run of each experiment whose stored
verdicts are recomputed from its stored records. No test pins the verdict of a training run."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from layerlab import ensemble
from layerlab.lab.experiments import ensembles as E
from lab_quick import assert_arms_independent


# -- the bootstrap arithmetic --------------------------------------------------------------------------------------
def test_oob_share_is_one_minus_one_over_n_to_the_n():
    assert E.oob_share(2) == pytest.approx(0.25)
    assert E.oob_share(10) == pytest.approx(0.9 ** 10)
    assert E.oob_share(10**7) == pytest.approx(math.exp(-1), abs=1e-7)
    assert E.oob_share(1) == 0.0


def test_oob_share_and_its_se_match_an_exact_enumeration():
    for n in (3, 4):  # every one of the nⁿ equally likely samples
        left_out = np.array([n - len(set(s)) for s in itertools.product(range(n), repeat=n)], dtype=float)
        assert left_out.mean() / n == pytest.approx(E.oob_share(n))
        assert E.oob_share_se(n, 1) == pytest.approx(left_out.std() / n)  # population SD: the exact variance
        assert E.oob_share_se(n, 25) == pytest.approx(left_out.std() / n / 5)


def test_duplicate_draws_are_as_many_as_the_examples_left_out():
    sh = E.duplicate_shares(50, 200, np.random.default_rng(0))
    np.testing.assert_array_equal(sh["duplicate"], sh["oob"])
    assert 0 < sh["duplicate"].min() and sh["duplicate"].max() < 1


def test_measured_share_agrees_with_the_formula_within_the_band():  # arithmetic, seeded: pinned
    for n in (10, 1000):
        sh = E.duplicate_shares(n, 2000, np.random.default_rng(n))
        assert abs(sh["duplicate"].mean() - E.oob_share(n)) <= E.BAND_SE * E.oob_share_se(n, 2000)


# -- the verdicts of claim 20 on synthetic records ----------------------------------------------------------------
def _boot(shift=0.0, se=1e-3, ns=(10, 100, 1000)):
    return [{"n": n, "measured share": E.oob_share(n) + shift, "(1 - 1/n)^n": E.oob_share(n), "SE": se}
            for n in ns]


def _bag_records(members, ens, full, boot=None):
    """members[s] = member accuracies; ens[rule][s] = accuracy of the largest ensemble; full[s]."""
    k = 3
    m_rows = [{"seed": s, "member": i, "accuracy": a} for s, accs in enumerate(members) for i, a in enumerate(accs)]
    e_rows = [{"seed": s, "rule": rule, "k": kk, "accuracy": (v if kk == k else 0.5)}
              for rule, vs in ens.items() for s, v in enumerate(vs) for kk in (1, k)]
    f_rows = [{"seed": s, "accuracy": v} for s, v in enumerate(full)]
    return {"bootstrap": boot if boot is not None else _boot(), "members": m_rows, "ensembles": e_rows,
            "full data": f_rows}


MEMBERS = [[0.78, 0.79, 0.77], [0.775, 0.785, 0.78], [0.79, 0.78, 0.785]]  # averages 0.78, 0.78, 0.785


def test_bagging_verdicts_hold_on_records_made_to_hold():
    ens = {"mean": [0.80, 0.801, 0.806], "geometric": [0.799, 0.80, 0.806], "max": [0.798, 0.799, 0.804],
           "vote": [0.80, 0.801, 0.805]}
    r = _bag_records(MEMBERS, ens, full=[0.79, 0.79, 0.795])
    assert E.bagging_verdicts(r) == {c: True for c in ("20a", "20b", "20c", "20d", "20e", "20f", "20g", "20h")}


def test_bagging_verdicts_do_not_hold_on_records_made_not_to():
    # shares 5 SE off the formula, and 0.40 is not "about 36%"; ensembles no better than the average member (or
    # not beyond the noise); the max rule ahead of the mean beyond the noise; the single network better
    ens = {"mean": [0.78, 0.781, 0.785], "geometric": [0.79, 0.77, 0.78], "max": [0.79, 0.791, 0.795],
           "vote": [0.77, 0.775, 0.78]}
    boot = _boot(shift=5e-3) + [{"n": 10000, "measured share": 0.40, "(1 - 1/n)^n": 0.40, "SE": 1e-3}]
    r = _bag_records(MEMBERS, ens, full=[0.80, 0.80, 0.80], boot=boot)
    assert E.bagging_verdicts(r) == {"20a": False, "20b": False, "20c": False, "20d": False, "20e": True,
                                     "20f": False, "20g": False, "20h": False}
    # 20b reads only n ≥ 100: a small n far from 36% does not matter; 20a is per n
    assert E.bagging_verdicts({"bootstrap": [{"n": 10, "measured share": 0.30, "(1 - 1/n)^n": 0.30, "SE": 1e-3},
                                             {"n": 1000, "measured share": 0.368, "(1 - 1/n)^n": 0.3677,
                                              "SE": 1e-3}]}) == {"20a": True, "20b": True}


# -- the verdicts of claim 21 on synthetic records ----------------------------------------------------------------
def _de_records(ws, mc, bag, plain):
    return {"each seed": [{"seed": s, "arm": arm, "accuracy": v} for arm, vs in zip(E.ARMS, (ws, mc, bag, plain))
                          for s, v in enumerate(vs)]}


def test_dropout_ensemble_verdicts_both_ways():
    r = _de_records(ws=[0.82, 0.825, 0.83], mc=[0.815, 0.82, 0.83], bag=[0.80, 0.805, 0.81], plain=[0.78, 0.785, 0.79])
    assert E.dropout_ensemble_verdicts(r) == {"21a": True, "21b": True, "21c": True, "21d": True}
    r = _de_records(ws=[0.79, 0.80, 0.80], mc=[0.78, 0.79, 0.80], bag=[0.80, 0.805, 0.81], plain=[0.80, 0.80, 0.815])
    assert E.dropout_ensemble_verdicts(r) == {"21a": False, "21b": False, "21c": False, "21d": False}
    # ahead on average, within the noise: 21a holds, 21b does not
    r = _de_records(ws=[0.82, 0.79, 0.83], mc=[0.80, 0.80, 0.80], bag=[0.80, 0.80, 0.80], plain=[0.78, 0.78, 0.781])
    assert E.dropout_ensemble_verdicts(r) == {"21a": True, "21b": False, "21c": False, "21d": True}


# -- the quick runs: stored verdicts recomputed from the stored records -------------------------------------------
def _quick(name, store, tmp_path_factory, min_items):
    r = assert_arms_independent(name, store, tmp_path_factory, min_items=min_items)[1]
    return r.outcome, r.out, r.stored


def test_bagging_quick_stored_verdicts_follow_the_stored_records(fashion_available, store, tmp_path_factory):
    outcome, out, stored = _quick("bagging", store, tmp_path_factory, 7)  # 4 n + 3 seeds
    cfg, records = stored["config"], stored["records"]
    assert sorted(c["id"] for c in stored["claims"]) == ["20a", "20b", "20c", "20d", "20e", "20f", "20g", "20h"]
    assert E.bagging_verdicts(records) == {c["id"]: c["holds"] for c in stored["claims"]}
    for r in records["bootstrap"]:  # the stored theory and band are the formulas
        assert r["(1 - 1/n)^n"] == pytest.approx(E.oob_share(r["n"]))
        assert r["SE"] == pytest.approx(E.oob_share_se(r["n"], cfg["bootstrap_samples"]))
        assert r["duplicates = out-of-bag in every sample"]
    K, S = cfg["members"], cfg["seeds"]
    assert len(records["members"]) == K * S and len(records["full data"]) == S
    assert {(r["rule"], r["k"]) for r in records["ensembles"]} == {(u, k) for u in ensemble.COMBINE_RULES
                                                                   for k in range(1, K + 1)}
    for s in range(S):  # an ensemble of one member is that member, whatever the rule
        first = next(r["accuracy"] for r in records["members"] if r["seed"] == s and r["member"] == 0)
        for r in records["ensembles"]:
            if r["seed"] == s and r["k"] == 1:
                assert r["accuracy"] == pytest.approx(first)
    for r in records["members"]:
        assert 0.2 < r["out-of-bag share"] < 0.5 and 0.0 <= r["out-of-bag accuracy"] <= 1.0
    assert {f["name"] for f in stored["figures"]} == {"bootstrap", "rules"}


def test_dropout_ensemble_quick_stored_verdicts_follow_the_stored_records(fashion_available, store,
                                                                        tmp_path_factory):
    outcome, out, stored = _quick("dropout_ensemble", store, tmp_path_factory, 9)  # 3 seeds × 3
    cfg, records = stored["config"], stored["records"]
    assert sorted(c["id"] for c in stored["claims"]) == ["21a", "21b", "21c", "21d"]
    assert E.dropout_ensemble_verdicts(records) == {c["id"]: c["holds"] for c in stored["claims"]}
    K, S = cfg["members"], cfg["seeds"]
    assert len(records["each seed"]) == len(E.ARMS) * S
    by = {(r["seed"], r["arm"]): r["accuracy"] for r in records["each seed"]}
    for r in records["accuracy against k"]:  # the curves end where the arms are measured
        if r["k"] == K:
            assert r["bagging (mean of the first k members)"] == by[r["seed"], "bagging, mean of K"]
            assert r["dropout (MC mean of k sub-networks)"] == by[r["seed"], "dropout, MC mean of K"]
    assert {f["name"] for f in stored["figures"]} == {"dropout_vs_bagging"}
