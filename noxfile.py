"""The test matrix: ``nox`` runs every session, ``nox -s tests`` one of them.

Each session installs what it needs into its own virtual environment. To reuse the current
environment instead (faster, offline), run ``nox --no-venv``.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.sessions = ["lint", "typing", "tests", "fuzz", "core", "plugins", "recipes"]


def install(session: nox.Session, *args: str) -> None:
    """``pip install`` into the session's environment; nothing under ``--no-venv``."""
    if session.venv_backend == "none":
        session.log(f"--no-venv: using the current environment instead of installing {' '.join(args)}")
        return
    session.install(*args)


nox.options.reuse_existing_virtualenvs = True


def small(recipe: str) -> list[str]:
    """``--set`` overrides that make a shipped recipe small enough to run in seconds."""
    import tomllib

    with open(recipe, "rb") as fh:
        data = tomllib.load(fh)
    sets = ["train.epochs=1", "runtime.threads=1"]
    if data.get("dataset", {}).get("name") == "cifar10":
        sets += ["dataset.train_per_class=20", "dataset.test_per_class=10"]
    for i, defense in enumerate(data.get("defenses", [])):
        if defense.get("name") == "adversarial_debiasing":
            sets += [f"defenses.{i}.iterations=2", f"defenses.{i}.pretrain_epochs=1"]
    if data.get("task") == "fairness" and "baselines" in data:
        sets.append("evaluate.baseline_epochs=1")
    if data.get("task") == "evasion":
        sets.append("evaluate.n=50")
    init = data.get("train", {}).get("init_from")
    if init:  # the recipe whose model starts this one is shrunk the same way
        nested = small(os.path.join(os.path.dirname(recipe), init))[1::2]
        sets.append("train.init_set=[" + ", ".join(f"'{item}'" for item in nested) + "]")
    return [arg for item in sets for arg in ("--set", item)]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    install(session, "ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy on the package."""
    install(session, "-e", ".[dev]")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, slow tests included, with every extra installed."""
    install(session, "-e", ".[all]")
    session.run("python", "-m", "pytest", "-m", "slow or not slow", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The recipe fuzzing tests with a long hypothesis budget (3,000 examples each, ~2 min)."""
    install(session, "-e", ".[dev]")
    env = {"HYPOTHESIS_PROFILE": "long"}
    session.run("python", "-m", "pytest", "tests/test_fuzz_recipes.py", env=env)


@nox.session
def core(session: nox.Session) -> None:
    """A core install, without the optional extras, runs the quickstart."""
    install(session, "-e", ".", "pytest>=8")
    session.run("toolkit", "run", "recipes/quickstart.toml", "--no-cache", "--set", "train.epochs=2")
    session.run("python", "-m", "pytest", "tests/test_core_install.py")


@nox.session
def plugins(session: nox.Session) -> None:
    """Install every plugin in plugins/ for real, run its own tests and the conformance suite."""
    install(session, "-e", ".[dev]")
    for plugin in sorted(glob.glob("plugins/*/pyproject.toml")):
        folder = os.path.dirname(plugin)
        install(session, "-e", folder)
        if os.path.isdir(os.path.join(folder, "tests")):
            # the plugin's own package is importable from its folder even where it is not installed
            env = {"PYTHONPATH": os.pathsep.join([os.path.abspath(folder), os.environ.get("PYTHONPATH", "")])}
            session.run(
                "python", "-m", "pytest", "-p", "no:cacheprovider", os.path.join(folder, "tests"), env=env
            )
    session.run("toolkit", "list")
    session.run("python", "-m", "pytest", "tests/test_conformance.py")


@nox.session
def recipes(session: nox.Session) -> None:
    """Validate and run every recipe in recipes/ with overrides that make it small."""
    install(session, "-e", ".[all]")
    out = session.create_tmp()
    cifar = os.path.join("..", "shared", "data", "cifar10-subset")
    env = {"TOOLKIT_DATA": os.environ.get("TOOLKIT_DATA", cifar)}
    for recipe in sorted(glob.glob("recipes/*.toml")):
        session.run("toolkit", "validate", recipe)
        with open(recipe) as fh:
            needs_cifar = "cifar10" in fh.read()
        if "backdoor_folder" in recipe:  # a user's folder and ImageNet weights: tests/test_frozen_backbone.py
            session.log(f"skipping the run of {recipe}: it needs a dogs-vs-cats folder and ImageNet weights")
            continue
        if needs_cifar and not os.path.isdir(os.path.join(env["TOOLKIT_DATA"], "cifar-10-batches-py")):
            session.log(f"skipping the run of {recipe}: no CIFAR-10 under TOOLKIT_DATA={env['TOOLKIT_DATA']}")
            continue
        session.run("toolkit", "run", recipe, *small(recipe), "--no-cache", "--out", out, env=env)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs.yml) with warnings as errors: broken links and
    anchors, pages missing from the navigation, and the generated component reference."""
    install(session, "-e", ".[docs]")
    site = os.path.join(session.create_tmp(), "site")
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("python", "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", site, env=env)
