"""The bad-input corpus: every malformed recipe, override, flag, data file, cache entry and
run folder we know of, each through the command line as a user would meet it.

Every case asserts the exit status (2 for bad usage, 1 for a failed run, 0 where the toolkit
recovers with a warning), a message that names the problem, no traceback, and nothing
half-written: no partial or empty run folder, no unfinished cache file, and every cache
entry that remains passes ``cache verify``. The command runs in this process (the same
``main`` the console script calls), so the corpus costs seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_RECIPE, cli_in_process, needs
from test_cifar_files import Payload, batch, rewrite
from test_vision_data import write_cifar

from toolkit.execution.cache import ArtifactCache

CIFAR_RECIPE = """\
task = "ood"
name = "cifar"
[dataset]
name = "cifar10"
root = "{tmp}"
holdout = ["frog"]
[model]
name = "mlp"
hidden = [8]
[train]
epochs = 1
[[detectors]]
name = "msp"
"""


ADULT_RECIPE = """\
task = "fairness"
name = "adult"
[dataset]
name = "adult"
data_dir = "{tmp}/adult"
[model]
name = "mlp"
[train]
epochs = 1
"""


BACKDOOR = """\
task = "backdoor"
name = "bd"
[dataset]
name = "digits"
[model]
name = "mlp"
[train]
epochs = 1
[[attacks]]
name = "patch_trigger"
target = "0"
size = 2
"""


TEXT = """\
task = "classify"
name = "text"
[dataset]
name = "glue_cola"
root = "{tmp}/cola"
[model]
name = "hf_text"
checkpoint = "{tmp}/tiny-bert"
[train]
epochs = 1
batch_size = 16
"""


@dataclass
class Case:
    """One bad input.

    Args:
        args: the command line after ``toolkit``; ``{recipe}`` is the case's recipe file,
            ``{tmp}`` the test's folder.
        code: the expected exit status.
        says: fragments the output must contain (the message naming the problem).
        recipe: the recipe's text (``{tmp}`` is replaced), or bytes written as they are.
        setup: prepares files in the test's folder before the command runs.
        forbid: fragments the output must not contain.
        hide: modules made unimportable for the command (an optional library not installed).
        needs: optional modules the case needs; it skips, naming their extra, where one is
            not installed (unlike ``hide``, which makes a module absent on purpose).
        absent: paths under the test's folder that must not exist afterwards (what a
            command that failed must not have written).
    """

    args: list[str]
    code: int
    says: list[str]
    recipe: str | bytes = TINY_RECIPE
    setup: Callable[[Path], None] | None = None
    forbid: list[str] = field(default_factory=list)
    hide: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def tiny(old: str, new: str) -> str:
    assert old in TINY_RECIPE, old
    return TINY_RECIPE.replace(old, new)


def pets(extra: str = "") -> str:
    """The tiny recipe on the image folder ``{tmp}/pets`` (fox held out, 8 pixels), plus ``extra``."""
    return tiny(
        'name = "synthetic"\nholdout = ["c3"]\nn_per_class = 60',
        'name = "image_folder"\nroot = "{tmp}/pets"\nholdout = ["fox"]\nsize = 8' + extra,
    )


def cifar(old: str = "", new: str = "") -> str:
    return CIFAR_RECIPE.replace(old, new) if old else CIFAR_RECIPE


VALIDATE = ["validate", "{recipe}"]
#: TINY_RECIPE as an audit (which takes its detectors in [evaluate]).
AUDIT_RECIPE = TINY_RECIPE.replace('task = "ood"', 'task = "audit"').split("[[detectors]]")[0]
RUN = ["run", "{recipe}", "--out", "{tmp}/out"]
SWEEP = ["sweep", "{recipe}", "--out", "{tmp}/out"]

# ----------------------------------------------------------------------------- set-ups


def cifar_files(change: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        folder = write_cifar(tmp)
        if change is not None:
            change(folder)

    return setup


def rewrite_batch(content: object, name: str = "data_batch_3") -> Callable[[Path], None]:
    return cifar_files(lambda folder: rewrite(folder / name, content))


def cached_entry(change: Callable[[Path, ArtifactCache], None]) -> Callable[[Path], None]:
    """A cache holding the tiny recipe's trained model, then ``change``d."""

    def setup(tmp: Path) -> None:
        from toolkit.execution.runner import run
        from toolkit.recipe import parse_recipe, read_toml

        path = tmp / "first.toml"
        path.write_text(TINY_RECIPE)
        run(parse_recipe(read_toml(path)), out_dir=tmp / "first", console=None)
        store = ArtifactCache()
        (entry,) = store.entries()
        change(store.path(entry.kind, entry.key), store)

    return setup


def zero_weights(path: Path, store: ArtifactCache) -> None:
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header:] = bytes(len(data) - header)
    path.write_bytes(bytes(data))


def copy_under_another_key(path: Path, store: ArtifactCache) -> None:
    """The entry moved to the key of the same recipe with a different seed."""
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.recipe import fingerprint, parse_recipe, read_toml

    first = Path(store.root).parent / "first.toml"
    other = parse_recipe(read_toml(first), ["seed=1"])
    pipeline = Pipeline(other, device=torch.device("cpu"), cache=None, log=RunLog(None, None))
    key = fingerprint(pipeline.stage("train"))
    shutil.copy(path, store.path("model", key))
    path.unlink()


def bad_metadata(path: Path, store: ArtifactCache) -> None:
    from safetensors.torch import load_file, save_file

    from toolkit.execution.cache import read_metadata

    meta = read_metadata(path)
    meta["created"] = "yesterday"
    save_file(load_file(path), path, metadata={"toolkit": json.dumps(meta)})


def rewrite_metadata(table: object) -> Callable[[Path, ArtifactCache], None]:
    """The entry with its safetensors ``__metadata__`` replaced by ``table`` (any JSON)."""

    def change(path: Path, store: ArtifactCache) -> None:
        data = path.read_bytes()
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        header["__metadata__"] = table(header["__metadata__"]) if callable(table) else table
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + size :])

    return change


def field_of_wrong_type(name: str, value: object) -> Callable[[Path, ArtifactCache], None]:
    def table(old: dict) -> dict:
        meta = json.loads(old["toolkit"])
        return {**old, "toolkit": json.dumps({**meta, name: value})}

    return rewrite_metadata(table)


def truncate(path: Path, store: ArtifactCache) -> None:
    path.write_bytes(path.read_bytes()[:100])


def cache_is_a_file(tmp: Path) -> None:
    Path(os.environ["TOOLKIT_CACHE"]).write_text("not a folder")


def metrics_file(content: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / "run1").mkdir()
        (tmp / "run1" / "metrics.json").write_bytes(content)

    return setup


#: The files of a finished run folder, as ``toolkit run`` writes them (abridged).
RUN_FILES = {
    "metrics.json": b'{"accuracy": 0.5}',
    "meta.json": b'{"name": "tiny", "task": "ood"}',
    "recipe.toml": TINY_RECIPE.encode(),
}


def linked_run_folder(file: str, target: str) -> Callable[[Path], None]:
    """A finished run folder ``{tmp}/run1`` whose ``file`` is a symbolic link to
    ``{tmp}/<target>`` (a file outside the folder, holding ``outside``)."""

    def setup(tmp: Path) -> None:
        run_folder({})(tmp)
        (tmp / target).write_text("outside")
        (tmp / "run1" / file).unlink()
        (tmp / "run1" / file).symlink_to(tmp / target)

    return setup


def run_folder(change: dict[str, bytes], *names: str) -> Callable[[Path], None]:
    """Finished run folders ``{tmp}/<name>`` (default ``run1``), with the files in ``change``
    written over the last one's own."""

    def setup(tmp: Path) -> None:
        folders = names or ("run1",)
        for name in folders:
            (tmp / name).mkdir(parents=True)
            files = {**RUN_FILES, **change} if name == folders[-1] else RUN_FILES
            for file, content in files.items():
                (tmp / name / file).write_bytes(content)

    return setup


#: A sweep of two points, as ``toolkit sweep`` records it in ``sweep.json`` (abridged).
SWEEP_RECORD = {
    "name": "tiny",
    "grid": {"train.lr": [0.1, 0.2]},
    "seeds": 1,
    "points": [
        {"id": "a", "group": "a", "values": {"train.lr": 0.1}, "seed": 0},
        {"id": "b", "group": "b", "values": {"train.lr": 0.2}, "seed": 0},
    ],
}


def sweep_folder(metrics: bytes, **record: object) -> Callable[[Path], None]:
    """``{tmp}/sw``: a finished sweep whose point ``b`` has ``metrics`` as its ``metrics.json``,
    with ``record`` written over the keys of its ``sweep.json``."""

    def setup(tmp: Path) -> None:
        (tmp / "sw").mkdir()
        (tmp / "sw" / "sweep.json").write_text(json.dumps({**SWEEP_RECORD, **record}))
        for point, content in (("a", b'{"accuracy": 0.5}'), ("b", metrics)):
            (tmp / "sw" / "points" / point).mkdir(parents=True)
            (tmp / "sw" / "points" / point / "metrics.json").write_bytes(content)

    return setup


#: What ``toolkit report`` writes into a sweep folder: a failed report writes none of it.
SWEEP_OUTPUTS = ["sw/summary.csv", "sw/summary.json", "sw/figures", "sw/report.html"]


