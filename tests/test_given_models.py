"""Models trained outside the toolkit, brought as files: the same predictions the script that
trained them computes, through ``toolkit run``, with no training stage."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli_in_process, needs
from torch import nn

from toolkit.data.digits import load as load_digits

ROOT = Path(__file__).resolve().parents[1]


def plain_cnn() -> nn.Module:
    """A CNN of the user's own making (not a toolkit architecture)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10),
    )  # fmt: skip


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 8) -> nn.Module:
    """A plain PyTorch training loop, the user's script."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(epochs):
        for i in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i]), y[i]).backward()
            opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The user's script: digits as the toolkit splits them (seed 0), pixels in [0, 1], a CNN
    trained and saved in every format, and its own test predictions."""
    folder = tmp_path_factory.mktemp("script")
    data = load_digits(0)
    x_train, y_train = data.train.x.float() / 255, data.train.y
    x_test = data.test.x.float() / 255
    net = fit(plain_cnn(), x_train, y_train)
    with torch.no_grad():
        predictions = net(x_test).argmax(1).numpy()
    batch = torch.export.Dim("batch")
    torch.export.save(
        torch.export.export(net, (x_test[:4],), dynamic_shapes=({0: batch},)), folder / "dynamic.pt2"
    )
    torch.export.save(torch.export.export(net, (x_test[:32],)), folder / "fixed32.pt2")  # batch fixed to 32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in this torch, still in wide use
        torch.jit.save(torch.jit.trace(net, x_test[:4]), folder / "traced.pt")
    # the same CNN on the digits without 9 (nine outputs), for leave-classes-out OOD detection
    kept = y_train != 9
    net9 = plain_cnn()
    net9[-1] = nn.Linear(32, 9)
    net9 = fit(net9, x_train[kept], y_train[kept], epochs=4)
    torch.export.save(
        torch.export.export(net9, (x_test[:4],), dynamic_shapes=({0: batch},)), folder / "no9.pt2"
    )
    # the toolkit's small_cnn architecture, trained by the same plain loop
    from safetensors.torch import save_file

    from toolkit.models.small_cnn import build

    torch.manual_seed(0)
    cnn = fit(build(data.info, channels=[8, 16], hidden=32), x_train, y_train, epochs=4)
    with torch.no_grad():
        cnn_predictions = cnn(x_test).argmax(1).numpy()
    save_file({k: v.contiguous() for k, v in cnn.state_dict().items()}, folder / "cnn.safetensors")
    torch.save(cnn.state_dict(), folder / "cnn.pth")
    return {
        "folder": folder,
        "predictions": predictions,
        "cnn_predictions": cnn_predictions,
        "y": data.test.y.numpy(),
        "net": net,
        "net9": net9,
    }


