"""Where the lecture's time goes: run ``layerlab run lecture`` under a sampling profiler (py-spy) and split
the samples into the costs that are the training itself and those that are not.

    .venv/bin/python benchmarks/lecture_profile.py record [--quick] [--topic T] [--home DIR] [--rate 50]
    .venv/bin/python benchmarks/lecture_profile.py analyse DIR_OR_RAW_FILE [--top 25]
    .venv/bin/python benchmarks/lecture_profile.py compare BEFORE_DIR AFTER_DIR

``record`` runs the lecture serially in a child process, one BLAS/OpenMP thread (``OMP_NUM_THREADS=1``,
``OPENBLAS_NUM_THREADS=1``, ``MKL_NUM_THREADS=1``), with ``LAYERLAB_HOME=DIR`` (default a new directory
under /tmp) and the reports in ``DIR/out``; py-spy samples it from outside (``--format raw``, written to
``DIR/pyspy.txt``), which costs the lecture little (py-spy reads the stacks from another process), unlike
cProfile. Needs ``py-spy`` (``.venv/bin/pip install py-spy``). ``analyse`` then prints:

* the wall time of each experiment and topic (from ``out/lecture.json``, what the runner measured);
* the samples per cost (seconds = samples / rate). Each stack is given to the OUTERMOST frame that matches
  one of the non-training costs below (so a figure helper that runs a model counts as figure rendering,
  a probe inside ``Trainer.fit`` as probing); stacks with none of them are the training (inside
  ``Trainer.fit`` / ``fit_iterations``) or the experiment's own computation;
* for each cost, the callers it is entered from and the functions with the most samples (inclusive).

``compare`` lists, experiment by experiment, the claims whose verdict or measured value differs between two
lecture outputs (e.g. before and after a change that must not alter any number) and their wall times.

Not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

#: (cost, rule): a frame ``function (file:line)`` belongs to the first cost whose rule matches it
COSTS: list[tuple[str, re.Pattern]] = [  # py-spy names files relative to sys.path: "(layerlab/train.py:277)"
    ("import", re.compile(r"^_find_and_load \(")),
    ("figures", re.compile(r"[(/](matplotlib|PIL)/|[(/]layerlab/lab/figures\.py|(^|\.)savefig \(")),
    ("report", re.compile(r"[(/]layerlab/lab/report\.py|[(/]rich/")),
    ("store", re.compile(r"[(/]layerlab/store\.py|sqlite3")),
    ("data loading", re.compile(r"[(/]layerlab/data/(datasets|idx|mnist1d|synthetic)\.py"
                                r"|(^|\.)fashion \(.*layerlab/lab/training\.py")),
    ("probes", re.compile(r"[(/]layerlab/probes/")),
    ("periodic measurements", re.compile(r"(^|\.)_take \(.*layerlab/lab/training\.py")),
    ("metric logging", re.compile(r"(^|\.)on_(batch|epoch)_end \(.*layerlab/lab/context\.py")),
]
TRAINING = re.compile(r"[(/]layerlab/(train|ensemble|pretrain)\.py|(^|\.)fit_iterations \(")  # pretrain: the greedy fits
EXPERIMENT = re.compile(r"[(/]layerlab/lab/experiments/(\w+)\.py")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def read_raw(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's ``--format raw`` (collapsed stacks): ``frame;frame;…;frame count`` per line, root first."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out.append((stack.split(";"), int(n)))
    return out


def classify(frames: list[str]) -> tuple[str, int]:
    """The cost a stack (root first) belongs to and the index of the frame that decided it: the outermost
    frame that matches a non-training cost, else ``training`` (the first frame of the fit) when it is inside a
    fit, else ``experiment (other)`` (the experiment's frame) / ``outside experiments`` (the leaf)."""
    for i, f in enumerate(frames):
        for cost, rule in COSTS:
            if rule.search(f):
                return cost, i
    for i, f in enumerate(frames):
        if TRAINING.search(f):
            return "training", i
    for i, f in enumerate(frames):
        if EXPERIMENT.search(f):
            return "experiment (other)", i
    return "outside experiments", len(frames) - 1


def _short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for anchor in ("/site-packages/", "/src/"):
        if anchor in file:
            file = file.split(anchor, 1)[1]
    return f"{m['func']} ({file}:{m['line']})" if m["line"] else f"{m['func']} ({file})"


def analyse(raw: Path, rate: float, top: int = 25, lecture_json: Path | None = None) -> dict:
    stacks = read_raw(raw)
    total = sum(n for _, n in stacks)
    per_cost: Counter = Counter()
    per_exp: dict[str, Counter] = defaultdict(Counter)
    inclusive: dict[str, Counter] = defaultdict(Counter)
    callers: dict[str, Counter] = defaultdict(Counter)
    for frames, n in stacks:
        cost, at = classify(frames)
        per_cost[cost] += n
        exp = next((m[1] for f in frames if (m := EXPERIMENT.search(f))), "(none)")
        per_exp[exp][cost] += n
        callers[cost][_short(frames[at - 1]) if at else "(root)"] += n
        seen = set()
        for f in frames[at:]:  # the frame that decided the cost and what it called
            s = _short(f)
            if s not in seen:
                seen.add(s)
                inclusive[cost][s] += n
    print(f"{raw}: {total} samples at {rate:g}/s = {total / rate:.0f} s sampled\n")
    if lecture_json is not None and lecture_json.is_file():
        entries = json.loads(lecture_json.read_text())
        by_topic: dict[str, float] = defaultdict(float)
        print(f"{'experiment':28s} {'topic':22s} {'wall s':>8s}")
        for e in entries:
            el = e.get("elapsed") or 0.0
            by_topic[e.get("topic") or "?"] += el
            print(f"{e['experiment']:28s} {str(e.get('topic')):22s} {el:8.1f}")
        print(f"\n{'topic':22s} {'wall s':>8s}")
        for t, el in by_topic.items():
            print(f"{t:22s} {el:8.1f}")
        print(f"{'TOTAL (experiments)':22s} {sum(by_topic.values()):8.1f}\n")
    print(f"{'cost':26s} {'seconds':>9s} {'share':>7s}")
    for cost, n in per_cost.most_common():
        print(f"{cost:26s} {n / rate:9.1f} {100 * n / max(total, 1):6.1f}%")
    print(f"\nper experiment module (seconds): {'total':>7s}  top non-training costs")
    for exp, c in sorted(per_exp.items(), key=lambda kv: -sum(kv[1].values())):
        other = [(k, v) for k, v in c.most_common() if k not in ("training", "experiment (other)")][:3]
        print(f"  {exp:26s} {sum(c.values()) / rate:7.1f}  "
              + ", ".join(f"{k} {v / rate:.1f}" for k, v in other))
    for cost, _ in per_cost.most_common():
        print(f"\n-- {cost}: where it is entered from (seconds)")
        for fn, n in callers[cost].most_common(top // 2):
            if n < 0.1 * rate:
                break
            print(f"  {n / rate:8.1f}  {fn}")
        print(f"-- {cost}: functions with the most samples (inclusive seconds, from the entry down)")
        for fn, n in inclusive[cost].most_common(top):
            if n < 0.1 * rate:
                break
            print(f"  {n / rate:8.1f}  {fn}")
    return {"total": total / rate, "costs": {k: v / rate for k, v in per_cost.items()}}


def compare(a: Path, b: Path) -> int:
    """Claims of two lecture outputs (``out/`` directories or run directories holding ``out/``), experiment by
    experiment: the verdicts that differ and the measured values that differ. Returns how many verdicts differ."""
    def claims(root: Path) -> dict:
        root = root / "out" if (root / "out").is_dir() else root
        out = {}
        for f in sorted(root.glob("*/claims.json")):
            d = json.loads(f.read_text())
            out[d["experiment"]] = (d.get("status"), d.get("elapsed"), {c["id"]: c for c in d.get("claims") or []})
        return out

    ca, cb = claims(a), claims(b)
    flips = same_measured = other_measured = 0
    print(f"{'experiment':26s} {'wall A':>8s} {'wall B':>8s}  differences")
    for name in [n for n in ca if n in cb]:
        (sa, ea, xa), (sb, eb, xb) = ca[name], cb[name]
        notes = [] if sa == sb else [f"status {sa} → {sb}"]
        for cid in xa.keys() | xb.keys():
            p, q = xa.get(cid), xb.get(cid)
            if p is None or q is None:
                notes.append(f"{cid} only in {'A' if q is None else 'B'}")
                continue
            if bool(p["holds"]) != bool(q["holds"]):
                flips += 1
                notes.append(f"{cid} VERDICT {p['holds']} → {q['holds']}")
            if p.get("measured") == q.get("measured"):
                same_measured += 1
            else:
                other_measured += 1
                notes.append(f"{cid} measured differs")
        print(f"{name:26s} {ea or 0:8.1f} {eb or 0:8.1f}  {'; '.join(sorted(notes)) or 'identical'}")
    missing = sorted(set(ca) ^ set(cb))
    print(f"\n{flips} verdicts differ; measured text identical for {same_measured} claims, different for "
          f"{other_measured}" + (f"; in one output only: {', '.join(missing)}" if missing else ""))
    return flips


def record(args) -> Path:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="lecture_profile-"))
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LAYERLAB_HOME=str(home), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    cmd = [spy, "record", "-r", str(args.rate), "--format", "raw", "-o", str(home / "pyspy.txt"), "--",
           sys.executable, "-m", "layerlab", "run", "lecture", "--out", str(home / "out")]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--topic", args.topic] if args.topic else []
    print(" ".join(cmd), flush=True)
    t0 = time.time()
    with open(home / "stdout.txt", "w") as out:
        rc = subprocess.call(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    (home / "wall.json").write_text(json.dumps({"wall_s": wall, "rc": rc, "rate": args.rate, "cmd": cmd}))
    print(f"wall {wall:.1f} s (exit {rc}); output in {home}")
    return home


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="run the lecture under py-spy, then analyse")
    r.add_argument("--quick", action="store_true")
    r.add_argument("--topic")
    r.add_argument("--home", help="LAYERLAB_HOME of the run (default: a new directory under /tmp)")
    r.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    r.add_argument("--top", type=int, default=25)
    a = sub.add_parser("analyse", help="analyse a recorded profile")
    a.add_argument("path", help="the run's directory (holding pyspy.txt and out/) or a py-spy raw file")
    a.add_argument("--rate", type=int, default=None, help="py-spy's rate (default: from wall.json, else 50)")
    a.add_argument("--top", type=int, default=25)
    c = sub.add_parser("compare", help="compare the claims of two lecture outputs (before / after)")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args(argv)
    if args.cmd == "compare":
        compare(Path(args.a), Path(args.b))
        return
    if args.cmd == "record":
        home, rate = record(args), args.rate
    else:
        p = Path(args.path)
        home = p if p.is_dir() else p.parent
        rate = args.rate
        if rate is None:
            w = home / "wall.json"
            rate = json.loads(w.read_text())["rate"] if w.is_file() else 50
    raw = home / "pyspy.txt" if (home / "pyspy.txt").is_file() else Path(getattr(args, "path", home))
    if not raw.is_file():
        sys.exit(f"no profile: {raw} is missing (see {home / 'stdout.txt'})")
    analyse(raw, rate, args.top, home / "out" / "lecture.json")


if __name__ == "__main__":
    main()
