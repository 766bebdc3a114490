"""A component's parameters: its typed keyword arguments, read into a pydantic model.

A component's parameters are the keyword-only arguments of its factory (for a class, the
named arguments of its constructor). They are read from the source file with :mod:`ast`
where the annotations and defaults allow it, so ``toolkit list``, ``toolkit show`` and
``toolkit validate`` never import torch; otherwise from the imported object. The recipe
validates a component's table against :meth:`Signature.validate`, and ``toolkit show``
prints :attr:`Signature.params` and :attr:`Signature.doc`.

Example:
    >>> def build(*, width: int = 64, dropout: float = 0.0):
    ...     '''A small model.'''
    >>> sig = signature_of(build)
    >>> [(p.name, p.annotation, p.default) for p in sig.params]
    [('width', 'int', 64), ('dropout', 'float', 0.0)]
    >>> sig.validate({"width": "32"}, "model")
    {'width': 32, 'dropout': 0.0}
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

from toolkit.params import lenient

#: The default of a required parameter.
MISSING: Any = inspect.Parameter.empty
_ANNOTATED = re.compile(r"Annotated\[([^\[\],]+(?:\[[^\[\]]*\])?), (?:pydantic\.)?Field\(([^()]*)\)\]")


@dataclass(frozen=True)
class Param:
    """One parameter of a component: a keyword-only argument of its factory."""

    name: str
    annotation: str
    default: Any = MISSING
    type: Any = Any

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def display_type(self) -> str:
        """The annotation as a reader wants it: ``float (gt=0)`` for ``Annotated[float, Field(gt=0)]``."""
        text = self.annotation
        while True:
            match = _ANNOTATED.search(text)
            if match is None:
                return text
            text = text[: match.start()] + f"{match[1]} ({match[2]})" + text[match.end() :]


@dataclass(frozen=True)
class Signature:
    """What a recipe may set on a component, and its documentation."""

    params: tuple[Param, ...]
    doc: str = ""
    open: bool = False  # the factory takes **kwargs: unknown keys are passed through

    def model(self, title: str) -> Any:
        """A pydantic model that validates a recipe table against this signature."""
        from pydantic import ConfigDict, create_model

        fields: dict[str, Any] = {}
        for p in self.params:
            default = ... if p.required else p.default
            fields[p.name] = (lenient(p.type), default)
        config = ConfigDict(
            extra="allow" if self.open else "forbid",
            arbitrary_types_allowed=True,
            protected_namespaces=(),
        )
        return create_model(title, __config__=config, **fields)

    def validate(self, params: Mapping[str, Any], title: str) -> dict[str, Any]:
        """Validate ``params`` and return them with defaults filled in (raises pydantic's error)."""
        validated = self.model(title).model_validate(dict(params))
        out = validated.model_dump()
        if self.open and validated.model_extra:
            out.update(validated.model_extra)
        return dict(out)


def read_signature(module: str, attr: str, load: Callable[[], Any]) -> Signature:
    """The signature of the factory ``attr`` of ``module``: read from its source file
    without executing it where possible, else from the object ``load()`` imports."""
    try:
        if "." in attr:
            raise _NotStatic(attr)
        return _static_signature(module, attr)
    except _NotStatic:
        return signature_of(load())


def signature_of(obj: Any) -> Signature:
    """Read the signature of an imported factory (a class or a function)."""
    fn = obj.__init__ if inspect.isclass(obj) else obj
    if fn is object.__init__:  # a class without a constructor of its own takes no parameters
        return Signature((), inspect.getdoc(obj) or "", False)
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    params = []
    open_ = False
    # a class's constructor: every named parameter is the recipe's; a function: keyword-only ones
    kinds: set[Any] = {inspect.Parameter.KEYWORD_ONLY}
    if inspect.isclass(obj):
        kinds.add(inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            open_ = True
        if p.kind not in kinds or p.name == "self":
            continue
        tp = hints.get(p.name, Any)
        annotation = p.annotation if isinstance(p.annotation, str) else _type_text(tp)
        params.append(Param(p.name, annotation, p.default, tp))
    return Signature(tuple(params), inspect.getdoc(obj) or "", open_)


def _type_text(tp: Any) -> str:
    if tp is Any:
        return "Any"
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__name__
    return str(tp).replace("typing.", "")


# --------------------------------------------------------------------------- from source

_TYPE_NAMESPACE: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "None": None,
    "Any": Any,
    "Literal": Literal,
    "Optional": Optional,
    "Union": Union,
    "Sequence": Sequence,
    "Mapping": Mapping,
    "List": list,
    "Dict": dict,
    "Tuple": tuple,
}


class _NotStatic(Exception):
    """The signature cannot be read from source alone; import the object instead."""


def _eval_annotation(text: str) -> Any:
    from pydantic import Field

    for prefix in ("typing.", "collections.abc.", "pydantic."):
        text = text.replace(prefix, "")
    namespace = {**_TYPE_NAMESPACE, "Annotated": Annotated, "Field": Field}
    try:
        return eval(compile(text, "<annotation>", "eval"), {"__builtins__": {}}, namespace)
    except Exception as exc:  # an annotation naming anything else: read it by importing
        raise _NotStatic(text) from exc


def _params_from_ast(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, *, skip: int | None
) -> tuple[tuple[Param, ...], bool]:
    """Keyword-only arguments; with ``skip`` (a constructor), the positional ones after ``self`` too."""
    args = fn.args
    pairs: list[tuple[ast.arg, ast.expr | None]] = []
    if skip is not None:
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(
            args.defaults
        )
        pairs += list(zip(positional, defaults, strict=True))[skip:]
    pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    params = []
    for arg, default in pairs:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else "Any"
        tp = _eval_annotation(annotation)
        if default is None:
            value = MISSING
        else:
            try:
                value = ast.literal_eval(default)
            except ValueError as exc:
                raise _NotStatic(ast.unparse(default)) from exc
        params.append(Param(arg.arg, annotation, value, tp))
    return tuple(params), fn.args.kwarg is not None


def _static_signature(module: str, attr: str) -> Signature:
    """Read a component's signature from its source file without executing it."""
    try:
        spec = importlib.util.find_spec(module)
    except Exception as exc:  # a parent package that fails to import: load() will say how
        raise _NotStatic(module) from exc
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise _NotStatic(module)
    try:
        with open(spec.origin, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), filename=spec.origin)
    except (OSError, SyntaxError) as exc:
        raise _NotStatic(module) from exc
    node = next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.name == attr
        ),
        None,
    )
    if node is None or node.decorator_list:  # decorators (e.g. @dataclass) change the signature
        raise _NotStatic(attr)
    doc = ast.get_docstring(node) or ""
    if isinstance(node, ast.ClassDef):
        init = next(
            (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
            None,
        )
        if init is None:
            if node.bases:  # the constructor is inherited: only an import can tell
                raise _NotStatic(attr)
            return Signature((), doc, False)
        if init.decorator_list:
            raise _NotStatic(attr)
        params, open_ = _params_from_ast(init, skip=1)
        return Signature(params, doc, open_)
    params, open_ = _params_from_ast(node, skip=None)
    return Signature(params, doc, open_)
