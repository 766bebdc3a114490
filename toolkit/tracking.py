"""Experiment tracking: log a finished run folder to MLflow.

``toolkit run recipe.toml --track mlflow`` calls :func:`log_run` once the run folder is
complete, and ``toolkit track FOLDER`` logs folders written earlier. The run folder stays
the record: tracking copies it into the tracking store and never changes it, so a tracking
store that is down or full loses nothing.

What one MLflow run holds:

- params: the resolved recipe (``recipe.toml``) flattened to dotted keys
  (``train.epochs``, ``detectors.0.name``), each value as text (lists as JSON);
- metrics: every finite number of ``metrics.json`` flattened the same way
  (``detectors.msp.auroc``; list items by position, booleans as 1 and 0), and the stage
  timings of ``meta.json`` as ``timings.<stage>`` (seconds);
- step metrics: ``history.json``, one step per epoch (``train_loss`` of epoch 3 is
  ``train.loss`` at step 3, ``test_accuracy`` is ``test.accuracy``, ``lr`` is ``train.lr``);
- tags: task, recipe, fingerprint, toolkit_version, run_folder, git_commit, device, the
  recipe's description as the run's note, and the caller's tags;
- artifacts: the whole run folder.

Names are made to fit MLflow: characters other than letters, digits, ``_``, ``-`` and
``.`` become ``_`` and keys are cut to 250 characters, param values to 6000.

MLflow is optional (``pip install 'trustworthy-ml-toolkit[tracking]'``) and imported only
when a run is logged: importing this module imports neither MLflow nor torch.

Example:
    >>> metric_values({"detectors": {"msp": {"auroc": 0.9}}, "fpr@95%": 0.1, "holdout": ["9"]})
    {'detectors.msp.auroc': 0.9, 'fpr_95_': 0.1}
    >>> param_values({"train": {"epochs": 2}, "detectors": [{"name": "msp"}], "holdout": ["9"]})
    {'train.epochs': '2', 'detectors.0.name': 'msp', 'holdout': '["9"]'}
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from toolkit import report
from toolkit.errors import RunError, ToolkitError, UsageError
from toolkit.execution.runread import load_run, read_history

#: The trackers ``--track`` accepts.
TRACKERS = ("mlflow",)
#: How to install the tracking extra.
INSTALL = "pip install 'trustworthy-ml-toolkit[tracking]'"
#: MLflow's limits: key length, param value length, tag value length, batch sizes.
MAX_KEY, MAX_PARAM_VALUE, MAX_TAG_VALUE = 250, 6000, 8000
_PARAMS_PER_BATCH, _METRICS_PER_BATCH = 100, 1000
#: History keys ``<split>_<what>`` become ``<split>.<what>``; other keys go under ``train.``.
_SPLITS = ("train", "test", "val")
_STEP_KEYS = ("epoch", "iteration")


@dataclass
class FinishedRun:
    """What a finished run folder gives the tracking store (read by :func:`read_run`).

    Args:
        folder: the run folder.
        name: the recipe's name (the default experiment).
        params: the flattened resolved recipe, values as text.
        metrics: the final metrics by name.
        steps: the per-epoch history as ``(name, step, value)``.
        tags: task, recipe, fingerprint, versions and where the folder is.
        started_ms, finished_ms: when the run started and finished (ms since the epoch).
    """

    folder: Path
    name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    steps: list[tuple[str, int, float]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    started_ms: int | None = None
    finished_ms: int | None = None


def log_run(
    run_folder: str | Path,
    *,
    tracker: str = "mlflow",
    uri: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log a finished run folder to the tracking store; returns the new MLflow run's id.

    Each call makes a new MLflow run, so a folder logged twice is there twice. Safe to call
    repeatedly from one process, with different stores: the client is built for ``uri``
    and no global MLflow state (active run, tracking URI) is read or changed.

    Args:
        run_folder: a folder ``toolkit run`` finished (``runs/<name>/<timestamp>-<fp>``).
        tracker: the tracker; only ``"mlflow"`` is known.
        uri: the tracking store; default ``$MLFLOW_TRACKING_URI``, else the SQLite file
            ``mlruns.db`` in the current folder (see :func:`tracking_uri`).
        experiment: the MLflow experiment; default the recipe's name. Made when missing,
            with its artifacts next to the database for a SQLite store.
        tags: more tags for the run; they win over the toolkit's own.

    Raises:
        UsageError: an unknown tracker, MLflow not installed, a tracking URI MLflow cannot
            use, a folder that is not a finished run folder, or a deleted experiment.
        RunError: the tracking store failed while logging (unreachable, not writable);
            the MLflow run, if it was made, is marked FAILED.
    """
    run = read_run(Path(run_folder))
    client, resolved = connect(tracker, uri)
    try:
        experiment_id = _experiment(client, experiment or run.name, resolved)
        return _log(client, experiment_id, run, {**run.tags, **(tags or {})})
    except ToolkitError:
        raise
    except Exception as exc:  # the store's own errors: OSError, MlflowException, requests...
        raise RunError(
            f"logging {run.folder} to MLflow at {resolved} failed: {type(exc).__name__}: {exc}"
        ) from exc


