"""The public names are exactly what each public module offers (as httpx tests its ``__all__``):
every name listed exists, every public class, function and constant a module defines (or, for
the package, imports from its own modules) is listed, and every error is a LabelerError.

Also: the test driver imports no widget library and reaches no private name of the widget.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import jupyter_labeler
from jupyter_labeler import errors, testing

MODULES = [jupyter_labeler, errors, testing]


def source_tree(module: ModuleType) -> ast.Module:
    return ast.parse(Path(inspect.getfile(module)).read_text(encoding="utf-8"))


def defined_here(module: ModuleType) -> set[str]:
    """The public classes and functions whose home is this module."""
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    }


def constants_here(module: ModuleType) -> set[str]:
    """The public names the module assigns at its top level (``BUTTONS = (...)``)."""
    names: set[str] = set()
    for node in source_tree(module).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name) and not t.id.startswith("_")}
    return names


def imported_from_the_package(module: ModuleType) -> set[str]:
    """The names a module imports at its top level from the package's own modules (``from .x
    import a``); those imported only for type checking are not among them."""
    names: set[str] = set()
    for node in source_tree(module).body:
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            names |= {alias.asname or alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_name_in_all_exists_once(module: ModuleType) -> None:
    assert len(module.__all__) == len(set(module.__all__)), "a name is listed twice"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module", [errors, testing], ids=lambda m: m.__name__)
def test_all_lists_every_public_class_function_and_constant_defined(module: ModuleType) -> None:
    assert set(module.__all__) == defined_here(module) | constants_here(module)


def test_the_package_exports_what_it_imports_and_the_widget() -> None:
    imported = imported_from_the_package(jupyter_labeler)
    lazy = {"Labeler", "label"}  # the widget loads only when asked for
    assert set(jupyter_labeler.__all__) == imported | lazy | {"__version__"}
    assert defined_here(jupyter_labeler) == set()  # it defines nothing: it gathers
    from jupyter_labeler import widget

    assert jupyter_labeler.Labeler is widget.Labeler
    assert jupyter_labeler.label is widget.label
    with pytest.raises(AttributeError, match="no attribute 'Labelr'"):
        _ = jupyter_labeler.Labelr  # type: ignore[attr-defined]


def test_every_error_is_a_labeler_error_exported_by_the_package() -> None:
    defined = {name: getattr(errors, name) for name in errors.__all__}
    assert defined, "errors lists no exception"
    for name, error in defined.items():
        assert inspect.isclass(error)
        assert issubclass(error, errors.LabelerError), name
        assert getattr(jupyter_labeler, name) is error, f"{name} is not exported by the package"
        # The hierarchy is drawn in the module's docstring: each error has its place in it.
        assert name in (errors.__doc__ or ""), f"{name} is missing from the drawn hierarchy"


def test_the_driver_imports_no_widget_library() -> None:
    code = (
        "import sys, jupyter_labeler.testing; "
        "loaded = [m for m in ('ipywidgets', 'anywidget', 'jupyter_labeler.widget') "
        "if m in sys.modules]; "
        "print(loaded)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_the_driver_reaches_no_private_name() -> None:
    """The driver is a public seam: it uses the Labeler's public parts only, so that reshaping
    the widget's insides never means rewriting it (or the tests written with it)."""
    private = sorted(
        {
            node.attr
            for node in ast.walk(source_tree(testing))
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        }
    )
    assert private == []