def run_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, *, task: str = "classify",
               extra: str = "") -> Path:  # fmt: skip
    recipe = tmp_path / f"{task}.toml"
    recipe.write_text(
        f'task = "{task}"\nname = "given"\n[dataset]\nname = "digits"\n{extra}[model]\n{model}\n'
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, printed
    assert "model as given, no training" in printed
    (folder,) = (tmp_path / "out" / "given").iterdir()
    return folder


@pytest.mark.parametrize("file", ["dynamic.pt2", "fixed32.pt2", "traced.pt"])
def test_a_program_file_gives_the_scripts_own_predictions(
    script: dict, file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(script["folder"]) / file  # type: ignore[arg-type]
    folder = run_recipe(tmp_path, capsys, f'name = "torchscript"\npath = "{path.as_posix()}"')
    ours = np.load(folder / "samples" / "classify.npz")
    assert np.array_equal(ours["prediction"], script["predictions"])  # type: ignore[arg-type]
    assert np.array_equal(ours["label"], script["y"])  # type: ignore[arg-type]
    accuracy = json.loads((folder / "metrics.json").read_text())["accuracy"]
    assert accuracy == pytest.approx(float(np.mean(script["predictions"] == script["y"])))  # type: ignore[operator]
    import toolkit  # the same file through the Python API

    table = {"task": "classify", "name": "api", "dataset": {"name": "digits"},
             "model": {"name": "torchscript", "path": str(path)}}  # fmt: skip
    again = toolkit.run(table, out_dir=tmp_path / "api")
    assert np.array_equal(
        np.load(again.path / "samples" / "classify.npz")["prediction"], script["predictions"]
    )  # type: ignore[arg-type]
    assert accuracy > 0.5  # the script's model learned the digits
    assert json.loads((folder / "history.json").read_text()) == []  # nothing trained
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_cached"] is False


@pytest.mark.parametrize("file", ["cnn.safetensors", "cnn.pth"])
def test_weights_for_a_built_in_architecture_give_the_scripts_predictions(
    script: dict, file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(script["folder"]) / file  # type: ignore[arg-type]
    folder = run_recipe(
        tmp_path,
        capsys,
        f'name = "small_cnn"\nchannels = [8, 16]\nhidden = 32\nweights = "{path.as_posix()}"',
    )
    ours = np.load(folder / "samples" / "classify.npz")
    assert np.array_equal(ours["prediction"], script["cnn_predictions"])  # type: ignore[arg-type]
    import toolkit  # the same file through the Python API

    model = {"name": "small_cnn", "channels": [8, 16], "hidden": 32, "weights": str(path)}
    again = toolkit.run({"task": "classify", "name": "api", "dataset": {"name": "digits"}, "model": model},
                        out_dir=tmp_path / "api")  # fmt: skip
    assert np.array_equal(
        np.load(again.path / "samples" / "classify.npz")["prediction"], script["cnn_predictions"]
    )  # type: ignore[arg-type]


def test_a_given_program_runs_the_ood_task_with_its_named_layers(
    script: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(script["folder"])  # type: ignore[arg-type]
    from toolkit.registry import registry

    applicable = [  # every built-in detector that scores inputs, needs no parameters and takes images
        e.name for e in registry("detectors").entries()
        if e.builtin and not any(p.required for p in e.signature().params)
        and "image" in (getattr(e.load(), "modalities", None) or ("image",))
        and callable(getattr(e.load(), "score", None))  # a model scanner belongs in the backdoor task
    ]  # fmt: skip
    assert {"msp", "energy", "mahalanobis", "knn", "vim", "odin", "max_logit"} <= set(applicable)
    detectors = "".join(f'[[detectors]]\nname = "{d}"\n' for d in applicable)
    recipe = tmp_path / "ood.toml"
    body = 'task = "ood"\nname = "given"\n[dataset]\nname = "digits"\nholdout = ["9"]\n[model]\nname = "torchscript"\n'
    # ten outputs for nine classes: refused on the first batch, clearly, with nothing written
    recipe.write_text(body + f'path = "{(folder / "dynamic.pt2").as_posix()}"\nhead = "9"\n' + detectors)
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "not logits of shape (batch, 9)" in printed, printed
    assert not list((tmp_path / "out").rglob("metrics.json"))
    # the model trained without 9: every detector, the feature ones on the input of layer "9"
    recipe.write_text(body + f'path = "{(folder / "no9.pt2").as_posix()}"\nhead = "9"\n' + detectors)
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, printed
    (run,) = (tmp_path / "out" / "given").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["detectors"]) == set(applicable)
    for name in applicable:
        assert 0.5 < metrics["detectors"][name]["auroc"] <= 1.0, (name, metrics["detectors"][name])
    # without head, the feature detectors are refused before anything runs
    recipe.write_text(body + f'path = "{(folder / "no9.pt2").as_posix()}"\n' + detectors)
    code, printed = cli_in_process(["validate", str(recipe)], capsys)
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out2")], capsys)
    assert code == 2 and "has no penultimate features" in printed, printed


def test_a_given_program_runs_the_evasion_task(
    script: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(script["folder"]) / "fixed32.pt2"  # type: ignore[arg-type]
    folder = run_recipe(
        tmp_path, capsys, f'name = "torchscript"\npath = "{path.as_posix()}"', task="evasion",
        extra='[[attacks]]\nname = "fgsm"\n[[attacks]]\nname = "pgd"\nsteps = 5\n'
              '[[explainers]]\nname = "saliency"\n[[explainers]]\nname = "integrated_gradients"\n'
              '[[explainers]]\nname = "grad_cam"\n'
              '[evaluate]\neps = ["8/255", "32/255"]\nn = 64\n',
    )  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["n"] == 64 and metrics["clean_accuracy"] > 0.5
    for attack in ("fgsm", "pgd"):  # gradients reach the input through the program
        weak, strong = metrics["attacks"][attack]["robust_accuracy"]
        assert strong < weak < metrics["clean_accuracy"], (attack, metrics["attacks"][attack])
    figures = {p.stem for p in (folder / "figures").iterdir()}
    for explainer in ("saliency", "integrated_gradients", "grad_cam"):  # each drew its maps
        assert any(explainer in name for name in figures), (explainer, figures)


def test_changing_the_file_changes_the_fingerprint_touching_it_does_not(script: dict, tmp_path: Path) -> None:
    import os
    import shutil

    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.recipe import fingerprint, parse_recipe

    path = Path(shutil.copy(Path(script["folder"]) / "cnn.safetensors", tmp_path / "w.safetensors"))  # type: ignore[arg-type]
    data = {"task": "classify", "name": "g", "dataset": {"name": "digits"},
            "model": {"name": "small_cnn", "channels": [8, 16], "hidden": 32, "weights": str(path)}}  # fmt: skip

    def key() -> str:
        pipeline = Pipeline(
            parse_recipe(data), device=torch.device("cpu"), cache=None, log=RunLog(None, None)
        )
        return fingerprint(pipeline.stage("train"))

    before = key()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert key() == before
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert key() != before


def test_a_toolkit_trained_model_exported_and_brought_back_gives_the_runs_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import TINY_RECIPE

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        TINY_RECIPE.replace(
            '[[detectors]]\nname = "energy"\n',
            '[[detectors]]\nname = "energy"\n\n[[detectors]]\nname = "mahalanobis"\n',
        )
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, printed
    (run,) = (tmp_path / "out" / "tiny").iterdir()
    original = json.loads((run / "metrics.json").read_text())
    for suffix in (".pt2", ".safetensors", ".pth"):
        code, printed = cli_in_process(["export", str(run), "--to", str(tmp_path / f"m{suffix}")], capsys)
        assert code == 0, printed
        assert "to evaluate it as given" in printed
    tables = {
        ".pt2": f'name = "torchscript"\npath = "{(tmp_path / "m.pt2").as_posix()}"\nhead = "head"\n',
        ".safetensors": f'name = "mlp"\nhidden = [16]\nweights = "{(tmp_path / "m.safetensors").as_posix()}"\n',
        ".pth": f'name = "mlp"\nhidden = [16]\nweights = "{(tmp_path / "m.pth").as_posix()}"\n',
    }
    for suffix, table in tables.items():
        body = recipe.read_text()
        start, end = body.index("[model]"), body.index("[[detectors]]")
        given = tmp_path / f"given{suffix}.toml"
        given.write_text(body[:start] + "[model]\n" + table + "\n" + body[end:])  # [train] gone with it
        out = tmp_path / f"out{suffix}"
        code, printed = cli_in_process(["run", str(given), "--out", str(out)], capsys)
        assert code == 0 and "model as given" in printed, printed
        (again,) = (out / "tiny").iterdir()
        metrics = json.loads((again / "metrics.json").read_text())
        assert metrics["accuracy"] == original["accuracy"], suffix
        for name, values in original["detectors"].items():
            for key, value in values.items():
                if isinstance(value, float):
                    assert metrics["detectors"][name][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (
                        suffix,
                        name,
                        key,
                    )


def test_export_refuses_a_model_no_longer_cached_and_a_bad_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from conftest import TINY_RECIPE

    from toolkit.execution.cache import ArtifactCache

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    (run,) = (tmp_path / "out" / "tiny").iterdir()
    code, printed = cli_in_process(["export", str(run), "--to", str(tmp_path / "m.onnx")], capsys)
    assert code == 2 and "the file's suffix says its format" in printed, printed
    ArtifactCache(os.environ["TOOLKIT_CACHE"]).clear()
    code, printed = cli_in_process(["export", str(run), "--to", str(tmp_path / "m.pt2")], capsys)
    assert code == 1 and "is not in the artifact cache" in printed and "toolkit run" in printed, printed
    assert not (tmp_path / "m.pt2").exists()


def test_an_nn_module_object_through_the_python_api_gives_the_scripts_predictions(
    script: dict, tmp_path: Path
) -> None:
    import toolkit

    net = script["net"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recipe = {"task": "classify", "name": "api", "dataset": {"name": "digits"}}
    result = toolkit.run(recipe, model=net, out_dir=tmp_path / "runs")
    ours = np.load(result.path / "samples" / "classify.npz")
    assert np.array_equal(ours["prediction"], script["predictions"])
    assert result.metrics["accuracy"] == pytest.approx(float(np.mean(script["predictions"] == script["y"])))
    assert all(
        torch.equal(v, before[k]) for k, v in net.state_dict().items()
    )  # the caller's object untouched
    frames = result.tables
    assert frames and frames[0].attrs["title"] and list(frames[0].columns) == result.results[0].columns
    page = result._repr_html_()
    assert "<table>" in page and str(result.path) in page
    again = toolkit.load_run(result.path)
    assert again.metrics == result.metrics and again.figures.keys() == result.figures.keys()
    # another object with other weights is another model: never the cached one
    other = plain_cnn().eval()
    assert (
        toolkit.run(recipe, model=other, out_dir=tmp_path / "runs").metrics["accuracy"]
        != result.metrics["accuracy"]
    )
    # declarations: the penultimate features through head, for feature detectors
    ood = {"task": "ood", "name": "api_ood", "dataset": {"name": "digits", "holdout": ["9"]},
           "detectors": [{"name": "msp"}, {"name": "mahalanobis"}]}  # fmt: skip
    found = toolkit.run(ood, model=script["net9"], head="9", out_dir=tmp_path / "runs")
    assert 0.5 < found.metrics["detectors"]["mahalanobis"]["auroc"] <= 1
    with pytest.raises(toolkit.UsageError, match="has no penultimate features"):
        toolkit.run(ood, model=script["net9"], out_dir=tmp_path / "runs")


def test_a_data_bundle_through_the_python_api(tmp_path: Path) -> None:
    import toolkit
    from toolkit.data.synthetic import load

    bundle = load(3, n_per_class=40)
    recipe = {"task": "classify", "name": "api_data", "dataset": {"name": "digits"},
              "model": {"name": "mlp", "hidden": [8]}, "train": {"epochs": 1}}  # fmt: skip
    result = toolkit.run(recipe, data=bundle, out_dir=tmp_path / "runs")
    assert result.recipe["dataset"]["name"] == "python"
    labels = np.load(result.path / "samples" / "classify.npz")["label"]
    assert np.array_equal(labels, bundle.test.y.numpy())
    with pytest.raises(toolkit.UsageError, match=r"data= takes a toolkit\.data\.base\.DataBundle"):
        toolkit.run(recipe, data=[1, 2], out_dir=tmp_path / "runs")  # type: ignore[arg-type]
    with pytest.raises(toolkit.UsageError, match="describe a model object"):
        toolkit.run(recipe, head="fc", out_dir=tmp_path / "runs")


def test_a_recipe_file_cannot_reach_an_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'task = "classify"\nname = "x"\n[dataset]\nname = "digits"\n[model]\nname = "python"\nkey = "abc"\n'
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "no model object is held under this key" in printed, printed


def test_the_file_and_object_models_pass_the_model_conformance_checks(script: dict) -> None:
    from toolkit.data.digits import load
    from toolkit.models.in_memory import hold
    from toolkit.testing import check_component

    data = load(0)
    folder = Path(script["folder"])  # type: ignore[arg-type]
    for file, head in (("dynamic.pt2", "9"), ("fixed32.pt2", None), ("traced.pt", None)):
        check_component("models", "torchscript", params={"path": str(folder / file), "head": head}, data=data)
    check_component("models", "python", params={"key": hold(script["net"]), "head": "9"}, data=data)  # type: ignore[arg-type]
    check_component("models", "small_cnn", params={"channels": [8, 16], "hidden": 32,
                    "weights": str(folder / "cnn.safetensors")}, data=data)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ViT image classifier for the digits' ten classes, with its processor."""
    needs("transformers")
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("vit")
    torch.manual_seed(0)
    config = ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=32, num_labels=10,
                       id2label={i: str(i) for i in range(10)}, label2id={str(i): i for i in range(10)})  # fmt: skip
    ViTForImageClassification(config).eval().save_pretrained(folder)
    ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3],
                      resample=2).save_pretrained(folder)  # fmt: skip
    return folder


def test_a_hugging_face_image_checkpoint_is_evaluated_with_its_processors_size_and_normalization(
    tiny_vit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import ViTForImageClassification

    data = load_digits(0)
    folder = run_recipe(tmp_path, capsys, f'name = "hf_image"\ncheckpoint = "{tiny_vit.as_posix()}"')
    ours = np.load(folder / "samples" / "classify.npz")["prediction"]
    # what the checkpoint computes on the processor's preprocessing, done by hand
    net = ViTForImageClassification.from_pretrained(tiny_vit).eval()
    x = (data.test.x.float() / 255).expand(-1, 3, -1, -1)
    x = nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    x = (x - torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        theirs = net(pixel_values=x).logits.argmax(1).numpy()
    assert np.array_equal(ours, theirs)
    # its penultimate features (the classifier's input) serve the feature detectors
    from toolkit.testing import check_component

    check_component("models", "hf_image", params={"checkpoint": str(tiny_vit)}, data=data)


def test_a_hugging_face_checkpoint_for_other_classes_is_refused(
    tiny_vit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'task = "classify"\nname = "x"\n[dataset]\nname = "digits"\nholdout = ["9"]\n'
        f'[model]\nname = "hf_image"\ncheckpoint = "{tiny_vit.as_posix()}"\n'
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "are not the data's classes" in printed, printed


def test_timm_weights_in_timms_own_key_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A timm network trained elsewhere (saved with timm's key names) comes back with the
    script's predictions."""
    timm = needs("timm")
    data = load_digits(0)
    torch.manual_seed(0)
    net = timm.create_model("test_efficientnet", num_classes=10, in_chans=1).eval()
    torch.save(net.state_dict(), tmp_path / "timm.pth")
    from toolkit.models.base import Normalize

    norm = Normalize(data.info.mean, data.info.std, channels_first=True)  # the toolkit's own input convention
    with torch.no_grad():
        theirs = net(norm(data.test.x.float() / 255)).argmax(1).numpy()
    folder = run_recipe(
        tmp_path,
        capsys,
        f'name = "timm"\narch = "test_efficientnet"\nweights = "{(tmp_path / "timm.pth").as_posix()}"',
    )
    assert np.array_equal(np.load(folder / "samples" / "classify.npz")["prediction"], theirs)


def test_the_shipped_recipes_for_your_own_model_run_on_files_the_tests_make(
    script: dict, tiny_vit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkit.data import adult

    folder = Path(script["folder"])  # type: ignore[arg-type]
    frame = adult._select_rows(adult._read("bundled", None), ["race", "sex"], "white_vs_black")
    frame.iloc[:3000].to_csv(tmp_path / "data.csv", index=False)
    timm = needs("timm")
    torch.save(
        timm.create_model("test_efficientnet", num_classes=10, in_chans=1).state_dict(), folder / "timm.pth"
    )
    recipes = ROOT / "recipes"
    runs = {
        "own_program_ood": [f"model.path={json.dumps(str(folder / 'no9.pt2'))}", 'model.head="9"',
                            'detectors=[{name = "msp"}, {name = "mahalanobis"}]'],
        "own_program_evasion": [f"model.path={json.dumps(str(folder / 'dynamic.pt2'))}", "evaluate.n=50",
                                "attacks.1.steps=3"],
        "own_program_audit": [f"model.path={json.dumps(str(folder / 'dynamic.pt2'))}", "evaluate.scan_steps=30",
                              "evaluate.robust_samples=20", "evaluate.explain_samples=2", "evaluate.square_queries=100",
                              "evaluate.strip_samples=50"],
        "own_weights": [f"model.weights={json.dumps(str(folder / 'cnn.safetensors'))}"],
        "own_hf_image": [f"model.checkpoint={json.dumps(str(tiny_vit))}"],
        "own_timm_weights": [f"model.weights={json.dumps(str(folder / 'timm.pth'))}"],
        "own_table_fairness": [f"dataset.path={json.dumps(str(tmp_path / 'data.csv'))}", "train.epochs=1"],
    }  # fmt: skip
    assert set(runs) == {p.stem for p in recipes.glob("own_*.toml")}
    for name, sets in runs.items():
        args = ["run", str(recipes / f"{name}.toml"), "--out", str(tmp_path / "out")]
        code, printed = cli_in_process([*args, *(a for s in sets for a in ("--set", s))], capsys)
        assert code == 0, (name, printed)
        if name != "own_table_fairness":
            assert "model as given" in printed, name
        (run,) = (tmp_path / "out" / name).iterdir()
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics
        if name == "own_program_audit":
            assert {c["verdict"] for c in metrics["checks"].values()} <= {"pass", "warn", "fail", "skipped"}
            # the program's weights are randomized in place (a dynamic-batch export cannot be copied)
            assert metrics["checks"]["explanations"]["verdict"] in ("pass", "warn"), metrics["checks"][
                "explanations"
            ]
            assert (run / "model_card.md").is_file()


def test_image_arrays_through_the_python_api_with_a_model_object(script: dict, tmp_path: Path) -> None:
    import toolkit
    from toolkit.errors import DataError

    data = load_digits(0)
    arrays = (
        data.train.x.float() / 255,
        data.train.y,
        (data.test.x.float() / 255).numpy(),
        data.test.y.numpy(),
    )
    result = toolkit.run({"task": "classify", "name": "img", "dataset": {"name": "digits"}}, model=script["net"],
                         data=arrays, out_dir=tmp_path / "runs")  # fmt: skip
    assert np.array_equal(
        np.load(result.path / "samples" / "classify.npz")["prediction"], script["predictions"]
    )
    with pytest.raises(DataError, match=r"float images must lie in \[0, 1\]"):
        toolkit.run({"task": "classify", "name": "img", "dataset": {"name": "digits"}}, model=script["net"],
                    data=(arrays[0] * 255, *arrays[1:]), out_dir=tmp_path / "runs")  # fmt: skip
