"""The browser side's files, in ``static/``, as the widget's anywidget parts load them.

anywidget imports a part's ES module from a blob URL, where a relative ``import`` cannot be
resolved. Each module in ``static/`` still imports the helpers it shares from ``./dom.js``, as
any ES module would (so that editors and linters read it as one); :func:`esm` puts the text of
``dom.js`` in place of that import, and the browser receives one self-contained module.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["STATIC", "esm"]

STATIC = Path(__file__).parent / "static"
SHARED = "dom.js"
# `import { a, b } from "./dom.js";`, maybe over several lines.
_IMPORT = re.compile(r'^import \{[^}]*\} from "\./dom\.js";\n', re.MULTILINE)


def esm(name: str) -> str:
    """The ES module ``static/<name>`` with the shared helpers of ``static/dom.js`` in place
    of its import of them."""
    text = (STATIC / name).read_text(encoding="utf-8")
    shared = (STATIC / SHARED).read_text(encoding="utf-8")
    inlined = re.sub(r"^export ", "", shared, flags=re.MULTILINE)
    text, found = _IMPORT.subn(lambda _match: inlined, text)
    if found != 1:
        raise ValueError(f"static/{name} must import from ./{SHARED} once, not {found} times")
    return text
