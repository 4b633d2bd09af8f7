"""Hostile inputs through the API and the widget: each refused with a clear message or handled
safely, and nothing lost: the dataset is checked unchanged after every refusal.

Label names, uploads (too large, empty, truncated, not images, decompression bombs, SVG, names
with folders, markup or 300 characters), corrupt images already in the store, and file names
holding HTML, which must come out escaped in every HTML widget of the Labeler.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from imagegen import image_bytes
from PIL import Image

from jupyter_labeler import Dataset
from jupyter_labeler.errors import InvalidLabelError
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler
from jupyter_labeler.widget import labeler as labeler_module

pytest_plugins = ["summary_plugin"]

MB = 1024 * 1024
RAW_MARKUP = re.compile(r"<\s*/?\s*(img|script|svg|iframe)\b", re.I)

BAD_LABELS = {
    "33 characters": "a" * 33,
    "emoji": "rose\U0001f339",
    "space inside": "red rose",
    "slash": "a/b",
    "script tag": "<script>alert(1)</script>",
    "right-to-left mark": "abc\u200f",
    "right-to-left override": "\u202eabc",
    "empty": "",
    "whitespace only": " \t ",
    "NUL": "a\x00b",
    "newline inside": "a\nb",
    "dot dot": "..",
}


# -- inputs ---------------------------------------------------------------------------------------
def bmp_of(nbytes: int) -> bytes:
    side = int((nbytes / 3) ** 0.5) + 1
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (10, 200, 30)).save(buf, "BMP")
    return buf.getvalue()


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = image_bytes(7, size=(320, 240))
    return data[: len(data) // 2]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

# name -> (bytes, words the reason must hold)
REFUSED_UPLOADS: dict[str, tuple[str, Any, str]] = {
    "a 6 MB image": ("big.bmp", lambda: bmp_of(6 * MB), "at most 5.0 MB"),
    "zero bytes": ("empty.jpg", lambda: b"", "the file is empty"),
    "a truncated JPEG": ("cut.jpg", truncated_jpeg, "cut short"),
    "text named .jpg": ("notes.jpg", lambda: b"hello, world\n" * 20, "holds text"),
    "a PNG decompression bomb": ("bomb.png", png_bomb, "decompression bomb"),
    "a BMP with a broken header": ("bad.bmp", lambda: b"BM" + b"\x07" * 60, "BMP header"),
    "an SVG": ("vector.svg", lambda: SVG, "SVG images are not supported"),
    "an SVG named .png": ("vector.png", lambda: SVG, "SVG images are not supported"),
    "a GIF": ("anim.jpg", lambda: image_bytes(1, fmt="GIF"), "GIF images are not supported"),
    "markup in a refused name": (
        "<script>alert(1)</script>.gif",
        lambda: b"GIF89a\x01\x00",
        "GIF images are not supported",
    ),
}

# name as the browser sends it -> what the stored name must (not) be
ODD_NAMES = {
    "../../x.jpg": "x.jpg",
    "a+b.jpg": "a_b.jpg",
    "n" * 296 + ".jpg": None,  # shortened
    "玫瑰 花.jpg": "玫瑰_花.jpg",
    "café.JPG": "café.jpg",
    "<img src=x onerror=alert(1)>.jpg": None,  # no markup left
    "C:\\Users\\eve\\evil.jpg": "evil.jpg",
    ".hidden.jpg": "hidden.jpg",
    "a\x00b.jpg": "ab.jpg",
    "img_000.jpg": "img_000_1.jpg",  # taken: never overwritten
    "photo.png": "photo.jpg",  # JPEG bytes: the name follows the bytes
}


# -- fixtures and checks --------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    for i in range(8):
        (root / f"img_{i:03d}.jpg").write_bytes(image_bytes(i))
    return root


@pytest.fixture
def ds(folder: Path) -> Iterator[Dataset]:
    dataset = Dataset.open(str(folder), author="tester")
    dataset.add_label("roses", sorted(dataset.ids())[:2])
    dataset.flush()  # its feed entry follows the acknowledgement
    yield dataset
    dataset.close()


@pytest.fixture
def lab(ds: Dataset) -> Iterator[Labeler]:
    labeler = Labeler(ds, page_size=48, view="all")
    yield labeler
    error = labeler.status.last_error
    labeler.close()
    assert error is None, f"an unexpected error reached the status line: {error!r}"


@pytest.fixture
def user(lab: Labeler) -> LabelerDriver:
    return LabelerDriver(lab)


def fingerprint(ds: Dataset, folder: Path) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was: images, labels, files, journal, queue."""
    files = sorted(
        (str(p.relative_to(folder)), p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    )
    labels = {name: sorted(ds.with_label(name).index) for name in ds.label_names}
    return (sorted(ds.images["path"]), labels, files, ds.pending)


def html_widgets(root: ipywidgets.Widget) -> list[ipywidgets.HTML]:
    """Every HTML widget under ``root``."""
    found, seen, stack = [], set(), [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if isinstance(widget, ipywidgets.HTML):
            found.append(widget)
        stack.extend(getattr(widget, "children", ()) or ())
    return found


def assert_no_raw_markup(lab: Labeler) -> None:
    for widget in html_widgets(lab):
        match = RAW_MARKUP.search(widget.value)
        assert match is None, f"raw markup in {widget!r}"


# -- label names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_bad_label_names_are_refused_by_the_api(
    name: str, ds: Dataset, folder: Path, reliability: Any
) -> None:
    before = fingerprint(ds, folder)
    ids = sorted(ds.ids())
    for attempt in (
        lambda: ds.add_label(name, ids[2:4]),
        lambda: ds.rename_label("roses", name),
    ):
        reliability.case()
        with pytest.raises(InvalidLabelError) as refused:
            attempt()
        assert refused.value.reason
        assert str(refused.value).startswith("invalid label name")
        assert fingerprint(ds, folder) == before


def test_bad_label_names_are_refused_by_the_widget(
    lab: Labeler, user: LabelerDriver, ds: Dataset, folder: Path, reliability: Any
) -> None:
    ids = sorted(ds.ids())
    before = fingerprint(ds, folder)
    lab.open_image(ids[0])
    for name in BAD_LABELS.values():
        reliability.case(3)
        lab.selected = (ids[3],)
        user.type_label(name)
        assert user.button("ok").disabled
        if name:
            assert user.label_problem, f"no reason shown for {name!r}"
        user.enter_label()
        user.click("ok")
        # The preview's box and the All Labels pane's rename refuse it too.
        user.preview_type(name)
        assert lab.preview.add.disabled
        assert lab.preview.change.disabled
        user.preview_click("add")
        pane = lab.labels_pane
        first = pane.names[0]
        user.type_rename(first, name)
        assert first not in pane.allowed
        user.rename_label(first, name)
        # Even forced past the disabled button, the Dataset refuses it and the line says why:
        # the Labeler's own handler, as no message from the browser reaches it with this name.
        lab.status.guard(lab._add_to_selection)(name)
        assert isinstance(user.last_error, InvalidLabelError)
        assert "invalid label name" in user.status_text
        user.clear_error()
        assert_no_raw_markup(lab)
        assert fingerprint(ds, folder) == before
    user.preview_click("close")


# -- uploads --------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REFUSED_UPLOADS.values(), ids=REFUSED_UPLOADS.keys())
def test_refused_uploads_change_nothing(
    case: tuple[str, Any, str],
    ds: Dataset,
    folder: Path,
    lab: Labeler,
    user: LabelerDriver,
    reliability: Any,
) -> None:
    name, make, reason = case
    data = make()
    before = fingerprint(ds, folder)
    reliability.case(2)
    result = ds.add_images({name: data})
    assert result.added == []
    assert [n for n, _ in result.refused] == [name]
    assert reason in result.refused[0][1]
    assert fingerprint(ds, folder) == before
    # The same through the widget's Add Image.
    user.upload({name: data})
    shown = user.upload_result
    assert "0 images added." in shown
    assert f"{name}: " in shown
    assert reason in shown
    assert "0 images added, 1 refused." in user.status_text
    assert_no_raw_markup(lab)
    assert fingerprint(ds, folder) == before


def test_more_than_8_mb_in_one_upload_is_refused_whole(
    ds: Dataset, folder: Path, user: LabelerDriver, reliability: Any
) -> None:
    files = {"one.bmp": bmp_of(int(4.5 * MB)), "two.bmp": bmp_of(int(4.5 * MB))}
    before = fingerprint(ds, folder)
    reliability.case(2)
    result = ds.add_images(files)
    assert result.added == []
    assert len(result.refused) == 2
    assert all("at most 8.0 MB can be added at once" in r for _, r in result.refused)
    assert fingerprint(ds, folder) == before
    user.upload(files)  # sent whole, past the browser's own limit: the kernel refuses it too
    assert "0 images added, 2 refused." in user.status_text
    assert fingerprint(ds, folder) == before


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: repr(n[:20]))
def test_odd_upload_names_are_made_safe(
    name: str, ds: Dataset, folder: Path, lab: Labeler, user: LabelerDriver, reliability: Any
) -> None:
    data = image_bytes(99)
    originals = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    n_before = len(ds)
    reliability.case(2)
    result = ds.add_images({name: data})
    assert result.refused == []
    assert len(result.added) == 1
    first = ds.info(result.added[0])["path"]
    if ODD_NAMES[name] is not None:
        assert first == ODD_NAMES[name]
    known = set(ds.images["path"])
    # The same file through the widget's Add Image: stored again, under a fresh name.
    user.upload({name: data})
    assert "1 image added." in user.upload_result
    assert_no_raw_markup(lab)
    (second,) = set(ds.images["path"]) - known
    for stored in (first, second):
        assert "/" not in stored
        assert "\\" not in stored
        assert not stored.startswith(".")
        assert not re.search(r"[<>\x00-\x1f\s+]", stored)
        assert len(stored) <= 120
        assert stored.endswith(".jpg")
        assert (folder / stored).read_bytes() == data
    assert len(ds) == n_before + 2
    # Nothing overwritten, nothing written outside the folder.
    for old_name, old_bytes in originals.items():
        assert (folder / old_name).read_bytes() == old_bytes
    assert sorted(p.name for p in folder.parent.iterdir()) == ["images"]


