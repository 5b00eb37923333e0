"""Seed 002, gradient descent strategies: learning-rate schedules on a Fashion-MNIST tanh net (issue 12, point 6).

The notes: "We have the learning rate high at first so that it gets a relative idea about where the minima
lies, and then we lower it to find it with more accuracy"; "Scheduling is done on numbers of iterations
completed"; one cycle: "start with a low learning rate, gradually increase it to a maximum value, and then
decrease it again to a low value. This approach helps the network explore a wide range of learning rates,
allowing it to quickly converge to a good solution".

Set-up: a Fashion-MNIST network of the notes' kind but cheaper, 784-100-100-10 tanh (``lecun_normal`` = the
notes' "Xavier", biases 0, cross-entropy, batch 256, pixels in [0, 1]). The notes' own 784-500-500-500-10 costs
≈ 25 ms a step on one core: 5 schedules × 3 seeds in the ~100 s budget would give each run 200 iterations,
under one epoch — still the phase where the loss falls fast, not the late phase where lowering η "to find it
with more accuracy" can matter. The smaller net (≈ 4 ms a step) runs T = 600 iterations ≈ 2.6 epochs at each
of two η₀.
It is trained by SGD with momentum μ = 0.9 under five schedules of η, every one counted in iterations (each
scheduler is stepped after every mini-batch: the Trainer's ``scheduler_interval="step"``) and every one
starting from, or peaking at, the same η₀ (:data:`SCHEDULES`):

* constant: η = η₀ throughout;
* step: η₀ halved every T/4 iterations (``StepLR``; ends at η₀/8);
* exponential: η₀·γᵗ with γ = 0.01^(1/T) (``ExponentialLR``; ends at η₀/100);
* cosine: ½η₀(1 + cos(πt/T)) (``CosineAnnealingLR``, T_max = T; ends at 0);
* one-cycle: η₀/25 → η₀ over the first 30% of T, then down to η₀/(25·10⁴) by half-cosine (``OneCycleLR``, torch's
  defaults; momentum kept at 0.9, not cycled, so that only η differs between the runs).

η₀ is fixed by a rule stated in advance, before any schedule runs: Smith's learning-rate range test
(``Trainer.lr_find``, η from 1e-4 to 1 over ``range_steps`` mini-batches, from seed 0's initial weights, the
model left as it was), the test one-cycle comes with. Smith reads two bounds off it: where the loss starts to
fall fastest (the suggestion, the steepest fall) and where it stops falling (the lowest smoothed loss). Two
conditions, each its own rows (:func:`eta_conditions`): η₀ = the steepest η ("steepest"), and η₀ = the
geometric mean of the two bounds ("middle"), a higher η at which the loss still falls — the notes' "high at
first". (The upper bound itself blows a constant-η run of this net up, so it is no η₀ to compare against.)
``--set lr=…`` fixes one η₀ by hand instead. Every schedule of one seed starts from the same weights and sees
the same mini-batches in the same order, at each η₀.

Measured: the tail loss (mean mini-batch loss of the last ``tail`` iterations), the test accuracy on a
held-out subset of the test set, and the steps to a target fixed in advance: constant η's final level (the
running mean of its last ``tail`` losses, per seed — ``stats.much_faster``'s level).

Claims, one row per schedule and η₀ (the id names the condition, "31a (steepest)"): it ends at a lower loss
than constant η beyond the seed noise (31a–31d, ``stats.paired_lead``) and at a higher test accuracy beyond the
seed noise (31e–31h); one-cycle reaches constant η's final level in fewer steps than constant η does (31i,
``stats.steps_to``) and much faster (31j, ``stats.much_faster``, the lab's one definition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import (MUCH_FASTER, NOISE_SE, accuracy, format_lead, format_mean_se, mean_se, much_faster,
                                much_faster_holds, paired_lead, running_mean, tail_mean)
from layerlab.lab.training import Reloadable, fashion, fit_iterations, mlp
from layerlab.train import Callback

__all__ = ["SchedulesConfig", "run_schedules", "SCHEDULES", "DECAYING", "make_scheduler", "schedule_curve",
           "fit_scheduled", "by_seed", "check_lower_loss", "check_higher_accuracy", "check_fewer_steps",
           "check_much_faster", "verdicts", "STEP_PIECES", "STEP_GAMMA", "EXP_END", "ONE_CYCLE", "LOSS_IDS", "ACC_IDS",
           "conditions", "claim_id", "eta_conditions"]

#: the schedules, in the order of the figures; every one but "constant" lowers η by the end
SCHEDULES = ("constant", "step", "exponential", "cosine", "one-cycle")
DECAYING = SCHEDULES[1:]
#: step: η₀·γ^⌊t/(T/STEP_PIECES)⌋ — halved at each quarter of the run (a common piecewise-constant schedule;
#: Géron's example lowers η by steps at fixed epochs)
STEP_PIECES, STEP_GAMMA = 4, 0.5
#: exponential: η(T) = EXP_END·η₀ (Géron's η₀·0.1^(t/s) with s = T/2: a factor 10 every half run)
EXP_END = 0.01
#: one-cycle: torch's OneCycleLR defaults (Smith & Topin; fastai's two phases), momentum not cycled
ONE_CYCLE = {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4, "anneal_strategy": "cos"}


def make_scheduler(name: str, opt, lr: float, iterations: int):
    """The scheduler of schedule ``name`` for ``opt`` (None for "constant"), counted in iterations."""
    sch = optim.lr_scheduler
    if name == "constant":
        return None
    if name == "step":
        return sch.StepLR(opt, step_size=max(1, iterations // STEP_PIECES), gamma=STEP_GAMMA)
    if name == "exponential":
        return sch.ExponentialLR(opt, gamma=EXP_END ** (1.0 / iterations))
    if name == "cosine":
        return sch.CosineAnnealingLR(opt, T_max=iterations)
    if name == "one-cycle":
        return sch.OneCycleLR(opt, max_lr=lr, total_steps=iterations, cycle_momentum=False, **ONE_CYCLE)
    raise ValueError(f"schedules: schedule must be one of {SCHEDULES}, got {name!r}")


def schedule_curve(name: str, lr: float, iterations: int) -> np.ndarray:
    """η used at iterations 0..T−1 by schedule ``name`` (read from the scheduler, no side effect on a model)."""
    p = nn.Parameter(np.zeros(1, dtype=np.float32))
    opt = optim.SGD([p], lr=lr, momentum=0.9)
    s = make_scheduler(name, opt, lr, iterations)
    if s is None:
        return np.full(iterations, float(lr))
    return np.array([s.lr_at(t)[0] for t in range(iterations)])


def fit_scheduled(ctx: Context, model, opt, scheduler, x, y, iterations: int, batch_size: int, label: str,
                  seed: int = 0) -> dict:
    """``training.fit_iterations`` with a scheduler stepped after every iteration. Returns its {"losses",
    "diverged", "trainer"} and "lrs" (the η used at each step)."""
    lrs: list[float] = []

    class _Lr(Callback):
        def on_batch_start(self, trainer, step, batch):
            lrs.append(float(trainer.optimizer.param_groups[0]["lr"]))

    out = fit_iterations(ctx, model, opt, x, y, iterations, batch_size, label, callbacks=[_Lr()], seed=seed,
                         scheduler=scheduler, scheduler_interval="step")
    return {**out, "lrs": lrs[:iterations]}


# -- the verdicts (plain functions of the records) ---------------------------------------------------------------
def conditions(records) -> list[str]:
    """The η₀ conditions of the runs, in the order they ran."""
    return list(dict.fromkeys(r["condition"] for r in records if r.get("part") == "run"))


def by_seed(records, condition: str, schedule: str, key: str) -> dict[int, float]:
    """``{seed: value}`` of ``key`` in the runs of ``schedule`` under ``condition`` (NaN for a diverged run or a
    missing value)."""
    out = {}
    for r in records:
        if r.get("part") == "run" and r["condition"] == condition and r["schedule"] == schedule:
            v = r.get(key)
            out[int(r["seed"])] = math.nan if r["diverged"] is not None or v is None else float(v)
    return out


def _paired(records, condition, schedule, key, sign, k):
    a, b = by_seed(records, condition, schedule, key), by_seed(records, condition, "constant", key)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return False, None
    r = paired_lead([sign * a[s] for s in seeds], [sign * b[s] for s in seeds], k)
    return bool(r["beyond"]), r


def check_lower_loss(records, condition: str, schedule: str, k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """31a–31d: ``schedule``'s tail loss is below constant η's beyond the noise (``paired_lead`` by seed)."""
    return _paired(records, condition, schedule, "tail", 1.0, k)


def check_higher_accuracy(records, condition: str, schedule: str,
                          k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """31e–31h: ``schedule``'s test accuracy is above constant η's beyond the noise (``paired_lead`` of −accuracy:
    its ``diff`` is the mean accuracy gain)."""
    return _paired(records, condition, schedule, "test accuracy", -1.0, k)


def _pairs(records, condition: str, fast: str) -> list[dict]:
    return [r for r in records
            if r.get("part") == "pair" and r["condition"] == condition and r["schedule"] == fast]


def check_fewer_steps(records, condition: str, fast: str = "one-cycle") -> tuple[bool, int, int]:
    """31i: on every seed ``fast`` reaches constant η's final level (``stats.steps_to``, running means over the
    tail window) in fewer steps than constant η itself needs, without diverging. Returns (holds, seeds where it
    does, seeds)."""
    ok = []
    for p in _pairs(records, condition, fast):
        slow = math.inf if p["steps_slow"] is None else p["steps_slow"]
        ok.append(bool(p["steps_fast"] is not None and not p["diverged"] and p["steps_fast"] < slow))
    return bool(ok) and all(ok), int(sum(ok)), len(ok)


def check_much_faster(records, condition: str, fast: str = "one-cycle") -> tuple[bool, int, int]:
    """31j: ``fast`` trains much faster than constant η (``stats.much_faster``) on every seed."""
    ok = [much_faster_holds(p["steps_fast"], p["steps_slow"], p["diverged"], p["ends_above"])
          for p in _pairs(records, condition, fast)]
    return bool(ok) and all(ok), int(sum(ok)), len(ok)


#: the claim ids of the per-schedule rows (each followed by its condition: "31a (steepest)")
LOSS_IDS = dict(zip(DECAYING, ("31a", "31b", "31c", "31d")))
ACC_IDS = dict(zip(DECAYING, ("31e", "31f", "31g", "31h")))


def claim_id(base: str, condition: str) -> str:
    """``"31a (steepest)"``: one row per claim and η₀ condition."""
    return f"{base} ({condition})"


def verdicts(records) -> dict[str, bool]:
    """Every claim's verdict from the stored records."""
    out = {}
    for c in conditions(records):
        out |= {claim_id(LOSS_IDS[s], c): check_lower_loss(records, c, s)[0] for s in DECAYING}
        out |= {claim_id(ACC_IDS[s], c): check_higher_accuracy(records, c, s)[0] for s in DECAYING}
        out[claim_id("31i", c)] = check_fewer_steps(records, c, "one-cycle")[0]
        out[claim_id("31j", c)] = check_much_faster(records, c, "one-cycle")[0]
    return out


