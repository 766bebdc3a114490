"""The one table of component kinds.

Everything that differs between kinds is an entry here: the entry-point group, the recipe
section, whether the section holds one table or a list, the stage of a run whose
fingerprint the kind's components enter (per family, where the family decides), the
protocol of each family (:mod:`toolkit.protocols`) and the conformance check
(:mod:`toolkit.testing`). The registry, the recipe schema, the fingerprints and the
conformance tests all read this table, so adding a kind is one entry here plus its package.

Example:
    >>> KINDS["detectors"].group, KINDS["detectors"].section, KINDS["attacks"].stage("poisoning")
    ('toolkit.detectors', 'detectors', 'poison')
    >>> list_sections()
    ('attacks', 'defenses', 'detectors', 'explainers')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The stages of a run, in order; each has a fingerprint that includes its parents'.
STAGES = ("data", "poison", "train", "defend", "run")


@dataclass(frozen=True)
class Kind:
    """One kind of component.

    Args:
        name: the registry key and the plural noun (``"detectors"``).
        singular: the noun in messages (``"detector"``).
        section: the recipe section (``"dataset"``, ``"detectors"``); ``None`` for the task,
            which the top-level ``task`` key names and ``[evaluate]`` parameterizes.
        many: the section is a list of tables (``[[detectors]]``) rather than one table.
        default_stage: the stage whose fingerprint the kind's components enter.
        families: family name -> ``"module:Protocol"`` of :mod:`toolkit.protocols`; a
            component's family is the first whose protocol it satisfies.
        family_stages: stages of the families that enter another stage than the default.
        check: the name of the conformance check in :mod:`toolkit.testing`.
        required: a recipe must have this section.
    """

    name: str
    singular: str
    section: str | None
    many: bool
    default_stage: str
    families: Mapping[str, str]
    family_stages: Mapping[str, str] = field(default_factory=dict)
    check: str = ""
    required: bool = False

    @property
    def group(self) -> str:
        """The entry-point group (``toolkit.<name>``)."""
        return f"toolkit.{self.name}"

    def stage(self, family: str | None) -> str:
        """The stage a component of ``family`` enters."""
        return self.family_stages.get(family or "", self.default_stage)


_P = "toolkit.protocols"

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "datasets",
            "dataset",
            "dataset",
            False,
            "data",
            {"dataset": f"{_P}:Dataset"},
            check="check_dataset",
            required=True,
        ),
        Kind("models", "model", "model", False, "train", {"model": f"{_P}:Model"}, check="check_model"),
        Kind(
            "attacks",
            "attack",
            "attacks",
            True,
            "run",
            {"evasion": f"{_P}:EvasionAttack", "poisoning": f"{_P}:PoisoningAttack"},
            {"poisoning": "poison"},
            check="check_attack",
        ),
        Kind(
            "defenses",
            "defense",
            "defenses",
            True,
            "train",
            {
                "data": f"{_P}:DataDefense",
                "batch": f"{_P}:BatchDefense",
                "train": f"{_P}:TrainingDefense",
                "filter": f"{_P}:PoisonFilter",
            },
            {"train": "defend", "filter": "defend"},
            check="check_defense",
        ),
        Kind(
            "detectors",
            "detector",
            "detectors",
            True,
            "run",
            {"detector": f"{_P}:Detector", "scanner": f"{_P}:ModelScanner"},
            check="check_detector",
        ),
        Kind(
            "explainers",
            "explainer",
            "explainers",
            True,
            "run",
            {"explainer": f"{_P}:Explainer"},
            check="check_explainer",
        ),
        Kind("tasks", "task", None, False, "run", {"task": f"{_P}:Task"}, check="check_task"),
    )
}

# The views below are read from KINDS each time, so an entry added to the table (by a test,
# say) is seen everywhere at once.


def singular(kind: str) -> str:
    """The singular noun of a kind, for messages (``detectors`` -> ``detector``)."""
    return KINDS[kind].singular


def sections() -> dict[str, Kind]:
    """The kind of each recipe section that holds components."""
    return {k.section: k for k in KINDS.values() if k.section}


def single_sections() -> tuple[str, ...]:
    """Recipe sections that hold one component table (``[dataset]``, ``[model]``)."""
    return tuple(s for s, k in sections().items() if not k.many)


def list_sections() -> tuple[str, ...]:
    """Recipe sections that hold a list of component tables (``[[detectors]]``, ...)."""
    return tuple(s for s, k in sections().items() if k.many)