def adult_file(change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    """``{tmp}/adult/adult.data``: 200 rows of the bundled file, ``change``d."""

    def setup(tmp: Path) -> None:
        import gzip

        from toolkit.data import adult

        with gzip.open(adult.BUNDLED / "adult.data.gz", "rt") as fh:
            lines = fh.read().splitlines()[:200]
        (tmp / "adult").mkdir()
        text = "\n".join(change(lines)) + "\n"  # a lone surrogate stands for an undecodable byte
        (tmp / "adult" / "adult.data").write_bytes(text.encode("utf-8", errors="surrogateescape"))

    return setup


def broken_image_folder(root: Path) -> None:
    from test_vision_data import write_folder

    write_folder(root)
    (root / "cat" / "3.png").write_bytes(b"not an image")


def bomb(path: Path) -> None:
    """A PNG whose header claims 60000 x 60000 pixels (3.6 billion): a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def pets_with(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """The pets folder of ``test_vision_data.write_folder`` in ``{tmp}/pets``, then ``change``d."""

    def setup(tmp: Path) -> None:
        from test_vision_data import write_folder

        write_folder(tmp / "pets")
        change(tmp / "pets")

    return setup


def one_owl(root: Path) -> None:
    (root / "owl").mkdir()
    (root / "cat" / "0.jpg").rename(root / "owl" / "0.jpg")


def csv_file(content: str) -> Callable[[Path], None]:
    """The tiny BERT and ``{tmp}/r.csv`` holding ``content``."""
    return text_files(lambda t: (t / "r.csv").write_text(content))


#: The text recipe on ``{tmp}/r.csv`` (columns ``text`` and ``label``), plus ``extra``.
def text_csv(extra: str = "") -> str:
    return text('name = "glue_cola"\nroot = "{tmp}/cola"', 'name = "text_csv"\npath = "{tmp}/r.csv"' + extra)


#: Twenty labelled sentences, ten of each class.
SENTENCES = "text,label,gender\n" + "".join(
    f"the cat sat {i} .,{i % 2},{'f' if i % 3 else 'm'}\n" for i in range(20)
)


def flat_folder(root: Path, classes: list[str]) -> None:
    """Images named <class>.<n>.png in one folder (the Kaggle dogs-vs-cats layout)."""
    from PIL import Image

    root.mkdir()
    for name in classes:
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / f"{name}.{i}.png")


def text(old: str = "", new: str = "") -> str:
    assert old in TEXT, old
    return TEXT.replace(old, new) if old else TEXT


def text_files(change: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """The tiny BERT and CoLA folders of toolkit.testing.text in the test's folder, then ``change``."""

    def setup(tmp: Path) -> None:
        from toolkit.testing.text import tiny_bert, tiny_cola

        tiny_bert(tmp / "tiny-bert")
        tiny_cola(tmp / "cola", train=40, dev=20)
        if change is not None:
            change(tmp)

    return setup


def other_vocabulary(tmp: Path) -> None:
    """A second tiny BERT whose WordPiece vocabulary is in another order."""
    from toolkit.testing.text import tiny_bert, vocabulary

    other = Path(tiny_bert(tmp / "other-bert"))
    words = vocabulary()
    (other / "vocab.txt").write_text("\n".join(words[:5] + words[5:][::-1]) + "\n")
    (other / "tokenizer.json").unlink()


#: ``toolkit sweep {recipe} --grid train.lr=0.1`` as ``sweep.json`` records it.
RECORDED_SWEEP = {
    "recipe": "case.toml",
    "overrides": [],
    "grid": {"train.lr": [0.1]},
    "zip": {},
    "seeds": 1,
    "base_seed": 0,
    "metrics": [],
    "points": [{"id": "lr=0.1", "group": "lr=0.1", "values": {"train.lr": 0.1}, "seed": None}],
}

#: Resume the sweep that :func:`recorded_sweep` leaves under ``{tmp}/prev``.
RESUME = ["sweep", "{recipe}", "--grid", "train.lr=0.1", "--resume", "--out", "{tmp}/prev"]


def recorded_sweep(
    meta: bytes | None = b'{"fingerprints": {"run": "0000"}}', **record: object
) -> Callable[[Path], None]:
    """``{tmp}/prev/tiny/sweep-1``: a sweep of the tiny recipe whose one point finished, with
    ``record`` written over the keys of its ``sweep.json`` and ``meta`` as the point's
    ``meta.json`` (``None``: none)."""

    def setup(tmp: Path) -> None:
        point = tmp / "prev" / "tiny" / "sweep-1" / "points" / "lr=0.1"
        point.mkdir(parents=True)
        (point.parents[1] / "sweep.json").write_text(json.dumps({**RECORDED_SWEEP, **record}))
        (point / "metrics.json").write_text('{"accuracy": 0.5}')
        if meta is not None:
            (point / "meta.json").write_bytes(meta)

    return setup


#: A classify recipe on the digits with ``model`` as its [model] table (no [train]: as given).
def given(model: str, extra: str = "") -> str:
    return f'task = "classify"\nname = "given"\n[dataset]\nname = "digits"\n{extra}[model]\n{model}\n'


def cnn_weights(
    file: str = "w.pth", *, classes: int = 10, change: Callable[[dict], dict] | None = None
) -> Callable[[Path], None]:
    """``{tmp}/<file>``: the weights of a digits small_cnn (``classes`` outputs), ``change``d."""

    def setup(tmp: Path) -> None:
        from safetensors.torch import save_file

        from toolkit.data.digits import load
        from toolkit.models.small_cnn import build

        info = load(0).info
        if classes != info.num_classes:
            info = load(0, holdout=[str(c) for c in range(classes, 10)]).info
        state = {k: v.contiguous() for k, v in build(info).state_dict().items()}
        state = change(state) if change is not None else state
        if file.endswith(".safetensors"):
            save_file(state, tmp / file)
        else:
            torch.save(state, tmp / file)

    return setup


def program(file: str = "m.pt2", *, classes: int = 10) -> Callable[[Path], None]:
    """``{tmp}/<file>``: a tiny exported program (``.pt2``) or TorchScript file (``.pt``)."""

    def setup(tmp: Path) -> None:
        import warnings

        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, classes)).eval()
        x = torch.rand(4, 1, 8, 8)
        if file.endswith(".pt2"):
            torch.export.save(torch.export.export(net, (x,)), tmp / file)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.jit.save(torch.jit.trace(net, x), tmp / file)

    return setup


