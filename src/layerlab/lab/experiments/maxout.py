"""Seeds 000/001/002: maxout (claim 22 of issue [pretrain]).

The notes: a maxout neuron is max(w₁x + b₁, …, w_kx + b_k); "Generalizes ReLU and Leaky ReLU"
(max(0x + 0, w₂ᵀx + b₂) is ReLU; their example max(0.5x, −0.5x)); "For k affine transformation in a
neuron, k times increase in number of parameters"; and maxout "in a certain sense … is [a] type of
ensemble method" (like dropout: "MaxOut retains the one that strongly responds (and Dropout the rest)").

Here:

* **Construction (22a).** With k = 2 pieces, max(0ᵀx + 0, wᵀx + b) = ReLU(wᵀx + b) and
  max(wᵀx + b, α(wᵀx + b)) = LeakyReLU_α(wᵀx + b) for 0 ≤ α ≤ 1 (and the notes' max(0.5x, −0.5x) = |x|/2).
  The weights of an ``nn.Maxout`` are *set* to these and its output compared, in float32, with
  ``nn.Linear`` → ``nn.ReLU`` / ``nn.LeakyReLU`` on random inputs. The two paths round differently (a
  GEMM of 2 rows vs 1, and α·w is rounded before the product), so the threshold is the float32 rounding
  bound of the dot products (Higham, *Accuracy and Stability*, §3.1): each path is within
  γ_{d+1}·(|w|ᵀ|x| + |b|) of the exact value, γ_n = nu/(1 − nu), u = 2⁻²⁴, and rounding α·w adds at most
  u·(|w|ᵀ|x| + |b|); so per input |maxout − reference| ≤ (2γ_{d+1} + 2u)·(|w|ᵀ|x| + |b|)
  (:func:`rounding_bound`). Verdict: the largest ratio error / bound over all inputs ≤ 1.
* **Fitted (22b).** The same with the weights *learned*: a k = 2 maxout unit of one input, random
  weights and biases, fitted to ReLU and to LeakyReLU on a grid of inputs by full-batch gradient
  descent on the squared error. Verdict: on every seed, the largest error on the grid is at most
  ``FIT_ULPS`` float32 machine epsilons of the largest target value — as exact as float32 holds a
  fitted function (a few roundings: the parameters themselves are only held to ε/2, the forward rounds
  twice, the reference once). A fit stuck elsewhere (both pieces on one side: a linear unit) misses by
  orders of magnitude more.
* **Parameters (22c).** ``Maxout(in, out, k).num_parameters() == k · Linear(in, out).num_parameters()``
  (arithmetic).
* **Maxout vs ReLU vs ReLU + dropout at equal parameter budget (22d, 22e).** MNIST-1D (4,000 training
  signals of 40 samples, 1,000 test: ``data.mnist1d()``), two hidden layers: ReLU of width H (He normal);
  the same with dropout p after each hidden layer; maxout with k pieces and the width H_m chosen so its
  parameter count is the closest to the ReLU network's (:func:`matched_width`; both counts are in the
  records). Maxout's pieces get LeCun normal (Var = 1/fan_in: the max of two independent N(0, σ²) has
  second moment σ², so that keeps the second moment of the layers). Adam, the same data order and seed
  per arm. Test accuracy after the last epoch (eval mode) over seeds; verdicts with
  :func:`layerlab.lab.stats.paired_lead` (beyond ``NOISE_SE`` standard errors of the per-seed differences):
  maxout beats ReLU (22d) and maxout beats ReLU + dropout (22e), stated as they come out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll
from layerlab import data, nn, optim
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, accuracy, format_lead, format_mean_se, paired_lead
from layerlab.lab.training import Periodic, mlp
from layerlab.train import NonFiniteError

__all__ = ["MaxoutConfig", "U32", "EPS32", "FIT_ULPS", "gamma", "rounding_bound", "relu_maxout", "leaky_maxout",
           "abs_maxout", "construction_ratio", "fit_tolerance", "parameter_counts", "matched_width", "relu_net",
           "maxout_net", "targets_key", "construction_verdict", "fit_verdict", "counts_verdict", "lead_verdict", "verdicts"]

#: float32 unit roundoff u = 2⁻²⁴ (half the spacing of floats at 1)
U32 = 2.0 ** -24
#: float32 machine epsilon ε = 2⁻²³ (the spacing of floats at 1)
EPS32 = 2.0 ** -23
#: a fitted unit is exact to float32 when its largest error ≤ FIT_ULPS·ε·max|target|
FIT_ULPS = 8


@dataclass
class MaxoutConfig:
    """Construction on ``n_inputs`` random inputs of width ``d``; fits on a grid of ``n_fit`` points in
    [−x_max, x_max]; the comparison on MNIST-1D with ``width`` ReLU units per hidden layer."""

    d: int = 64                     # input width of the constructed units
    n_inputs: int = 10000           # random inputs the constructed units are checked on
    alpha: float = 0.01             # LeakyReLU's slope (nn.LeakyReLU's default, PyTorch's negative_slope)
    n_fit: int = 401                # grid points of the fits
    x_max: float = 2.0
    fit_steps: int = 3000           # full-batch gradient-descent steps per fit
    fit_lr: float = 0.1
    fit_seeds: int = 5
    pieces: int = 2                 # k of the maxout networks in the comparison
    width: int = 128                # H, the ReLU networks' hidden width
    p: float = 0.5                  # the dropout arm's drop probability
    epochs: int = 60
    batch_size: int = 100
    lr: float = 2e-3
    seeds: int = 5
    QUICK: ClassVar[dict] = {"n_inputs": 2000, "fit_steps": 1500, "fit_seeds": 2, "width": 64, "epochs": 8,
                             "seeds": 2}

    def validate(self) -> None:
        """Checked by the runner before the run starts (a rejected config never becomes a run)."""
        _check(self)


# -- the arithmetic ------------------------------------------------------------------------------------------------
def gamma(n: int, u: float = U32) -> float:
    """Higham's γ_n = nu / (1 − nu): the relative error bound of a sum of n rounded terms."""
    return n * u / (1.0 - n * u)


