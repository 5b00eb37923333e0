"""Seed 002: dropout as a regulariser (claim 16 of issue [lab]).

Dropping each hidden unit with probability p during training (inverted dropout: survivors
scaled by 1/(1 − p); the notes' keep probability is 1 − p) trains an implicit ensemble of
thinned networks; on a small training set it should narrow the gap between training and
test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import data, nn, optim
from . import figures
from .common import fashion
from .registry import Claim, Context, Result, experiment

__all__ = ["DropoutConfig", "dropout_mlp"]


@dataclass
class DropoutConfig:
    n_train: int = 1000
    n_test: int = 10000
    width: int = 500
    epochs: int = 60
    batch_size: int = 50
    lr: float = 1e-3
    seeds: int = 2
    ps: tuple = (0.0, 0.5)
    QUICK: ClassVar[dict] = {"n_train": 500, "n_test": 2000, "width": 256, "epochs": 20, "seeds": 1}


def dropout_mlp(width: int, p: float, rng: np.random.Generator) -> nn.Sequential:
    layers = [nn.Linear(784, width, init="he_normal", rng=rng), nn.ReLU()]
    if p:
        layers.append(nn.Dropout(p, rng=rng))
    layers += [nn.Linear(width, width, init="he_normal", rng=rng), nn.ReLU()]
    if p:
        layers.append(nn.Dropout(p, rng=rng))
    layers.append(nn.Linear(width, 10, rng=rng))
    return nn.Sequential(*layers)


@experiment("dropout", topic="regularisation",
            summary="on 1,000 training images, dropout narrows the gap between training and test accuracy (claim 16)")
def run(config: DropoutConfig, ctx: Context) -> Result:
    (x, y), (xt, yt) = fashion(config.n_train, config.n_test, rng=ctx.rng_for("subset"))
    res, records, curves = {}, [], {}
    for p in config.ps:
        gaps, tests, trains = [], [], []
        for s in range(config.seeds):
            model = dropout_mlp(config.width, p, ctx.rng_for("w", p, s))
            trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=config.lr),
                                  label=f"p={p} seed {s}", seed=ctx.seed + s)
            hist = trainer.fit(data.DataLoader(data.TensorDataset(x, y), batch_size=config.batch_size, shuffle=True,
                                               seed=ctx.seed + s), epochs=config.epochs, val=(xt, yt))
            train_acc = trainer.evaluate((x, y))["accuracy"]  # in eval mode: dropout off, as for the test set
            test_acc = trainer.evaluate((xt, yt))["accuracy"]
            trains.append(train_acc)
            tests.append(test_acc)
            gaps.append(train_acc - test_acc)
            if s == 0:
                curves[f"p = {p}: train"] = hist.metric("accuracy")
                curves[f"p = {p}: test"] = hist.metric("val_accuracy")
        res[p] = {"train": float(np.mean(trains)), "test": float(np.mean(tests)), "gap": float(np.mean(gaps))}
        records.append({"p (drop)": p, "train accuracy": res[p]["train"], "test accuracy": res[p]["test"],
                        "gap": res[p]["gap"], "gap per seed": ", ".join(f"{g:.3f}" for g in gaps)})
    ctx.savefig(figures.loss_curves(curves, xlabel="epoch", ylabel="accuracy", title="train and test accuracy"),
                "accuracy")
    p0, p1 = config.ps[0], config.ps[-1]
    cond = (f"{config.n_train} Fashion-MNIST training images, {config.n_test} test images, 784-{config.width}-"
            f"{config.width}-10 ReLU, dropout after each hidden layer, Adam η = {config.lr}, batch {config.batch_size}, "
            f"{config.epochs} epochs, {config.seeds} seed(s); accuracies in eval mode")
    claims = [
        Claim("16a", f"Dropout (p = {p1}) narrows the gap between training and test accuracy",
              holds=bool(res[p1]["gap"] < res[p0]["gap"]),
              measured=f"gap: p = {p0} {res[p0]['gap']:.3f} (train {res[p0]['train']:.3f} / test {res[p0]['test']:.3f});"
                       f" p = {p1} {res[p1]['gap']:.3f} (train {res[p1]['train']:.3f} / test {res[p1]['test']:.3f})",
              conditions=cond, figure="accuracy"),
        Claim("16b", f"… and raises test accuracy (p = {p1} vs {p0})",
              holds=bool(res[p1]["test"] > res[p0]["test"]),
              measured=f"test accuracy {res[p0]['test']:.3f} → {res[p1]['test']:.3f}",
              conditions=cond, figure="accuracy"),
    ]
    return Result(claims=claims, records=records)
