"""Registries: discovery without import, lookups, signatures, plugins, collisions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_dist

from toolkit.errors import PluginLoadError, UnknownComponentError, UsageError
from toolkit.kinds import KINDS
from toolkit.params import lenient
from toolkit.registry import refresh, registry, signature_of

BUILTINS = {
    "datasets": {"digits", "synthetic"},
    "models": {"mlp", "small_cnn"},
    "detectors": {"msp", "energy"},
    "tasks": {"ood"},
}


def test_builtins_are_registered_by_this_distribution() -> None:
    for kind, names in BUILTINS.items():
        entries = {e.name: e for e in registry(kind).entries()}
        assert names <= set(entries), kind
        for name in names:
            assert entries[name].dist == "trustworthy-ml-toolkit" and entries[name].builtin


def test_every_group_is_a_toolkit_group() -> None:
    assert {k.group for k in KINDS.values()} == {f"toolkit.{k}" for k in KINDS}


def test_kind_accepts_singular_and_rejects_nonsense() -> None:
    assert registry("detector").kind == "detectors"
    with pytest.raises(UsageError, match=r"(?i)did you mean 'detectors'"):
        registry("detektors")


def test_wildcard_filter() -> None:
    assert [e.name for e in registry("detectors").find("m*")] == ["mahalanobis", "max_logit", "msp"]
    assert [e.name for e in registry("detectors").find("*_logit")] == ["max_logit"]
    assert {e.name for e in registry("models").find("*")} >= {"mlp", "small_cnn"}


def test_unknown_name_suggests_close_matches_and_the_listing_command() -> None:
    with pytest.raises(UnknownComponentError) as err:
        registry("detectors").get("mps")
    assert "did you mean 'msp'" in str(err.value).lower()
    assert "toolkit list detectors" in str(err.value)


def test_signature_read_statically_matches_the_imported_one() -> None:
    """The AST reading (no import) must agree with inspect on every built-in."""
    for kind in BUILTINS:
        for entry in registry(kind).entries():
            static = entry.signature()
            live = signature_of(entry.load())
            assert [p.name for p in static.params] == [p.name for p in live.params], entry.name
            assert [p.default for p in static.params] == [p.default for p in live.params], entry.name
            assert static.open == live.open


def test_signature_validates_and_fills_defaults() -> None:
    sig = registry("detectors").get("msp").signature()
    assert sig.validate({}, "msp") == {"temperature": 1.0}
    assert sig.validate({"temperature": "1/2"}, "msp") == {"temperature": 0.5}
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        sig.validate({"temperature": -1}, "msp")
    with pytest.raises(ValidationError):
        sig.validate({"temp": 1.0}, "msp")


def test_lenient_float_accepts_fractions_inside_containers() -> None:
    from pydantic import TypeAdapter

    assert TypeAdapter(lenient(float)).validate_python("8/255") == pytest.approx(8 / 255)
    assert TypeAdapter(lenient(list[float])).validate_python(["1/4", 2]) == [0.25, 2.0]
    assert TypeAdapter(lenient(float | None)).validate_python(None) is None
    with pytest.raises(ValueError):
        TypeAdapter(lenient(float)).validate_python("eight")


def test_listing_does_not_import_component_modules() -> None:
    for mod in [m for m in sys.modules if m.startswith("toolkit.detectors.")]:
        del sys.modules[mod]
    refresh()
    registry("detectors").entries()
    registry("detectors").get("msp").signature()
    assert "toolkit.detectors.msp" not in sys.modules


BROKEN = {
    "toolkit_broken_plugin/__init__.py": "",
    "toolkit_broken_plugin/detector.py": """
        import a_module_that_does_not_exist

        class Broken:
            def __init__(self, *, k: int = 1) -> None:
                self.k = k
    """,
}


def test_broken_plugin_fails_only_when_used(install_plugin: Callable[..., Path]) -> None:
    install_plugin(
        "toolkit-broken-plugin",
        "9.9.1",
        {"toolkit.detectors": {"broken": "toolkit_broken_plugin.detector:Broken"}},
        BROKEN,
    )
    reg = registry("detectors")
    assert "broken" in reg.names()
    assert reg.load("msp").__name__ == "MSP"  # everything else keeps working
    with pytest.raises(PluginLoadError) as err:
        reg.load("broken")
    message = str(err.value)
    for part in (
        "toolkit-broken-plugin",
        "9.9.1",
        "toolkit_broken_plugin.detector:Broken",
        "ModuleNotFoundError",
        "a_module_that_does_not_exist",
    ):
        assert part in message


def test_two_distributions_claiming_one_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = {
        "twin_a/__init__.py": "",
        "twin_a/det.py": "class A:\n    def __init__(self, *, a: int = 1):\n        pass\n",
        "twin_b/__init__.py": "",
        "twin_b/det.py": "class B:\n    def __init__(self, *, b: int = 2):\n        pass\n",
    }
    site = tmp_path / "site"
    write_dist(site, "twin-a", "1.0", {"toolkit.detectors": {"twin": "twin_a.det:A"}}, module)
    write_dist(site, "twin-b", "2.0", {"toolkit.detectors": {"twin": "twin_b.det:B"}})
    monkeypatch.syspath_prepend(str(site))
    refresh()
    reg = registry("detectors")
    with pytest.raises(UsageError) as err:
        reg.get("twin")
    assert "twin-a 1.0" in str(err.value) and "twin-b 2.0" in str(err.value)
    assert "'twin-a:twin'" in str(err.value)
    assert reg.get("twin-a:twin").target == "twin_a.det:A"
    assert reg.get("twin_b:twin").signature().params[0].name == "b"
    with pytest.raises(UnknownComponentError):
        reg.get("twin-c:twin")


def test_signature_falls_back_to_import_for_dynamic_annotations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = {
        "dyn_plugin/__init__.py": "",
        "dyn_plugin/det.py": """
        from pathlib import Path

        class Dyn:
            '''A detector whose annotation only an import can resolve.'''

            def __init__(self, *, where: Path = Path("x"), k: int = 3) -> None:
                self.where, self.k = where, k
    """,
    }
    site = write_dist(
        tmp_path / "site", "dyn-plugin", "0.1", {"toolkit.detectors": {"dyn": "dyn_plugin.det:Dyn"}}, modules
    )
    monkeypatch.syspath_prepend(str(site))
    refresh()
    sig = registry("detectors").get("dyn").signature()
    assert [p.name for p in sig.params] == ["where", "k"]
    assert sig.doc.startswith("A detector")


def test_plugin_whose_package_init_raises(install_plugin: Callable[..., Path]) -> None:
    """A broken package __init__ must still give the distribution, version and target."""
    install_plugin(
        "toolkit-init-broken",
        "0.3.0",
        {"toolkit.detectors": {"initbroken": "init_broken.det:D"}},
        {
            "init_broken/__init__.py": "raise RuntimeError('broken in __init__')\n",
            "init_broken/det.py": "class D:\n    def __init__(self, *, k: int = 1) -> None:\n        pass\n",
        },
    )
    with pytest.raises(PluginLoadError) as err:
        registry("detectors").get("initbroken").signature()
    for part in ("toolkit-init-broken 0.3.0", "init_broken.det:D", "RuntimeError", "broken in __init__"):
        assert part in str(err.value)


def test_dataclass_and_positional_constructor_parameters(install_plugin: Callable[..., Path]) -> None:
    modules = {
        "dc_plugin/__init__.py": "",
        "dc_plugin/det.py": """
        from dataclasses import dataclass

        @dataclass
        class Dc:
            k: int = 5
            scale: float = 1.0

        class Plain:
            def __init__(self, k: int = 5, *, scale: float = 1.0) -> None:
                self.k, self.scale = k, scale
    """,
    }
    install_plugin(
        "dc-plugin",
        "0.1",
        {"toolkit.detectors": {"dc": "dc_plugin.det:Dc", "plain": "dc_plugin.det:Plain"}},
        modules,
    )
    for name in ("dc", "plain"):
        sig = registry("detectors").get(name).signature()
        assert [(p.name, p.default) for p in sig.params] == [("k", 5), ("scale", 1.0)], name
        assert sig.validate({"k": 3, "scale": "1/2"}, name) == {"k": 3, "scale": 0.5}
