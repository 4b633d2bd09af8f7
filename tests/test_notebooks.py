"""Every notebook in notebooks/ runs from top to bottom in a fresh kernel.

Each runs in a temporary copy (nothing is written into the repository) on a small demo dataset
given by ``JUPYTER_LABELER_DEMO``; ``obs.ipynb`` runs against the OBS-like proxy in front of moto,
with the demo images uploaded into the bucket first and the keys in ``OBS_*`` variables.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from jupyter_labeler.demo import make_demo_images
from jupyter_labeler.storage import open_store

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SECRET = "n0t-a-real-secret-1f3a"


@pytest.fixture(scope="module")
def demo_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notebooks") / "images"
    make_demo_images(folder, count=40, seed=5)
    return folder


def _outputs(notebook: Any) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts += [str(v) for v in output.get("data", {}).values()]
    return "\n".join(parts)


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "obs.ipynb", "explore.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: clear the outputs before committing"
            assert cell.execution_count is None


@pytest.mark.parametrize("name", ["quickstart.ipynb", "explore.ipynb"])
def test_packaged_demo_notebooks_are_the_ones_in_notebooks(name: str) -> None:
    # `jupyter-labeler demo` copies the packaged ones: the two must not drift apart.
    packaged = REPO / "jupyter_labeler" / "notebooks" / name
    assert packaged.read_bytes() == (REPO / "notebooks" / name).read_bytes(), (
        f"copy notebooks/{name} to jupyter_labeler/notebooks/{name}"
    )


def test_explore_runs_in_the_demo_folder_without_settings(
    tmp_path: Path, demo_images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `jupyter-labeler demo` lays it out: the notebook beside images/, nothing in the env.
    monkeypatch.delenv("JUPYTER_LABELER_DEMO", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    shutil.copytree(demo_images, tmp_path / "images")
    notebook = nbformat.read(REPO / "notebooks" / "explore.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    assert "Traceback" not in _outputs(notebook)
    assert len(list((tmp_path / "images").rglob("*.jpg"))) == len(
        list(demo_images.rglob("*.jpg"))
    )  # it used the images there, and made no new ones
    assert (tmp_path / "images" / ".jupyter_labeler").is_dir()


def test_obs_notebook_stops_at_once_with_one_sentence_when_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JUPYTER_LABELER_OBS_URL", "OBS_ENDPOINT", "OBS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OBS_SECRET_ACCESS_KEY", SECRET)
    notebook = nbformat.read(REPO / "notebooks" / "obs.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    (error,) = code[0].outputs
    assert error["ename"] == "MissingSettings"
    assert error["traceback"] == [
        "This notebook needs JUPYTER_LABELER_OBS_URL, OBS_ENDPOINT, OBS_ACCESS_KEY_ID in the "
        "environment: set them (see above) and start Jupyter again; it stops here."
    ]
    assert all(cell.outputs == [] for cell in code[1:])  # no cascade of NameErrors
    assert SECRET not in _outputs(notebook)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path,
    tmp_path: Path,
    demo_images: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(path, work / path.name)
    if path.stem == "obs":
        request.getfixturevalue("obs_env")
        monkeypatch.setenv("OBS_SECRET_ACCESS_KEY", SECRET)  # moto does not check signatures
        bucket = request.getfixturevalue("s3_bucket")
        url = f"obs://{bucket}/demo"
        store = open_store(url)
        for file in demo_images.rglob("*"):
            if file.is_file():
                store.write(file.relative_to(demo_images).as_posix(), file.read_bytes())
        monkeypatch.setenv("JUPYTER_LABELER_OBS_URL", url)
    else:
        shutil.copytree(demo_images, work / "images")
        monkeypatch.setenv("JUPYTER_LABELER_DEMO", str(work / "images"))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    notebook = nbformat.read(work / path.name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()

    text = _outputs(notebook)
    assert "Traceback" not in text
    assert SECRET not in text
    if path.stem in {"quickstart", "obs"}:
        assert "ModelArts manifest:" in text
        assert (work / "labels.csv").read_text(encoding="utf-8").startswith("path,labels")
    if path.stem == "obs":
        assert store.exists(".jupyter_labeler/dataset.manifest")
    else:
        assert (work / "images" / ".jupyter_labeler").is_dir()
