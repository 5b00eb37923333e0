"""Seed 002, "Gradient Descent Strategy — Stochastic Gradient Descent": batch size, cost and noise (issue 12, point 3).

The notes: "Instead of calculating the total loss, we calculate the loss from a randomly picked sample (or a
batch in case of batch gradient descent)"; "This decreases the computational time."; "Think instead of taking
slower but confident steps, we take faster but less-confident steps."

Set-up. The notes' Fashion-MNIST network (784-500-500-500-10 tanh, the notes' "Xavier" = ``lecun_normal``,
biases 0, cross-entropy, plain SGD, inputs in [0, 1]) trained on a fixed random subset of ``n_train`` = 2,048
training images — small enough that one full-batch step (the gradient of the total loss) is affordable — with
mini-batches of 1, 32 and 256 images and with the full set (gradient descent proper). Every run of one seed
starts from the same initial weights. One η = 0.1 for every batch size, fixed before any run: the η the lab
trains this net at on [0, 1] inputs (the notes' η = 0.5 diverges there at batch 256, CLAIMS.md), so GD, the method
the notes call slow, runs at a step near its useful range rather than a timid one; batch 1 might do better with a
smaller η (its steps are the noisiest), so one η handicaps the small batches if anyone — the notes' claim is
tested against the odds, not with them. Mini-batches are drawn without replacement, one
fresh permutation per epoch (a seeded generator per run).

Budgets (updates per run; fixed in advance): batch 1: 1,024 (half an epoch), 32: 256 (4 epochs), 256: 48 (6
epochs), full: 24 (24 epochs). At the costs per update measured on this machine, batch 1's and batch 32's budgets
are about half the full-batch run's wall time (a run that needs more than half of it cannot pass the MUCH_FASTER
= 2 rule anyway) and batch 256's about a third (it can fail only by not reaching the level within its budget; the
records show whether it did).

Measures. (1) The loss on the whole training subset and on ``n_held`` held-out (test) images at checkpoints
(updates 0, 1, 2, 3, 4, 6, 8, 12, ... ≈ ×1.5, and the end), against epochs, updates and wall-clock seconds; the
seconds are ``time.perf_counter`` summed over the updates only (batch indexing, forward, backward, the SGD step)
— the evaluations at the checkpoints are not counted; the process's CPU time (``time.process_time``) over the
same updates is recorded beside it, as a check less sensitive to other processes on a shared machine (the verdicts
use the wall time). The loop is a plain one (no Trainer: its per-step callbacks and store writes would be
charged to the small batches). (2) The cost of an update: the mean (and
median) wall time per update of each run, and per epoch (updates per epoch × mean seconds per update). (3) The
noise of an update's direction: the cosine between the gradient of a mini-batch of B images (``noise_draws``
random batches) and the full gradient, at the initial weights and at the weights the full-batch run ends on
(also the relative error |g_B − g| / |g|, whose square theory puts at ∝ 1/B − 1/n).

Claims (thresholds fixed in advance, module constants below): 28a smaller batches take cheaper updates; 28b
they take noisier ("less-confident") steps; 28c–28e each mini-batch size reaches the full batch's final training
loss in at most 1/MUCH_FASTER of the wall time full-batch GD needs ("decreases the computational time"); the
other sides: 28f per *update*, the full batch makes more progress than every mini-batch (the "confident" step);
28g per *epoch*, batch 1 is much slower in wall time than full-batch GD (every update, whatever its batch, reads
and writes all ~900,000 weights and pays the framework's per-step overhead, once per image at batch 1).

28h, added after the first full run. At the common η = 0.1 batch 1 did not train at all: its training loss rose
from 2.3 to 10–50 within a few dozen updates (unstable, though never NaN), so 28c failed for a reason the notes'
sentence is not about. 28h repeats 28c for batch 1 at its own η, chosen by a rule fixed before it was run: the η
of ``pilot_lrs`` = (0.1, 0.03, 0.01, 0.003) (the common η and ½-decade steps below it) with the lowest training
loss after ``pilot_updates`` = 256 updates on seed 0 (the 0.1 entry read off the main run); the chosen η is then
run on every seed with batch 1's full budget. Full-batch GD is not re-tuned (its pilot would cost a dozen or more
of its half-second steps per η): this row leans towards batch 1, and says so. 28c stays as planned, flagged UNSTABLE.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll
from layerlab import nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import MUCH_FASTER, NOISE_SE, mean_se
from layerlab.lab.training import fashion, mlp

__all__ = [
    "SgdBatchConfig", "run_sgd_batch", "checkpoint_schedule", "grad_vector", "cosine", "train_run", "runs",
    "curve", "level_of", "time_to_level", "check_cheaper", "check_noisier", "check_time", "check_per_update",
    "check_epoch_cost", "unstable", "choose_lr", "loss_at_update", "noise_stats", "MUCH_FASTER", "NOISE_SE", "LR",
    "FULL", "MAIN", "OWN_LR", "PILOT_LRS",
]

#: one η for every batch size (see the module docstring: the largest the lab trains this net at on [0, 1] inputs)
LR = 0.1
#: the label of the full-batch runs in the records (their ``batch`` is n_train)
FULL = "full"
#: the conditions of the runs: every batch size at the common η, and the smallest batch at its own η
MAIN = "common η"
OWN_LR = "own η"
#: 28a "faster steps": the mean wall time per update rises strictly with the batch size (1 < 32 < 256 < full), on
#: every seed — an ordering, no threshold: the notes' claim is the direction, and it is the direction measured
#: 28b "less-confident steps": the mean cosine between a mini-batch gradient and the full gradient rises with the
#: batch size beyond the noise — for each consecutive pair (B < B', the full batch's cosine being 1 exactly) the
#: difference of means (draws pooled over seeds) exceeds NOISE_SE standard errors — at both measurement points
#: 28c–e "decreases the computational time": wall seconds of full-batch GD to its own final training loss ÷ the
#: mini-batch run's seconds to the same loss ≥ MUCH_FASTER (the lab's one definition of "much faster", here on the
#: clock rather than on steps; the margin of 2 also absorbs the clock's noise), on every seed, and the mini-batch
#: run did not diverge and ends at or below that loss (stats.much_faster's rules)
#: 28f "slower but confident steps": the full batch's training loss after U updates (U = its budget) is strictly
#: below every mini-batch run's after U updates, on every seed
#: 28g the other side of the clock: batch 1's seconds per epoch ≥ MUCH_FASTER × full-batch GD's (one epoch = one
#: step), on every seed
#: 28h = 28c's rule for batch 1 at its own η: the η of PILOT_LRS with the lowest training loss after
#: ``pilot_updates`` updates on seed 0 (the η = 0.1 entry read off the main run), then run on every seed
PILOT_LRS = (0.1, 0.03, 0.01, 0.003)


# -- the measurements --------------------------------------------------------------------------------------------------
def checkpoint_schedule(total: int, extra=()) -> list[int]:
    """Updates at which the losses are measured: 0, the powers of 2 and 3 × the powers of 2 (1, 2, 3, 4, 6, 8, 12,
    16, 24, ...: about ×1.4 apart), ``total`` and any of ``extra``, all within [0, total], sorted."""
    total = int(total)
    pts = {0, total}
    k = 1
    while k <= total:
        pts.update(v for v in (k, 3 * k) if v <= total)
        k *= 2
    pts.update(int(e) for e in extra if 0 <= int(e) <= total)
    return sorted(pts)


def grad_vector(model: nn.Module, loss_fn, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The gradient of ``loss_fn(model(x), y)`` (a mean over the batch) over all parameters, flattened (float64)."""
    model.zero_grad()
    loss_fn(model(ll.Tensor(x)), y).backward()
    return np.concatenate([p.grad.ravel() for p in model.parameters()]).astype(np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos ∠(a, b); NaN when either is zero or not finite."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if not (na > 0 and nb > 0 and math.isfinite(na) and math.isfinite(nb)):
        return math.nan
    return float(np.dot(a, b) / (na * nb))


def _loss(model, loss_fn, x, y) -> float:
    with ll.no_grad(), np.errstate(all="ignore"):
        return float(loss_fn(model(ll.Tensor(x)), y).item())


def train_run(model, x, y, batch: int, updates: int, lr: float, rng: np.random.Generator, checkpoints,
              evaluate) -> dict:
    """Plain SGD with mini-batches of ``batch`` drawn without replacement (a fresh permutation of ``x`` per epoch,
    the last partial batch dropped) for ``updates`` updates. At every update count in ``checkpoints`` it calls
    ``evaluate(model)`` (→ dict of losses), which is not timed. Returns ``{"checkpoints": [{update, epoch,
    seconds (wall, perf_counter), cpu_seconds (this process's CPU time, process_time: less sensitive to other
    processes on the machine), **evaluate}], "times": per-update wall seconds, "diverged": None or the update whose loss was not
    finite (the run stops there, that update not applied)}``."""
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=lr)
    n = len(x)
    per_epoch = n // batch
    if per_epoch < 1:
        raise ValueError(f"sgd_vs_batch: batch {batch} is larger than the training set ({n})")
    marks = set(int(c) for c in checkpoints)
    out, times, elapsed, cpu, diverged = [], [], 0.0, 0.0, None
    order = None

    def mark(t):
        out.append({"update": t, "epoch": t * batch / n, "seconds": elapsed, "cpu_seconds": cpu, **evaluate(model)})

    if 0 in marks:
        mark(0)
    for t in range(1, updates + 1):
        i = (t - 1) % per_epoch
        if i == 0:
            order = rng.permutation(n)
        start, cpu_start = time.perf_counter(), time.process_time()
        idx = order[i * batch:(i + 1) * batch]
        xb, yb = x[idx], y[idx]
        with np.errstate(all="ignore"):
            loss = loss_fn(model(ll.Tensor(xb)), yb)
            value = float(loss.item())
            if not math.isfinite(value):
                diverged = t
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
        dt = time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        times.append(dt)
        elapsed += dt
        if t in marks:
            mark(t)
    return {"checkpoints": out, "times": times, "cpu_seconds": cpu, "diverged": diverged}


