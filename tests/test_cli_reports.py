"""The command line's reports of long lists, and the arguments it checks before opening."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from jupyter_labeler.cli import main
from jupyter_labeler.demo import make_demo_images


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A folder of six demo images."""
    make_demo_images(tmp_path / "images", count=6, seed=3)
    return tmp_path / "images"


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """``main(args)``: its exit status, stdout and stderr."""
    code = main([str(a) for a in args])
    return code, *capsys.readouterr()


def test_import_lists_the_first_20_unmatched_entries(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "labels.csv"
    table.write_text("path,labels\n" + "".join(f"elsewhere/{i}.jpg,cat\n" for i in range(25)))

    code, out, err = run(capsys, "import", source, "--format", "csv", "--from", table, "-q")

    assert code == 0
    assert "25 unmatched" in out
    lines = err.splitlines()
    assert lines[0] == "jupyter-labeler import: 25 entries name no image of the dataset:"
    assert lines[1:21] == [f"  elsewhere/{i}.jpg" for i in range(20)]
    assert lines[21] == "  ... and 5 more"
    assert len(lines) == 22


def test_import_lists_the_first_20_ambiguous_entries(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = next(p for p in sorted(source.iterdir()) if p.suffix == ".jpg")
    shutil.copy(image, source / "twin.jpg")  # two images of the dataset with the same bytes
    folder = tmp_path / "imagefolder" / "cat"
    folder.mkdir(parents=True)
    for i in range(23):
        shutil.copy(image, folder / f"copy{i:02d}.jpg")

    code, _, err = run(
        capsys, "import", source, "--format", "imagefolder", "--from", folder.parent, "-q"
    )

    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 21
    assert all(
        line.startswith("jupyter-labeler import: ambiguous, not labeled: cat/copy")
        for line in lines[:20]
    )
    assert lines[20] == "  ... and 3 more ambiguous"


def test_dask_without_its_extra_is_told_before_the_dataset_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails

    code, _, err = run(capsys, "features", tmp_path / "missing", "--dask", "tcp://127.0.0.1:1")

    assert code == 2
    assert err == (
        "jupyter-labeler features: error: --dask needs dask.distributed: "
        "pip install 'jupyter-labeler[dask]'\n"
    )


@pytest.mark.parametrize(
    "command", ["demo", "counts", "sync", "export", "import", "check", "features"]
)
def test_every_command_has_its_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: jupyter-labeler {command} ")