# -- corrupt images already in the store, and names holding HTML ----------------------------------
BROKEN_FILES = {
    "truncated.jpg": (truncated_jpeg, "cut short"),
    "text.jpg": (lambda: b"just some text\n", "holds text"),
    "empty.png": (lambda: b"", "the file is empty"),
    "broken.bmp": (lambda: b"BM" + b"\x07" * 60, "BMP header"),
    "bomb.png": (png_bomb, "decompression bomb"),
    "vector.jpg": (lambda: SVG, "SVG images are not supported"),
}
HTML_NAMES = (
    "<img src=x onerror=alert(1)>.jpg",
    "<script>alert(1)</script>.png",  # a folder "<script>alert(1)<" holding "script>.png"
    "<svg onload=alert(1)>.jpg",
)


def test_corrupt_images_in_the_store_show_placeholders_with_reasons(
    ds: Dataset, folder: Path, lab: Labeler, user: LabelerDriver, reliability: Any
) -> None:
    for name, (make, _) in BROKEN_FILES.items():
        (folder / name).write_bytes(make())
    user.click("synchronize")
    assert ds.view_counts()["all"] == 8 + len(BROKEN_FILES)
    reliability.case(len(BROKEN_FILES))
    by_path = {ds.info(i)["path"]: i for i in ds.ids()}
    thumbs = ds.thumbnails([by_path[n] for n in BROKEN_FILES])
    for name, (_, reason) in BROKEN_FILES.items():
        thumb = thumbs[by_path[name]]
        assert not thumb.ok, name
        assert reason in (thumb.error or ""), (name, thumb.error)
        assert thumb.data[:2] == b"\xff\xd8"  # a placeholder picture, still a JPEG
    for name, (_, reason) in BROKEN_FILES.items():
        assert reason in user.tile(by_path[name]).error  # the browser marks the tile jl-broken
    assert user.tile(by_path["img_000.jpg"]).error == ""
    # Labeling still works on a page full of broken images.
    lab.selected = tuple(by_path[n] for n in BROKEN_FILES)
    user.type_label("broken")
    user.enter_label()
    assert len(ds.with_label("broken")) == len(BROKEN_FILES)


