"""Image folders streamed from disk: the cache entry they are decoded into, the mapped
tensors, and the operations that must not pull a whole split into memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.attacks.patch_trigger import PatchTrigger
from toolkit.data import image_folder, mapped
from toolkit.data.base import Split
from toolkit.execution.cache import ArtifactCache
from toolkit.execution.runner import run
from toolkit.execution.streamed import open_streamed, save_streamed
from toolkit.recipe import load_recipe


def write_folder(root: Path, per_class: int = 12, names: tuple[str, ...] = ("cat", "dog", "fox")) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (18 + i % 3, 22, 3), dtype=np.uint8)
            pixels[..., k % 3] = 220
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_a_streamed_entry_is_an_ordinary_verified_cache_entry(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    store = ArtifactCache(tmp_path / "store")
    data = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    chunks = (data[i : i + 3].numpy() for i in range(0, 10, 3))
    path = save_streamed(store, "images", "k1", name="x", dtype=torch.uint8, shape=(10, 3, 4, 4),
                         chunks=chunks, meta={"description": "ten images"})  # fmt: skip
    found = open_streamed(store, "images", "k1", "x")
    assert found is not None and torch.equal(found[0], data) and mapped.is_mapped(found[0])
    assert found[1]["description"] == "ten images"
    assert torch.equal(load_file(str(path))["x"], data)  # safetensors reads it
    [(entry, problem)] = store.verify()  # the checksum is the cache's own
    assert problem is None and entry.kind == "images"
    with pytest.raises(ValueError, match="not the 480"):
        save_streamed(store, "images", "k2", name="x", dtype=torch.uint8, shape=(10, 3, 4, 4),
                      chunks=iter([data[:2].numpy()]), meta={})  # fmt: skip
    assert sorted(p.name for p in path.parent.iterdir()) == ["k1.safetensors"]  # nothing half-written


def test_a_damaged_streamed_entry_is_refused_with_its_reason(tmp_path: Path) -> None:
    store = ArtifactCache(tmp_path / "store")
    data = torch.arange(64, dtype=torch.uint8).view(4, 1, 4, 4)
    path = save_streamed(store, "images", "k", name="x", dtype=torch.uint8, shape=(4, 1, 4, 4),
                         chunks=[data.numpy()], meta={})  # fmt: skip
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert open_streamed(store, "images", "k", "x") is None
    assert "do not match their checksum" in str(store.last_problem)
    assert [problem for _, problem in store.verify()] == ["its tensors do not match their checksum"]
    path.write_bytes(bytes(raw[:-10]))  # truncated
    assert open_streamed(store, "images", "k", "x") is None and "unreadable" in str(store.last_problem)


def test_image_folder_on_disk_gives_the_same_splits_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_folder(tmp_path / "pets")
    params = {"root": str(tmp_path / "pets"), "size": 10, "test_size": 0.25, "holdout": ["dog"]}
    memory = image_folder.load(3, **params)  # type: ignore[arg-type]
    disk = image_folder.load(3, storage="disk", **params)  # type: ignore[arg-type]
    for name in ("train", "test", "ood"):
        a, b = memory.split(name), disk.split(name)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y), name  # type: ignore[arg-type]
        assert mapped.is_mapped(b.x) and not mapped.is_mapped(a.x), name  # views, not copies
    assert (memory.info.mean, memory.info.std) == (disk.info.mean, disk.info.std)
    [entry] = ArtifactCache().entries()
    assert (
        entry.kind == "images" and "27 images" in entry.meta["description"]
    )  # dog's train rows are left out

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a second run decoded the folder again")

    decode = image_folder.fitted
    monkeypatch.setattr(image_folder, "fitted", no_decoding)
    again = image_folder.load(3, storage="disk", **params)  # type: ignore[arg-type]
    assert torch.equal(again.train.x, memory.train.x)  # type: ignore[arg-type]
    monkeypatch.setattr(image_folder, "fitted", decode)
    (tmp_path / "pets" / "cat" / "0.png").write_bytes((tmp_path / "pets" / "cat" / "1.png").read_bytes())
    changed = image_folder.load(3, storage="disk", **params)  # type: ignore[arg-type]
    assert len(ArtifactCache().entries()) == 2 and not torch.equal(changed.train.x, memory.train.x)  # type: ignore[arg-type]


def test_a_damaged_image_cache_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    write_folder(tmp_path / "pets", per_class=4, names=("cat", "dog"))
    params = {"root": str(tmp_path / "pets"), "size": 6, "storage": "disk"}
    first = image_folder.load(0, **params)  # type: ignore[arg-type]
    expected = first.train.x.clone()  # type: ignore[union-attr]
    [entry] = ArtifactCache().entries()
    raw = bytearray(entry.path.read_bytes())
    raw[-3] ^= 0x55
    entry.path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="not usable.*checksum"):
        rebuilt = image_folder.load(0, **params)  # type: ignore[arg-type]
    assert torch.equal(rebuilt.train.x, expected)  # type: ignore[arg-type]
    assert [problem for _, problem in ArtifactCache().verify()] == [None]


def test_poisoning_and_subsets_of_images_on_disk_stay_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_folder(tmp_path / "pets", names=("cat", "dog"))
    params = {"root": str(tmp_path / "pets"), "size": 8, "test_size": 0.25}
    memory = image_folder.load(0, **params)  # type: ignore[arg-type]
    disk = image_folder.load(0, storage="disk", **params)  # type: ignore[arg-type]
    attack = PatchTrigger(target="cat", source=["dog"], rate=0.5, size=3).bind(disk.info)
    on_disk = attack.poison(disk, torch.Generator().manual_seed(0))
    in_memory = attack.poison(memory, torch.Generator().manual_seed(0))
    assert torch.equal(on_disk.train.x, in_memory.train.x)  # type: ignore[arg-type]
    assert mapped.is_mapped(on_disk.train.x)  # a copy-on-write mapping, not a copy in memory
    assert torch.equal(disk.train.x, memory.train.x)  # type: ignore[arg-type] # the clean images are untouched
    assert [problem for _, problem in ArtifactCache().verify()] == [None]  # and so is the file

    monkeypatch.setattr(mapped, "GATHER_TO_DISK_BYTES", 1)
    keep = torch.arange(len(disk.train)) % 3 != 0
    subset = disk.train.subset(keep)
    assert mapped.is_mapped(subset.x) and torch.equal(subset.x, memory.train.x[keep])  # type: ignore[index,arg-type]
    assert isinstance(subset, Split) and torch.equal(subset.y, memory.train.y[keep])


def test_a_backdoor_run_streamed_from_disk_matches_the_run_in_memory(tmp_path: Path) -> None:
    write_folder(tmp_path / "pets", per_class=16, names=("cat", "dog"))
    recipe = tmp_path / "pets.toml"
    recipe.write_text(f"""