# -- reading the records -----------------------------------------------------------------------------------------------
def _cond(r) -> str:
    return r.get("condition", MAIN)


def runs(records, condition: str = MAIN) -> dict[tuple[str, int], dict]:
    """``{(batch label, seed): run record}`` of the ``part == "run"`` records of one condition (``MAIN``: every
    batch size at the common η; ``OWN_LR``: the smallest batch at its own η)."""
    return {(str(r["batch"]), int(r["seed"])): r for r in records if r.get("part") == "run" and _cond(r) == condition}


def curve(records, batch, seed: int, condition: str = MAIN) -> list[dict]:
    """The checkpoints of one run, in update order."""
    return sorted((r for r in records if r.get("part") == "checkpoint" and str(r["batch"]) == str(batch)
                   and int(r["seed"]) == int(seed) and _cond(r) == condition), key=lambda r: r["update"])


def unstable(points) -> bool:
    """A run that ends with a training loss above its start (or not finite): it did not train at that η."""
    return bool(points) and not points[-1]["train_loss"] <= points[0]["train_loss"]


def choose_lr(records) -> float | None:
    """The pilot's choice: the η of the ``part == "pilot"`` record with the lowest finite training loss (None
    when there is none)."""
    ok = [r for r in records if r.get("part") == "pilot" and math.isfinite(r["train_loss"])]
    return float(min(ok, key=lambda r: r["train_loss"])["lr"]) if ok else None