def test_file_names_holding_html_are_escaped_everywhere(
    ds: Dataset, folder: Path, lab: Labeler, user: LabelerDriver, reliability: Any
) -> None:
    for i, name in enumerate(HTML_NAMES):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image_bytes(40 + i) if i != 1 else b"<script>alert(2)</script>")
    # A sidecar with a bad label beside one of them, so that sync reports a problem too.
    (folder / "<img src=x onerror=alert(1)>.txt").write_text("<script>\n")
    user.click("synchronize")
    reliability.case(len(HTML_NAMES))
    by_path = {ds.info(i)["path"]: i for i in ds.ids()}
    html_ids = [by_path[n] for n in HTML_NAMES]

    # Tiles: caption, chips and (for the broken one) the reason.
    lab.selected = tuple(html_ids)
    user.type_label("tulips")
    user.enter_label()
    # The grid sends names and labels as data; its browser side draws them as text only.
    tiles = [user.tile(i) for i in user.visible_ids if i in html_ids]
    assert len(tiles) == len(HTML_NAMES)
    for tile in tiles:
        assert tile.name == ds.info(tile.image_id)["path"]  # with its folder
        assert "tulips" in tile.labels
    script = (Path(labeler_module.__file__).parent / "static" / "grid.js").read_text()
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)
    # The preview, for each.
    for image_id in html_ids:
        lab.open_image(image_id)
        assert user.preview_text.startswith(ds.info(image_id)["path"])
        assert_no_raw_markup(lab)
    # The status line: a file gone behind the Dataset's back is named in an error.
    (folder / HTML_NAMES[0]).unlink()
    lab.open_image(html_ids[0])
    assert f"Cannot show {HTML_NAMES[0]}" in user.status_text
    assert_no_raw_markup(lab)
    user.clear_error()
    user.preview_click("close")
    # Upload results, with a refused file whose name is markup.
    user.upload({"<img src=y onerror=alert(3)>.gif": b"GIF89a"})
    assert "<img src=y" in user.upload_result
    # All Labels and readiness hold label names; the dialog holds a name too.
    lab.ask_delete_label("tulips")
    assert_no_raw_markup(lab)
    user.cancel()
    # The notebook's own views of the tables escape too.
    assert RAW_MARKUP.search(ds.images._repr_html_()) is None
    assert RAW_MARKUP.search(ds.readiness()._repr_html_()) is None
    # No widget lets a description be read as HTML.
    for widget in html_widgets(lab):
        assert not getattr(widget, "description_allow_html", False)
