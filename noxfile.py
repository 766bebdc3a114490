"""The test matrix: ``nox`` runs every session, ``nox -s tests`` one of them.

Each session installs what it needs into its own virtual environment. To reuse the current
environment instead (faster, offline), run ``nox --no-venv``.
"""

from __future__ import annotations

import glob
import os

import nox

# the extras matrix and lowest are left out of the default run: each builds environments of
# its own (nox -s extras, nox -s lowest)
nox.options.sessions = ["lint", "typing", "tests", "fuzz", "core", "plugins", "recipes", "build"]


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
    sets = ["train.epochs=1", "runtime.threads=1", "train.compile=false"]  # compiling outlasts one epoch
    if data.get("dataset", {}).get("name") == "cifar10":
        sets += ["dataset.train_per_class=20", "dataset.test_per_class=10"]
    for i, defense in enumerate(data.get("defenses", [])):
        if defense.get("name") == "adversarial_debiasing":
            sets += [f"defenses.{i}.iterations=2", f"defenses.{i}.pretrain_epochs=1"]
    if data.get("task") == "fairness" and "baselines" in data:
        sets.append("evaluate.baseline_epochs=1")
    if data.get("task") == "evasion":  # AutoAttack's Square spends 5,000 queries on each robust image
        autoattack = any(a.get("name") == "autoattack" for a in data.get("attacks", []))
        sets.append(f"evaluate.n={10 if autoattack else 50}")
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
        if "ood_openood" in recipe:  # six more data sets to download: tests/test_ood_reference.py
            session.log(f"skipping the run of {recipe}: it needs OpenOOD's six data sets under TOOLKIT_DATA")
            continue
        if os.path.basename(recipe).startswith("own_"):  # the user's files: tests/test_given_models.py
            session.log(f"skipping the run of {recipe}: it names the user's model or table files")
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


# ----------------------------------------------------------------------------- the extras matrix


def _extras() -> list[str]:
    """The optional-dependency sets of pyproject.toml, less ``all`` and ``dev`` (the test tools
    every session installs): read at load time, so a new extra joins the matrix by itself."""
    import tomllib

    with open("pyproject.toml", "rb") as fh:
        declared = tomllib.load(fh)["project"].get("optional-dependencies", {})
    return sorted(name for name in declared if name not in ("all", "dev"))


def _pythons() -> list[str]:
    """The Python versions (3.10 to 3.14, the project's range) whose ``pythonX.Y`` on PATH runs;
    a pyenv shim of a version that is not active is on PATH but fails, so it is left out."""
    import shutil
    import subprocess
    import sys

    found = []
    for minor in range(10, 15):
        exe = shutil.which(f"python3.{minor}")
        if exe and subprocess.run([exe, "-c", ""], capture_output=True, timeout=30).returncode == 0:
            found.append(f"3.{minor}")
    return found or [f"{sys.version_info[0]}.{sys.version_info[1]}"]


PYTHONS = _pythons()
EXTRA_SETS = ["core", *_extras(), "all"]


@nox.session(python=PYTHONS)
@nox.parametrize("extras", [nox.param(name, id=name) for name in EXTRA_SETS])
def extras(session: nox.Session, extras: str) -> None:
    """The test suite with one extra set (core: none) on each Python found on PATH.

    Tests of what is not installed skip (pytest.importorskip). Run one with, for example,
    ``nox -s "extras-3.11(fairness)"``.
    """
    if session.venv_backend == "none":
        session.skip("the extras matrix needs an environment of its own per extra set: drop --no-venv")
    wanted = "dev" if extras == "core" else "all" if extras == "all" else f"dev,{extras}"
    session.install("-e", f".[{wanted}]")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHONS[0], venv_backend="uv|virtualenv")
def lowest(session: nox.Session) -> None:
    """The test suite on the lowest versions declared for the direct dependencies.

    ``uv pip install --resolution lowest-direct`` on the oldest Python found.
    """
    if session.venv_backend == "none":
        session.skip("lowest installs its own versions: drop --no-venv")
    if session.venv_backend == "uv":
        session.install("--resolution", "lowest-direct", "-e", ".[all]")
    else:  # no uv here: pip cannot pick lowest versions, so uv is installed into the session first
        session.install("uv")
        lowest = ["--resolution", "lowest-direct", "-e", ".[all]"]
        session.run("uv", "pip", "install", "--python", "python", *lowest)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


# ----------------------------------------------------------------------------- the distribution


@nox.session
def build(session: nox.Session) -> None:
    """Wheel and sdist into dist/, twine check, the wheel's packaged quickstart run.

    The wheel is installed in a fresh environment and its packaged recipes listed, copied and
    run from an empty folder.
    The fresh environment is ``python -m venv --system-site-packages`` with the wheel installed
    ``--no-deps``: torch and the other dependencies come from the interpreter's own site-packages
    instead of gigabytes of downloads, while the toolkit itself (code, recipes, entry points,
    console script) comes only from the wheel, which the session checks.
    """
    import shutil
    import tempfile

    install(session, "build", "twine")
    shutil.rmtree("dist", ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", "dist", ".")
    session.run("twine", "check", "--strict", *sorted(glob.glob("dist/*")))
    wheel = os.path.abspath(glob.glob("dist/*.whl")[0])
    venv = os.path.abspath(os.path.join(session.create_tmp(), "wheel-venv"))
    session.run("python", "-m", "venv", "--system-site-packages", "--clear", venv)
    bin_dir = os.path.join(venv, "Scripts" if os.name == "nt" else "bin")
    python, toolkit = os.path.join(bin_dir, "python"), os.path.join(bin_dir, "toolkit")
    session.run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, external=True)
    folder = tempfile.mkdtemp(prefix="toolkit-wheel-")
    env = {"TOOLKIT_CACHE": os.path.join(folder, ".cache"), "PYTHONPATH": ""}
    where = "import toolkit, toolkit.packaged as p; print(toolkit.__file__); print(p.recipes_dir())"
    with session.chdir(folder):
        found = session.run(python, "-c", where, external=True, env=env, silent=True) or ""
        session.log(found)
        if not all(line.startswith(venv) for line in found.split()):
            session.error(f"the wheel's environment imports the toolkit from elsewhere: {found}")
        session.run(toolkit, "recipes", "ls", external=True, env=env)
        session.run(toolkit, "recipes", "cp", "quickstart", external=True, env=env)
        run = ["quickstart.toml", "--no-cache", "--set", "train.epochs=1", "--set", "runtime.threads=1"]
        session.run(toolkit, "run", *run, external=True, env=env)
    shutil.rmtree(folder, ignore_errors=True)
