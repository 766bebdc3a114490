"""Start-up and quickstart times of the ``toolkit`` command.

Reports the wall time of ``toolkit --help`` and ``toolkit list`` (target: under 0.5 s
here), next to a bare ``python -c pass`` for scale, and of the quickstart's first run
(training) and second run (model from the cache), each a median over repeats, all in one
process so the numbers compare as ratios.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TOOLKIT_CACHE": str(Path(tmp) / "cache")}
        for label, cmd in [
            ("python -c pass", [py, "-c", "pass"]),
            ("toolkit --help", [py, "-m", "toolkit", "--help"]),
            ("toolkit list", [py, "-m", "toolkit", "list"]),
            ("toolkit validate quickstart", [py, "-m", "toolkit", "validate", "recipes/quickstart.toml"]),
        ]:
            timed(cmd, env)  # warm the file system cache
            rows.append((label, statistics.median(timed(cmd, env) for _ in range(args.repeats))))
        run = [
            py,
            "-m",
            "toolkit",
            "run",
            "recipes/quickstart.toml",
            "--quiet",
            "--out",
            str(Path(tmp) / "runs"),
        ]
        first, second = [], []
        for i in range(max(1, args.repeats // 2)):
            env_i = {**env, "TOOLKIT_CACHE": str(Path(tmp) / f"cache{i}")}
            first.append(timed(run, env_i))
            second.append(timed(run, env_i))
        rows.append(("quickstart, first run (trains)", statistics.median(first)))
        rows.append(("quickstart, second run (cached model)", statistics.median(second)))
    base = rows[0][1]
    print(f"{'command':40s} {'seconds':>8s} {'x python':>9s}")
    for label, seconds in rows:
        print(f"{label:40s} {seconds:8.3f} {seconds / base:9.1f}")
    print(f"\ncached second run is {rows[-2][1] / rows[-1][1]:.1f}x faster than the first")


if __name__ == "__main__":
    main()