task = "backdoor"
name = "pets"
seed = 0
[dataset]
name = "image_folder"
root = "{(tmp_path / "pets").as_posix()}"
size = 12
[model]
name = "small_cnn"
channels = [4, 8]
hidden = 16
[train]
epochs = 2
batch_size = 8
[[attacks]]
name = "patch_trigger"
target = "cat"
source = ["dog"]
rate = 0.3
size = 3
[[defenses]]
name = "spectral_signature"
[runtime]
threads = 1
""")
    results, digests = {}, {}
    for storage in ("memory", "disk"):  # no cache: each trains its own model on its own storage
        sets = [f"dataset.storage='{storage}'"]
        done = run(load_recipe(recipe, sets), out_dir=tmp_path / storage, use_cache=False, console=None)
        results[storage] = json.loads((done.path / "metrics.json").read_text())
        digests[storage] = json.loads((done.path / "meta.json").read_text())["data_sha256"]
    assert digests["disk"] == digests["memory"]
    assert "after_removal" in results["disk"] and results["disk"]["filters"]["spectral_signature"]["flagged"]
    assert results["disk"] == results["memory"]  # every number: training, the filter, the retraining


def test_image_folder_on_disk_sees_replaced_images_of_equal_size_and_time(tmp_path: Path) -> None:
    """The decoded copy is keyed on the files' contents: an image replaced by another of the
    same size, with its modification time put back, is decoded again, as memory storage sees it."""
    import os

    from PIL import Image

    write_folder(tmp_path / "pets")
    params = {"root": str(tmp_path / "pets"), "size": 8, "test_size": 0.25, "holdout": ["dog"]}
    before = image_folder.load(0, storage="disk", **params)  # type: ignore[arg-type]
    target = tmp_path / "pets" / "cat" / "1.png"
    stat = target.stat()
    with Image.open(target) as old:
        replaced = Image.new(old.mode, old.size, (0, 255, 0))  # the same size and format, other pixels
    replaced.save(target)
    if target.stat().st_size != stat.st_size:  # pad the PNG to the old length: a stat key cannot tell
        data = target.read_bytes()
        assert len(data) < stat.st_size, "the replacement must not be longer than the original"
        target.write_bytes(data + b"\0" * (stat.st_size - len(data)))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    memory = image_folder.load(0, **params)  # type: ignore[arg-type]
    disk = image_folder.load(0, storage="disk", **params)  # type: ignore[arg-type]
    for name in ("train", "test", "ood"):
        assert torch.equal(disk.split(name).x, memory.split(name).x), name  # type: ignore[arg-type]
    assert not torch.equal(disk.train.x, before.train.x) or not torch.equal(disk.test.x, before.test.x)  # type: ignore[arg-type]
    assert len(ArtifactCache().entries()) == 2