def eta_conditions(suggestion: float, lowest: float) -> dict[str, float]:
    """η₀ of each condition from the range test: "steepest" = its suggestion (the steepest fall of the loss,
    Smith's lower bound); "middle" = the geometric mean of that and the η of the lowest smoothed loss (Smith's
    upper bound, where the loss stops falling): a high η at which the loss still falls, halfway between the
    bounds on the log scale (the upper bound itself blows a constant-η run up)."""
    return {"steepest": float(suggestion), "middle": float(math.sqrt(suggestion * max(lowest, suggestion)))}


# -- the experiment ----------------------------------------------------------------------------------------------
@dataclass
class SchedulesConfig:
    """A network ``sizes`` (tanh, ``lecun_normal``, cross-entropy), SGD with momentum ``momentum``, ``iterations``
    steps per run, batch ``batch_size``, ``seeds`` seeds per schedule and η₀; ``tail`` = the window of the tail
    loss and of ``much_faster``; ``n_train`` training images (None: all 60,000), ``n_test`` held-out test images
    (None: all 10,000). η₀ (the constant η, the start of the decaying schedules, one-cycle's peak): each of
    ``etas`` (:func:`eta_conditions`) from the range test (``range_steps`` mini-batches, η from ``range_start`` to
    ``range_end``); or ``lr``, one η₀ set by hand (condition "set").

    Budget (full): 2 η₀ × 5 schedules × 3 seeds × 600 iterations = 18,000 steps of ≈ 4 ms on one core ≈ 75 s,
    plus the range test (100 steps), 30 test evaluations, the data and the figures."""

    sizes: tuple[int, ...] = (784, 100, 100, 10)
    etas: tuple[str, ...] = ("steepest", "middle")
    lr: float | None = None
    momentum: float = 0.9
    iterations: int = 600
    batch_size: int = 256
    seeds: int = 3
    tail: int = 50
    n_train: int | None = None
    n_test: int | None = None
    range_steps: int = 100
    range_start: float = 1e-4
    range_end: float = 1.0
    QUICK: ClassVar[dict] = {"sizes": (784, 32, 10), "iterations": 50, "batch_size": 64, "tail": 10,
                             "n_train": 4000, "n_test": 1000, "range_steps": 40}