def rounding_bound(w, b: float, x) -> np.ndarray:
    """Per input row of ``x``: (2γ_{d+1} + 2u)·(|w|ᵀ|x| + |b|), the float32 bound on |maxout − reference|
    of the constructions (two dot products of d terms plus a bias, each within γ_{d+1}; u for rounding α·w)."""
    w = np.abs(np.asarray(w, dtype=np.float64)).ravel()
    x = np.abs(np.asarray(x, dtype=np.float64))
    return (2 * gamma(w.size + 1) + 2 * U32) * (x @ w + abs(float(b)))


def _set(unit: nn.Maxout, rows, biases) -> nn.Maxout:
    dt = unit.weight.data.dtype
    unit.weight.data[...] = np.asarray(rows, dtype=dt)
    unit.bias.data[...] = np.asarray(biases, dtype=dt)
    return unit


def relu_maxout(w, b: float, dtype=np.float32) -> nn.Maxout:
    """A k = 2 maxout unit set to max(0ᵀx + 0, wᵀx + b) = ReLU(wᵀx + b) (the notes' construction)."""
    w = np.asarray(w).ravel()
    return _set(nn.Maxout(w.size, 1, pieces=2, dtype=dtype), [np.zeros_like(w), w], [0.0, b])


def leaky_maxout(w, b: float, alpha: float, dtype=np.float32) -> nn.Maxout:
    """A k = 2 maxout unit set to max(wᵀx + b, α(wᵀx + b)) = LeakyReLU_α(wᵀx + b), 0 ≤ α ≤ 1 (α·w rounded
    to the dtype: the reason for the 2u in :func:`rounding_bound`)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"leaky_maxout: max(z, αz) is LeakyReLU only for 0 ≤ α ≤ 1, got α = {alpha}")
    w = np.asarray(w).ravel()
    return _set(nn.Maxout(w.size, 1, pieces=2, dtype=dtype), [w, alpha * w], [b, alpha * b])


def abs_maxout(dtype=np.float32) -> nn.Maxout:
    """The notes' example max(0.5x, −0.5x) = |x|/2 for one input."""
    return _set(nn.Maxout(1, 1, pieces=2, dtype=dtype), [[0.5], [-0.5]], [0.0, 0.0])