def load_mlflow(tracker: str = "mlflow") -> ModuleType:
    """The MLflow module, for ``tracker``; a usage error for another tracker or no MLflow."""
    if tracker not in TRACKERS:
        raise UsageError(f"unknown tracker '{tracker}'; known trackers: {', '.join(TRACKERS)}")
    try:
        import mlflow
    except ImportError as exc:
        raise UsageError(f"tracking with mlflow needs MLflow, which is not installed: {INSTALL}") from exc
    return mlflow


def check_tracking(tracker: str | None, uri: str | None) -> tuple[str, str]:
    """The tracker and its resolved URI, once both and the tracker's library are known to be
    usable; what ``--track`` and ``--track-uri`` are checked with before any work starts.

    Raises:
        UsageError: ``uri`` without ``tracker``, an unknown tracker, MLflow not installed, or
            a store MLflow refuses.
    """
    if tracker is None:
        raise UsageError("--track-uri and --track-experiment need --track mlflow")
    return tracker, connect(tracker, uri)[1]


def connect(tracker: str = "mlflow", uri: str | None = None) -> tuple[Any, str]:
    """An MLflow client for the store at ``uri`` (see :func:`tracking_uri`) and that URI.

    Nothing is sent yet, so a server that is down is found only when a run is logged; a URI
    MLflow refuses (an unknown scheme, the plain file store MLflow 3 turned off) is a usage
    error here. The CLI calls this before a run starts, to fail before the work is done.
    """
    mlflow = load_mlflow(tracker)
    resolved = tracking_uri(uri)
    try:
        client = mlflow.MlflowClient(tracking_uri=resolved)
    except Exception as exc:
        raise UsageError(
            f"tracking URI {resolved}: MLflow cannot use this store: {exc} "
            "(a local store is a SQLite file, sqlite:///path/to/mlflow.db; a server is http://host:port)"
        ) from exc
    return client, resolved


def tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns.db``.

    The default is a SQLite file because MLflow 3 refuses the plain file store
    (``./mlruns``) unless told otherwise, and a SQLite file needs no server.
    """
    chosen = uri or os.environ.get("MLFLOW_TRACKING_URI")
    return chosen or f"sqlite:///{Path.cwd().resolve().as_posix()}/mlruns.db"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment's artifacts go: ``mlartifacts/`` beside a SQLite file.

    For any other store ``None``: a tracking server keeps (or proxies) artifacts where it
    was told to. A SQLite database only holds the metadata, so without this MLflow would put
    artifacts under the current folder, wherever the logging process happens to run.

    Example:
        >>> artifact_location("sqlite:////data/mlflow.db")
        'file:///data/mlartifacts'
        >>> artifact_location("http://localhost:5000") is None
        True
    """
    if not uri.startswith("sqlite:///"):
        return None
    database = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    return (Path(database).resolve().parent / "mlartifacts").as_uri()


def ui_hint(uri: str) -> str:
    """How to look at the runs in ``uri``: the ``mlflow ui`` command, or the server's address."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return f"mlflow ui --backend-store-uri {uri}"


# ----------------------------------------------------------------------------- reading a run


def read_run(folder: Path) -> FinishedRun:
    """What a finished run folder gives the tracking store.

    Raises:
        UsageError: the folder is not a finished run folder, or one of its files is not
            what ``toolkit run`` wrote (read by :mod:`toolkit.execution.runread`).
    """
    stored = load_run(folder)
    meta = stored.meta
    values = metric_values(stored.metrics)
    for stage, seconds in (meta.get("timings") or {}).items():
        if _number(seconds) is not None:
            values.setdefault(sanitize(f"timings.{stage}"), float(seconds))
    return FinishedRun(
        folder=folder,
        name=str(meta.get("name") or stored.recipe.get("name") or folder.parent.name),
        params=param_values(stored.recipe),
        metrics=values,
        steps=history_steps(read_history(folder), taken=values),
        tags=run_tags(meta, folder),
        started_ms=_ms(meta.get("started")),
        finished_ms=_ms(meta.get("finished")),
    )


def param_values(recipe: Mapping[str, Any]) -> dict[str, str]:
    """The recipe as MLflow params: dotted keys, strings as they are, other values as JSON.

    A list of tables is keyed by position (``detectors.0.name``, the path ``--set`` takes);
    a list of values is one param (``dataset.holdout = ["9"]``).
    """
    out: dict[str, str] = {}
    for key, value in report.flatten(_by_position(recipe, every_list=False)).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out[_unique(sanitize(key), out)] = _clip(text, MAX_PARAM_VALUE)
    return out


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number in nested metrics by dotted name; list items by position,
    booleans as 1 and 0; text, ``null`` (a NaN) and infinities are left out."""
    out: dict[str, float] = {}
    for key, value in report.flatten(_by_position(metrics, every_list=True)).items():
        number = _number(value)
        if number is not None:
            out[_unique(sanitize(key), out)] = number
    return out


