"""What each sweep executor costs: overhead per run on tiny runs, and the speed-up of 2 jobs.

Runs the same tiny sweep (``--points`` runs of a one-epoch MLP on synthetic data, no cache so
every point trains) in one process with each executor, and reports its wall time, the
overhead per run against calling :func:`toolkit.execution.runner.run` directly in this
process for the same points, and the speed-up of 2 jobs over 1 for the process pool and
Ray. Every timing is taken in this one process, so they compare as ratios. Worker start-up
(spawn imports torch; Ray starts its raylet and workers) is part of an executor's cost and
is counted.

    python benchmarks/sweep.py [--points 8] [--epochs 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

RECIPE = """\
task = "ood"
name = "bench"
seed = 0
[dataset]
name = "synthetic"
holdout = ["c3"]
n_per_class = 200
[model]
name = "mlp"
hidden = [32]
[train]
epochs = {epochs}
[[detectors]]
name = "msp"
[runtime]
threads = 1
"""


def direct(recipe: Path, plan: object, out: Path) -> float:
    """The points run one after another by calling ``run`` in this process."""
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    started = time.perf_counter()
    for point in plan.points:  # type: ignore[attr-defined]
        run(load_recipe(recipe, point.overrides()), out_dir=out, use_cache=False, console=None)
    return time.perf_counter() - started


def swept(recipe: Path, plan: object, out: Path, executor: object) -> float:
    from toolkit.sweep.run import run_sweep

    started = time.perf_counter()
    result = run_sweep(recipe, plan, name="bench", executor=executor, out_dir=out, use_cache=False)  # type: ignore[arg-type]
    if result.failed:
        raise SystemExit(f"points failed: {result.failed}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    from toolkit.execution.executor import LocalExecutor, SerialExecutor
    from toolkit.sweep.plan import SweepPlan

    plan = SweepPlan.make(seeds=args.points)
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "bench.toml"
        recipe.write_text(RECIPE.format(epochs=args.epochs))
        direct(recipe, SweepPlan.make(seeds=2), Path(tmp) / "warm")  # imports and first-use costs
        base = direct(recipe, plan, Path(tmp) / "direct")
        rows = [("run() in this process", base)]
        executors: list[tuple[str, object]] = [
            ("serial", SerialExecutor()),
            ("local, 1 job", LocalExecutor(jobs=1, threads=1)),
            ("local, 2 jobs", LocalExecutor(jobs=2, threads=1)),
        ]
        if importlib.util.find_spec("ray") is not None:
            from toolkit.execution.ray_executor import RayExecutor

            executors += [
                ("ray, 1 job", RayExecutor(jobs=1, threads=1)),
                ("ray, 2 jobs", RayExecutor(jobs=2, threads=1)),
            ]
        for i, (label, executor) in enumerate(executors):
            rows.append((label, swept(recipe, plan, Path(tmp) / f"s{i}", executor)))
    print(f"{args.points} tiny runs ({args.epochs} epoch each, 1 thread), wall seconds:")
    print(f"{'executor':<24}{'wall':>8}{'per run':>10}{'overhead/run':>14}")
    for label, wall in rows:
        over = (wall - base) / args.points
        print(f"{label:<24}{wall:8.2f}{wall / args.points:10.2f}{over:14.2f}")
    walls = dict(rows)
    for kind in ("local", "ray"):
        if f"{kind}, 2 jobs" in walls:
            gain = walls[f"{kind}, 1 job"] / walls[f"{kind}, 2 jobs"]
            print(f"speed-up of 2 jobs over 1, {kind}: {gain:.2f}x")


if __name__ == "__main__":
    main()