def _forward(module, x: np.ndarray) -> np.ndarray:
    with ll.no_grad():
        return module(ll.Tensor(x)).data


def construction_ratio(out, reference, bound) -> float:
    """max over inputs of |out − reference| / bound (0 where both the error and the bound are 0, inf where
    only the bound is)."""
    err = np.abs(np.asarray(out, dtype=np.float64).ravel() - np.asarray(reference, dtype=np.float64).ravel())
    bound = np.asarray(bound, dtype=np.float64).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(err == 0, 0.0, err / bound)
    return float(r.max()) if r.size else 0.0


def fit_tolerance(targets) -> float:
    """FIT_ULPS·ε·max|target|: the largest error of a fit that float32 calls exact."""
    return FIT_ULPS * EPS32 * float(np.max(np.abs(np.asarray(targets, dtype=np.float64))))


def parameter_counts(in_features: int, out_features: int, pieces: int) -> dict:
    """The parameters of ``nn.Maxout(in, out, pieces)`` and of ``nn.Linear(in, out)``, counted by the modules."""
    mo = nn.Maxout(in_features, out_features, pieces=pieces, rng=0).num_parameters()
    li = nn.Linear(in_features, out_features, rng=0).num_parameters()
    return {"in": in_features, "out": out_features, "k": pieces, "Maxout parameters": mo, "Linear parameters": li,
            "ratio": mo / li}


def _mlp_params(sizes, pieces: int = 1) -> int:
    hidden = sum(pieces * (a * b + b) for a, b in zip(sizes[:-2], sizes[1:-1]))
    return hidden + sizes[-2] * sizes[-1] + sizes[-1]


def matched_width(n_in: int, n_out: int, width: int, pieces: int, depth: int = 2) -> int:
    """The hidden width H_m of a maxout network n_in-H_m…-n_out with ``pieces`` per unit whose parameter count
    is the closest to the ReLU network n_in-``width``…-n_out (``depth`` hidden layers)."""
    target = _mlp_params([n_in] + [width] * depth + [n_out])
    best = min(range(1, width + 1), key=lambda h: abs(_mlp_params([n_in] + [h] * depth + [n_out], pieces) - target))
    return best


def relu_net(n_in: int, width: int, n_out: int, rng, p: float = 0.0, depth: int = 2) -> nn.Sequential:
    """``depth`` × (Linear He-normal → ReLU [→ Dropout(p)]) → Linear (Xavier normal); the same weights from the
    same ``rng`` with and without dropout (the masks are seeded after the weights)."""
    return mlp([n_in] + [width] * depth + [n_out], "relu", "he_normal", rng, out_init="xavier_normal", dropout=p)


def maxout_net(n_in: int, width: int, n_out: int, pieces: int, rng, depth: int = 2) -> nn.Sequential:
    """``depth`` × Maxout(·, width, pieces, LeCun normal) → Linear (Xavier normal)."""
    layers: list[nn.Module] = []
    fan = n_in
    for _ in range(depth):
        layers.append(nn.Maxout(fan, width, pieces=pieces, init="lecun_normal", rng=rng))
        fan = width
    layers.append(nn.Linear(fan, n_out, init="xavier_normal", rng=rng))
    return nn.Sequential(*layers)


# -- the verdicts (plain functions of the records) ------------------------------------------------------------------
def construction_verdict(rows) -> bool:
    """22a: every constructed unit's largest error/bound ratio ≤ 1."""
    return bool(rows) and all(float(r["max error / bound"]) <= 1.0 for r in rows)