def level_of(records, seed: int) -> float:
    """The target loss of a seed: the full-batch run's training loss at its last checkpoint (NaN if missing or
    the full-batch run diverged)."""
    run = runs(records).get((FULL, int(seed)))
    pts = curve(records, FULL, seed)
    if run is None or run["diverged"] is not None or not pts:
        return math.nan
    return float(pts[-1]["train_loss"])


def time_to_level(points, level: float) -> dict | None:
    """The first checkpoint of a run whose training loss is at or below ``level`` (None if none is; a NaN never
    is): its seconds, epoch and update."""
    for p in points:
        if p["train_loss"] <= level:
            return {"seconds": float(p["seconds"]), "epoch": float(p["epoch"]), "update": int(p["update"]),
                    "cpu_seconds": float(p.get("cpu_seconds", math.nan))}
    return None


def _seeds(records) -> list[int]:
    return sorted({int(r["seed"]) for r in records if r.get("part") == "run" and _cond(r) == MAIN})


def _batches(records) -> list[str]:
    """The mini-batch labels at the common η, in increasing size (the full batch excluded)."""
    sizes = {str(r["batch"]): int(r["batch_size"]) for r in records if r.get("part") == "run" and _cond(r) == MAIN}
    return [b for b in sorted(sizes, key=sizes.get) if b != FULL]


def check_cheaper(records) -> tuple[bool, dict[str, float]]:
    """28a: on every seed the mean seconds per update rise strictly with the batch size (full batch last).
    Returns (holds, {batch: mean over seeds of the mean seconds per update})."""
    rs = runs(records)
    order = _batches(records) + [FULL]
    seeds = _seeds(records)
    if len(order) < 2 or not seeds or any((b, s) not in rs for b in order for s in seeds):
        return False, {}
    ok = all(rs[a, s]["s_per_update"] < rs[b, s]["s_per_update"] for s in seeds for a, b in zip(order, order[1:]))
    return bool(ok), {b: float(np.mean([rs[b, s]["s_per_update"] for s in seeds])) for b in order}


