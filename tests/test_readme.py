"""The README stays a short front door that tells the truth: its size, its set-up commands (the
same as CI's), its table of keys (the same as the widget's), and its links into the manual."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from jupyter_labeler.widget.keys import KEYS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_BYTES = 8 * 1024

# How the tables write the keys the browser names otherwise.
_SHOWN = {"ArrowLeft": "←", "ArrowRight": "→", "Escape": "Esc"}


def _bash_lines(text: str) -> list[str]:
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _keys_table(text: str) -> list[str]:
    """The first column of the table under a "Keys" heading, one cell a row."""
    section = text.split("## Keys", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [row.split("|")[1].strip() for row in rows[2:]]


def test_readme_is_short() -> None:
    size = README.stat().st_size
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes; move detail to docs/"


def test_set_up_clones_first_then_installs_and_tests() -> None:
    lines = _bash_lines(README.read_text(encoding="utf-8"))
    assert lines[:4] == [
        "git clone https://github.com/jupyter-labeler/jupyter-labeler",
        "cd jupyter-labeler",
        'pip install -e ".[lab]" && jupyter-labeler demo',
        'pip install -e ".[test]" -c .ci/constraints.txt && python -m pytest',
    ]


def test_ci_runs_the_readme_test_command() -> None:
    test_line = _bash_lines(README.read_text(encoding="utf-8"))[3]
    install, run = (shlex.split(part) for part in test_line.split("&&"))
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [shlex.split(line) for line in ci.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == run, "the last command of .ci/run is the README's test command"
    # CI installs what the README's command installs (with its own flags for quiet output).
    assert install[0] == "pip"
    pip_runs = [c for c in commands if c[:3] == ["python", "-m", "pip"]]
    assert any(all(arg in c for arg in install[1:]) for c in pip_runs)


@pytest.mark.parametrize("page", ["README.md", "docs/widget.md"])
def test_keys_table_is_the_widgets(page: str) -> None:
    cells = _keys_table((ROOT / page).read_text(encoding="utf-8"))
    written = {token for cell in cells for token in re.findall(r"`([^`]+)`", cell)}
    keys = {
        _SHOWN.get(key, key)
        for shortcut in KEYS
        for key in shortcut.keys
        if not (len(key) == 1 and key.isupper())  # "A" is "a" with Shift
    }
    digits_between = set("2345678")  # written as the range `1`-`9`
    assert "`1`-`9`" in "".join(cells)
    assert keys - digits_between == written


def test_readme_links_into_the_manual_resolve() -> None:
    links = re.findall(r"\]\((docs/[^)#]+\.md)", README.read_text(encoding="utf-8"))
    assert len(links) >= 8
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing


def test_every_page_of_the_manual_is_linked_from_the_readme() -> None:
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)", README.read_text(encoding="utf-8")))
    nav = set(re.findall(r":\s*(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE))
    assert nav
    assert nav <= linked, f"pages of the site's nav the README does not link: {nav - linked}"