def fit_verdict(rows) -> bool:
    """22b: on every seed and target, the fitted unit's largest error on the grid ≤ its tolerance (a diverged
    fit, a NaN error, fails)."""
    return bool(rows) and all(float(r["max |error|"]) <= float(r["tolerance"]) for r in rows)


def counts_verdict(rows) -> bool:
    """22c: Maxout parameters = k × Linear parameters, for every size."""
    return bool(rows) and all(int(r["Maxout parameters"]) == int(r["k"]) * int(r["Linear parameters"]) for r in rows)


def _column(rows, arm: str, key: str = "test accuracy") -> list[float]:
    return [float(r[key]) for r in sorted((r for r in rows if r["network"] == arm), key=lambda r: r["seed"])]


def lead_verdict(rows, ahead: str, behind: str) -> dict:
    """``paired_lead`` of the test accuracies of ``ahead`` over ``behind`` (accuracies negated: higher is ahead)."""
    return paired_lead([-v for v in _column(rows, ahead)], [-v for v in _column(rows, behind)])


def verdicts(records: dict) -> dict[str, bool]:
    """Every claim's verdict from the records (the tables named as in the experiment's Result)."""
    runs = records["comparison (22d, 22e)"]
    return {"22a": construction_verdict(records["construction (22a)"]),
            "22b": fit_verdict(records["fitted (22b)"]),
            "22c": counts_verdict(records["parameters (22c)"]),
            "22d": lead_verdict(runs, "maxout", "ReLU")["beyond"],
            "22e": lead_verdict(runs, "maxout", "ReLU + dropout")["beyond"]}


# -- the experiment -------------------------------------------------------------------------------------------------
class _FitError(Periodic):
    """The largest |unit(x) − target| on the grid, every ``every`` steps."""

    def __init__(self, x, t, every):
        super().__init__(every)
        self.x, self.t = x, t
        self.errors: list[float] = []

    def measure(self, trainer):
        out = _forward(trainer.model, self.x)
        self.errors.append(float(np.max(np.abs(out.astype(np.float64) - self.t))))


def _check(config: MaxoutConfig) -> None:
    if config.pieces < 2:
        raise ConfigError(f"experiment 'maxout': pieces must be ≥ 2 (k = 1 is a linear unit), got {config.pieces}")
    if not 0.0 <= config.alpha <= 1.0:
        raise ConfigError(f"experiment 'maxout': alpha must be in [0, 1] (max(z, αz) is leaky ReLU only there), "
                          f"got {config.alpha}")


@experiment("maxout", order=22, topic="regularisation",
            summary="maxout generalises ReLU and leaky ReLU (set and fitted, to float32 rounding), costs k× the "
                    "parameters; maxout vs ReLU vs ReLU + dropout at equal parameter budget on MNIST-1D (claim 22)")