def noise_stats(records, point: str) -> dict[str, tuple[float, float, int]]:
    """``{batch: (mean cosine to the full gradient, its SE, draws)}`` at ``point`` (draws pooled over seeds)."""
    out = {}
    for b in {str(r["batch"]) for r in records if r.get("part") == "noise" and r["point"] == point}:
        cos = [c for r in records if r.get("part") == "noise" and r["point"] == point and str(r["batch"]) == b
               for c in r["cos"]]
        m, se = mean_se(cos)
        out[b] = (m, se, len(cos))
    return out


def check_noisier(records, points=("init", "trained"), k: float = NOISE_SE) -> tuple[bool, dict]:
    """28b: at every point, the mean cosine to the full gradient rises with the batch size beyond the noise:
    mean(B') − mean(B) > k·√(SE_B² + SE_B'²) for each consecutive pair of mini-batch sizes, and 1 − mean(B_max)
    > k·SE (the full batch's cosine is 1). Returns (holds, {point: {batch: mean}})."""
    order = _batches(records)
    means, ok = {}, bool(order)
    for point in points:
        st = noise_stats(records, point)
        if any(b not in st for b in order):
            return False, means
        means[point] = {b: st[b][0] for b in order}
        chain = [st[b] for b in order] + [(1.0, 0.0, 0)]
        for (m1, s1, _), (m2, s2, _) in zip(chain, chain[1:]):
            se = math.hypot(s1, s2)
            ok &= bool(math.isfinite(m1) and math.isfinite(m2) and math.isfinite(se) and m2 - m1 > k * se)
    return bool(ok), means


def check_time(records, batch: str, factor: float = MUCH_FASTER, condition: str = MAIN) -> tuple[bool, list[dict]]:
    """28c–e, 28h: on every seed, seconds(full → level) / seconds(batch → level) ≥ ``factor``, where the level is
    the full-batch run's final training loss (at the common η), and the mini-batch run (of ``condition``) did not
    diverge and ends at or below the level. Returns (holds, per seed {seed, level, t_full, t_batch, ratio,
    ends_above, diverged, unstable, epoch, update})."""
    rs = runs(records, condition)
    seeds = _seeds(records)
    rows, ok = [], bool(seeds)
    for s in seeds:
        level = level_of(records, s)
        run = rs.get((str(batch), s))
        pts = curve(records, batch, s, condition)
        if run is None or not pts or not math.isfinite(level):
            rows.append({"seed": s, "level": level, "ratio": 0.0})
            ok = False
            continue
        slow = time_to_level(curve(records, FULL, s), level)
        fast = time_to_level(pts, level)
        ends_above = not pts[-1]["train_loss"] <= level
        diverged = run["diverged"] is not None
        t_slow = slow["seconds"] if slow else math.nan
        ratio = 0.0 if fast is None else (t_slow / fast["seconds"] if fast["seconds"] > 0 else math.inf)
        cpu_ratio = (slow["cpu_seconds"] / fast["cpu_seconds"] if slow and fast and fast["cpu_seconds"] > 0
                     else math.nan)
        rows.append({"seed": s, "level": level, "t_full": t_slow, "t_batch": fast["seconds"] if fast else None,
                     "epoch": fast["epoch"] if fast else None, "update": fast["update"] if fast else None,
                     "ratio": ratio, "cpu_ratio": cpu_ratio, "ends_above": ends_above, "diverged": diverged, "unstable": unstable(pts)})
        ok &= bool(fast is not None and not diverged and not ends_above and ratio >= factor)
    return bool(ok), rows


def loss_at_update(records, batch, seed: int, update: int) -> float:
    """The training loss of a run at checkpoint ``update`` (NaN if there is none)."""
    for p in curve(records, batch, seed):
        if int(p["update"]) == int(update):
            return float(p["train_loss"])
    return math.nan


def check_per_update(records, updates: int) -> tuple[bool, dict[str, list[float]]]:
    """28f: on every seed the full batch's training loss after ``updates`` updates is strictly below every
    mini-batch run's after as many updates (a NaN — missing or diverged — fails). Returns (holds, {batch: losses
    per seed})."""
    seeds = _seeds(records)
    order = _batches(records)
    table = {b: [loss_at_update(records, b, s, updates) for s in seeds] for b in order + [FULL]}
    ok = bool(seeds and order)
    for b in order:
        ok &= all(f < m for f, m in zip(table[FULL], table[b]))
    return bool(ok), table


