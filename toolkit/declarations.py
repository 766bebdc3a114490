"""Every optional declaration a component may make, in one place, with its meaning.

A component's verb (``load``, ``build``, ``__call__``, ``poison``, ``fit``/``score``,
``explain``, ``run``) is its contract (:mod:`toolkit.protocols`). Beyond it, a component may
declare what the toolkit cannot guess: the names below, read with :func:`declared`, which
refuses a name not listed here (so a new declaration is added to this table, and to
``docs/plugins.md``, before any code reads it). ``where`` says where it lives: on the
component's ``class`` (or factory function), on its ``instance`` (after construction with
the recipe's parameters; may depend on them), or at the ``module`` level of a dataset.

Example:
    >>> class Energy:
    ...     layers = ("penultimate",)
    >>> declared(Energy(), "layers"), declared(Energy(), "modalities")
    (('penultimate',), None)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Declaration:
    """One optional declaration.

    Args:
        name: the attribute.
        kinds: the kinds (or families) of component that may declare it.
        where: ``class``, ``instance`` or ``module``.
        meaning: what it says, and who reads it.
        default: its value when not declared.
    """

    name: str
    kinds: tuple[str, ...]
    where: str
    meaning: str
    default: Any = None


DECLARATIONS: dict[str, Declaration] = {
    d.name: d
    for d in (
        Declaration("CLASS_NAMES", ("datasets",), "module",
                    "the class names when known without reading the data; validate then checks and "
                    "normalizes holdout and classes parameters"),
        Declaration("MODALITY", ("datasets",), "module",
                    '"image", "tabular" or "text"; a modality parameter overrides it; validate checks '
                    "each component's modalities against it"),
        Declaration("FROM_MODEL", ("datasets",), "module",
                    "{dataset parameter: model parameter} a text dataset takes from the recipe's "
                    "model when not set (the tokenizer from the checkpoint)"),
        Declaration("files_key", ("models",), "class",
                    "files_key(params) -> JSON value identifying files the factory loads (a "
                    "checkpoint's weights); it enters the train fingerprint"),
        Declaration("given", ("models",), "class",
                    "given(params) -> bool: the model these parameters build is trained already (a "
                    "weights file, an exported program); a recipe without [train] then evaluates it as "
                    "given, with no training stage"),
        Declaration("penultimate", ("models",), "instance",
                    "on the built module: the name of its classification head, whose input is the "
                    "penultimate features (a toolkit Classifier needs none)"),
        Declaration("bind", ("any",), "class",
                    "bind(info): called once with the data's DataInfo before the component is used"),
        Declaration("modalities", ("attacks", "defenses", "explainers", "detectors", "tasks"), "class",
                    "the data modalities the component works on; validate refuses others"),
        Declaration("example_params", ("any",), "class",
                    "parameters for the conformance checks when required ones have no default"),
        Declaration("nested", ("any",), "class",
                    '{param: (kind, params key, family)}: a parameter that names another component '
                    '(adversarial_training\'s attack), resolved and fingerprinted like a section; '
                    '{param: (kind, "*")}: a parameter that lists component tables or names (the ood '
                    'task\'s near and far data sets)'),
        Declaration("layers", ("detectors", "defenses", "explainers"), "instance",
                    "the named layers the component reads (toolkit.models.layers: penultimate, logits "
                    "or a module name); captured in the one forward pass, checked against the built "
                    "model before training"),
        Declaration("budget", ("attacks",), "class",
                    "evasion: the constructor parameter that is the attack's budget (dotted for "
                    "adapters, e.g. params.eps); budget sweeps need it"),
        Declaration("black_box", ("attacks",), "class",
                    "evasion: the attack reads only the model's outputs, no gradients (Square, say); "
                    "the sanity checks flag it beating every white-box attack", False),
        Declaration("eval_mode", ("attacks",), "instance",
                    "evasion: whether the attack runs the model in eval mode (default true)", True),
        Declaration("targets_", ("attacks",), "instance",
                    "evasion: after a call of a targeted attack, the chosen targets (N,); success is "
                    "then reaching them"),
        Declaration("objective", ("attacks",), "class",
                    "poisoning: objective(bundle) -> term(features, index) added to the training loss"),
        Declaration("completeness", ("explainers",), "class",
                    "completeness() -> {'gap': (N,), 'baseline': (N,)} of the last explain() call, for a "
                    "method that promises sum(attributions) = f(x) - f(baseline)"),
        Declaration("uses", ("tasks",), "class", "the recipe sections the task reads; others are refused",
                    ()),
        Declaration("requires", ("tasks",), "class", "sections that need at least one entry", ()),
        Declaration("baselines", ("tasks",), "class",
                    "{library: (reference runs)} the [baselines] table may ask for", {}),
        Declaration("needs", ("tasks",), "class",
                    "{section: capability} (toolkit.capabilities): what each component of a section "
                    "must have; validate refuses one that lacks a member", {}),
        Declaration("check", ("tasks",), "class",
                    "check(recipe) -> list[Problem]: the task's own validate-time checks"),
        Declaration("flips_label", ("augmenters",), "class",
                    "text augmenters: the rewrite may change the true label (antonyms)", False),
    )
}  # fmt: skip


def declared(obj: Any, name: str) -> Any:
    """The declaration ``name`` of ``obj`` (a component, its class or factory), or its default.

    Raises:
        KeyError: ``name`` is not a declaration listed in :data:`DECLARATIONS`.
    """
    entry = DECLARATIONS[name]
    return getattr(obj, name, entry.default)


def module_declaration(factory: Any, name: str) -> Any:
    """A module-level declaration (``CLASS_NAMES``, ``MODALITY``) of the module defining ``factory``."""
    entry = DECLARATIONS[name]
    module = sys.modules.get(getattr(factory, "__module__", ""), None)
    return getattr(module, name, entry.default)
