"""Every ```python block of the README and of the manual (``docs/*.md``) runs as written.

The blocks of one file run in order in one namespace, as a reader would type them into one
notebook, in a folder holding ``flowers/``: a small demo dataset made by
:func:`jupyter_labeler.demo.make_demo_images`. The same images are in the bucket ``my-bucket``
under ``flowers/`` on moto (``s3://``) and behind the OBS-like proxy (``obs://``), reached
through the environment variables the pages tell readers to set, with fake keys.

A line whose comment is only a string literal (``user.status_text  # 'All changes saved'``)
says what the line shows, and must show exactly that. A block is left out only when the line
before it in the Markdown is a marker saying why::

    <!-- not run: needs a real OBS account -->

and there may be only a few of those.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_labeler import Dataset, Labeler
from jupyter_labeler.demo import make_demo_images

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BUCKET = "my-bucket"
# Enough images for every snippet (20 unlabeled to label; four labels with 5 or more images
# from the demo's sidecars, so that suggestions have something to learn from), and no more:
# every page on a bucket copies them there and opens them.
DEMO_IMAGES = 84
MAX_NOT_RUN = 2

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_NOT_RUN = re.compile(r"^<!-- not run: (?P<why>\S.*?) -->$")
_SHOWN_AS = re.compile(r"#\s*(?P<text>'[^']*'|\"[^\"]*\")\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None  # why, when the page marks the block as not run


def python_blocks(page: Path) -> list[Block]:
    """The page's ```python blocks in order, with the reason of a "not run" marker before one."""
    blocks = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent, language = fence.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if language == "python":
            before = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
            marker = _NOT_RUN.match(before)
            code = "\n".join(line.removeprefix(indent) for line in lines[i + 1 : end])
            blocks.append(Block(page, i + 1, code, marker["why"] if marker else None))
        i = end + 1
    return blocks


PAGES_WITH_CODE = [page for page in PAGES if any(b.not_run is None for b in python_blocks(page))]


def _run(block: Block, namespace: dict[str, Any], shown: list[Any]) -> None:
    """Run one block statement by statement; keep what a bare expression gives, as a notebook
    would show it (so that a widget made by ``label(ds)`` on its own line is closed later)."""
    name = f"{block.page.relative_to(ROOT)}:{block.line}"
    lines = block.code.splitlines()
    tree = ast.parse(block.code, filename=name)
    for statement in tree.body:
        if isinstance(statement, ast.Expr):
            code = compile(ast.Expression(statement.value), name, "eval")
            value = eval(code, namespace)  # noqa: S307 - the docs' own code
            shown.append(value)
            # A comment that is a string literal is what the page says the line shows.
            said = _SHOWN_AS.search(lines[(statement.end_lineno or statement.lineno) - 1])
            if said:
                where = f"{name} (line {statement.lineno} of the block)"
                assert value == ast.literal_eval(said["text"]), f"{where} shows {value!r}"
        else:
            module = ast.Module(body=[statement], type_ignores=[])
            exec(compile(module, name, "exec"), namespace)  # noqa: S102 - the docs' own code


@pytest.fixture(scope="module")
def demo_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs-demo") / "flowers"
    make_demo_images(folder, count=DEMO_IMAGES, seed=0)
    return folder


@pytest.fixture
def reader_folder(demo_images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder holding ``flowers/``, made the current directory."""
    shutil.copytree(demo_images, tmp_path / "flowers")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fill_bucket(request: pytest.FixtureRequest, demo_images: Path) -> None:
    """Put the demo images in ``my-bucket/flowers/`` and point the environment the pages name
    (``S3_ENDPOINT_URL``, ``OBS_ENDPOINT`` and the keys) at moto and the OBS-like proxy."""
    s3_client = request.getfixturevalue("s3_client")
    request.getfixturevalue("obs_env")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("S3_ENDPOINT_URL", request.getfixturevalue("s3_endpoint"))
    s3_client.create_bucket(Bucket=BUCKET)
    for path in sorted(demo_images.rglob("*")):
        if path.is_file():
            key = f"flowers/{path.relative_to(demo_images).as_posix()}"
            s3_client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def _close_everything(values: list[Any]) -> None:
    """Close the widgets and datasets a page made, widgets first (they stop following)."""
    labelers = [v for v in values if isinstance(v, Labeler)]
    labelers += [v.labeler for v in values if isinstance(getattr(v, "labeler", None), Labeler)]
    datasets = [v for v in values if isinstance(v, Dataset)]
    for labeler in labelers:
        datasets.append(labeler.dataset)
        labeler.close()
    for dataset in {id(d): d for d in datasets}.values():
        dataset.close()


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: page.name)
def test_python_blocks_run_as_written(
    page: Path, reader_folder: Path, demo_images: Path, request: pytest.FixtureRequest
) -> None:
    blocks = [block for block in python_blocks(page) if block.not_run is None]
    if any(f"{scheme}://{BUCKET}/" in block.code for block in blocks for scheme in ("s3", "obs")):
        _fill_bucket(request, demo_images)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    shown: list[Any] = []
    try:
        for block in blocks:
            _run(block, namespace, shown)
    finally:
        _close_everything([*namespace.values(), *shown])


def test_blocks_are_found() -> None:
    """The extraction sees the blocks a reader sees (a parser that found none would pass all)."""
    readme = python_blocks(ROOT / "README.md")
    assert readme, "README.md has no ```python block"
    assert "from jupyter_labeler import" in readme[0].code
    every = [block for page in PAGES for block in python_blocks(page)]
    assert len(every) >= 10
    # Pages that read the bucket get one; the test must see them as such.
    assert any("obs://my-bucket/" in block.code for block in every)


def test_few_blocks_are_not_run() -> None:
    not_run = [block for page in PAGES for block in python_blocks(page) if block.not_run]
    where = [f"{b.page.name}:{b.line} ({b.not_run})" for b in not_run]
    assert len(not_run) <= MAX_NOT_RUN, f"too many blocks not run: {where}"


def test_not_run_marker_is_recognised(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- not run: needs a real OBS account -->\n```python\nx = 1\n```\n\n"
        "```python\ny = 2\n```\n\n- a list\n\n    ```python\n    z = 3\n    ```\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.code, b.not_run) for b in blocks] == [
        ("x = 1", "needs a real OBS account"),
        ("y = 2", None),
        ("z = 3", None),
    ]