def check_epoch_cost(records, batch: str, factor: float = MUCH_FASTER) -> tuple[bool, list[float]]:
    """28g: on every seed, seconds per epoch of ``batch`` ≥ ``factor`` × the full batch's. Returns (holds, the
    ratios per seed)."""
    rs = runs(records)
    seeds = _seeds(records)
    ratios = []
    for s in seeds:
        a, f = rs.get((str(batch), s)), rs.get((FULL, s))
        ratios.append(a["s_per_epoch"] / f["s_per_epoch"] if a and f and f["s_per_epoch"] > 0 else math.nan)
    return bool(ratios and all(r >= factor for r in ratios)), ratios


# -- the experiment ----------------------------------------------------------------------------------------------------
@dataclass
class SgdBatchConfig:
    """``n_train`` training images (a fixed random subset), ``n_held`` held-out test images; the net 784 →
    ``hidden`` → 10 tanh (``lecun_normal``); plain SGD at η = ``lr`` with mini-batches of ``batches`` for
    ``updates`` updates each and the full batch for ``full_updates``; ``seeds`` seeds; the noise of the
    mini-batch gradients from ``noise_draws`` batches per size at the initial and the final full-batch weights;
    the smallest batch also at its own η, the best of ``pilot_lrs`` after ``pilot_updates`` updates on seed 0."""

    n_train: int = 2048
    n_held: int = 512
    hidden: tuple[int, ...] = (500, 500, 500)
    lr: float = LR
    batches: tuple[int, ...] = (1, 32, 256)
    updates: tuple[int, ...] = (1024, 256, 48)
    full_updates: int = 24
    seeds: int = 2
    noise_draws: int = 16
    pilot_lrs: tuple[float, ...] = PILOT_LRS
    pilot_updates: int = 256
    QUICK: ClassVar[dict] = {"n_train": 256, "n_held": 128, "hidden": (32,), "batches": (1, 16, 64),
                             "updates": (128, 64, 24), "full_updates": 12, "noise_draws": 8,
                             "pilot_lrs": (0.1, 0.01), "pilot_updates": 32}


def _label(batch: int, n: int) -> str:
    return FULL if batch == n else str(batch)


