"""MkDocs hook: the Sphinx roles of the package's docstrings become links in the API reference.

The docstrings name other objects the Sphinx way (``:meth:`follow```,
``:class:`~jupyter_labeler.dataset.Dataset```), which mkdocstrings renders as text, role and
all. Each becomes the object's name in code, linked to where the site documents it. The link is
an optional cross-reference: a name the site does not document stays plain code, with no warning.

A relative name is looked up beside the object being documented: ``follow`` in a method of
``jupyter_labeler.Dataset`` is ``jupyter_labeler.Dataset.follow``; a name that starts with a
capital letter (``Dataset.open``) is one of the package's own (``jupyter_labeler.Dataset.open``).
"""

from __future__ import annotations

import re
from typing import Any

_PACKAGE = "jupyter_labeler"
_ROLES = "func|class|meth|mod|attr|data|exc|obj|const"
_PIECE = re.compile(
    rf'(?P<heading><h[1-6] id="(?P<id>{_PACKAGE}[\w.]*)")'
    rf"|:(?:py:)?(?:{_ROLES}):<code>"
    r"(?:(?P<title>[^<&]+?) &lt;(?P<explicit>[\w.]+)&gt;|(?P<tilde>~?)(?P<target>[\w.]+?)(?:\(\))?)"
    r"</code>"
)


def _enclosing(object_id: str, *, module: bool) -> str:
    """The class (or, with ``module``, the module) an object documented as ``object_id`` is in."""
    parts = object_id.split(".")
    classes = [i for i, part in enumerate(parts) if part[:1].isupper() and not part.isupper()]
    if not classes:  # a function of a module: its module
        return ".".join(parts[:-1])
    return ".".join(parts[: classes[0]] if module else parts[: classes[0] + 1])


def _identifier(target: str, context: str) -> str:
    first = target.split(".", 1)[0]
    if first == _PACKAGE:
        return target
    if not context:
        return f"{_PACKAGE}.{target}"
    if first.isupper():  # a constant, such as FORMATS: in the module being documented
        return f"{_enclosing(context, module=True)}.{target}"
    if first[:1].isupper():  # a class of the package, such as Dataset
        return f"{_PACKAGE}.{target}"
    return f"{_enclosing(context, module=False)}.{target}"


def on_page_content(html: str, **kwargs: Any) -> str:
    context = ""

    def replace(match: re.Match[str]) -> str:
        nonlocal context
        if match["heading"]:
            context = match["id"]
            return match[0]
        if match["explicit"]:
            target, shown = match["explicit"], match["title"]
        else:
            target = match["target"]
            shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
        identifier = _identifier(target, context)
        return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

    return _PIECE.sub(replace, html)