def truncated(setup: Callable[[Path], None], file: str) -> Callable[[Path], None]:
    def run(tmp: Path) -> None:
        setup(tmp)
        raw = (tmp / file).read_bytes()
        (tmp / file).write_bytes(raw[: len(raw) // 2])

    return run


#: A fairness recipe on the table ``{tmp}/t.csv`` (label ``hired``, group ``sex``), plus ``extra``.
def table(extra: str = "", *, label: str = "hired") -> str:
    return (
        'task = "fairness"\nname = "t"\n[dataset]\nname = "table"\npath = "{tmp}/t.csv"\n'
        f'label = "{label}"\nfavourable = "1"\nsensitive = {{sex = "a"}}\n{extra}'
        '[model]\nname = "mlp"\n[train]\nepochs = 1\n'
    )


def table_file(rows: str | None = None, name: str = "t.csv") -> Callable[[Path], None]:
    """``{tmp}/<name>``: ``rows`` under the header ``age,sex,hired`` (default: 40 good rows)."""
    good = "".join(f"{i},{'ab'[i % 2]},{int(i % 4 == 0)}\n" for i in range(40))
    return lambda tmp: (tmp / name).write_text("age,sex,hired\n" + (good if rows is None else rows))


def bad_sweep_json(tmp: Path) -> None:
    (tmp / "sw").mkdir()
    (tmp / "sw" / "sweep.json").write_text('{"points": ')


def a_file(name: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).write_text("a file")


# ----------------------------------------------------------------------------- the corpus

CASES: dict[str, Case] = {
    # the recipe file
    "missing-file": Case(["validate", "{tmp}/nowhere.toml"], 2, ["recipe file not found"]),
    "folder-not-file": Case(["validate", "{tmp}"], 2, ["is a folder, not a recipe file"]),
    "toml-syntax": Case(VALIDATE, 2, ["line 2"], recipe='task = "ood"\n[dataset\nname = "x"\n'),
    "not-utf8": Case(VALIDATE, 2, ["cannot read recipe"], recipe=b"task = '\xff\xfe'\n"),
    "empty-file": Case(VALIDATE, 2, ["task: missing required key"], recipe=""),
    "duplicate-key": Case(VALIDATE, 2, ["seed"], recipe=TINY_RECIPE + "seed = 1\n"),
    "unknown-top-key": Case(VALIDATE, 2, ["did you mean seed"], recipe=tiny("seed = 0", "sed = 0")),
    "missing-task": Case(VALIDATE, 2, ["task: missing required key"], recipe=tiny('task = "ood"\n', "")),
    "unknown-task": Case(VALIDATE, 2, ["task", "'ood'"], recipe=tiny('task = "ood"', 'task = "odd"')),
    "task-not-string": Case(VALIDATE, 2, ["task"], recipe=tiny('task = "ood"', "task = 3")),
    "unknown-dataset": Case(
        VALIDATE, 2, ["dataset.name", "synthetic"], recipe=tiny('"synthetic"', '"synthetc"')
    ),
    "dataset-without-name": Case(VALIDATE, 2, ["dataset.name"], recipe=tiny('name = "synthetic"\n', "")),
    "dataset-unknown-param": Case(
        VALIDATE, 2, ["dataset.n_per_clas", "n_per_class"], recipe=tiny("n_per_class", "n_per_clas")
    ),
    "dataset-wrong-type": Case(
        VALIDATE, 2, ["dataset.n_per_class"], recipe=tiny("n_per_class = 60", 'n_per_class = "many"')
    ),
    "epochs-string": Case(VALIDATE, 2, ["train.epochs"], recipe=tiny("epochs = 3", 'epochs = "ten"')),
    "epochs-negative": Case(VALIDATE, 2, ["train.epochs"], recipe=tiny("epochs = 3", "epochs = -1")),
    "epochs-bool": Case(VALIDATE, 2, ["train.epochs"], recipe=tiny("epochs = 3", "epochs = true")),
    "lr-inf": Case(VALIDATE, 2, ["train.lr", "finite"], recipe=tiny("lr = 0.1", "lr = inf")),
    "lr-nan": Case(VALIDATE, 2, ["train.lr", "NaN"], recipe=tiny("lr = 0.1", "lr = nan")),
    "lr-negative": Case(VALIDATE, 2, ["train.lr"], recipe=tiny("lr = 0.1", "lr = -0.1")),
    "batch-size-zero": Case(
        VALIDATE, 2, ["train.batch_size"], recipe=tiny("batch_size = 32", "batch_size = 0")
    ),
    "unknown-optimizer": Case(
        VALIDATE, 2, ["train.optimizer"], recipe=tiny("[train]\n", '[train]\noptimizer = "adamw2"\n')
    ),
    "seed-negative": Case(VALIDATE, 2, ["seed"], recipe=tiny("seed = 0", "seed = -5")),
    "seed-too-large": Case(VALIDATE, 2, ["seed"], recipe=tiny("seed = 0", "seed = 4294967296")),
    "seed-float": Case(VALIDATE, 2, ["seed"], recipe=tiny("seed = 0", "seed = 1.5")),
    "name-escapes": Case(VALIDATE, 2, ["name"], recipe=tiny('name = "tiny"', 'name = "../evil"')),
    "name-absolute": Case(VALIDATE, 2, ["name"], recipe=tiny('name = "tiny"', 'name = "/tmp/evil"')),
    "name-empty": Case(VALIDATE, 2, ["name"], recipe=tiny('name = "tiny"', 'name = ""')),
    "detectors-not-a-list": Case(
        VALIDATE,
        2,
        ["detectors"],
        recipe=TINY_RECIPE[: TINY_RECIPE.index("[[detectors]]")] + '[detectors]\nname = "msp"\n',
    ),
    "unknown-detector": Case(VALIDATE, 2, ["detectors.0.name", "msp"], recipe=tiny('"msp"', '"msq"')),
    "detector-unknown-param": Case(
        VALIDATE,
        2,
        ["detectors.1.temperatur", "temperature"],
        recipe=tiny('"energy"', '"energy"\ntemperatur = 2'),
    ),
    "detector-bad-value": Case(
        VALIDATE, 2, ["detectors.1.temperature"], recipe=tiny('"energy"', '"energy"\ntemperature = "hot"')
    ),
    "model-unknown-param": Case(VALIDATE, 2, ["model.hiden", "hidden"], recipe=tiny("hidden", "hiden")),
    "evaluate-name": Case(
        VALIDATE, 2, ["evaluate.name", "top-level 'task'"], recipe=TINY_RECIPE + '[evaluate]\nname = "ood"\n'
    ),
    "runtime-device": Case(
        VALIDATE, 2, ["runtime.device", "auto, cpu, cuda"], recipe=TINY_RECIPE + '[runtime]\ndevice = "tpu"\n'
    ),
    "runtime-threads-zero": Case(
        VALIDATE, 2, ["runtime.threads"], recipe=TINY_RECIPE + "[runtime]\nthreads = 0\n"
    ),
    "runtime-threads-text": Case(
        VALIDATE, 2, ["runtime.threads"], recipe=TINY_RECIPE + '[runtime]\nthreads = "many"\n'
    ),
    "runtime-unknown-key": Case(
        VALIDATE, 2, ["runtime.thread", "threads"], recipe=TINY_RECIPE + "[runtime]\nthread = 2\n"
    ),
    # overrides and flags
    "set-without-equals": Case([*VALIDATE, "--set", "train.epochs"], 2, ["train.epochs", "key=value"]),
    "set-bad-value": Case([*VALIDATE, "--set", "train.epochs=[1,"], 2, ["train.epochs"]),
    "set-unknown-key": Case(
        [*VALIDATE, "--set", "train.epoch=3"], 2, ["did you mean train.epochs? (set with --set)"]
    ),
    "set-index-out-of-range": Case([*VALIDATE, "--set", "detectors.5.name=msp"], 2, ["no such entry"]),
    "set-into-a-number": Case([*VALIDATE, "--set", "seed.x=1"], 2, ["seed", "not a table"]),
    "out-name-too-long": Case(
        [*RUN[:3], "{tmp}/" + "x" * 300], 2, ["--out", "cannot create the run folder there", "name a folder"]
    ),
    "set-non-ascii-index": Case(
        [*VALIDATE, "--set", "detectors.\u00b2.name=energy"], 2, ["detectors.\u00b2", "no such entry"]
    ),
    "set-nested-too-deeply": Case(
        [*VALIDATE, "--set", "train.lr=" + "[" * 3000 + "]" * 3000], 2, ["--set", "nested too deeply"]
    ),
    "epochs-that-cannot-finish": Case(  # allowed on purpose, but validate says what it means
        [*VALIDATE, "--set", "train.epochs=1000000000000"], 0, ["valid", "warning: train.epochs", "days"]
    ),
    "threads-beyond-the-cores": Case(
        [*VALIDATE, "--set", "runtime.threads=100000"],
        0,
        ["valid", "warning: runtime.threads = 100000", "cores"],
    ),
    "recipe-nested-too-deeply": Case(
        VALIDATE,
        2,
        ["case.toml", "nested too deeply"],
        recipe="deep = " + "[" * 3000 + "]" * 3000 + "\n" + TINY_RECIPE,
    ),
    "set-wrong-type": Case([*VALIDATE, "--set", "train.epochs='3'"], 2, ["train.epochs", "(set with --set)"]),
    "flag-device": Case([*RUN, "--device", "tpu"], 2, ["auto, cpu, cuda", "(set with --device)"]),
    "flag-threads": Case([*RUN, "--threads", "0"], 2, ["runtime.threads", "(set with --threads)"]),
    "flag-threads-not-a-number": Case([*RUN, "--threads", "abc"], 2, ["--threads"]),
    "unknown-option": Case([*RUN, "--nope"], 2, ["--nope"]),
    "unknown-command": Case(["frobnicate"], 2, ["frobnicate"]),
    "list-unknown-kind": Case(["list", "widgets"], 2, ["widgets"]),
    "show-unknown-component": Case(["show", "detectors", "msq"], 2, ["msq", "msp"]),
    "out-is-a-file": Case(
        ["run", "{recipe}", "--out", "{tmp}/afile"], 2, ["--out", "cannot create"], setup=a_file("afile")
    ),
    "out-under-a-file": Case(
        ["run", "{recipe}", "--out", "{tmp}/afile/sub"], 2, ["--out"], setup=a_file("afile")
    ),
    # data-dependent keys validate checks without loading data
    "holdout-unknown-class": Case(VALIDATE, 2, ["did you mean 'frog'"], recipe=cifar('["frog"]', '["frgo"]')),
    "holdout-index-out-of-range": Case(VALIDATE, 2, ["out of range"], recipe=cifar('["frog"]', "[10]")),
    "holdout-empty-for-ood": Case(
        VALIDATE, 2, ["needs OOD data: held-out classes"], recipe=cifar('["frog"]', "[]")
    ),
    "holdout-every-class": Case(
        VALIDATE,
        2,
        ["leaving 0 to train on"],
        recipe=cifar(
            '["frog"]',
            json.dumps(
                ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
            ),
        ),
    ),
    "holdout-all-but-one": Case(
        VALIDATE, 2, ["leaving 1 to train on"], recipe=cifar('["frog"]', str(list(range(9))))
    ),
    "holdout-unknown-synthetic": Case(RUN, 2, ["unknown class 'c9'"], recipe=tiny('["c3"]', '["c9"]')),
    # data files
    "cifar-not-found": Case(RUN, 2, ["CIFAR-10 not found"], recipe=cifar()),
    "cifar-crafted-pickle": Case(
        RUN,
        2,
        ["data_batch_1", "refused to load"],
        recipe=cifar(),
        setup=rewrite_batch({b"data": Payload(Path("pwned")), b"labels": [0]}, "data_batch_1"),
    ),
    "cifar-crafted-meta": Case(
        RUN,
        2,
        ["batches.meta", "refused to load"],
        recipe=cifar(),
        setup=rewrite_batch({b"label_names": Payload(Path("pwned"))}, "batches.meta"),
    ),
    "cifar-missing-batch": Case(
        RUN,
        2,
        ["missing data_batch_5"],
        recipe=cifar(),
        setup=cifar_files(lambda f: (f / "data_batch_5").unlink()),
    ),
    "cifar-channels-last": Case(
        RUN,
        2,
        ["data_batch_3", "(N, 3072)"],
        recipe=cifar(),
        setup=rewrite_batch(batch(np.zeros((2, 32, 32, 3), np.uint8), [0, 1])),
    ),
    "cifar-float-pixels": Case(
        RUN,
        2,
        ["data_batch_3", "float32"],
        recipe=cifar(),
        setup=rewrite_batch(batch(np.zeros((2, 3072), np.float32), [0, 1])),
    ),
    "cifar-label-minus-one": Case(
        RUN,
        2,
        ["data_batch_3", "0..9"],
        recipe=cifar(),
        setup=rewrite_batch(batch(np.zeros((2, 3072), np.uint8), [0, -1])),
    ),
    "cifar-label-ten": Case(
        RUN,
        2,
        ["data_batch_3", "0..9"],
        recipe=cifar(),
        setup=rewrite_batch(batch(np.zeros((2, 3072), np.uint8), [0, 10])),
    ),
    "cifar-list-pickle": Case(
        RUN, 2, ["data_batch_3", "found list"], recipe=cifar(), setup=rewrite_batch([1, 2, 3])
    ),
    "cifar-truncated-meta": Case(
        RUN,
        2,
        ["batches.meta"],
        recipe=cifar(),
        setup=cifar_files(lambda f: (f / "batches.meta").write_bytes(b"\x80\x04\x95")),
    ),
    "image-folder-missing": Case(
        RUN,
        2,
        ["not a folder"],
        recipe=tiny(
            'name = "synthetic"\nholdout = ["c3"]\nn_per_class = 60',
            'name = "image_folder"\nroot = "{tmp}/none"\nholdout = ["x"]',
        ),
    ),
    "adult-no-file": Case(RUN, 2, ["no adult.data"], recipe=ADULT_RECIPE, needs=["pandas"]),
    "adult-wrong-columns": Case(
        RUN,
        2,
        ["adult.data", "not in the UCI Adult format", "columns"],
        recipe=ADULT_RECIPE,
        needs=["pandas"],
        setup=adult_file(lambda rows: [r.rsplit(",", 2)[0] for r in rows]),
    ),
    "adult-text-in-a-number": Case(
        RUN,
        2,
        ["adult.data", "not in the UCI Adult format"],
        recipe=ADULT_RECIPE,
        needs=["pandas"],
        setup=adult_file(lambda rows: ["forty," + rows[0].split(",", 1)[1], *rows[1:]]),
    ),
    "adult-unknown-label": Case(
        RUN,
        2,
        ["adult.data", "income column holds ['maybe']"],
        recipe=ADULT_RECIPE,
        needs=["pandas"],
        setup=adult_file(lambda rows: [*rows[:-1], rows[-1].rsplit(",", 1)[0] + ", maybe"]),
    ),
    "adult-not-utf8": Case(
        RUN,
        2,
        ["adult.data", "not in the UCI Adult format"],
        recipe=ADULT_RECIPE,
        needs=["pandas"],
        setup=adult_file(lambda rows: [*rows[:-1], "\udcff"]),
    ),
    "image-folder-broken-image": Case(
        RUN,
        2,
        ["cannot read image", "3.png"],
        recipe=pets(),
        setup=lambda tmp: broken_image_folder(tmp / "pets"),
    ),
    "image-folder-disk-broken-image": Case(
        RUN,
        2,
        ["cannot read image", "3.png"],
        recipe=pets('\nstorage = "disk"'),
        setup=lambda tmp: broken_image_folder(tmp / "pets"),
    ),
    "image-folder-decompression-bomb": Case(  # Pillow's DecompressionBombError, which named no file
        RUN,
        2,
        ["cannot read image", "bomb.png", "more pixels than Pillow decodes"],
        recipe=pets(),
        setup=pets_with(lambda root: bomb(root / "cat" / "bomb.png")),
    ),
    "image-folder-disk-decompression-bomb": Case(
        RUN,
        2,
        ["cannot read image", "bomb.png", "more pixels than Pillow decodes"],
        recipe=pets('\nstorage = "disk"'),
        setup=pets_with(lambda root: bomb(root / "dog" / "bomb.png")),
    ),
    "image-folder-class-with-one-image": Case(  # scikit-learn's ValueError before, naming nothing
        RUN,
        2,
        ["pets: class 'owl' has a single sample", "add samples of it, or remove the class"],
        recipe=pets(),
        setup=pets_with(one_owl),
    ),
    "image-folder-flat-class-with-one-image": Case(
        RUN,
        2,
        ["class 'cow' has a single sample"],
        recipe=pets().replace("{tmp}/pets", "{tmp}/flat").replace('holdout = ["fox"]', 'holdout = ["dog"]'),
        setup=lambda tmp: (
            flat_folder(tmp / "flat", ["cat", "dog"]),
            (tmp / "flat" / "cow.0.png").write_bytes((tmp / "flat" / "cat.0.png").read_bytes()),
        ),
    ),
    "image-folder-test-split-smaller-than-the-classes": Case(
        RUN,
        2,
        ["15 samples of 3 classes cannot be split as dataset.test_size asks", "the test split would get 2"],
        recipe=pets("\ntest_size = 0.1"),
        setup=pets_with(lambda root: None),
    ),
    # toolkit audit
    "audit-recipe-and-options": Case(
        ["audit", "{recipe}", "--model", "small_cnn", "--data", "digits"], 2, ["not both"]
    ),
    "audit-a-recipe-of-another-task": Case(["audit", "{recipe}"], 2, ["is a 'ood' recipe", "toolkit run"]),
    "audit-model-without-data": Case(["audit", "--model", "small_cnn"], 2, ["both --model", "and --data"]),
    "audit-missing-program-file": Case(
        ["audit", "--model", "{tmp}/gone.pt2", "--data", "digits"], 2, ["--model: no file", "gone.pt2"]
    ),
    "audit-unknown-dataset": Case(["audit", "--model", "small_cnn", "--data", "digitz"], 2, ["digitz"]),
    "audit-bad-fail-on": Case(["audit", "{recipe}", "--fail-on", "maybe"], 2, ["--fail-on"]),
    "audit-unknown-explainer": Case(
        VALIDATE,
        2,
        ["evaluate.explainers.1", "no explainer 'salience'"],
        recipe=AUDIT_RECIPE + '[evaluate]\nexplainers = ["saliency", "salience"]\n',
    ),
    "audit-unknown-explainer-in-a-table": Case(
        VALIDATE,
        2,
        ["evaluate.explainers.0", "no explainer 'gradcam'"],
        recipe=AUDIT_RECIPE + '[evaluate]\nexplainers = [{name = "gradcam"}]\n',
    ),
    "audit-unknown-text-augmentation": Case(
        VALIDATE,
        2,
        ["evaluate.text_augmenters.1", "unknown augmenter 'typos'", "keyboard"],
        recipe=AUDIT_RECIPE + '[evaluate]\ntext_augmenters = [{name = "char_noise"}, {name = "typos"}]\n',
    ),
    "audit-text-augmentation-without-a-name": Case(
        VALIDATE,
        2,
        ["evaluate.text_augmenters.0", "needs a name"],
        recipe=AUDIT_RECIPE + "[evaluate]\ntext_augmenters = [{p = 0.1}]\n",
    ),
    "audit-explain-samples-zero": Case(
        VALIDATE,
        2,
        ["evaluate.explain_samples"],
        recipe=AUDIT_RECIPE + "[evaluate]\nexplain_samples = 0\n",
    ),
    # OOD data sets of the ood task (evaluate.near / evaluate.far) and model scanners
    "ood-set-unknown": Case(
        VALIDATE,
        2,
        ["evaluate.far.0.name", "no_such_set"],
        recipe=TINY_RECIPE + '[evaluate]\nfar = ["no_such_set"]\n',
    ),
    "ood-set-not-a-table": Case(
        VALIDATE,
        2,
        ["evaluate.near.0", "expected a dataset name or a table"],
        recipe=TINY_RECIPE + "[evaluate]\nnear = [7]\n",
    ),
    "ood-set-bad-parameter": Case(
        VALIDATE, 2, ["evaluate.far.0.root"], recipe=pets('\n[evaluate]\nfar = [{name = "svhn", root = 3}]')
    ),
    "ood-set-tabular": Case(
        VALIDATE,
        2,
        ["evaluate.far.0", "tabular data, not images"],
        recipe=pets('\n[evaluate]\nfar = ["synthetic"]'),
    ),
    "ood-sets-on-tabular-data": Case(
        VALIDATE,
        2,
        ["OOD data sets are compared as images", "'synthetic' is tabular"],
        recipe=TINY_RECIPE + '[evaluate]\nfar = [{name = "synthetic", modality = "image"}]\n',
    ),
    "ood-set-files-missing": Case(
        RUN,
        2,
        ["OOD data set svhn (evaluate.far.0): SVHN not found", "nowhere", "dataset.download = true"],
        recipe=pets('\n[evaluate]\nfar = [{name = "svhn", root = "{tmp}/nowhere"}]'),
        setup=pets_with(lambda root: None),
    ),
    "ood-task-with-a-model-scanner": Case(
        VALIDATE,
        2,
        ["detectors.2.name", "needs detectors that score inputs", "'neural_cleanse' is scanner"],
        recipe=TINY_RECIPE + '\n[[detectors]]\nname = "neural_cleanse"\n',
    ),
    "backdoor-trigger-image-bomb": Case(
        RUN,
        2,
        ["cannot read the trigger image", "bomb.png", "more pixels than Pillow decodes"],
        recipe=BACKDOOR.replace("size = 2", 'size = 2\ntrigger = "{tmp}/bomb.png"'),
        setup=lambda tmp: bomb(tmp / "bomb.png"),
    ),
    "image-folder-unknown-storage": Case(
        VALIDATE,
        2,
        ["dataset.storage", "'memory' or 'disk'"],
        recipe=pets('\nstorage = "tape"'),
    ),
    # backdoors
    "backdoor-unknown-target": Case(
        RUN,
        2,
        ["attack PatchTrigger: target: unknown class 'ten'"],
        recipe=BACKDOOR.replace('target = "0"', 'target = "ten"'),
    ),
    "backdoor-art-attack-cannot-draw-the-trigger": Case(
        VALIDATE,
        2,
        ["baselines.art", "poisoning_attack_backdoor", "not a 2x2 'white_square'"],
        recipe=BACKDOOR + '[baselines]\nart = ["poisoning_attack_backdoor"]\n',
        needs=["art"],
    ),
    "backdoor-missing-trigger-file": Case(
        RUN,
        2,
        ["nothing.png' is neither a built-in pattern", "nor an image file"],
        recipe=BACKDOOR.replace("size = 2", 'size = 2\ntrigger = "{tmp}/nothing.png"'),
    ),
    "backdoor-evasion-attack": Case(
        VALIDATE,
        2,
        ["the backdoor task needs a poisoning attack with a trigger and a target class"],
        recipe=BACKDOOR.replace("patch_trigger", "fgsm")
        .replace('target = "0"\n', "")
        .replace("size = 2\n", ""),
    ),
    "init-from-missing": Case(
        VALIDATE,
        2,
        ["train.init_from: no recipe file at"],
        recipe=BACKDOOR.replace("[train]", '[train]\ninit_from = "nowhere.toml"'),
    ),
    "init-from-cycle": Case(
        VALIDATE,
        2,
        ["train.init_from", "a cycle"],
        recipe=BACKDOOR.replace("[train]", '[train]\ninit_from = "base.toml"'),
        setup=lambda tmp: (tmp / "base.toml").write_text(
            BACKDOOR.replace("[train]", '[train]\ninit_from = "case.toml"')
        ),
    ),
    "init-set-unknown-key": Case(
        [*VALIDATE, "--set", "train.init_set=['train.epoch=1']"],
        2,
        ["train.init_from", "train.epoch: unknown key", "(set with train.init_set)"],
        recipe=BACKDOOR.replace("[train]", '[train]\ninit_from = "base.toml"'),
        setup=lambda tmp: (tmp / "base.toml").write_text(BACKDOOR),
    ),
    "text-task-on-images": Case(  # the task's declared modalities, checked like any component's
        VALIDATE,
        2,
        ["task: the text_bias task works on text data, but the dataset 'digits' is image"],
        recipe='task = "text_bias"\nname = "t"\n[dataset]\nname = "digits"\n[model]\nname = "mlp"\n',
    ),
    "filter-unknown-layer-validate": Case(  # validate builds the model to check the name
        VALIDATE,
        2,
        ["defenses.0 (spectral_signature) reads", "has no layer 'backbon'", "did you mean backbone"],
        recipe=BACKDOOR + '[[defenses]]\nname = "spectral_signature"\nlayer = "backbon"\n',
    ),
    "filter-unknown-layer": Case(  # refused with the built model, before any training
        RUN,
        2,
        ["defenses.0 (spectral_signature) reads", "has no layer 'backbon'", "did you mean backbone"],
        recipe=BACKDOOR + '[[defenses]]\nname = "spectral_signature"\nlayer = "backbon"\n',
        forbid=["epochs on"],
    ),
    "backdoor-rate-out-of-range": Case(
        VALIDATE, 2, ["evaluate.rates.0"], recipe=BACKDOOR + "[evaluate]\nrates = [1.5]\n"
    ),
    "image-folder-flat-one-class": Case(
        RUN,
        2,
        ["neither class sub-folders nor images named", "found 1 class name"],
        recipe=tiny(
            'name = "synthetic"\nholdout = ["c3"]\nn_per_class = 60',
            'name = "image_folder"\nroot = "{tmp}/flat"\nholdout = ["x"]',
        ),
        setup=lambda tmp: flat_folder(tmp / "flat", ["cat"]),
    ),
    "compare-negative-tolerance": Case(
        ["compare", "{tmp}/run1", "--tolerance", "-1"], 2, ["--tolerance"], setup=metrics_file(b'{"x": 1}')
    ),
    # a run that fails
    "training-diverges": Case([*RUN, "--set", "train.lr=1e30"], 1, ["non-finite"]),
    "cuda-not-available": Case([*RUN, "--device", "cuda"], 2, ["CUDA is not available"]),
    # the cache: each a warning, then a run that recomputes and replaces the entry
    "cache-zeroed-weights": Case(
        RUN, 0, ["warning", "not usable"], setup=cached_entry(zero_weights), forbid=["reusing cached model"]
    ),
    "cache-copied-under-another-key": Case(
        [*RUN, "--set", "seed=1"],
        0,
        ["warning", "not usable"],
        setup=cached_entry(copy_under_another_key),
        forbid=["reusing cached model"],
    ),
    "cache-bad-metadata": Case(
        RUN, 0, ["warning", "not usable"], setup=cached_entry(bad_metadata), forbid=["reusing cached model"]
    ),
    "cache-truncated-entry": Case(
        RUN, 0, ["warning", "not usable"], setup=cached_entry(truncate), forbid=["reusing cached model"]
    ),
    "cache-is-a-file": Case(RUN, 0, ["cannot be written", "without storing"], setup=cache_is_a_file),
    "cache-ls-bad-entry": Case(["cache", "ls"], 0, ["BAD", "1 bad entry"], setup=cached_entry(bad_metadata)),
    "cache-verify-bad-entry": Case(
        ["cache", "verify"], 1, ["BAD", "0 of 1 entries"], setup=cached_entry(zero_weights)
    ),
    "cache-clear-bad-kind": Case(["cache", "clear", "--kind", "../x"], 2, ["--kind"]),
    # cache metadata of the wrong shape: a BAD entry in ls and verify, a model recomputed in a run
    "cache-ls-metadata-a-list": Case(
        ["cache", "ls"], 0, ["BAD", "1 bad entry"], setup=cached_entry(rewrite_metadata(["x"]))
    ),
    "cache-verify-metadata-a-list": Case(
        ["cache", "verify"], 1, ["BAD", "0 of 1 entries"], setup=cached_entry(rewrite_metadata(["x"]))
    ),
    "cache-ls-toolkit-metadata-not-a-string": Case(
        ["cache", "ls"], 0, ["BAD", "1 bad entry"], setup=cached_entry(rewrite_metadata({"toolkit": 3}))
    ),
    "cache-verify-seconds-of-the-wrong-type": Case(
        ["cache", "verify"],
        1,
        ["BAD", "seconds of the wrong type"],
        setup=cached_entry(field_of_wrong_type("seconds", "long")),
    ),
    "cache-run-history-of-the-wrong-type": Case(
        RUN,
        0,
        ["warning", "not usable"],
        setup=cached_entry(field_of_wrong_type("history", 7)),
        forbid=["reusing cached model"],
    ),
    # text data, models and tasks
    "cola-no-files": Case(
        RUN,
        2,
        ["no CoLA files in"],
        recipe=text('"{tmp}/cola"', '"{tmp}/nowhere"'),
        setup=text_files(),
        needs=["transformers"],
    ),
    "cola-bad-label": Case(
        RUN,
        2,
        ["dev.tsv, line 2", "not 0 or 1"],
        recipe=text(),
        setup=text_files(lambda t: (t / "cola" / "dev.tsv").write_text("s\t1\t\ta b .\ns\tmaybe\t\tb a .\n")),
        needs=["transformers"],
    ),
    "cola-three-columns": Case(
        RUN,
        2,
        ["train.tsv, line 1", "3 tab-separated columns"],
        recipe=text(),
        setup=text_files(lambda t: (t / "cola" / "train.tsv").write_text("a\tb\tc\n")),
        needs=["transformers"],
    ),
    "hf-text-missing-checkpoint": Case(
        RUN,
        2,
        ["cannot load", "allow_download"],
        recipe=text('"{tmp}/tiny-bert"', '"{tmp}/no-such-model"'),
        setup=text_files(),
        needs=["transformers"],
    ),
    "hf-text-other-tokenizer": Case(
        RUN,
        2,
        ["whose tokenizer differs"],
        setup=text_files(other_vocabulary),
        recipe=text('root = "{tmp}/cola"', 'root = "{tmp}/cola"\ntokenizer = "{tmp}/other-bert"'),
        needs=["transformers"],
    ),
    "hf-text-on-images": Case(
        VALIDATE,
        2,
        ["works on text", "digits"],
        recipe='task = "classify"\nname = "x"\n[dataset]\nname = "digits"\n[model]\nname = "hf_text"\n',
    ),
    "text-csv-missing-column": Case(
        RUN,
        2,
        ["no column 'text'"],
        setup=text_files(lambda t: (t / "r.csv").write_text("review,label\na,0\nb,1\n")),
        recipe=text('name = "glue_cola"\nroot = "{tmp}/cola"', 'name = "text_csv"\npath = "{tmp}/r.csv"'),
        needs=["transformers"],
    ),
    "text-csv-two-rows": Case(  # scikit-learn's ValueError before, naming nothing
        RUN,
        2,
        ["r.csv: class", "has a single sample", "a stratified train/test split needs at least 2"],
        setup=csv_file("text,label\ngood .,1\nbad .,0\n"),
        recipe=text_csv(),
        needs=["transformers"],
    ),
    "text-csv-row-without-label": Case(
        RUN,
        2,
        ["r.csv, line 4: the row has no value in column 'label'", "fill it in or remove the row"],
        setup=csv_file(SENTENCES[:60] + "no label here .,,f\n" + SENTENCES[60:]),
        recipe=text_csv(),
        needs=["transformers"],
    ),
    "text-csv-empty-label-cells": Case(  # they became a silent third class ''
        RUN,
        2,
        ["has no value in column 'label'"],
        setup=csv_file(SENTENCES + "a .,,f\nb .,  ,m\n"),
        recipe=text_csv(),
        needs=["transformers"],
    ),
    "text-csv-short-row": Case(
        RUN,
        2,
        ["r.csv, line 22: the row has fewer fields than the header"],
        setup=csv_file(SENTENCES + "just a sentence\n"),
        recipe=text_csv(),
        needs=["transformers"],
    ),
    "text-csv-empty-group-cell": Case(  # group 0 was a guess
        RUN,
        2,
        ["has no value in column 'gender'"],
        setup=csv_file(SENTENCES + "a .,1,\n"),
        recipe=text_csv('\nsensitive = {gender = "f"}'),
        needs=["transformers"],
    ),
    "text-csv-test-file-without-label": Case(
        RUN,
        2,
        ["t.csv, line 3: the row has no value in column 'label'"],
        setup=lambda tmp: (csv_file(SENTENCES)(tmp), (tmp / "t.csv").write_text("text,label\na .,1\nb .,\n")),
        recipe=text_csv('\ntest_path = "{tmp}/t.csv"'),
        needs=["transformers"],
    ),
    # models from files (evaluated as given)
    "weights-missing-file": Case(
        RUN,
        2,
        ["model.weights", "nowhere.pth is not a file"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/nowhere.pth"'),
    ),
    "weights-truncated": Case(
        RUN,
        2,
        ["model.weights", "w.pth is neither a safetensors file nor a PyTorch state_dict"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.pth"'),
        setup=truncated(cnn_weights(), "w.pth"),
    ),
    "weights-truncated-safetensors": Case(
        RUN,
        2,
        ["w.safetensors is not a readable safetensors file"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.safetensors"'),
        setup=truncated(cnn_weights("w.safetensors"), "w.safetensors"),
    ),
    "weights-of-another-architecture": Case(
        RUN,
        2,
        ["does not fit the mlp this recipe builds", "another architecture", "unexpected: backbone.0.weight"],
        recipe=given('name = "mlp"\nweights = "{tmp}/w.pth"'),
        setup=cnn_weights(),
    ),
    "weights-other-number-of-classes": Case(
        RUN,
        2,
        [
            "another number of classes than the data",
            "head.weight is (9, 128) in the file, (10, 128) in the model",
        ],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.pth"'),
        setup=cnn_weights(classes=9),
    ),
    "weights-missing-keys": Case(
        RUN,
        2,
        ["missing: head.bias"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.safetensors"'),
        setup=cnn_weights("w.safetensors", change=lambda s: {k: v for k, v in s.items() if k != "head.bias"}),
    ),
    "weights-not-a-state-dict": Case(
        RUN,
        2,
        ["holds list, not a state_dict of tensors"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.pth"'),
        setup=lambda tmp: torch.save([torch.zeros(2)], tmp / "w.pth"),
    ),
    "weights-pickled-code": Case(  # weights_only refuses the global: nothing runs
        RUN,
        2,
        ["needs to run pickled code to be read, which the toolkit never does"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.pth"'),
        setup=lambda tmp: torch.save({"head.weight": Payload(tmp / "pwned")}, tmp / "w.pth"),
    ),
    "model-file-not-an-archive": Case(
        RUN,
        2,
        ["model.path", "neither a torch.export program (.pt2) nor a TorchScript file"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"'),
        setup=lambda tmp: (tmp / "m.pt2").write_text("not a model"),
    ),
    "model-file-is-a-state-dict": Case(  # torch.save writes a zip too
        RUN,
        2,
        ["neither a torch.export program nor a TorchScript file", "goes in the weights parameter"],
        recipe=given('name = "torchscript"\npath = "{tmp}/w.pth"'),
        setup=cnn_weights(),
    ),
    "model-file-truncated-export": Case(
        RUN,
        2,
        ["model.path", "m.pt2"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"'),
        setup=truncated(program(), "m.pt2"),
    ),
    "model-file-missing": Case(
        RUN,
        2,
        ["model.path", "m.pt2 is not a file"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"'),
    ),
    "model-file-other-class-names": Case(
        RUN,
        2,
        ["model.class_names", "are not the data's"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"\nclass_names = ["a", "b"]'),
        setup=program(),
    ),
    "model-file-other-number-of-outputs": Case(
        RUN,
        2,
        ["the program returns (1, 3), not logits of shape (batch, 10)"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"'),
        setup=program(classes=3),
    ),
    "model-file-other-input-shape": Case(
        RUN,
        2,
        ["m.pt2 does not take inputs of the data's shape (1, 8, 8)"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"'),
        setup=lambda tmp: torch.export.save(
            torch.export.export(torch.nn.Linear(3, 10), (torch.rand(2, 3),)), tmp / "m.pt2"
        ),
    ),
    "model-file-declared-input-size": Case(
        RUN,
        2,
        ["model.input_size: m.pt2 takes inputs of shape (3, 32, 32), the data's are (1, 8, 8)"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"\ninput_size = [3, 32, 32]'),
        setup=program(),
    ),
    "weights-other-class-names": Case(
        RUN,
        2,
        ["model.class_names", "are not the data's"],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.pth"\nclass_names = ["a", "b"]'),
        setup=cnn_weights(),
    ),
    "model-file-unknown-head": Case(
        RUN,
        2,
        ["model.head: 'fc' cannot be read in m.pt2", "no such module"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"\nhead = "fc"'),
        setup=program(),
    ),
    "model-file-torchscript-head": Case(
        RUN,
        2,
        ["TorchScript modules take no hooks"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt"\nhead = "1"'),
        setup=program("m.pt"),
    ),
    "model-mean-without-std": Case(
        RUN,
        2,
        ["model.mean and model.std: give both, one value per channel of 'digits' (1)"],
        recipe=given('name = "torchscript"\npath = "{tmp}/m.pt2"\nmean = [0.5]'),
        setup=program(),
    ),
    "model-std-not-positive": Case(
        RUN,
        2,
        ["model.std: every standard deviation must be positive"],
        recipe=given('name = "small_cnn"\nmean = [0.5]\nstd = [0.0]'),
    ),
    "given-model-with-a-training-defense": Case(  # refused by validate: the recipe alone shows it
        VALIDATE,
        2,
        [
            "defenses.0",
            "adversarial_training acts while the model trains",
            "evaluated as given",
            "add a [train] table",
        ],
        recipe=given('name = "small_cnn"\nweights = "{tmp}/w.pth"')
        + '[[defenses]]\nname = "adversarial_training"\n',
        setup=cnn_weights(),
    ),
    # your own table
    "table-not-a-file": Case(RUN, 2, ["dataset table", "t.csv is not a file"], recipe=table()),
    "table-missing-column": Case(
        RUN, 2, ["t.csv: no column 'hire'", "the columns are"], recipe=table(label="hire"), setup=table_file()
    ),
    "table-label-one-value": Case(
        RUN,
        2,
        ["the label column 'hired' holds one value, '1'"],
        recipe=table(),
        setup=table_file("".join(f"{i},{'ab'[i % 2]},1\n" for i in range(20))),
    ),
    "table-favourable-absent": Case(
        RUN,
        2,
        ["dataset.favourable", "no row whose 'hired' is '1'"],
        recipe=table(),
        setup=table_file("".join(f"{i},{'ab'[i % 2]},{i % 2 + 2}\n" for i in range(20))),
    ),
    "table-empty-cell": Case(  # NaN would reach the model
        RUN,
        2,
        ["t.csv: column 'age' has empty cells (the first in data row 3)"],
        recipe=table(),
        setup=table_file("1,a,0\n2,b,1\n,a,0\n" + "".join(f"{i},{'ab'[i % 2]},{i % 2}\n" for i in range(20))),
    ),
    "table-privileged-absent": Case(
        RUN,
        2,
        ["dataset.sensitive.sex", "no row whose 'sex' is 'a'"],
        recipe=table(),
        setup=table_file("".join(f"{i},b,{i % 2}\n" for i in range(20))),
    ),
    "table-group-absent-from-a-split": Case(
        RUN,
        2,
        ["no row of the test split is in the group sex = 'a'"],
        recipe=table('test_path = "{tmp}/test.csv"\n'),
        setup=lambda tmp: (table_file()(tmp), table_file("1,b,0\n2,b,1\n", "test.csv")(tmp)),
    ),
    "table-test-file-other-columns": Case(
        RUN,
        2,
        ["test.csv: no column 'sex'"],
        recipe=table('test_path = "{tmp}/test.csv"\n'),
        setup=lambda tmp: (table_file()(tmp), (tmp / "test.csv").write_text("age,hired\n1,0\n")),
    ),
    "table-not-a-table": Case(
        RUN,
        2,
        ["t.parquet: not a readable table"],
        recipe=table().replace("t.csv", "t.parquet"),
        setup=lambda tmp: (tmp / "t.parquet").write_text("not parquet"),
        needs=["pyarrow"],
    ),
    "table-bad-bounds": Case(
        RUN,
        2,
        ["dataset.bounds.age: give [low, high]"],
        recipe=table("bounds = {age = [5.0, 1.0]}\n"),
        setup=table_file(),
    ),
    "given-model-with-a-poison-filter": Case(  # the filter trains the model again on what it keeps
        VALIDATE,
        2,
        [
            "defenses.0",
            "activation_clustering acts while the model trains (or trains it again)",
            "evaluated as given",
        ],
        recipe=BACKDOOR.replace("epochs = 1", "epochs = 0")
        + '[[defenses]]\nname = "activation_clustering"\n',
    ),
    "autoattack-on-three-classes": Case(
        RUN,
        2,
        ["attack autoattack", "four classes or more", "has 3"],
        recipe='task = "evasion"\nname = "aa"\n[dataset]\nname = "synthetic"\nmodality = "image"\n'
        'n_classes = 3\n[model]\nname = "small_cnn"\n[train]\nepochs = 1\n[[attacks]]\nname = "autoattack"\n',
        needs=["torchattacks"],
    ),
    "autoattack-on-tabular-data": Case(
        VALIDATE,
        2,
        ["autoattack", "image"],
        recipe=ADULT_RECIPE.replace("fairness", "evasion") + '[[attacks]]\nname = "autoattack"\n',
    ),
    "explain-on-images": Case(
        VALIDATE,
        2,
        ["task: the explain task works on text data", "use a text dataset"],
        recipe=tiny('task = "ood"', 'task = "explain"').replace(
            '[[detectors]]\nname = "msp"\n\n[[detectors]]\nname = "energy"\n',
            '[[explainers]]\nname = "saliency"\n',
        ),
    ),
    "text-robustness-unknown-augmenter": Case(
        VALIDATE,
        2,
        ["evaluate.augmenters", "char_noize", "char_noise"],
        recipe=text('task = "classify"', 'task = "text_robustness"')
        + '[evaluate]\naugmenters = [{name = "char_noize"}]\n',
    ),
    "text-bias-no-occupations": Case(
        RUN,
        2,
        ["evaluate.occupations", "no file"],
        setup=text_files(),
        recipe=text('task = "classify"', 'task = "text_bias"')
        + '[evaluate]\noccupations = "{tmp}/none.json"\n',
        needs=["transformers"],
    ),
    "text-bias-occupations-a-list": Case(
        RUN,
        2,
        ["occ.json", "expected a JSON object"],
        setup=text_files(lambda t: (t / "occ.json").write_text("[1, 2]")),
        recipe=text('task = "classify"', 'task = "text_bias"')
        + '[evaluate]\noccupations = "{tmp}/occ.json"\n',
        needs=["transformers"],
    ),
    "text-augment-bad-lexicon": Case(
        RUN,
        2,
        ["lex.json"],
        setup=text_files(lambda t: (t / "lex.json").write_text('{"dog": "cat"}')),
        recipe=text()
        + '[[defenses]]\nname = "text_augment"\naugmenter = "synonym"\nparams = {lexicon = "{tmp}/lex.json"}\n',
        needs=["transformers"],
    ),
    # comparing runs
    "compare-malformed-json": Case(
        ["compare", "{tmp}/run1"], 2, ["metrics.json", "JSON"], setup=metrics_file(b'{"x": ')
    ),
    "compare-json-list": Case(
        ["compare", "{tmp}/run1"], 2, ["holds a JSON list"], setup=metrics_file(b"[1, 2]")
    ),
    "compare-not-utf8": Case(
        ["compare", "{tmp}/run1"], 2, ["metrics.json", "utf-8"], setup=metrics_file(b"\xff\xfe")
    ),
    "compare-nowhere": Case(["compare", "{tmp}/nowhere"], 2, ["not a run folder"]),
    "compare-empty-folder": Case(
        ["compare", "{tmp}/empty"], 2, ["no run folders"], setup=lambda t: (t / "empty").mkdir()
    ),
    # experiment tracking: checked before the run, so nothing runs
    "track-unknown-tracker": Case([*RUN, "--track", "wandb"], 2, ["unknown tracker 'wandb'", "mlflow"]),
    "track-uri-without-track": Case(
        [*RUN, "--track-uri", "sqlite:///{tmp}/m.db"], 2, ["--track-uri", "need --track mlflow"]
    ),
    "track-without-mlflow": Case(
        [*RUN, "--track", "mlflow"], 2, ["pip install 'trustworthy-ml-toolkit[tracking]'"], hide=["mlflow"]
    ),
    # toolkit export: checked before anything is written
    "export-not-a-run-folder": Case(
        ["export", "{tmp}/run1", "--to", "{tmp}/m.pt2"],
        2,
        ["not a finished run folder (no meta.json)"],
        setup=metrics_file(b"{}"),
        absent=["m.pt2"],
    ),
    "export-unknown-suffix": Case(
        ["export", "{tmp}/run1", "--to", "{tmp}/m.onnx"],
        2,
        ["--to", "m.onnx: the file's suffix says its format", ".pt2", ".safetensors"],
        setup=run_folder({}),
        absent=["m.onnx"],
    ),
    "export-model-not-cached": Case(  # the run folder's model was never made here: no training
        ["export", "{tmp}/run1", "--to", "{tmp}/m.pt2"],
        1,
        ["is not in the artifact cache", "run its recipe again"],
        setup=run_folder({}),
        absent=["m.pt2"],
    ),
    "export-malformed-recipe": Case(
        ["export", "{tmp}/run1", "--to", "{tmp}/m.pt2"],
        2,
        ["run1/recipe.toml is not valid TOML"],
        setup=run_folder({"recipe.toml": b"task = "}),
        absent=["m.pt2"],
    ),
    "track-not-a-run-folder": Case(
        ["track", "{tmp}/run1"], 2, ["not a finished run folder (no meta.json)"], setup=metrics_file(b"{}")
    ),
    # the packaged recipes
    "recipes-cp-unknown-name": Case(
        ["recipes", "cp", "quikstart", "{tmp}"],
        2,
        ["unknown recipe 'quikstart'", "'quickstart'", "recipes ls"],
    ),
    "recipes-cp-onto-existing-file": Case(
        ["recipes", "cp", "quickstart", "{tmp}"],
        2,
        ["quickstart.toml already exists", "--force"],
        setup=a_file("quickstart.toml"),
    ),
    "recipes-cp-into-a-plain-file": Case(
        ["recipes", "cp", "quickstart", "{tmp}/notes"],
        2,
        ["notes is a file, not a folder"],
        setup=a_file("notes"),
    ),
    "recipes-cp-onto-a-dangling-link": Case(  # never written through, even with --force
        ["recipes", "cp", "quickstart", "{tmp}", "--force"],
        2,
        ["quickstart.toml: a symbolic link is in the way"],
        setup=lambda tmp: (tmp / "quickstart.toml").symlink_to(tmp / "elsewhere.toml"),
        absent=["elsewhere.toml"],
    ),
    "run-unknown-recipe-name": Case(["run", "quikstart"], 2, ["recipe file not found", "toolkit recipes ls"]),
    # sweeps: checked before the sweep folder is made, so nothing is written
    "sweep-grid-not-key-values": Case(
        [*SWEEP, "--grid", "train.lr"], 2, ["--grid 'train.lr' is not key=v1,v2"]
    ),
    "sweep-grid-no-values": Case([*SWEEP, "--grid", "train.lr="], 2, ["--grid 'train.lr=' has no values"]),
    "sweep-nothing-to-sweep": Case(SWEEP, 2, ["nothing to sweep", "--grid"]),
    "sweep-repeated-value": Case(  # would run once and count twice
        [*SWEEP, "--grid", "train.lr=0.1,0.1"],
        2,
        ["point lr=0.1 is point lr=0.1 again", "give each value once"],
        absent=["out"],
    ),
    "sweep-value-repeated-as-a-string": Case(  # "0.1" reads as 0.1: the same recipe
        [*SWEEP, "--grid", 'train.lr=0.1,"0.1"'], 2, ["is point lr=0.1 again"], absent=["out"]
    ),
    "sweep-negative-threads": Case(
        [*SWEEP, "--grid", "train.lr=0.1,0.2", "--threads", "-1"],
        2,
        ["--threads must be at least 1, not -1"],
        absent=["out"],
    ),
    "sweep-invalid-point": Case(
        [*SWEEP, "--grid", "train.epochs=1,-1"],
        2,
        ["the sweep has invalid points", "point epochs=-1", "train.epochs"],
    ),
    "sweep-unequal-zip": Case(
        [*SWEEP, "--zip", "train.lr=0.1,0.2", "--zip", "train.epochs=1"], 2, ["as many values each"]
    ),
    "sweep-key-in-grid-and-zip": Case(
        [*SWEEP, "--grid", "train.lr=0.1,0.2", "--zip", "train.lr=0.1,0.2"],
        2,
        ["either in the grid or zipped"],
    ),
    "sweep-unknown-executor": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--executor", "slurm"],
        2,
        ["unknown executor 'slurm'", "local, ray"],
    ),
    "sweep-ray-not-installed": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--executor", "ray"],
        2,
        ["needs Ray", "[distributed]"],
        hide=["ray"],
    ),
    "sweep-gpus-without-ray": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--gpus", "1"],
        2,
        ["--gpus reserves GPUs per run through Ray", "--executor ray"],
    ),
    "sweep-gpus-negative": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--executor", "ray", "--gpus=-1"],
        2,
        ["--gpus must be 0 or more"],
        needs=["ray"],
    ),
    "sweep-gpus-fraction-above-one": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--executor", "ray", "--gpus", "1.5"],
        2,
        ["--gpus 1.5", "whole GPUs"],
        needs=["ray"],
    ),
    "sweep-gpus-more-than-the-machine": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--executor", "ray", "--gpus", "64"],
        2,
        ["each run asks for 64 GPUs", "this machine has", "RAY_ADDRESS"],
        needs=["ray"],
    ),
    "sweep-unknown-tracker": Case(  # every point ran and warned before
        [*SWEEP, "--grid", "train.lr=0.1,0.2", "--track", "wandb"],
        2,
        ["unknown tracker 'wandb'", "mlflow"],
        absent=["out"],
    ),
    "sweep-track-uri-without-track": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--track-uri", "sqlite:///{tmp}/m.db"],
        2,
        ["--track-uri and --track-experiment need --track mlflow"],
        absent=["out", "m.db"],
    ),
    "sweep-track-without-mlflow": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--track", "mlflow"],
        2,
        ["needs MLflow, which is not installed"],
        hide=["mlflow"],
        absent=["out"],
    ),
    "sweep-resume-without-a-sweep": Case(
        [*SWEEP, "--grid", "train.lr=0.1", "--resume"], 2, ["--resume: no sweep of 'tiny'"]
    ),
    # --resume continues only the sweep that was recorded, and rewrites nothing otherwise
    "sweep-resume-other-overrides": Case(
        [*RESUME, "--set", "train.epochs=2"],
        2,
        ["--resume: the sweep in", 'overrides: recorded [], now ["train.epochs=2"]', "without --resume"],
        setup=recorded_sweep(),
    ),
    "sweep-resume-other-grid": Case(
        [*RESUME, "--grid", "train.epochs=1,2"],
        2,
        ['grid: recorded {"train.lr": [0.1]}, now', '"train.epochs": [1, 2]'],
        setup=recorded_sweep(),
    ),
    "sweep-resume-other-seeds": Case(
        [*RESUME, "--seeds", "2"], 2, ["seeds: recorded 1, now 2"], setup=recorded_sweep()
    ),
    "sweep-resume-point-of-another-run": Case(  # the recipe file changed since the point ran
        RESUME,
        2,
        ["point lr=0.1 would now be another run than the one recorded", "the recipe file changed"],
        setup=recorded_sweep(),
    ),
    "sweep-resume-recorded-fingerprint-differs": Case(
        RESUME,
        2,
        ["point lr=0.1 would now be another run"],
        setup=recorded_sweep(
            points=[{**RECORDED_SWEEP["points"][0], "fingerprint": "0" * 64}]  # type: ignore[index]
        ),
    ),
    "sweep-resume-point-without-meta": Case(
        RESUME, 2, ["points/lr=0.1 is not a finished run folder (no meta.json)"], setup=recorded_sweep(None)
    ),
    "sweep-resume-point-meta-malformed": Case(
        RESUME, 2, ["points/lr=0.1/meta.json is not valid JSON"], setup=recorded_sweep(b"{")
    ),
    "sweep-resume-damaged-sweep-json": Case(
        RESUME,
        2,
        ["sweep-1/sweep.json holds a JSON list, not a table", "start a new sweep without --resume"],
        setup=lambda tmp: (recorded_sweep()(tmp), (tmp / "prev/tiny/sweep-1/sweep.json").write_text("[1]")),
    ),
    "sweep-table-bad-key": Case(
        VALIDATE,
        2,
        ["sweep.grid", "'train lr' is not a recipe key"],
        recipe=TINY_RECIPE + '[sweep]\ngrid = {"train lr" = [1]}\n',
    ),
    "sweep-table-no-values": Case(
        VALIDATE,
        2,
        ["sweep.grid", "'train.lr' has no values"],
        recipe=TINY_RECIPE + '[sweep]\ngrid = {"train.lr" = []}\n',
    ),
    "report-not-a-folder": Case(
        ["report", "{tmp}/nowhere"], 2, ["neither a run folder", "nor a sweep folder"]
    ),
    "report-bad-sweep-json": Case(
        ["report", "{tmp}/sw"],
        2,
        ["sw/sweep.json is not valid JSON", "not the file toolkit sweep wrote"],
        setup=bad_sweep_json,
    ),
    "report-incomplete-run-folder": Case(
        ["report", "{tmp}/run1"], 2, ["not a finished run folder (no meta.json)"], setup=metrics_file(b"{}")
    ),
    "compare-metric-matches-nothing": Case(
        ["compare", "{tmp}/run1", "--metric", "zzz"],
        2,
        ["no metric matches zzz"],
        setup=metrics_file(b'{"a": 1}'),
    ),
    # run folders and sweep folders read back (compare, report, track, sweep summaries): one
    # reader, one message that names the file and what to do, and nothing written
    "compare-one-run-malformed": Case(
        ["compare", "{tmp}/runs"],
        2,
        ["runs/b/metrics.json is not valid JSON", "run the recipe again"],
        setup=run_folder({"metrics.json": b'{"x": '}, "runs/a", "runs/b"),
        forbid=["accuracy"],
    ),
    "compare-metrics-nested-too-deeply": Case(
        ["compare", "{tmp}/runs"],
        2,
        ["runs/b/metrics.json is nested too deeply"],
        setup=run_folder(
            {"metrics.json": b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"}, "runs/a", "runs/b"
        ),
    ),
    "compare-metrics-nested-past-the-limit": Case(
        ["compare", "{tmp}/runs"],
        2,
        ["runs/b/metrics.json is nested more than 64 levels deep"],
        setup=run_folder(
            {"metrics.json": b'{"x": ' + b'{"y": ' * 500 + b"1" + b"}" * 500 + b"}"}, "runs/a", "runs/b"
        ),
    ),
    "report-linked-recipe": Case(  # never embeds a link's target in a report
        ["report", "{tmp}/run1"],
        2,
        ["run1/recipe.toml is a symbolic link, not a file the run wrote"],
        setup=linked_run_folder("recipe.toml", "secret.txt"),
        forbid=["outside"],
    ),
    "report-malformed-metrics": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/metrics.json is not valid JSON", "run the recipe again"],
        setup=run_folder({"metrics.json": b'{"x": '}),
        absent=["run1/report.html"],
    ),
    "report-metrics-a-list": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/metrics.json holds a JSON list, not a table"],
        setup=run_folder({"metrics.json": b"[1, 2]"}),
        absent=["run1/report.html"],
    ),
    "report-malformed-meta": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/meta.json is not valid JSON", "run the recipe again"],
        setup=run_folder({"meta.json": b'{"name": "tiny",'}),
        absent=["run1/report.html"],
    ),
    "report-meta-a-list": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/meta.json holds a JSON list, not a table"],
        setup=run_folder({"meta.json": b'["tiny"]'}),
        absent=["run1/report.html"],
    ),
    "report-meta-not-utf8": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/meta.json cannot be read", "utf-8"],
        setup=run_folder({"meta.json": b"\xff\xfe"}),
        absent=["run1/report.html"],
    ),
    "report-malformed-recipe": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/recipe.toml is not valid TOML"],
        setup=run_folder({"recipe.toml": b"task = \n"}),
        absent=["run1/report.html"],
    ),
    "report-malformed-tables": Case(
        ["report", "{tmp}/run1"],
        2,
        ["run1/tables.json does not hold tables", "'columns'"],
        setup=run_folder({"tables.json": b'[{"title": "t"}]'}),
        absent=["run1/report.html"],
    ),
    "track-malformed-meta": Case(
        ["track", "{tmp}/run1"],
        2,
        ["run1/meta.json is not valid JSON", "run the recipe again"],
        setup=run_folder({"meta.json": b"{"}),
    ),
    "track-metrics-a-list": Case(
        ["track", "{tmp}/run1"],
        2,
        ["run1/metrics.json holds a JSON list, not a table"],
        setup=run_folder({"metrics.json": b"[]"}),
    ),
    "track-partial-folder": Case(
        ["track", "{tmp}/.partial-run1"],
        2,
        ["is a run that has not finished"],
        setup=run_folder({}, ".partial-run1"),
    ),
    "sweep-summary-malformed-metrics": Case(
        ["report", "{tmp}/sw"],
        2,
        ["sw/points/b/metrics.json is not valid JSON", "resume the sweep (toolkit sweep --resume)"],
        setup=sweep_folder(b'{"accuracy": '),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-metrics-a-list": Case(
        ["report", "{tmp}/sw"],
        2,
        ["sw/points/b/metrics.json holds a JSON list, not a table"],
        setup=sweep_folder(b"[0.5]"),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-metrics-not-utf8": Case(
        ["report", "{tmp}/sw"],
        2,
        ["sw/points/b/metrics.json cannot be read", "utf-8"],
        setup=sweep_folder(b"\xff"),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-point-without-id": Case(
        ["report", "{tmp}/sw"],
        2,
        ["not a sweep folder with a readable sweep.json", "a point without id"],
        setup=sweep_folder(b"{}", points=[{"group": "a", "values": {}, "seed": 0}]),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-point-id-escapes": Case(  # a point's folder is under points/, nowhere else
        ["report", "{tmp}/sw"],
        2,
        ["point id '../../x' is not a folder name of points/"],
        setup=sweep_folder(b"{}", points=[{"id": "../../x", "group": "a", "values": {}, "seed": 0}]),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-point-listed-twice": Case(  # one run would count twice
        ["report", "{tmp}/sw"],
        2,
        ["point b is listed twice"],
        setup=sweep_folder(b"{}", points=[*SWEEP_RECORD["points"], SWEEP_RECORD["points"][1]]),  # type: ignore[list-item]
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-linked-sweep-json": Case(  # a link's target is never read as the sweep's record
        ["report", "{tmp}/sw"],
        2,
        ["not a sweep folder with a readable sweep.json"],
        setup=lambda tmp: (
            sweep_folder(b"{}")(tmp),
            (tmp / "record.json").write_bytes((tmp / "sw/sweep.json").read_bytes()),
            (tmp / "sw/sweep.json").unlink(),
            (tmp / "sw/sweep.json").symlink_to(tmp / "record.json"),
        ),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-linked-recipe": Case(
        ["report", "{tmp}/sw"],
        2,
        ["sw/recipe.toml is a symbolic link, not a file the run wrote"],
        setup=lambda tmp: (
            sweep_folder(b"{}")(tmp),
            (tmp / "secret.txt").write_text("SECRET"),
            (tmp / "sw/recipe.toml").symlink_to(tmp / "secret.txt"),
        ),
        absent=SWEEP_OUTPUTS,
    ),
    "sweep-summary-failed-not-a-table": Case(
        ["report", "{tmp}/sw"],
        2,
        ["not a sweep folder with a readable sweep.json", "'failed' is not a table"],
        setup=sweep_folder(b"{}", failed=["b"]),
        absent=SWEEP_OUTPUTS,
    ),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input(
    case_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[case_id]
    if case.needs:
        needs(*case.needs, what=f"the case {case_id}")
    for module in case.hide:
        monkeypatch.setitem(sys.modules, module, None)  # `import module` fails, as when not installed
    if case_id == "cuda-not-available" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    if case.setup is not None:
        case.setup(tmp_path)
        capsys.readouterr()
    recipe = tmp_path / "case.toml"
    if isinstance(case.recipe, bytes):
        recipe.write_bytes(case.recipe)
    else:
        recipe.write_text(case.recipe.replace("{tmp}", tmp_path.as_posix()))
    args = [a.replace("{recipe}", str(recipe)).replace("{tmp}", tmp_path.as_posix()) for a in case.args]
    before = written(tmp_path)
    code, output = cli_in_process(args, capsys)
    assert code == case.code, output
    flat = " ".join(output.split())  # the console wraps long lines where the paths make it
    for fragment in case.says:
        assert " ".join(fragment.split()) in flat, f"{fragment!r} not in:\n{output}"
    for fragment in ["Traceback", "internal error", *case.forbid]:
        assert fragment not in output, output
    assert not (tmp_path / "pwned").exists(), "a data file ran code"
    for path in case.absent:
        assert not (tmp_path / path).exists(), f"{path} was written"
    assert_nothing_half_written(tmp_path, succeeded=code == 0 and case.args[0] == "run")
    # nothing written outside the run folders and the cache (a failed command: nowhere at all)
    changed = {p for p, stamp in written(tmp_path).items() if before.get(p) != stamp}
    outside = sorted(p for p in changed if p.parts[0] not in ("out", "cache"))
    assert not outside, f"written outside the run folder: {outside}"
    if case.args[0] == "run" and code != 0 and case.setup is None:  # a failed run stores no model
        assert not list(Path(os.environ["TOOLKIT_CACHE"]).rglob("*.safetensors"))


def written(tmp: Path) -> dict[Path, tuple[int, int]]:
    """Every file under ``tmp`` (relative) with its size and modification time."""
    out = {}
    for path in tmp.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[path.relative_to(tmp)] = (st.st_size, st.st_mtime_ns)
    return out


def assert_nothing_half_written(tmp: Path, *, succeeded: bool) -> None:
    out = tmp / "out"
    if out.exists():
        partial = [p for p in out.rglob(".partial-*")]
        assert not partial, partial
        runs = [p for p in out.glob("*/*") if p.is_dir()]
        if succeeded:
            assert len(runs) == 1 and (runs[0] / "metrics.json").is_file(), runs
        else:
            assert not list(out.iterdir()), list(out.rglob("*"))  # not even an empty runs/<name>/
    cache = Path(os.environ["TOOLKIT_CACHE"])
    if cache.is_dir():
        assert not list(cache.rglob("*.tmp"))
        assert all(problem is None for _, problem in ArtifactCache(cache).verify()) or not succeeded