def _run_records(ctx, r: dict, condition: str, label: str, batch: int, seed: int, lr: float, n: int) -> list[dict]:
    """The "run" record (cost per update and per epoch) and the "checkpoint" records of one train_run; the
    checkpoints also go to the store."""
    done = len(r["times"])
    spu = float(np.mean(r["times"])) if done else math.nan
    out = [{"part": "run", "condition": condition, "batch": label, "batch_size": batch, "seed": seed,
            "updates": done, "seconds": float(np.sum(r["times"])), "s_per_update": spu,
            "s_per_update_median": float(np.median(r["times"])) if done else math.nan,
            "s_per_epoch": spu * (n // batch), "cpu_s_per_update": r["cpu_seconds"] / done if done else math.nan,
            "diverged": r["diverged"], "lr": float(lr)}]
    tag = label if condition == MAIN else f"{label}@{lr:g}"
    for p in r["checkpoints"]:
        out.append({"part": "checkpoint", "condition": condition, "batch": label, "seed": seed, **p})
        ctx.log_metrics(p["update"], {f"{tag}/seed{seed}/train_loss": p["train_loss"],
                                      f"{tag}/seed{seed}/held_loss": p["held_loss"],
                                      f"{tag}/seed{seed}/seconds": p["seconds"]})
    return out


@experiment("sgd_vs_batch", topic="optimisation", order=28,
            summary="784-500-500-500-10 tanh on 2,048 Fashion-MNIST images with batches 1, 32, 256 and the full "
                    "set: cost and noise per update, loss against epochs and wall-clock seconds (claims 28a–28g)")
def run_sgd_batch(config: SgdBatchConfig, ctx: Context) -> Result:
    if len(config.batches) != len(config.updates):
        raise ValueError(f"sgd_vs_batch: batches {config.batches} and updates {config.updates} differ in length")
    if list(config.batches) != sorted(set(config.batches)) or config.batches[-1] >= config.n_train:
        raise ValueError(f"sgd_vs_batch: batches must increase and stay below n_train = {config.n_train}, got "
                         f"{config.batches}")
    if config.pilot_lrs and not 0 < config.pilot_updates <= config.updates[0]:
        raise ValueError("sgd_vs_batch: pilot_updates must be in [1, the smallest batch's updates]")
    if min(config.updates) < config.full_updates:
        raise ValueError("sgd_vs_batch: every mini-batch budget must be at least full_updates (claim 28f compares "
                         "the losses after full_updates updates)")
    (x, y), (xh, yh) = fashion(config.n_train, config.n_held, rng=ctx.rng_for("data"))
    n = len(x)
    sizes = [784, *config.hidden, 10]
    loss_fn = nn.CrossEntropyLoss()
    plan = [(b, u) for b, u in zip(config.batches, config.updates)] + [(n, config.full_updates)]

    def evaluate(model):
        return {"train_loss": _loss(model, loss_fn, x, y), "held_loss": _loss(model, loss_fn, xh, yh)}

    records: list[dict] = []
    ends: dict[int, nn.Module] = {}
    # not through ctx.map: claims 28a, 28c-28e and 28g rest on wall-clock seconds per update, which parallel runs would
    # inflate with their contention; the runs stay one after the other here
    task = ctx.progress.task("runs", total=config.seeds * (len(plan) + 2) + 1)
    for s in range(config.seeds):
        for batch, updates in plan:
            label = _label(batch, n)
            model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", s))
            r = train_run(model, x, y, batch, updates, config.lr, ctx.rng_for("order", s, batch),
                          checkpoint_schedule(updates, extra=(config.full_updates, config.pilot_updates)), evaluate)
            records += _run_records(ctx, r, MAIN, label, batch, s, config.lr, n)
            if batch == n:
                ends[s] = model
            task.advance(1)
        # the noise of a mini-batch gradient, at the initial weights and where full-batch GD ended
        for point, model in (("init", mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", s))),
                             ("trained", ends[s])):
            with np.errstate(all="ignore"):
                g = grad_vector(model, loss_fn, x, y)
                gn = float(np.linalg.norm(g))
                for batch in config.batches:
                    rng = ctx.rng_for("noise", point, s, batch)
                    cos, rel = [], []
                    for _ in range(config.noise_draws):
                        idx = rng.choice(n, batch, replace=False)
                        gb = grad_vector(model, loss_fn, x[idx], y[idx])
                        cos.append(cosine(gb, g))
                        rel.append(float(np.linalg.norm(gb - g) / gn) if gn > 0 else math.nan)
                    records.append({"part": "noise", "point": point, "batch": str(batch), "batch_size": batch,
                                    "seed": s, "cos": cos, "rel_err": rel, "cos_mean": float(np.mean(cos)),
                                    "rel_err_mean": float(np.mean(rel))})
            task.advance(1)

    # the smallest batch at its own η: a pilot on seed 0, then the chosen η on every seed
    small, small_updates = plan[0]
    if config.pilot_lrs:
        for lr in config.pilot_lrs:
            if lr == config.lr:
                loss = loss_at_update(records, str(small), 0, config.pilot_updates)
                records.append({"part": "pilot", "batch": str(small), "lr": float(lr), "seed": 0,
                                "updates": config.pilot_updates, "train_loss": loss, "from": "the main run"})
                continue
            model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", 0))
            r = train_run(model, x, y, small, config.pilot_updates, lr, ctx.rng_for("order", 0, small),
                          [config.pilot_updates], lambda m: {"train_loss": _loss(m, loss_fn, x, y)})
            loss = r["checkpoints"][-1]["train_loss"] if r["diverged"] is None else math.nan
            records.append({"part": "pilot", "batch": str(small), "lr": float(lr), "seed": 0,
                            "updates": config.pilot_updates, "train_loss": loss, "from": "a pilot run"})
        own = choose_lr(records)
        for s in range(config.seeds):
            if own == config.lr:  # the main runs are the runs at this η: the same records under the other condition
                records += [{**r, "condition": OWN_LR} for r in records if r.get("part") in ("run", "checkpoint")
                            and _cond(r) == MAIN and r["batch"] == str(small) and r["seed"] == s]
                continue
            model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", s))
            r = train_run(model, x, y, small, small_updates, own, ctx.rng_for("order", s, small),
                          checkpoint_schedule(small_updates), evaluate)
            records += _run_records(ctx, r, OWN_LR, str(small), small, s, own, n)
        task.advance(1)

    labels = [_label(b, n) for b, _ in plan]
    ctx.savefig(_curves_figure(records, labels, config.seeds), "loss_vs_epochs_and_seconds",
                caption="Loss on the whole training subset (solid; held-out test images dashed, seed 0) against "
                        "epochs, updates and wall-clock seconds of training (evaluation not counted), log x; one "
                        "line per seed. Grey dotted: the level of claims 28c–e (full-batch GD's final loss, seed 0).")
    ctx.savefig(_noise_cost_figure(records, config, n), "noise_and_cost",
                caption="Left: cosine between a mini-batch gradient and the full gradient (mean ± 2 SE over draws "
                        "and seeds) at the initial weights and where full-batch GD ended. Right: wall seconds per "
                        "update and per epoch, mean over seeds.")

    # -- the verdicts --------------------------------------------------------------------------------------------
    cond = (f"{n} Fashion-MNIST training images (a fixed random subset; inputs in [0, 1]) and {len(xh)} held-out "
            f"test images; 784-{'-'.join(map(str, config.hidden))}-10 tanh, lecun_normal (the notes' Xavier), "
            f"cross-entropy, plain SGD η = {config.lr:g} for every batch size; updates per run: "
            + ", ".join(f"batch {b}: {u}" for b, u in plan[:-1]) + f", full batch ({n}): {config.full_updates}; "
            f"{config.seeds} seeds (same initial weights for every batch size); wall time = perf_counter over "
            "the updates only, evaluation excluded")
    claims = []
    holds, spu = check_cheaper(records)
    claims.append(Claim(
        "28a", "\"faster [...] steps\": an update on a smaller batch costs less wall time", holds,
        "mean seconds per update: " + ", ".join(f"{b}: {1e3 * v:.2f} ms" for b, v in spu.items())
        + " (CPU time: " + ", ".join(
            f"{b}: {1e3 * np.mean([r['cpu_s_per_update'] for (k, _), r in runs(records).items() if k == b]):.2f} ms"
            for b in spu) + ")"
        + " (rule: wall time strictly increasing with the batch size on every seed)", cond, "noise_and_cost"))
    holds, means = check_noisier(records)
    st = {p: noise_stats(records, p) for p in ("init", "trained")}
    claims.append(Claim(
        "28b", "\"less-confident steps\": a smaller batch's gradient points further from the full gradient", holds,
        "; ".join(f"{p}: cos to the full gradient " + ", ".join(
            f"B={b} {v[0]:.3f} ± {v[1]:.3f}" for b, v in sorted(st[p].items(), key=lambda kv: int(kv[0])))
            for p in st)
        + f" (full batch: 1; rule: each step up in batch size raises the mean by > {NOISE_SE:g} SE, at both points)",
        cond + f"; {config.noise_draws} mini-batches per size per seed, at the initial weights and at full-batch "
               "GD's final weights", "noise_and_cost"))
    letters = iter("cdefghijklmnopqrstuvwxyz")
    for batch in config.batches:
        holds, rows = check_time(records, str(batch))
        claims.append(Claim(
            f"28{next(letters)}", f"\"This decreases the computational time\": mini-batches of {batch} reach "
                                  f"full-batch GD's final training loss in ≤ 1/{MUCH_FASTER:g} of its wall time", holds,
            _time_text(rows), cond, "loss_vs_epochs_and_seconds"))
    holds, table = check_per_update(records, config.full_updates)
    flagged = [b for b in table if b != FULL and any(unstable(curve(records, b, s)) for s in range(config.seeds))]
    claims.append(Claim(
        f"28{next(letters)}", "the other side — \"slower but confident steps\": per update, full-batch GD lowers the "
                              "training loss more than any mini-batch", holds,
        f"training loss after {config.full_updates} updates (per seed): "
        + "; ".join(f"{b}: " + ", ".join(f"{v:.3f}" for v in vs) for b, vs in table.items())
        + (f" — batch {', '.join(flagged)} UNSTABLE at this η (ends above its initial loss)" if flagged else "")
        + " (rule: full batch strictly lowest on every seed)", cond, "loss_vs_epochs_and_seconds"))
    one = str(config.batches[0])
    holds, ratios = check_epoch_cost(records, one)
    rs = runs(records)
    claims.append(Claim(
        f"28{next(letters)}", f"the other side of the clock: an epoch of batch-{one} SGD (one update per image) costs "
                              "much more wall time than an epoch (one step) of full-batch GD", holds,
        "seconds per epoch (mean over seeds): " + ", ".join(
            f"{b}: {np.mean([rs[b, s]['s_per_epoch'] for s in range(config.seeds)]):.3g} s" for b in labels)
        + f"; batch {one} / full per seed: " + ", ".join(f"{r:.1f}" for r in ratios)
        + f" (rule: ≥ {MUCH_FASTER:g} on every seed)", cond, "noise_and_cost"))
    if config.pilot_lrs:
        own = choose_lr(records)
        pilots = ", ".join(f"η = {r['lr']:g}: {r['train_loss']:.3f}" for r in records if r.get("part") == "pilot")
        holds, rows = check_time(records, one, condition=OWN_LR)
        claims.append(Claim(
            f"28{next(letters)}", f"\"This decreases the computational time\" with the step size suited to it: "
                                  f"batch-{one} SGD at its own η reaches full-batch GD's final training loss in "
                                  f"≤ 1/{MUCH_FASTER:g} of GD's wall time", holds,
            f"own η = {own:g} (pilot on seed 0, training loss after {config.pilot_updates} updates: {pilots}); "
            + _time_text(rows),
            cond + f"; batch {one} at η = {own:g} (the lowest pilot loss among {', '.join(map(str, config.pilot_lrs))})"
            f"; full-batch GD stays at η = {config.lr:g} (not re-tuned: a larger η might speed it up, so this row "
            "leans towards the small batch)", "loss_vs_epochs_and_seconds"))
    notes = ("Wall-clock seconds are per-update perf_counter sums recorded in the 'run' and 'checkpoint' records "
             "(the verdicts read them from there). They depend on the machine and its load; the claims' margins are "
             f"the lab's MUCH_FASTER = {MUCH_FASTER:g}. 'noise' records hold every cosine and relative gradient error "
             "(|g_B − g| / |g|). The smallest batch's own-η row (and its pilot) was added after the first full run "
             "showed batch 1 unstable at the common η = 0.1; the common-η rows are as planned.")
    return Result(claims=claims, records=records, notes=notes)


def _time_text(rows) -> str:
    return "; ".join(
        f"seed {r['seed']}: level {r['level']:.3f}, full {r.get('t_full', math.nan):.2f} s vs "
        + (f"{r['t_batch']:.2f} s ({r['epoch']:.3g} epochs, {r['update']} updates)" if r.get("t_batch") is not None
           else "never") + f", ratio {r['ratio']:.1f}"
        + (f" (CPU-time ratio {r['cpu_ratio']:.1f})" if math.isfinite(r.get("cpu_ratio", math.nan)) else "")
        + (" (DIVERGED)" if r.get("diverged") else "") + (" (ends above the level)" if r.get("ends_above") else "")
        + (" (UNSTABLE: ends above its initial loss)" if r.get("unstable") else "")
        for r in rows) + f" (rule: ratio ≥ {MUCH_FASTER:g} on every seed, not diverged, ending at or below the level)"


# -- figures -----------------------------------------------------------------------------------------------------------
def _curves_figure(records, labels, seeds):
    fig, axes = figures.new_figure(1, 3, panel=(3.0, 2.4), sharey=True)
    keys = (("epoch", "epochs"), ("update", "updates"), ("seconds", "wall-clock seconds (training only)"))
    level = level_of(records, 0)
    own = runs(records, OWN_LR)
    lines = [(label, MAIN, f"batch {label}") for label in labels]
    lines += [(b, OWN_LR, f"batch {b}, η = {r['lr']:g}") for (b, s), r in own.items() if s == 0]
    for ax, (key, xlabel) in zip(axes[0], keys):
        for i, (label, cond, name) in enumerate(lines):
            color = figures.COLORS[i % len(figures.COLORS)]
            for s in range(seeds):
                pts = [p for p in curve(records, label, s, cond) if p[key] > 0]
                ax.plot([p[key] for p in pts], [p["train_loss"] for p in pts], color=color, linewidth=1.3,
                        alpha=1.0 if s == 0 else 0.45, label=(name if s == 0 else None))
                if s == 0:
                    ax.plot([p[key] for p in pts], [p["held_loss"] for p in pts], color=color, linewidth=0.9,
                            linestyle="--")
        if math.isfinite(level):
            ax.axhline(level, color="#777777", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
    axes[0, 0].set_ylabel("cross-entropy (log)")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig


def _noise_cost_figure(records, config, n):
    fig, axes = figures.new_figure(1, 2, panel=(3.0, 2.4))
    ax = axes[0, 0]
    for i, point in enumerate(("init", "trained")):
        st = noise_stats(records, point)
        bs = [b for b in config.batches if str(b) in st]
        m = [st[str(b)][0] for b in bs] + [1.0]
        se = [st[str(b)][1] for b in bs] + [0.0]
        ax.errorbar(bs + [n], m, yerr=[2 * v for v in se], marker="o", capsize=2, color=figures.COLORS[i],
                    label=point)
    ax.set_xscale("log")
    ax.set_xlabel("batch size (last: the full set)")
    ax.set_ylabel("cos(mini-batch gradient, full gradient)")
    ax.legend(frameon=False, fontsize=7)
    ax = axes[0, 1]
    rs = runs(records)
    bs = list(config.batches) + [n]
    for i, (key, name) in enumerate((("s_per_update", "per update"), ("s_per_epoch", "per epoch"))):
        vals = [np.mean([rs[_label(b, n), s][key] for s in range(config.seeds)]) for b in bs]
        ax.plot(bs, vals, "o-", color=figures.COLORS[i + 2], label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("wall seconds")
    ax.legend(frameon=False, fontsize=7)
    return fig