@experiment("schedules", order=31, topic="optimisation",
            summary="constant vs step vs exponential vs cosine vs one-cycle η (SGD + momentum, the same η₀ and "
                    "iterations) on a 784-100-100-10 tanh net, at two η₀ from a range test, 3 seeds: does decaying η "
                    "end lower, does one-cycle get there faster (issue 12, point 6)")
def run_schedules(config: SchedulesConfig, ctx: Context) -> Result:
    n = config.iterations
    if config.tail < 2 or config.tail > n // 2:
        raise ValueError(f"schedules: tail must be in [2, iterations/2], got {config.tail}")
    (x, y), (xt, yt) = fashion(config.n_train, config.n_test, rng=ctx.rng_for("data"))
    sizes = list(config.sizes)
    records: list[dict] = []
    # η₀: the range test from seed 0's initial weights (the model and the loader are left as they were)
    range_test = None
    if config.lr is None:
        model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", 0))
        opt = optim.SGD(model.parameters(), lr=config.range_start, momentum=config.momentum)
        trainer = ctx.trainer(model, nn.CrossEntropyLoss(), opt, label="range test")
        loader = data.DataLoader(data.TensorDataset(x, y), batch_size=config.batch_size, shuffle=True, seed=ctx.seed)
        r_lrs, r_losses, suggestion = trainer.lr_find(loader, start=config.range_start, end=config.range_end,
                                                      steps=config.range_steps)
        lowest = float(r_lrs[int(np.argmin(r_losses))])
        rules = eta_conditions(float(suggestion), lowest)
        unknown = set(config.etas) - set(rules)
        if unknown or not config.etas:
            raise ValueError(f"schedules: etas must be some of {tuple(rules)}, got {config.etas}")
        etas = {c: rules[c] for c in config.etas}
        range_test = (r_lrs, r_losses, etas)
        records.append({"part": "range test", "suggestion": float(suggestion), "η of the lowest loss": lowest,
                        "steps recorded": len(r_lrs), "start": config.range_start, "end": config.range_end,
                        **{f"η₀ {c}": v for c, v in etas.items()}})
    else:
        etas = {"set": float(config.lr)}

    train_set = Reloadable((x, y), lambda: fashion(config.n_train, config.n_test, rng=ctx.rng_for("data"))[0])

    def one_run(item):
        """One (η₀ condition, seed, schedule) run: its record and its loss curve."""
        cond, s, name = item
        lr0 = etas[cond]
        xs, ys = train_set()
        model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", s))
        opt = optim.SGD(model.parameters(), lr=lr0, momentum=config.momentum)
        sched = make_scheduler(name, opt, lr0, n)
        with np.errstate(all="ignore"):  # a diverging run overflows before the NaN guard stops it
            out = fit_scheduled(ctx, model, opt, sched, xs, ys, n, config.batch_size,
                                label=f"{cond}/{name}/seed {s}", seed=ctx.seed + s)
        losses, lrs = out["losses"], out["lrs"]
        return losses, {
            "part": "run", "condition": cond, "η₀": lr0, "schedule": name, "seed": s,
            "tail": tail_mean(losses, config.tail), "final loss": float(losses[-1]),
            "diverged": out["diverged"],
            "blew up": bool(out["diverged"] is None and not tail_mean(losses, config.tail) <= losses[0]),
            "test accuracy": None if out["diverged"] is not None else accuracy(model, xt, yt),
            "η at 0": lrs[0] if lrs else None, "η max": max(lrs) if lrs else None,
            "η at end": lrs[-1] if lrs else None, "mean η": float(np.mean(lrs)) if lrs else None}

    items = [(cond, s, name) for cond in etas for s in range(config.seeds) for name in SCHEDULES]
    runs = dict(zip(items, ctx.map(one_run, items, label="schedule runs")))
    curves: dict[tuple[str, str, int], list[float]] = {(c, name, s): runs[c, s, name][0] for c, s, name in items}
    for cond in etas:
        records += [rec for (c, _, _), (_, rec) in runs.items() if c == cond]
        for s in range(config.seeds):
            for name in DECAYING:
                m = much_faster(curves[cond, name, s], curves[cond, "constant", s], window=config.tail)
                records.append({"part": "pair", "condition": cond, "schedule": name, "seed": s, "level": m["level"],
                                "steps_fast": m["steps_fast"], "steps_slow": m["steps_slow"], "ratio": m["ratio"],
                                "diverged": m["diverged"], "ends_above": m["ends_above"], "fast_end": m["fast_end"],
                                "much faster": m["holds"]})

    # -- the table -------------------------------------------------------------------------------------------
    table = []
    for cond, lr0 in etas.items():
        for name in SCHEDULES:
            runs = [r for r in records if r.get("part") == "run" and r["condition"] == cond and r["schedule"] == name]
            ps = _pairs(records, cond, name)
            table.append({
                "η₀": f"{cond} {lr0:.3g}", "schedule": name,
                "η at 0 / max / end": f"{runs[0]['η at 0']:.3g} / {runs[0]['η max']:.3g} / {runs[0]['η at end']:.2g}",
                f"tail loss (last {config.tail})": format_mean_se(list(by_seed(records, cond, name, "tail").values())),
                "test accuracy": format_mean_se(list(by_seed(records, cond, name, "test accuracy").values())),
                "steps to constant's final level": "(target)" if name == "constant" else
                ", ".join("never" if p["steps_fast"] is None else str(p["steps_fast"]) for p in ps),
                "constant's own steps": ", ".join(str(p["steps_slow"]) for p in ps) if ps else "",
                "failed seeds": sum(r["diverged"] is not None or r["blew up"] for r in runs)})
    records += [{"part": "table", **row} for row in table]

    net = "-".join(str(v) for v in sizes)
    eta_txt = ("η₀ from Smith's range test (Trainer.lr_find, "
               f"{config.range_steps} mini-batches, η {config.range_start:g} → {config.range_end:g}, seed 0's weights)"
               if range_test is not None else "η₀ set by hand")
    base = (f"Fashion-MNIST ({'all 60,000' if config.n_train is None else config.n_train} training images, pixels "
            f"in [0, 1]), {net} tanh, lecun_normal, biases 0, cross-entropy, SGD momentum {config.momentum:g}, batch "
            f"{config.batch_size}, {n} iterations ≈ {n * config.batch_size / len(x):.2g} epochs (schedulers stepped "
            f"per iteration), {config.seeds} seeds (same weights and mini-batches for every schedule); test accuracy "
            f"on {len(xt)} held-out test images; {eta_txt}")
    ctx.savefig(_schedule_figure({c: {name: schedule_curve(name, lr0, n) for name in SCHEDULES}
                                  for c, lr0 in etas.items()}), "schedule",
                caption=f"η per iteration of each schedule (T = {n}) at each η₀; the runs' own η, read from the "
                        "optimiser before each step, are the same (records: η at 0 / max / end).")
    if range_test is not None:
        ctx.savefig(_range_figure(*range_test), "range_test",
                    caption="Smith's range test (Trainer.lr_find): the smoothed loss as η grows geometrically, one "
                            "mini-batch per η; dashed: the η₀ of each condition (steepest = the suggestion; middle = "
                            "the geometric mean of it and the η of the lowest loss).")
    ctx.savefig(_loss_figure(curves, etas, config), "loss",
                caption=f"Mini-batch loss, mean over {config.seeds} seeds (running mean over {config.tail // 2} "
                        "iterations), one row per η₀; right: the second half of the run; dashed: constant η's final "
                        "level.")
    ctx.savefig(_final_figure(records, etas, config), "final",
                caption=f"Mean loss of the last {config.tail} iterations and test accuracy per schedule, one row per "
                        f"η₀: mean over {config.seeds} seeds, error bars ± 1 SE (the verdicts pair the seeds).")
    ctx.savefig(figures.table_figure(table, title=f"Schedules on {net} tanh, SGD + momentum, {n} iterations "
                                                  f"(mean ± SE over {config.seeds} seeds)"),
                "table", caption="Each schedule's numbers at each η₀; steps to constant η's final level per seed.")

    # -- the claims ------------------------------------------------------------------------------------------
    v = verdicts(records)
    claims = []
    for cond, lr0 in etas.items():
        cond_txt = base + f"; condition {cond}: η₀ = {lr0:.3g}"
        sched_txt = {
            "step": f"η₀ × {STEP_GAMMA:g} every {max(1, n // STEP_PIECES)} iterations",
            "exponential": f"η₀·γᵗ, γ = {EXP_END:g}^(1/{n})",
            "cosine": f"cosine from η₀ to 0 over {n} iterations",
            "one-cycle": f"one-cycle, peak η₀ at {ONE_CYCLE['pct_start']:.0%} of the run, from η₀/"
                         f"{ONE_CYCLE['div_factor']:g} to η₀/{ONE_CYCLE['div_factor'] * ONE_CYCLE['final_div_factor']:g}"
                         ", momentum not cycled"}

        def vals(name, key):
            return format_mean_se(list(by_seed(records, cond, name, key).values()))

        for name in DECAYING:
            _, lead = check_lower_loss(records, cond, name)
            cid = claim_id(LOSS_IDS[name], cond)
            claims.append(Claim(
                cid, f"\"high at first ... then we lower it to find it with more accuracy\": the {name} schedule "
                     f"ends at a lower training loss than constant η, beyond the seed noise (η₀ = {lr0:.3g})", v[cid],
                f"mean loss of the last {config.tail} iterations: {name} {vals(name, 'tail')}, constant "
                f"{vals('constant', 'tail')}; lead " + ("—" if lead is None else format_lead(lead))
                + f"; threshold > {NOISE_SE:g} SE", cond_txt + f"; {name}: {sched_txt[name]}", "final"))
        for name in DECAYING:
            _, lead = check_higher_accuracy(records, cond, name)
            cid = claim_id(ACC_IDS[name], cond)
            claims.append(Claim(
                cid, f"the {name} schedule ends at a higher test accuracy than constant η, beyond the seed noise "
                     f"(η₀ = {lr0:.3g})", v[cid],
                f"test accuracy: {name} {vals(name, 'test accuracy')}, constant {vals('constant', 'test accuracy')}; "
                "gain " + ("—" if lead is None else format_lead(lead)) + f"; threshold > {NOISE_SE:g} SE",
                cond_txt + f"; {name}: {sched_txt[name]}", "final"))
        ps = _pairs(records, cond, "one-cycle")
        per = "; ".join(f"seed {p['seed']}: one-cycle {'never' if p['steps_fast'] is None else p['steps_fast']}, "
                        f"constant {'never' if p['steps_slow'] is None else p['steps_slow']} (×{p['ratio']:.2g})"
                        + (" one-cycle DIVERGED" if p["diverged"] else "") for p in ps)
        level = format_mean_se([p["level"] for p in ps])
        cid = claim_id("31i", cond)
        claims.append(Claim(
            cid, "one-cycle \"allow[s] it to quickly converge to a good solution\": it reaches constant η's final "
                 f"level in fewer iterations than constant η (η₀ = {lr0:.3g})", v[cid],
            f"iterations to constant η's final level ({level}, running means over {config.tail}): {per}; "
            "threshold: fewer on every seed", cond_txt + f"; one-cycle: {sched_txt['one-cycle']}", "loss"))
        cid = claim_id("31j", cond)
        claims.append(Claim(
            cid, f"one-cycle trains much faster than constant η, the lab's \"much faster\" (η₀ = {lr0:.3g})", v[cid],
            f"{per}; threshold ×{MUCH_FASTER:g} fewer iterations on every seed, and one-cycle ends at or below the "
            "level (stats.much_faster)", cond_txt + f"; one-cycle: {sched_txt['one-cycle']}", "loss"))
    notes = [
        ("η₀: " + ", ".join(f"{c} {v0:.4g}" for c, v0 in etas.items())
         + (f" — from Smith's range test: suggestion (steepest fall) {range_test[2].get('steepest', math.nan):.4g}, η "
            f"of the lowest smoothed loss {records[0]['η of the lowest loss']:.4g}" if range_test is not None else "")
         + "; every schedule starts from (or, one-cycle, peaks at) η₀."),
        "The target of 31i/31j is constant η's own final level, which constant η reaches only near its end by "
        "construction (running means over the tail window).",
        "torch's StepLR / ExponentialLR / CosineAnnealingLR count epochs; here they are stepped per iteration, as the "
        "notes' \"scheduling is done on numbers of iterations completed\".",
    ]
    return Result(claims=claims, records=records, notes=notes)


