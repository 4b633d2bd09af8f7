"""The command line: every command, its output and its exit status (0, 1 not ready, 2 errors)."""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_labeler import Dataset
from jupyter_labeler.cli import main
from jupyter_labeler.demo import make_demo_images


@pytest.fixture(scope="module")
def _demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "images"
    make_demo_images(folder, count=30, seed=2)
    return folder


@pytest.fixture
def source(_demo: Path, tmp_path: Path) -> Path:
    """A fresh copy of 30 demo images, 12 of them labeled by .txt files."""
    folder = tmp_path / "images"
    shutil.copytree(_demo, folder)
    return folder


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_counts_formats(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "counts", source)
    assert code == 0
    assert "label" in out
    assert "30 images: 12 labeled, 18 unlabeled" in out

    code, out, _ = run(capsys, "counts", source, "--format", "json")
    payload = json.loads(out)
    assert code == 0
    assert payload["images"] == 30
    assert payload["labeled"] == 12
    assert sum(payload["labels"].values()) >= 12

    code, out, _ = run(capsys, "counts", source, "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "label,images"
    assert len(out.splitlines()) == 1 + len(payload["labels"])


def test_sync_picks_up_new_and_removed_images(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "counts", source)[0] == 0  # first open: the folder is synchronized
    shutil.copy(source / "img_0001.jpg", source / "new.jpg")
    (source / "new.txt").write_text("city\n", encoding="utf-8")
    (source / "img_0002.jpg").unlink()
    code, out, err = run(capsys, "sync", source)
    assert code == 0
    assert "1 image added, 1 removed, 1 labeled from .txt files" in out
    assert "dataset.manifest" in err
    assert (source / ".jupyter_labeler" / "dataset.manifest").exists()


def test_export_and_import(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "export", source, "--format", "csv", "--to", tmp_path / "l.csv")
    assert code == 0
    assert "Exported 30 images (12 labeled) as csv" in out
    rows = (tmp_path / "l.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "path,labels"

    other = tmp_path / "labels-elsewhere"
    common = ["--output", other, "--author", "carol"]
    (tmp_path / "more.csv").write_text(
        "path,labels\nimg_0003.jpg,extra\nmissing.jpg,extra\n", encoding="utf-8"
    )
    code, out, err = run(
        capsys, "import", source, "--format", "csv", "--from", tmp_path / "more.csv", *common
    )
    assert code == 0
    assert "1 of 2 entries matched" in out
    assert "missing.jpg" in err
    ds = Dataset.open(source, output=other)
    assert ds.counts().loc["extra", "images"] == 1
    assert set(ds.annotations()["annotated_by"]) >= {"carol"}
    ds.close()


def test_import_refuses_bad_label_names(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.csv").write_text("path,labels\nimg_0003.jpg,no/slash\n", encoding="utf-8")
    code, _, err = run(capsys, "import", source, "--format", "csv", "--from", tmp_path / "bad.csv")
    assert code == 2
    assert "'no/slash'" in err
    assert "nothing was imported" in err
    assert "Traceback" not in err


def test_check_exit_status(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", source)
    assert code == 1
    assert "Not ready for training" in out

    full = tmp_path / "full"
    make_demo_images(full, count=35, labeled_fraction=1.0)  # 5 images of each class
    code, out, _ = run(capsys, "check", full)
    assert code == 0
    assert out.startswith("Ready for training")


@pytest.mark.parametrize(
    "args",
    [
        ["counts"],  # no SOURCE
        ["counts", "SRC", "--format", "xml"],
        ["export", "SRC", "--format", "yaml", "--to", "x"],
        ["counts", "SRC", "--storage-option", "no-equals-sign"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([str(source) if a == "SRC" else a for a in args])
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_missing_folder_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "counts", tmp_path / "nowhere")
    assert code == 2
    assert "no such folder" in err
    assert not (tmp_path / "nowhere").exists()


def test_unreachable_store_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    code, _, err = run(
        capsys,
        "counts",
        "s3://bucket/images",
        "--storage-option",
        f"endpoint_url=http://127.0.0.1:{port}",
        "--storage-option",
        "key=some-key",
        "--storage-option",
        "secret=do-not-print-me",
        "--storage-option",
        'config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2}',
    )
    assert code == 2
    assert "cannot reach the store" in err
    assert "Traceback" not in err
    assert "do-not-print-me" not in err
    assert time.monotonic() - started < 20


def test_demo_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "demo"
    code, out, err = run(
        capsys, "demo", folder, "--count", "12", "--dry-run", "--no-browser", "--port", "8765"
    )
    assert code == 0
    command = shlex.split(out.strip())
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--no-browser" in command
    assert "--port=8765" in command
    assert command[-1] == str(folder / "quickstart.ipynb")
    # The printed URL opens the notebook, not the Launcher.
    assert "--LabApp.default_url=/lab/tree/quickstart.ipynb" in command
    # explore.ipynb comes along and finds the images beside it.
    assert (folder / "explore.ipynb").read_bytes() == Path(__file__).parent.parent.joinpath(
        "notebooks", "explore.ipynb"
    ).read_bytes()
    assert len(list((folder / "images").rglob("*.jpg"))) > 0
    assert (folder / "quickstart.ipynb").read_bytes() == Path(__file__).parent.parent.joinpath(
        "notebooks", "quickstart.ipynb"
    ).read_bytes()
    # A second run keeps what is there (the user's labels and edits).
    (folder / "quickstart.ipynb").write_text("{}", encoding="utf-8")
    code, out, err = run(capsys, "demo", folder, "--dry-run")
    assert code == 0
    assert "already" in err
    assert (folder / "quickstart.ipynb").read_text(encoding="utf-8") == "{}"


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_labeler", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("jupyter-labeler ")