def run(config: MaxoutConfig, ctx: Context) -> Result:
    """Seeds 000-002: maxout units built and fitted to ReLU / LeakyReLU, their parameter count, and maxout
    networks against ReLU networks with and without dropout at the same number of parameters."""
    f32 = np.float32

    # -- 22a: construction
    rng = ctx.rng_for("construction")
    w = rng.standard_normal(config.d).astype(f32) / f32(math.sqrt(config.d))
    b = float(f32(rng.standard_normal() * 0.1))
    x = rng.standard_normal((config.n_inputs, config.d)).astype(f32)
    lin = nn.Linear(config.d, 1, dtype=f32)
    lin.weight.data[...] = w[None, :]
    lin.bias.data[...] = b
    z = _forward(lin, x)
    bound = rounding_bound(w, b, x)
    cases = [("ReLU", "max(0ᵀx + 0, wᵀx + b)", relu_maxout(w, b), _forward(nn.ReLU(), z), x, bound),
             (f"LeakyReLU(α = {config.alpha:g})", f"max(wᵀx + b, {config.alpha:g}(wᵀx + b))",
              leaky_maxout(w, b, config.alpha), _forward(nn.LeakyReLU(config.alpha), z), x, bound)]
    x1 = rng.standard_normal((config.n_inputs, 1)).astype(f32)
    cases.append(("|x|/2 (the notes' max(0.5x, −0.5x))", "max(0.5x, −0.5x)", abs_maxout(),
                  f32(0.5) * np.abs(x1), x1, rounding_bound([0.5], 0.0, x1)))
    construction = []
    for name, formula, unit, ref, xs, bd in cases:
        out = _forward(unit, xs)
        err = np.abs(out.astype(np.float64).ravel() - ref.astype(np.float64).ravel())
        construction.append({"target": name, "maxout (k = 2)": formula, "inputs": len(xs), "d": xs.shape[1],
                             "max |error|": float(err.max()), "exactly equal": float(np.mean(err == 0)),
                             "max error / bound": construction_ratio(out, ref, bd),
                             "bound at the worst input": float(bd[int(np.argmax(err))])})

    # -- 22b: fitted by gradient descent
    grid = np.linspace(-config.x_max, config.x_max, config.n_fit, dtype=f32)[:, None]
    targets = {"ReLU": _forward(nn.ReLU(), grid),
               f"LeakyReLU(α = {config.alpha:g})": _forward(nn.LeakyReLU(config.alpha), grid)}
    every = max(1, config.fit_steps // 100)

    def fit_unit(name: str, s: int):
        """22b, one (target, seed) fit: its row, its error curve and the fitted unit."""
        t = targets[name]
        tol = fit_tolerance(t)
        unit = nn.Maxout(1, 1, pieces=2, init="xavier_uniform", bias_init=("uniform", {"a": 1.0}),
                         rng=ctx.rng_for("fit", name, s), dtype=f32)
        w0 = unit.weight.data.ravel().tolist() + unit.bias.data.tolist()
        probe = _FitError(grid, t.astype(np.float64), every)
        trainer = ctx.trainer(unit, nn.MSELoss(), optim.SGD(unit.parameters(), lr=config.fit_lr),
                              label=f"fit {name} seed {s}", callbacks=[probe], metrics=(), log_every=every)
        loader = data.DataLoader(data.TensorDataset(grid, t), batch_size=len(grid), shuffle=False)
        diverged = None
        try:
            trainer.fit(loader, epochs=config.fit_steps)
        except NonFiniteError:
            diverged = trainer.step
        err = float(np.max(np.abs(_forward(unit, grid).astype(np.float64) - t)))
        wf, bf = unit.weight.data.ravel(), unit.bias.data
        row = {"target": name, "seed": s, "steps": config.fit_steps, "max |error|": err,
               "tolerance": tol, "diverged at": diverged,
               "initial (w₁, w₂, b₁, b₂)": ", ".join(f"{v:+.3f}" for v in w0),
               "fitted (w₁, w₂, b₁, b₂)": ", ".join(f"{v:+.7g}" for v in [*wf, *bf])}
        return row, (np.asarray(probe.steps), np.maximum(np.asarray(probe.errors), 1e-12)), unit

    # -- 22c: parameters
    sizes = [(1, 1, 2), (40, 128, 2), (784, 500, 2), (500, 500, 3), (100, 10, 5)]
    counts = [parameter_counts(i, o, k) for i, o, k in sizes]

    # -- 22d, 22e: the comparison on MNIST-1D
    (xtr, ytr), (xte, yte) = data.mnist1d()
    n_in, n_out, k = xtr.shape[1], 10, config.pieces
    hm = matched_width(n_in, n_out, config.width, k)
    arms = {"ReLU": lambda r: relu_net(n_in, config.width, n_out, r),
            "ReLU + dropout": lambda r: relu_net(n_in, config.width, n_out, r, p=config.p),
            "maxout": lambda r: maxout_net(n_in, hm, n_out, k, r)}

    def compare(s: int, arm: str) -> dict:
        """22d/22e, one (seed, network) run on MNIST-1D: its row."""
        model = arms[arm](ctx.rng_for("weights", arm, s))
        loader = data.DataLoader(data.TensorDataset(xtr, ytr), batch_size=config.batch_size, shuffle=True,
                                 seed=ctx.seed + s)
        trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=config.lr),
                              label=f"{arm} seed {s}", seed=ctx.seed + s, log_every=10)
        diverged = None
        try:
            trainer.fit(loader, epochs=config.epochs)
        except NonFiniteError:
            diverged = trainer.step
        return {"network": arm, "seed": s, "parameters": model.num_parameters(),
                "train accuracy": accuracy(model, xtr, ytr), "test accuracy": accuracy(model, xte, yte),
                "diverged at": diverged}

    # one map over the fits of 22b and the runs of 22d/22e (MNIST-1D is small: the arms carry it)
    fit_items = [("fit", name, s) for name in targets for s in range(config.fit_seeds)]
    run_items = [("run", s, arm) for s in range(config.seeds) for arm in arms]
    done = ctx.map(lambda it: fit_unit(it[1], it[2]) if it[0] == "fit" else compare(it[1], it[2]),
                   fit_items + run_items, label="fits and runs")
    fitted, fit_curves, fit_units = [], {}, {}
    for (_, name, s), (row, curve, unit) in zip(fit_items, done):
        fitted.append(row)
        fit_curves[f"{name}, seed {s}"] = curve
        fit_units.setdefault(name, unit)
    runs = done[len(fit_items):]
    n_params = {r["network"]: r["parameters"] for r in runs}

    records = {"construction (22a)": construction, "fitted (22b)": fitted, "parameters (22c)": counts,
               "comparison (22d, 22e)": runs}
    holds = verdicts(records)

    # -- texts
    worst = max(construction, key=lambda r: r["max error / bound"])
    cond_a = (f"float32; w ~ N(0, 1/d), d = {config.d}, b ~ N(0, 0.01) (one draw), {config.n_inputs:,} inputs "
              f"x ~ N(0, I); reference: nn.Linear → nn.ReLU / nn.LeakyReLU; bound per input (2γ_(d+1) + 2u)·"
              f"(|w|ᵀ|x| + |b|), u = 2⁻²⁴ (Higham §3.1)")
    fails = [r for r in fitted if not r["max |error|"] <= r["tolerance"]]
    cond_b = (f"float32; one input, k = 2; weights Xavier uniform, biases U(−1, 1) (random per seed); grid of "
              f"{config.n_fit} points in [−{config.x_max:g}, {config.x_max:g}]; mean squared error, full-batch "
              f"gradient descent η = {config.fit_lr:g}, {config.fit_steps} steps; {config.fit_seeds} seeds; tolerance "
              f"{FIT_ULPS}·ε·max|target|, ε = 2⁻²³")
    lead_r = lead_verdict(runs, "maxout", "ReLU")
    lead_d = lead_verdict(runs, "maxout", "ReLU + dropout")
    lead_dr = lead_verdict(runs, "ReLU + dropout", "ReLU")

    def arm_txt(arm):
        return (f"{arm} ({n_params[arm]:,} parameters): test {format_mean_se(_column(runs, arm))}, train "
                f"{format_mean_se(_column(runs, arm, 'train accuracy'))}")

    def noise(r):
        if not math.isfinite(r["se"]):
            return "no noise estimate from one seed"
        return ("beyond the noise" if abs(r["diff"]) > NOISE_SE * r["se"] else "within the noise") + \
            f" ({NOISE_SE:g} SE)"

    seeds_txt = f"{config.seeds} seed{'s' if config.seeds > 1 else ''}"
    cond_c = (f"MNIST-1D (data.mnist1d(): {len(xtr):,} training / {len(xte):,} test signals of {n_in} samples), "
              f"{n_in}-{config.width}-{config.width}-10 ReLU (He normal) with and without dropout p = {config.p:g} "
              f"after each hidden layer; maxout {n_in}-{hm}-{hm}-10 with k = {k} pieces (LeCun normal), H_m = {hm} "
              f"the width whose parameter count is closest to the ReLU network's ({n_params['maxout']:,} vs "
              f"{n_params['ReLU']:,}); cross-entropy, Adam η = {config.lr:g}, batch {config.batch_size}, "
              f"{config.epochs} epochs, {seeds_txt} (per seed the same data order for every network); accuracies "
              f"after the last epoch in eval mode; ± = standard error over seeds")
    arms_txt = "; ".join(arm_txt(a) for a in arms)
    claims = [
        Claim("22a", "A maxout unit with k = 2 pieces generalises ReLU and leaky ReLU: max(0x + 0, w₂ᵀx + b₂) is "
                     "ReLU, max(z, αz) leaky ReLU (verdict: with the weights set so, the output equals nn.ReLU / "
                     "nn.LeakyReLU of the same affine map within the float32 rounding bound on every input: "
                     "max error/bound ≤ 1)",
              holds["22a"],
              "; ".join(f"{r['target']}: max |error| {r['max |error|']:.2e}, {r['exactly equal']:.1%} of inputs "
                        f"bit-identical, max error/bound {r['max error / bound']:.3f}" for r in construction)
              + f" (worst: {worst['target']})", cond_a, figure="units"),
        Claim("22b", "… and gradient descent finds it: a k = 2 maxout unit fitted to ReLU and to leaky ReLU "
                     f"reaches them exactly to float32 (verdict: on every seed the largest error on the grid ≤ "
                     f"{FIT_ULPS}·ε·max|target|)",
              holds["22b"],
              "; ".join(f"{name}: max |error| per seed "
                        + ", ".join(f"{r['max |error|']:.1e}" for r in fitted if r["target"] == name)
                        + f" (tolerance {fit_tolerance(t):.1e})" for name, t in targets.items())
              + (f"; {len(fails)} of {len(fitted)} fits missed" if fails else "; every fit within the tolerance"),
              cond_b, figure="fit"),
        Claim("22c", "For k affine transformations in a neuron, k times the number of parameters (verdict: "
                     "Maxout(in, out, k) has exactly k × the parameters of Linear(in, out))",
              holds["22c"],
              "; ".join(f"({r['in']}→{r['out']}, k = {r['k']}): {r['Maxout parameters']:,} = {r['ratio']:g} × "
                        f"{r['Linear parameters']:,}" for r in counts),
              "parameters counted by Module.num_parameters() (weights and biases)", figure=None),
        Claim("22d", "Maxout, \"a type of ensemble method\", generalises better than a plain ReLU network of the same "
                     f"parameter budget on a small training set (verdict: maxout's test accuracy exceeds ReLU's by "
                     f"more than {NOISE_SE:g} standard errors of the per-seed differences)",
              holds["22d"],
              f"{arms_txt}; maxout − ReLU = {format_lead(lead_r)}, {noise(lead_r)}", cond_c, figure="accuracy"),
        Claim("22e", "… and better than the other ensemble method, dropout, on the same ReLU network (verdict: "
                     f"maxout's test accuracy exceeds ReLU + dropout's by more than {NOISE_SE:g} standard errors)",
              holds["22e"],
              f"maxout − (ReLU + dropout) = {format_lead(lead_d)}, {noise(lead_d)}; for reference (ReLU + dropout) − "
              f"ReLU = {format_lead(lead_dr)}, {noise(lead_dr)}", cond_c, figure="accuracy"),
    ]

    # -- figures
    fig, axes = figures.new_figure(1, 3, panel=(2.6, 2.1), title="k = 2 maxout units: set (solid) and fitted "
                                                                  "(dashed) against their targets (dotted)")
    xs = np.linspace(-config.x_max, config.x_max, 201, dtype=f32)[:, None]
    one = {"ReLU": relu_maxout(np.ones(1, f32), 0.0), targets_key(config.alpha): leaky_maxout(np.ones(1, f32), 0.0,
                                                                                                config.alpha),
           "|x|/2": abs_maxout()}
    refs = {"ReLU": _forward(nn.ReLU(), xs), targets_key(config.alpha): _forward(nn.LeakyReLU(config.alpha), xs),
            "|x|/2": 0.5 * np.abs(xs)}
    for ax, (name, unit) in zip(axes[0], one.items()):
        wts, bs = unit.weight.data.ravel(), unit.bias.data
        for j in range(2):
            ax.plot(xs[:, 0], wts[j] * xs[:, 0] + bs[j], color="0.75", linewidth=1.0,
                    label="pieces" if j == 0 else None)
        ax.plot(xs[:, 0], refs[name][:, 0], ":", color="k", linewidth=2.5, label="target")
        ax.plot(xs[:, 0], _forward(unit, xs)[:, 0], color=figures.COLORS[0], linewidth=1.3, label="maxout, set")
        if name in fit_units:
            ax.plot(xs[:, 0], _forward(fit_units[name], xs)[:, 0], "--", color=figures.COLORS[1], linewidth=1.3,
                    label="maxout, fitted (seed 0)")
        ax.set_ylim(-1.2, 2.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x")
    axes[0, 0].legend(frameon=False, fontsize=7)
    ctx.savefig(fig, "units", caption="Grey: the two affine pieces of each set unit; the maxout output (blue) lies on "
                                      "the target (dotted); dashed: the unit fitted by gradient descent (seed 0).")
    ctx.savefig(figures.loss_curves(fit_curves, logy=True, xlabel="gradient-descent step",
                                    ylabel="max |unit(x) − target| on the grid",
                                    title=f"fits of a k = 2 maxout unit (tolerance {fit_tolerance(targets['ReLU']):.0e})"),
                "fit", caption="The largest error on the grid during each fit (floored at 1e-12 for the log scale).")
    fig, axes = figures.new_figure(1, 1, panel=(4.2, 2.8), margins={"left": 0.8})
    ax = axes[0, 0]
    for i, arm in enumerate(arms):
        te, tr = _column(runs, arm), _column(runs, arm, "train accuracy")
        ax.bar(i, float(np.mean(te)), color=figures.COLORS[i], alpha=0.7)
        ax.plot([i] * len(te), te, "o", color="k", markersize=3)
        ax.plot([i - 0.3, i + 0.3], [np.mean(tr)] * 2, "--", color="0.3", linewidth=1)
        ax.text(i, float(np.mean(te)) + 0.01, f"{np.mean(te):.3f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(arms)), [f"{a}\n{n_params[a]:,} params" for a in arms], fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"MNIST-1D, equal parameter budget, {seeds_txt} (dots: seeds; dashed: train)", fontsize=9)
    ctx.savefig(fig, "accuracy", caption="Test accuracy after the last epoch per network (bar: mean; dots: each seed); "
                                         "the dashed line is the mean training accuracy.")

    summary = [{"network": a, "parameters": n_params[a], "test accuracy": format_mean_se(_column(runs, a)),
                "train accuracy": format_mean_se(_column(runs, a, "train accuracy"))} for a in arms]
    notes = [
        ("22a's bound is what float32 guarantees: Linear → ReLU computes one dot product, the maxout unit a GEMM with "
         "two rows, and BLAS may sum them in different orders; leaky ReLU's second piece holds α·w rounded to float32. "
         "Most inputs are bit-identical (the 'exactly equal' column)."),
        ("22b is the representation found by training rather than by hand; a fit whose two pieces end on the same side "
         "of the data (both slopes active on all inputs) is a linear unit and cannot reach the target — such a seed "
         "would show a large error here."),
        ("22d/22e compare at equal parameter count, not equal width: maxout's k pieces per unit cost k× the "
         f"parameters, so its hidden width is {hm} against ReLU's {config.width}. The notes call maxout an ensemble "
         "method by analogy with dropout; the verdicts say whether that shows up as better test accuracy here."),
    ]
    return Result(claims=claims, records={"summary (22d, 22e)": summary, **records}, notes=notes)


def targets_key(alpha: float) -> str:
    """The name of the leaky-ReLU target in the records and figures."""
    return f"LeakyReLU(α = {alpha:g})"