# -- figures -------------------------------------------------------------------------------------------------------
def _range_figure(lrs, losses, etas):
    fig, axes = figures.new_figure(1, 1, panel=(3.6, 2.3))
    ax = axes[0, 0]
    ax.plot(lrs, losses, color=figures.COLORS[0], linewidth=1.4)
    for i, (c, v) in enumerate(etas.items()):
        ax.axvline(v, color=figures.COLORS[1 + i], linestyle="--", linewidth=0.9, label=f"{c}: η₀ = {v:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("η")
    ax.set_ylabel("smoothed loss")
    ax.legend(frameon=False, fontsize=7)
    return fig


def _schedule_figure(lrs_by_cond):
    fig, axes = figures.new_figure(1, len(lrs_by_cond), panel=(3.2, 2.2))
    for ax, (cond, lrs) in zip(axes[0], lrs_by_cond.items()):
        for i, (name, c) in enumerate(lrs.items()):
            ax.plot(np.arange(len(c)), c, color=figures.COLORS[i], label=name, linewidth=1.4)
        ax.set_xlabel("iteration")
        ax.set_ylabel("η")
        ax.set_title(f"{cond}: η₀ = {next(iter(lrs.values()))[0]:.3g}")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig


def _mean(curves, cond, name, seeds):
    cs = [np.asarray(curves[cond, name, s], dtype=np.float64) for s in range(seeds)]
    n = max(len(c) for c in cs)
    pad = np.full((len(cs), n), np.nan)
    for i, c in enumerate(cs):
        pad[i, :len(c)] = c
    return pad.mean(axis=0)


def _loss_figure(curves, etas, config):
    fig, axes = figures.new_figure(len(etas), 2, panel=(3.4, 2.2))
    w = max(1, config.tail // 2)
    n = config.iterations
    for r, (cond, lr0) in enumerate(etas.items()):
        means = {name: running_mean(_mean(curves, cond, name, config.seeds), w) for name in SCHEDULES}
        level = float(np.nanmean([tail_mean(curves[cond, "constant", s], config.tail) for s in range(config.seeds)]))
        for j, start in enumerate((0, n // 2)):
            ax = axes[r, j]
            lo, hi = [], []
            for i, (name, c) in enumerate(means.items()):
                t = np.arange(len(c))
                ax.plot(t[start:], c[start:], color=figures.COLORS[i], label=name, linewidth=1.3)
                seg = c[start:][np.isfinite(c[start:])]
                if seg.size:
                    lo.append(seg.min())
                    hi.append(seg.max())
            if math.isfinite(level):
                ax.axhline(level, color="#777777", linestyle="--", linewidth=0.8)
            if j == 1 and lo:
                pad = 0.05 * (max(hi) - min(lo) or 1.0)
                ax.set_ylim(min(lo) - pad, max(hi) + pad)
            ax.set_xlabel("iteration")
            ax.set_title(f"{cond} η₀ = {lr0:.3g}: " + ("whole run" if j == 0 else "second half"))
        axes[r, 0].set_ylabel("mini-batch loss")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig


def _final_figure(records, etas, config):
    fig, axes = figures.new_figure(len(etas), 2, panel=(3.2, 2.0), margins={"bottom": 0.85, "hspace": 1.1})
    for r, (cond, lr0) in enumerate(etas.items()):
        for ax, key, label in ((axes[r, 0], "tail", f"loss, last {config.tail}"),
                               (axes[r, 1], "test accuracy", "test accuracy")):
            ms, ses = [], []
            for name in SCHEDULES:
                m, se = mean_se(list(by_seed(records, cond, name, key).values()))
                ms.append(m)
                ses.append(se if math.isfinite(se) else 0.0)
            pos = np.arange(len(SCHEDULES))
            for i in range(len(SCHEDULES)):
                ax.errorbar([pos[i]], [ms[i]], yerr=[ses[i]], fmt="o", capsize=4, color=figures.COLORS[i],
                            markersize=5)
            finite = [(m, s) for m, s in zip(ms, ses) if math.isfinite(m)]
            if finite:
                lo = min(m - s for m, s in finite)
                hi = max(m + s for m, s in finite)
                pad = 0.15 * (hi - lo or abs(hi) * 0.01 or 1.0)
                ax.set_ylim(lo - pad, hi + pad)
            ax.set_xticks(pos, list(SCHEDULES), rotation=30, ha="right")
            ax.set_ylabel(label)
            ax.set_title(f"{cond}: η₀ = {lr0:.3g}")
    return fig
