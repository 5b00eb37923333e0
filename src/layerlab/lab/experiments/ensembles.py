"""Seed 001, "Model Averaging": bagging (claims 20) and dropout against a bagged ensemble (claims 21).

The notes: "Train k models with independent weights (w₁, …, w_k) on independently sampled data points from the
original dataset" (sampling with replacement); "during inference, the prediction is done by averaging the
predictions from all the models" — or by their max, or their mode; "about 36% of training samples are
duplicates if the number of samples in all subsets are equal to the original dataset"; "in bagging, the
(sub)set of training samples seen by each of the models does not change across epochs". And dropout: "we do not
have that luxury with Dropouts … the number of sub-models is exponentially high"; the sub-models share their
weights and each is trained rarely.

**bagging** (order 20):

* 20a/20b — arithmetic. A bootstrap sample of size n (n draws with replacement from n examples) leaves out
  each example with probability (1 − 1/n)ⁿ, and exactly as many of its draws repeat an earlier draw as there
  are examples left out (n − #distinct): the share of duplicate draws *is* the out-of-bag share, with mean
  (1 − 1/n)ⁿ → 1/e ≈ 0.368. Measured over ``bootstrap_samples`` samples per n; the band is the exact standard
  error of the mean share (the occupancy variance, :func:`oob_share_se`; the indicators "example i left out"
  are negatively correlated, so this SE is a little below the binomial √(q(1 − q)/(n·S))). 20a: the measured
  share is within ``BAND_SE`` = 3 standard errors of (1 − 1/n)ⁿ at every n (3 rather than the lab's 2: an
  agreement test over several n, where 2 SE would fail by chance about one run in six); 20b: the notes'
  "about 36%" — read as 36 % ± 1 percentage point — at every n ≥ 100.
* 20c–20h — training. ``members`` networks 784-width-10 ReLU (He-normal) are bagged on ``n_train``
  Fashion-MNIST images (``layerlab.ensemble.Bagging``: each member's bootstrap sample fixed across epochs,
  reshuffled per epoch), per seed; the members' test probabilities are combined for every k = 1 … members
  (the first k members) and every rule (mean, geometric, max, vote). 20c: the ensemble of all members (mean)
  beats its average member on the test set, beyond the noise (the per-seed difference, :func:`paired_lead`,
  > 2 SE); 20d–20f: the same for the geometric mean, the max and the vote; 20g: the notes' default, the
  arithmetic mean, is not beaten beyond the noise by any other rule; 20h (the other side, not the notes'
  words): the ensemble also beats one network of the same architecture trained on all n images (each member
  sees only ≈ 63 % of the distinct images).

**dropout_ensemble** (order 21): the dropout network against a bagged ensemble *of the same number of
sub-networks*: K = ``members`` networks of the dropout network's architecture without dropout (so K× its
parameters and K× its training), bagged on the same ``n_train`` images, against one network with dropout
(p after each hidden layer) predicting by the weight-scaling rule and by the Monte-Carlo mean of K sampled
sub-networks (``layerlab.ensemble.DropoutEnsemble``). 21a: the dropout network (weight scaling) is more
accurate on the test set than the bagged ensemble (mean of the per-seed differences > 0); 21b: beyond the
noise; 21c: the same with the dropout network's Monte-Carlo mean of K sub-networks — the same number of
sub-networks averaged; 21d (context): the bagged ensemble beats one plain network trained on all n images,
beyond the noise. How close weight scaling and Monte-Carlo averaging are as k grows is claim 16f of the
``dropout`` experiment; here the curves appear in the figure only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, ensemble, nn, optim
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, format_lead, format_mean_se, mean_se, paired_lead
from layerlab.lab.training import fashion, mlp

__all__ = ["BaggingConfig", "DropoutEnsembleConfig", "oob_share", "oob_share_se", "duplicate_shares",
           "bagging_verdicts", "dropout_ensemble_verdicts", "BAND_SE", "ABOUT_36", "RULES"]

BAND_SE = 3.0            # 20a: agreement with (1 − 1/n)ⁿ within 3 standard errors at every n
ABOUT_36 = (0.36, 0.01)  # 20b: the notes' "about 36%", read as 36 % ± 1 percentage point
RULES = ensemble.COMBINE_RULES
RULE_CLAIMS = {"mean": "20c", "geometric": "20d", "max": "20e", "vote": "20f"}


# -- the arithmetic of a bootstrap sample ---------------------------------------------------------------------------
def oob_share(n: int) -> float:
    """(1 − 1/n)ⁿ: the probability that an example is never drawn in n draws with replacement from n — the
    expected out-of-bag share, equal to the expected share of duplicate draws; → 1/e as n → ∞."""
    n = int(n)
    return float(math.exp(n * math.log1p(-1.0 / n))) if n > 1 else 0.0


def oob_share_se(n: int, samples: int) -> float:
    """The exact standard error of the mean out-of-bag share over ``samples`` independent bootstrap samples of
    size n: √(Var N₀ / S)/n with N₀ the number of examples left out, Var N₀ = n·q₁ + n(n − 1)·q₂ − n²·q₁², where
    q₁ = (1 − 1/n)ⁿ (one given example left out) and q₂ = (1 − 2/n)ⁿ (two given examples both left out)."""
    n = int(n)
    q1 = oob_share(n)
    q2 = (1.0 - 2.0 / n) ** n if n > 2 else 0.0
    var = n * q1 + n * (n - 1) * q2 - (n * q1) ** 2
    return math.sqrt(max(var, 0.0) / int(samples)) / n


def duplicate_shares(n: int, samples: int, rng: np.random.Generator) -> dict:
    """Draw ``samples`` bootstrap samples of size n; per sample the share of draws that repeat an earlier draw,
    (n − #distinct)/n, and the share of the n examples never drawn. Returns both arrays (they are equal: the
    identity the claim rests on) and their means."""
    dup, oob = np.empty(samples), np.empty(samples)
    for s in range(samples):
        idx = ensemble.bootstrap_sample(n, rng)
        distinct = np.unique(idx).size
        dup[s] = (n - distinct) / n
        oob[s] = (n - np.isin(np.arange(n), idx).sum()) / n
    return {"duplicate": dup, "oob": oob}


# -- the verdicts (plain functions of the records) ------------------------------------------------------------------
def _acc_by_seed(rows, **match) -> list[float]:
    sel = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return [float(r["accuracy"]) for r in sorted(sel, key=lambda r: r["seed"])]


def _lead(better: list[float], worse: list[float]) -> dict:
    """paired_lead on accuracies: diff = mean of (better − worse) per seed, beyond = diff > NOISE_SE·SE."""
    return paired_lead([-v for v in better], [-v for v in worse])


def bagging_verdicts(records: dict) -> dict[str, bool]:
    """Claims 20a–20h from ``records["bootstrap"]`` (per n: ``n``, ``measured share``, ``(1 − 1/n)^n``, ``SE``),
    ``records["ensembles"]`` (per seed, rule and k: ``accuracy``), ``records["members"]`` (per seed and member:
    ``accuracy``) and ``records["full data"]`` (per seed: ``accuracy`` of one network trained on all n)."""
    boot = records["bootstrap"]
    out = {"20a": all(abs(r["measured share"] - r["(1 - 1/n)^n"]) <= BAND_SE * r["SE"] for r in boot),
           "20b": all(abs(r["measured share"] - ABOUT_36[0]) <= ABOUT_36[1] for r in boot if r["n"] >= 100)}
    ens, members = records.get("ensembles", []), records.get("members", [])
    if ens:
        k = max(r["k"] for r in ens)
        seeds = sorted({r["seed"] for r in members})
        avg = [float(np.mean([r["accuracy"] for r in members if r["seed"] == s])) for s in seeds]
        acc = {rule: _acc_by_seed(ens, rule=rule, k=k) for rule in RULES}
        for rule, cid in RULE_CLAIMS.items():
            out[cid] = _lead(acc[rule], avg)["beyond"]
        out["20g"] = not any(_lead(acc[r], acc["mean"])["beyond"] for r in RULES if r != "mean")
        out["20h"] = _lead(acc["mean"], _acc_by_seed(records["full data"]))["beyond"]
    return {c: bool(v) for c, v in out.items()}


def dropout_ensemble_verdicts(records: dict) -> dict[str, bool]:
    """Claims 21a–21d from ``records["each seed"]``: per seed the test ``accuracy`` of each ``arm``:
    ``"dropout, weight scaling"``, ``"dropout, MC mean of K"``, ``"bagging, mean of K"``, ``"plain network"``."""
    rows = records["each seed"]
    ws = _acc_by_seed(rows, arm="dropout, weight scaling")
    mc = _acc_by_seed(rows, arm="dropout, MC mean of K")
    bag = _acc_by_seed(rows, arm="bagging, mean of K")
    plain = _acc_by_seed(rows, arm="plain network")
    a = _lead(ws, bag)
    return {"21a": bool(a["diff"] > 0), "21b": bool(a["beyond"]), "21c": bool(_lead(mc, bag)["diff"] > 0),
            "21d": bool(_lead(bag, plain)["beyond"])}


# -- shared pieces of the two experiments ----------------------------------------------------------------------------
def _noise_txt(r: dict) -> str:
    if not math.isfinite(r["se"]):
        return "no noise estimate from one seed"
    if abs(r["diff"]) > NOISE_SE * r["se"]:
        return f"beyond the noise (|difference| > {NOISE_SE:g} SE)"
    return f"within the noise (|difference| ≤ {NOISE_SE:g} SE)"


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == y))


def _bag(ctx: Context, sizes, members: int, x, y, lr: float, epochs: int, batch: int, seed: int,
         label: str) -> ensemble.Bagging:
    bag = ensemble.Bagging(lambda rng: mlp(sizes, "relu", "he_normal", rng), members, seed=seed, progress=False)

    def trainer(model, loss_fn, opt, member, seed):
        return ctx.trainer(model, loss_fn, opt, label=f"{label} member {member}", seed=seed)

    return bag.fit(x, y, optimizer=lambda params: optim.Adam(params, lr=lr), epochs=epochs, batch_size=batch,
                   trainer=trainer)


def _plain(ctx: Context, sizes, p: float, x, y, lr: float, epochs: int, batch: int, seed: int,
           label: str) -> nn.Sequential:
    """One network (with Dropout(p) when p > 0) trained on all of (x, y) with Adam."""
    model = mlp(sizes, "relu", "he_normal", ctx.rng_for("weights", label, seed), dropout=p)
    tr = ctx.trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr), label=label,
                     seed=ctx.seed + seed)
    tr.fit(data.DataLoader(data.TensorDataset(x, y), batch_size=batch, shuffle=True, seed=ctx.seed + seed),
           epochs=epochs)
    return model


def _seed_of(ctx: Context, *keys) -> int:
    return int(ctx.rng_for(*keys).integers(2**31))


# -- experiment 20: bagging -------------------------------------------------------------------------------------------
@dataclass
class BaggingConfig:
    """Bootstrap arithmetic at several n; bagged 784-width-10 ReLU networks on a Fashion-MNIST subset."""

    bootstrap_ns: tuple[int, ...] = (10, 100, 1000, 10000)
    bootstrap_samples: int = 2000   # bootstrap samples drawn per n (20a/20b)
    n_train: int = 2000
    n_test: int = 10000
    width: int = 128
    members: int = 10               # k of the largest ensemble; the first k members for every smaller k
    epochs: int = 20
    batch_size: int = 50
    lr: float = 1e-3
    seeds: int = 4
    QUICK: ClassVar[dict] = {"bootstrap_samples": 300, "n_test": 2000, "width": 64, "members": 5, "epochs": 6,
                             "seeds": 3}

    def validate(self) -> None:
        """Checked by the runner before the run starts (a rejected config never becomes a run)."""
        _check_bagging(self)


def _check_bagging(c: BaggingConfig) -> None:
    if not c.bootstrap_ns or min(c.bootstrap_ns) < 2:
        raise ConfigError(f"experiment 'bagging': bootstrap_ns must be sample sizes ≥ 2, got {c.bootstrap_ns!r}")
    if c.bootstrap_samples < 2:
        raise ConfigError(f"experiment 'bagging': bootstrap_samples must be ≥ 2, got {c.bootstrap_samples}")
    if c.members < 2:
        raise ConfigError(f"experiment 'bagging': members must be ≥ 2 (an ensemble), got {c.members}")


@experiment("bagging", order=20, topic="regularisation",
            summary="bootstrap samples leave out (1 − 1/n)ⁿ → 1/e ≈ 36.8% of the data; a bagged ensemble beats "
                    "its average member; mean vs geometric vs max vs vote (claims 20)")
def run_bagging(config: BaggingConfig, ctx: Context) -> Result:
    """Seed 001, model averaging: the bootstrap arithmetic, and bagged networks on a small training set."""
    c = config
    # -- 20a/20b: the arithmetic of a bootstrap sample
    def bootstrap(n):  # the bootstrap samples of one n
        sh = duplicate_shares(n, c.bootstrap_samples, ctx.rng_for("bootstrap", n))
        q, se = oob_share(n), oob_share_se(n, c.bootstrap_samples)
        m = float(sh["duplicate"].mean())
        return {"n": n, "samples": c.bootstrap_samples, "measured share": m,
                "out-of-bag share": float(sh["oob"].mean()),
                "duplicates = out-of-bag in every sample": bool(np.array_equal(sh["duplicate"], sh["oob"])),
                "(1 - 1/n)^n": q, "SE": se, "binomial SE": math.sqrt(q * (1 - q) / (n * c.bootstrap_samples)),
                "z": (m - q) / se, "1/e": math.exp(-1.0)}

    boot = ctx.map(bootstrap, sorted(set(c.bootstrap_ns)), label="bootstrap samples")

    # -- 20c-20h: bagged networks
    (x, y), (xt, yt) = fashion(c.n_train, c.n_test, rng=ctx.rng_for("data"))
    sizes = (784, c.width, 10)
    K = c.members

    def seed_run(s):  # one seed: the bagged ensemble (its K members) and one network on all the data
        bag = _bag(ctx, sizes, K, x, y, c.lr, c.epochs, c.batch_size, _seed_of(ctx, "bagging", s), f"seed {s}")
        probs = bag.member_proba(xt)
        members = [{"seed": s, "member": i, "accuracy": _accuracy(probs[i], yt),
                    "out-of-bag accuracy": bag.oob_accuracy[i], "out-of-bag share": len(bag.oob_indices[i]) / len(x)}
                   for i in range(K)]
        ens = [{"seed": s, "rule": rule, "k": k,
                "accuracy": float(np.mean(ensemble.combine_predictions(probs[:k], rule) == yt))}
               for k in range(1, K + 1) for rule in RULES]
        full = _plain(ctx, sizes, 0.0, x, y, c.lr, c.epochs, c.batch_size, s, f"full data seed {s}")
        return members, ens, {"seed": s, "accuracy": _accuracy(ensemble.DropoutEnsemble(full).weight_scaling_proba(xt),
                                                               yt)}

    out = ctx.map(seed_run, range(c.seeds), label="bagging: seeds")
    member_rows = [r for members, _, _ in out for r in members]
    ens_rows = [r for _, ens, _ in out for r in ens]
    full_rows = [full for _, _, full in out]
    records = {"bootstrap": boot, "members": member_rows, "ensembles": ens_rows, "full data": full_rows}
    holds = bagging_verdicts(records)

    # -- claim texts
    pm = format_mean_se
    seeds = list(range(c.seeds))
    avg = [float(np.mean([r["accuracy"] for r in member_rows if r["seed"] == s])) for s in seeds]
    acc = {rule: _acc_by_seed(ens_rows, rule=rule, k=K) for rule in RULES}
    full = _acc_by_seed(full_rows)
    oob_acc = [float(np.nanmean([r["out-of-bag accuracy"] for r in member_rows if r["seed"] == s])) for s in seeds]
    oob_sh = [r["out-of-bag share"] for r in member_rows]
    seeds_txt = f"{c.seeds} seed{'s' if c.seeds > 1 else ''}"
    boot_txt = "; ".join(f"n = {r['n']:,}: {r['measured share']:.4f} vs {r['(1 - 1/n)^n']:.4f} "
                         f"(SE {r['SE']:.1e}, z = {r['z']:+.1f})" for r in boot)
    boot_cond = (f"{c.bootstrap_samples:,} bootstrap samples (n draws with replacement from n, "
                 "layerlab.ensemble.bootstrap_sample) per n, seeded; share of duplicate draws = (n − #distinct)/n per "
                 "sample, averaged; SE = the exact standard error of that mean (occupancy variance of the number "
                 "left out)")
    cond = (f"{c.n_train:,} Fashion-MNIST training images (one random subset), {len(yt):,} test images; "
            f"{K} members 784-{c.width}-10 ReLU (He-normal), each trained on its own bootstrap sample (fixed across "
            f"epochs, reshuffled per epoch) with Adam η = {c.lr:g}, batch {c.batch_size}, {c.epochs} epochs, "
            f"cross-entropy (layerlab.ensemble.Bagging); {seeds_txt} (per seed new weights and bootstrap samples; "
            f"the same data); ensembles of k = 1 … {K} combine the first k members; ± = SE over seeds")
    claims = [
        Claim("20a", "The share of duplicate draws in a bootstrap sample of size n — equal to the share of the data "
                     "left out of it (out of bag) — is (1 − 1/n)ⁿ → 1/e ≈ 0.368 (verdict: the measured mean share is "
                     f"within {BAND_SE:g} standard errors of (1 − 1/n)ⁿ at every n)",
              holds["20a"], boot_txt + "; duplicate share = out-of-bag share in every sample: "
              + ("yes" if all(r["duplicates = out-of-bag in every sample"] for r in boot) else "NO")
              + f"; the members' out-of-bag shares (n = {c.n_train:,}): {pm(oob_sh, 4)}", boot_cond,
              figure="bootstrap"),
        Claim("20b", "The notes: \"about 36% of training samples are duplicates if the number of samples in all "
                     "subsets are equal to the original dataset\" (verdict: the measured share is within "
                     f"{ABOUT_36[0]:.0%} ± {ABOUT_36[1] * 100:g} percentage point at every n ≥ 100)",
              holds["20b"], "; ".join(f"n = {r['n']:,}: {r['measured share']:.2%}" for r in boot if r["n"] >= 100)
              + f" (limit 1/e = {math.exp(-1):.2%}; n = {min(r['n'] for r in boot)}: "
                f"{boot[0]['measured share']:.2%})", boot_cond, figure="bootstrap"),
    ]
    for rule, cid in RULE_CLAIMS.items():
        lead = _lead(acc[rule], avg)
        words = {"mean": "averaging the members' predictions (the notes' rule: (1/k)Σ f̂ᵢ(x))",
                 "geometric": "the renormalised geometric mean of their probabilities",
                 "max": "the notes' max(f̂₁(x), …, f̂_k(x)) per class, renormalised",
                 "vote": "the notes' mode(f̂₁(x), …, f̂_k(x)): a majority vote (ties: the mean probability)"}[rule]
        claims.append(Claim(
            cid, f"A bagged ensemble of k = {K} members combined by {words} beats its average member on test data "
                 f"(verdict: the per-seed difference ensemble − mean member accuracy exceeds {NOISE_SE:g} SE)",
            holds[cid], f"ensemble {pm(acc[rule], 4)} vs average member {pm(avg, 4)}: {format_lead(lead)}, "
                        f"{_noise_txt(lead)}; best member per seed "
                        + ", ".join(f"{max(r['accuracy'] for r in member_rows if r['seed'] == s):.4f}" for s in seeds),
            cond, figure="rules"))
    others = {r: _lead(acc[r], acc["mean"]) for r in RULES if r != "mean"}
    claims.append(Claim(
        "20g", "Averaging — the notes' default (\"the prediction is done by averaging the predictions from all the "
               "models\") — is not beaten by the other rules (verdict: no rule's accuracy at k = "
               f"{K} exceeds the mean's by more than {NOISE_SE:g} SE of the per-seed differences)",
        holds["20g"], "; ".join(f"{r} − mean = {format_lead(v)}" for r, v in others.items())
        + f"; mean {pm(acc['mean'], 4)}", cond, figure="rules"))
    fl = _lead(acc["mean"], full)
    claims.append(Claim(
        "20h", f"… and (not the notes' words: the other side of the trade) the ensemble of {K} also beats one network "
               "of the same architecture trained on all n images — each member sees only ≈ 63% of the distinct "
               f"images (verdict: ensemble − single network > {NOISE_SE:g} SE)",
        holds["20h"], f"ensemble (mean) {pm(acc['mean'], 4)} vs one network on all {c.n_train:,} images "
                      f"{pm(full, 4)}: {format_lead(fl)}, {_noise_txt(fl)}; average member {pm(avg, 4)}",
        cond + "; the single network: the same architecture, optimiser and epochs, on the n images without "
               "resampling", figure="rules"))

    # -- figures
    fig, axes = figures.new_figure(1, 1, panel=(4.2, 2.8), margins={"left": 0.8, "right": 1.9})
    ax = axes[0, 0]
    ns = np.array([r["n"] for r in boot], dtype=float)
    grid = np.unique(np.round(np.geomspace(2, max(ns.max(), 10), 200)).astype(int))
    ax.plot(grid, [oob_share(n) for n in grid], color="0.3", linewidth=1.2, label="(1 − 1/n)ⁿ")
    ax.axhline(math.exp(-1), color="0.3", linestyle=":", linewidth=1.0, label="1/e")
    ax.axhspan(ABOUT_36[0] - ABOUT_36[1], ABOUT_36[0] + ABOUT_36[1], color="0.9", label="“about 36%” ± 1 pt")
    ax.errorbar(ns, [r["measured share"] for r in boot], yerr=[BAND_SE * r["SE"] for r in boot], fmt="o",
                color=figures.COLORS[1], markersize=4, capsize=3, label=f"measured (± {BAND_SE:g} SE)")
    ax.set_xscale("log")
    ax.set_xlabel("n (sample size = data size)")
    ax.set_ylabel("share of duplicate draws")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "bootstrap", caption=f"The share of duplicate draws (= the out-of-bag share) of a bootstrap "
                                          f"sample, mean of {c.bootstrap_samples:,} samples per n, against (1 − 1/n)ⁿ "
                                          f"and its limit 1/e; bars: ± {BAND_SE:g} standard errors (20a's band).")
    fig, axes = figures.new_figure(1, 1, panel=(4.4, 3.0), margins={"left": 0.8, "right": 1.9})
    ax = axes[0, 0]
    ks = np.arange(1, K + 1)
    for i, rule in enumerate(RULES):
        m = [mean_se(_acc_by_seed(ens_rows, rule=rule, k=k)) for k in ks]
        ax.errorbar(ks + (i - 1.5) * 0.06, [v[0] for v in m], yerr=[0 if not math.isfinite(v[1]) else v[1] for v in m],
                    color=figures.COLORS[i], marker="o", markersize=3, linewidth=1.3, capsize=2, label=rule)
    ax.axhline(float(np.mean(avg)), color="0.4", linestyle="--", linewidth=1.0, label="average member")
    ax.axhline(float(np.mean(full)), color="0.1", linestyle=":", linewidth=1.2, label="one network, all data")
    ax.set_xlabel("k (members combined)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"bagging, mean of {seeds_txt} (bars: ± SE)", fontsize=9)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "rules", caption="Test accuracy of the bagged ensemble of the first k members, per combination "
                                      "rule; dashed: the average member (k = 1 on average); dotted: one network of the "
                                      "same architecture trained on all the training images.")
    table = [{"rule": rule, **{f"k = {k}": float(np.mean(_acc_by_seed(ens_rows, rule=rule, k=k)))
                               for k in sorted({1, 2, max(2, K // 2), K})},
              f"k = {K} ± SE": mean_se(acc[rule])[1]} for rule in RULES]
    notes = [
        ("Duplicates and out-of-bag examples are the same count: a sample of n draws from n examples with d distinct "
         "examples has n − d repeated draws and leaves n − d examples out. The notes' \"about 36%\" is this share "
         f"(1 − 1/n)ⁿ, which rises to 1/e = {math.exp(-1):.4f} — about 37% to the nearest percent."),
        (f"Out of bag: each member's accuracy on the images its bootstrap sample left out is a free estimate of its "
         f"test accuracy — per seed {', '.join(f'{v:.3f}' for v in oob_acc)} (out-of-bag) vs "
         f"{', '.join(f'{v:.3f}' for v in avg)} (test), averaged over the members."),
    ]
    return Result(claims=claims, records={"accuracy by rule and k (mean over seeds)": table, **records}, notes=notes)


# -- experiment 21: dropout against a bagged ensemble of the same size ---------------------------------------------
@dataclass
class DropoutEnsembleConfig:
    """One 784-width-width-10 ReLU network with dropout vs K bagged networks of that architecture without it."""

    n_train: int = 1000
    n_test: int = 10000
    width: int = 256
    p: float = 0.5                  # drop probability after each hidden layer (the notes' figures: 0.5)
    members: int = 10               # K: bagged members = sub-networks averaged by Monte Carlo
    epochs: int = 30
    batch_size: int = 50
    lr: float = 1e-3
    seeds: int = 3
    QUICK: ClassVar[dict] = {"n_test": 2000, "width": 64, "members": 4, "epochs": 8, "seeds": 3}

    def validate(self) -> None:
        """Checked by the runner before the run starts (a rejected config never becomes a run)."""
        _check_dropout_ensemble(self)


def _check_dropout_ensemble(c: DropoutEnsembleConfig) -> None:
    if not 0.0 < c.p < 1.0:
        raise ConfigError(f"experiment 'dropout_ensemble': p must be in (0, 1) (a dropout network), got {c.p}")
    if c.members < 2:
        raise ConfigError(f"experiment 'dropout_ensemble': members must be ≥ 2 (an ensemble), got {c.members}")


ARMS = ("dropout, weight scaling", "dropout, MC mean of K", "bagging, mean of K", "plain network")


@experiment("dropout_ensemble", order=21, topic="regularisation",
            summary="one dropout network vs a bagged ensemble of as many networks as sub-networks averaged, on "
                    "1,000 training images (claims 21)")
def run_dropout_ensemble(config: DropoutEnsembleConfig, ctx: Context) -> Result:
    """Seed 001: dropout as a cheap bagging — against bagging itself, with the same number of sub-networks."""
    c = config
    (x, y), (xt, yt) = fashion(c.n_train, c.n_test, rng=ctx.rng_for("data"))
    sizes = (784, c.width, c.width, 10)
    K = c.members

    def arm(item):  # one network (dropout or plain) or one bagged ensemble of a seed: its test predictions, scored
        s, kind = item
        if kind == "dropout":
            drop = _plain(ctx, sizes, c.p, x, y, c.lr, c.epochs, c.batch_size, s, f"dropout seed {s}")
            de = ensemble.DropoutEnsemble(drop)
            mc = de.mc_proba(xt, range(1, K + 1), ctx.rng_for("mc masks", s))
            return {"weight scaling": _accuracy(de.weight_scaling_proba(xt), yt),
                    "mc": [_accuracy(mc[k]["arithmetic"], yt) for k in range(1, K + 1)],
                    "parameters": sum(int(np.prod(q.shape)) for q in drop.parameters())}
        if kind == "bagging":
            bag = _bag(ctx, sizes, K, x, y, c.lr, c.epochs, c.batch_size, _seed_of(ctx, "bagging", s),
                       f"bag seed {s}")
            probs = bag.member_proba(xt)
            return {"first k": [float(np.mean(ensemble.combine_predictions(probs[:k], "mean") == yt))
                                for k in range(1, K + 1)],
                    "members": [{"seed": s, "member": i, "accuracy": _accuracy(probs[i], yt),
                                 "out-of-bag accuracy": bag.oob_accuracy[i]} for i in range(K)]}
        plain = _plain(ctx, sizes, 0.0, x, y, c.lr, c.epochs, c.batch_size, s, f"plain seed {s}")
        return {"accuracy": _accuracy(ensemble.DropoutEnsemble(plain).weight_scaling_proba(xt), yt)}

    kinds = ("dropout", "bagging", "plain")
    out = ctx.map(arm, [(s, kind) for s in range(c.seeds) for kind in kinds], label="dropout vs bagging: arms")
    rows, curve_rows, member_rows = [], [], []
    for s in range(c.seeds):
        dr, bg, pl = out[len(kinds) * s:len(kinds) * (s + 1)]
        accs = dict(zip(ARMS, (dr["weight scaling"], dr["mc"][K - 1], bg["first k"][K - 1], pl["accuracy"])))
        rows += [{"seed": s, "arm": a, "accuracy": v} for a, v in accs.items()]
        curve_rows += [{"seed": s, "k": k, "bagging (mean of the first k members)": bg["first k"][k - 1],
                        "dropout (MC mean of k sub-networks)": dr["mc"][k - 1]} for k in range(1, K + 1)]
        member_rows += bg["members"]
    n_params = out[0]["parameters"]
    records = {"each seed": rows, "accuracy against k": curve_rows, "members": member_rows}
    holds = dropout_ensemble_verdicts(records)

    pm = format_mean_se
    acc = {a: _acc_by_seed(rows, arm=a) for a in ARMS}
    seeds_txt = f"{c.seeds} seed{'s' if c.seeds > 1 else ''}"
    cond = (f"{c.n_train:,} Fashion-MNIST training images (one random subset), {len(yt):,} test images; "
            f"784-{c.width}-{c.width}-10 ReLU (He-normal), cross-entropy, Adam η = {c.lr:g}, batch {c.batch_size}, "
            f"{c.epochs} epochs for every network; dropout: one network, Dropout(p = {c.p:g}) after each hidden "
            f"layer ({n_params:,} parameters); bagging: K = {K} networks of the same architecture without dropout, "
            f"each on its own bootstrap sample ({K} × {n_params:,} parameters, {K}× the training) — the same NUMBER "
            f"of sub-networks averaged (K), not the same parameter budget; plain: one network without dropout on "
            f"all n images; {seeds_txt}; ± = SE over seeds, differences paired by seed")
    a = _lead(acc[ARMS[0]], acc[ARMS[2]])
    b = _lead(acc[ARMS[1]], acc[ARMS[2]])
    d = _lead(acc[ARMS[2]], acc[ARMS[3]])
    side = "; ".join(f"{arm} {pm(acc[arm], 4)}" for arm in ARMS)
    claims = [
        Claim("21a", f"Dropout stands for bagging at the price of one network (the notes: an exponential number of "
                     f"weight-sharing sub-models): one dropout network (weight scaling) is more accurate on test data "
                     f"than a bagged ensemble of K = {K} networks (verdict: mean of the per-seed differences > 0)",
              holds["21a"], f"{side}; dropout − bagging = {format_lead(a)}, {_noise_txt(a)}", cond,
              figure="dropout_vs_bagging"),
        Claim("21b", f"… by more than the seed-to-seed noise (verdict: the difference exceeds {NOISE_SE:g} SE)",
              holds["21b"], f"dropout (weight scaling) − bagging = {format_lead(a)}, {_noise_txt(a)}", cond,
              figure="dropout_vs_bagging"),
        Claim("21c", f"With the same number of sub-networks averaged — the dropout network's Monte-Carlo mean of K = {K} "
                     "sampled sub-networks against the K bagged networks — dropout is more accurate (verdict: mean of "
                     "the per-seed differences > 0)",
              holds["21c"], f"dropout MC mean of {K} {pm(acc[ARMS[1]], 4)} vs bagging {pm(acc[ARMS[2]], 4)}: "
                            f"{format_lead(b)}, {_noise_txt(b)}",
              cond + "; Monte Carlo: each test image gets its own K masks per Dropout layer (seeded), arithmetic mean "
                     "of the softmax outputs (layerlab.ensemble.DropoutEnsemble)", figure="dropout_vs_bagging"),
        Claim("21d", f"(Context for 21a–c) the bagged ensemble of K = {K} beats one plain network trained on all the "
                     f"images (verdict: bagging − plain > {NOISE_SE:g} SE)",
              holds["21d"], f"bagging {pm(acc[ARMS[2]], 4)} vs plain {pm(acc[ARMS[3]], 4)}: {format_lead(d)}, "
                            f"{_noise_txt(d)}; average bagged member "
                            f"{pm([float(np.mean([r['accuracy'] for r in member_rows if r['seed'] == s])) for s in range(c.seeds)], 4)}",
              cond, figure="dropout_vs_bagging"),
    ]

    fig, axes = figures.new_figure(1, 1, panel=(4.4, 3.0), margins={"left": 0.8, "right": 2.3})
    ax = axes[0, 0]
    ks = np.arange(1, K + 1)
    for i, key in enumerate(("bagging (mean of the first k members)", "dropout (MC mean of k sub-networks)")):
        m = [mean_se([r[key] for r in curve_rows if r["k"] == k]) for k in ks]
        ax.errorbar(ks, [v[0] for v in m], yerr=[0 if not math.isfinite(v[1]) else v[1] for v in m],
                    color=figures.COLORS[i], marker="o", markersize=3, linewidth=1.3, capsize=2, label=key)
    ax.axhline(float(np.mean(acc[ARMS[0]])), color=figures.COLORS[1], linestyle="--", linewidth=1.1,
               label="dropout, weight scaling")
    ax.axhline(float(np.mean(acc[ARMS[3]])), color="0.2", linestyle=":", linewidth=1.2, label="plain network")
    ax.set_xlabel("k (networks / sub-networks averaged)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"mean of {seeds_txt} (bars: ± SE)", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "dropout_vs_bagging",
                caption=f"Test accuracy against the number k of networks averaged: k bagged networks (each its own "
                        f"weights, K× the parameters) vs k sampled sub-networks of one dropout network (shared "
                        f"weights); dashed: the dropout network's weight-scaling rule; dotted: one plain network.")
    table = [{"arm": arm, "test accuracy": mean_se(acc[arm])[0], "± SE": mean_se(acc[arm])[1],
              "per seed": ", ".join(f"{v:.4f}" for v in acc[arm])} for arm in ARMS]
    notes = [("Same size here means the same number of networks averaged at test time (K sub-networks of the dropout "
              "network, K bagged networks), not the same parameter count: the bagged ensemble has K times the "
              "parameters and costs K trainings. How close the weight-scaling rule is to the Monte-Carlo average as "
              "k grows is claim 16f of the `dropout` experiment (its own figure); the curve here is for reading 21c."),
             ("Every network gets the same epochs, dropout included; a dropout network sees each sub-network rarely "
              "and usually needs longer training (the `dropout` experiment trains 784-500-500-10 for 60 epochs). "
              "These verdicts hold for the stated budget only; they were not tuned.")]
    return Result(claims=claims, records={"arms (mean over seeds)": table, **records}, notes=notes)
