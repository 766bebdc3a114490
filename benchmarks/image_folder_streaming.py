"""``image_folder`` held in memory vs streamed from disk (``storage = "disk"``).

Writes a folder of JPEG images (two classes), then, each mode in its own fresh process so
the resident memory is its own:

- ``memory``: :func:`toolkit.data.image_folder.load` decodes every image and holds them;
- ``disk (first)``: decodes once into the artifact cache (a temporary one here) and maps it;
- ``disk``: a later run, which maps the cached file (checking its checksum) and decodes
  nothing.

For each: seconds to load, then seconds for one pass over the training split in a random
order in batches of 64 converted to model input (what a training epoch reads), and the
process's private resident memory (``RssAnon``) after loading and after the pass. Pages of
the mapped file that were read recently are in the page cache, which the kernel drops
under memory pressure; they are not counted.

    python benchmarks/image_folder_streaming.py [--images 3000] [--size 224]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    """The process's private resident memory (``RssAnon``: not mapped file pages, which the
    kernel can drop), in MB."""
    with open("/proc/self/status") as fh:
        line = next(line for line in fh if line.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024


def write_folder(root: Path, images: int, side: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(images // 2):
            pixels = rng.integers(0, 200, (side + 32, side + 64, 3), dtype=np.uint8)
            pixels[..., k] = 230
            Image.fromarray(pixels).save(root / name / f"{name}.{i}.jpg", quality=90)


def one(root: str, size: int, storage: str) -> dict[str, float]:
    import torch

    from toolkit.data import image_folder
    from toolkit.data.inputs import take, to_model_input
    from toolkit.execution import streamed  # noqa: F401 - imported before the clock starts

    torch.set_num_threads(1)
    base = rss_mb()
    started = time.perf_counter()
    data = image_folder.load(0, root=root, size=size, crop="center", storage=storage)  # type: ignore[arg-type]
    loaded = time.perf_counter() - started
    after_load = rss_mb() - base
    started = time.perf_counter()
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    total = 0.0
    for start in range(0, len(order), 64):
        total += float(to_model_input(take(data.train.x, order[start : start + 64])).mean())  # type: ignore[union-attr]
    passed = time.perf_counter() - started
    return {"load_s": loaded, "pass_s": passed, "rss_load_mb": after_load, "rss_pass_mb": rss_mb() - base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], int(args.child[1]), args.child[2])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pets"
        write_folder(root, args.images, args.size)
        env = {**os.environ, "TOOLKIT_CACHE": str(Path(tmp) / "cache")}
        decoded = args.images * 3 * args.size**2 / 2**20
        print(f"{args.images} JPEG images, {decoded:.0f} MB decoded at {args.size}px")
        print(f"{'mode':<14}{'load s':>9}{'pass s':>9}{'anon MB load':>13}{'anon MB pass':>13}")
        for label, storage in (("memory", "memory"), ("disk (first)", "disk"), ("disk", "disk")):
            command = [sys.executable, __file__, "--child", str(root), str(args.size), storage]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            out = json.loads(done.stdout)
            print(
                f"{label:<14}{out['load_s']:>9.2f}{out['pass_s']:>9.2f}"
                f"{out['rss_load_mb']:>13.0f}{out['rss_pass_mb']:>13.0f}"
            )


if __name__ == "__main__":
    main()
