"""The registry's declared names: listed before their module is imported, registered by importing it on lookup."""

from __future__ import annotations

import sys

import pytest

import nnlab.detection  # noqa: F401  declares proposals: and align
import nnlab.robustness  # noqa: F401  declares the attacks and knn
from nnlab import registry
from nnlab.errors import UnknownNameError
from nnlab.registry import Registry, declare

KIND = "test widget"


@pytest.fixture()
def widgets(tmp_path, monkeypatch):
    """A registry of kind ``test widget`` and a throwaway module that registers ``widget`` and the ``w:`` prefix
    into it (and ``gizmo`` nowhere)."""
    (tmp_path / "nnlab_test_widget_registry.py").write_text(
        f"from nnlab.registry import Registry\nWIDGETS = Registry({KIND!r})\n"
    )
    (tmp_path / "nnlab_test_widgets.py").write_text(
        "from nnlab_test_widget_registry import WIDGETS\n"
        "@WIDGETS.register('widget')\n"
        "def widget():\n    return 'built'\n"
        "@WIDGETS.register('w:')\n"
        "def prefixed(arg):\n    return arg\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry._DECLARED, KIND, {})
    from nnlab_test_widget_registry import WIDGETS

    yield WIDGETS
    for name in ("nnlab_test_widgets", "nnlab_test_widget_registry"):
        sys.modules.pop(name, None)


def test_declared_names_are_listed_with_their_help_before_the_module_loads(widgets):
    declare(KIND, "widget", "nnlab_test_widgets", help="a widget")
    declare(KIND, "w:", "nnlab_test_widgets", help="a widget by name")
    assert widgets.names() == ["widget", "w:NAME"]
    assert widgets.help() == {"w:NAME": "a widget by name", "widget": "a widget"}
    assert "nnlab_test_widgets" not in sys.modules


def test_a_lookup_imports_the_declaring_module_and_the_registration_keeps_the_declared_help(widgets):
    declare(KIND, "widget", "nnlab_test_widgets", help="a widget")
    declare(KIND, "w:", "nnlab_test_widgets", help="a widget by name")
    assert widgets.get("widget")() == "built"
    assert "nnlab_test_widgets" in sys.modules
    assert widgets.resolve("w:blue")[1] == "blue"
    assert widgets.help()["widget"] == "a widget"
    with pytest.raises(UnknownNameError, match="valid names: widget, w:NAME"):
        widgets.resolve("gadget")


def test_a_declaration_its_module_does_not_fulfil_is_an_error(widgets):
    declare(KIND, "gizmo", "nnlab_test_widgets", help="never registered")
    with pytest.raises(RuntimeError, match="declared to register test widget 'gizmo'"):
        widgets.resolve("gizmo")


def test_one_name_cannot_be_declared_by_two_modules(widgets):
    declare(KIND, "widget", "nnlab_test_widgets", help="a widget")
    declare(KIND, "widget", "nnlab_test_widgets", help="a widget")  # the same again is harmless
    with pytest.raises(ValueError, match="declared by both"):
        declare(KIND, "widget", "elsewhere", help="a widget")


def real_registries() -> dict[str, Registry]:
    from nnlab.data import DATASETS
    from nnlab.models.surgery import SURGERY
    from nnlab.robustness.registry import ATTACKS
    from nnlab.training.train_run import ROI_TRAINERS

    return {r.kind: r for r in (DATASETS, SURGERY, ATTACKS, ROI_TRAINERS)}


def test_every_real_declaration_is_registered_by_its_module_with_the_declared_help():
    by_kind = real_registries()
    assert set(registry._DECLARED) <= set(by_kind), "a declaration names a kind no registry has"
    seen = []
    for kind, entries in registry._DECLARED.items():
        for name, declared in entries.items():
            reg = by_kind[kind]
            reg.resolve(name + "x" if name.endswith(":") else name)
            assert declared.module in sys.modules
            shown = name + "NAME" if name.endswith(":") else name
            assert reg.help()[shown] == declared.help
            seen.append(name)
    assert {"proposals:", "align", "knn", "fgsm", "gaussian", "pgd", "pixels"} <= set(seen)