def history_steps(history: Any, *, taken: Collection[str] = ()) -> list[tuple[str, int, float]]:
    """A per-epoch history (a list of records) as ``(name, step, value)`` step metrics.

    The step is the record's ``epoch`` (or ``iteration``), else its position from 1.
    ``train_loss`` becomes ``train.loss``, ``test_accuracy`` ``test.accuracy`` and a key of
    no split (``lr``, ``seconds``) ``train.lr``; a name in ``taken`` (a final metric's)
    gets ``history.`` in front, so the two never share a name.

    Example:
        >>> history_steps([{"epoch": 1, "train_loss": 2.0, "lr": 0.1}])
        [('train.loss', 1, 2.0), ('train.lr', 1, 0.1)]
    """
    if not isinstance(history, list):
        return []
    out = []
    for position, record in enumerate(history, start=1):
        if not isinstance(record, Mapping):
            continue
        step = next((record[k] for k in _STEP_KEYS if _number(record.get(k)) is not None), position)
        for key, value in record.items():
            number = _number(value)
            if key in _STEP_KEYS or number is None:
                continue
            split, _, rest = str(key).partition("_")
            name = sanitize(f"{split}.{rest}" if split in _SPLITS and rest else f"train.{key}")
            out.append((f"history.{name}" if name in taken else name, int(step), number))
    return out


def run_tags(meta: Mapping[str, Any], folder: Path) -> dict[str, str]:
    """The run's tags from ``meta.json``; the recipe's description is the run's note."""
    git = meta.get("git") or {}
    tags = {
        "task": meta.get("task"),
        "recipe": meta.get("name"),
        "fingerprint": (meta.get("fingerprints") or {}).get("run"),
        "toolkit_version": (meta.get("versions") or {}).get("toolkit"),
        "run_folder": str(folder.resolve()),
        "git_commit": git.get("commit") if isinstance(git, Mapping) else None,
        "git_dirty": git.get("dirty") if isinstance(git, Mapping) else None,
        "device": meta.get("device"),
        "mlflow.note.content": meta.get("description"),
    }
    return {
        k: _clip(str(v).lower() if isinstance(v, bool) else str(v), MAX_TAG_VALUE)
        for k, v in tags.items()
        if v not in (None, "")
    }


def sanitize(name: str) -> str:
    """A metric, param or tag name MLflow accepts on every platform: letters, digits, ``_``,
    ``-`` and ``.`` (the rest become ``_``), no leading dots, at most 250 characters."""
    return (re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip(".") or "_")[:MAX_KEY]


def _by_position(value: Any, *, every_list: bool) -> Any:
    """Lists as tables keyed ``"0"``, ``"1"``...: every list, or only lists of tables."""
    if isinstance(value, Mapping):
        return {str(k): _by_position(v, every_list=every_list) for k, v in value.items()}
    if isinstance(value, list) and (every_list or (value and all(isinstance(v, Mapping) for v in value))):
        return {str(i): _by_position(v, every_list=every_list) for i, v in enumerate(value)}
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _unique(name: str, taken: Collection[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when two keys clean up to the same name."""
    n, candidate = 1, name
    while candidate in taken:
        n += 1
        candidate = f"{name[: MAX_KEY - 8]}_{n}"
    return candidate


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ms(stamp: Any) -> int | None:
    """An ISO time of ``meta.json`` (local time) as ms since the epoch; ``None`` if it is not one."""
    try:
        return int(_dt.datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------- writing to MLflow


def _experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, made when missing (two processes may race to make it)."""
    for attempt in range(2):
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise UsageError(
                    f"MLflow experiment '{name}' at {uri} was deleted; restore it "
                    f"(mlflow experiments restore --experiment-id {found.experiment_id}) "
                    "or name another experiment"
                )
            return str(found.experiment_id)
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location(uri)))
        except Exception:
            if attempt:  # made by another process in between: found on the second look
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _log(client: Any, experiment_id: str, run: FinishedRun, tags: Mapping[str, str]) -> str:
    """One MLflow run for ``run``: params, metrics, step metrics, artifacts; returns its id."""
    from mlflow.entities import Metric, Param

    clean = {sanitize(k): _clip(str(v), MAX_TAG_VALUE) for k, v in tags.items()}
    created = client.create_run(
        experiment_id, start_time=run.started_ms, tags=clean, run_name=run.folder.name
    )
    run_id = str(created.info.run_id)
    try:
        now = int(time.time() * 1000)
        params = [Param(k, v) for k, v in run.params.items()]
        metrics = [Metric(k, v, now, 0) for k, v in run.metrics.items()]
        metrics += [Metric(k, v, now, step) for k, step, v in run.steps]
        for chunk in _chunks(params, _PARAMS_PER_BATCH):
            client.log_batch(run_id, params=chunk)
        for chunk in _chunks(metrics, _METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=chunk)
        client.log_artifacts(run_id, str(run.folder))
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED", end_time=run.finished_ms)
    return run_id


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
