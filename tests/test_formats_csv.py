"""CSV and .txt files as Excel and editors save them: every encoding, line end and delimiter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from imagegen import image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.cli import main
from jupyter_labeler.formats import FormatError, import_labels

NAMES = ["img_000.jpg", "sub/img_001.jpg", "sub/图片_002.jpg"]
LABELS = ["玫瑰", "tulips", "玫瑰;sunflowers"]


@pytest.fixture
def dataset(tmp_path: Path) -> Iterator[Dataset]:
    folder = tmp_path / "images"
    for i, name in enumerate(NAMES):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(image_bytes(i))
    ds = Dataset.open(folder, output=tmp_path / "out", author="me")
    yield ds
    ds.close()


def labels_by_path(ds: Dataset) -> dict[str, list[str]]:
    table = ds.annotations()
    return {
        path: sorted(group["label"])
        for path, group in table.groupby("path", sort=True)  # few rows: a test, not the library
    }


EXPECTED = {
    "img_000.jpg": ["玫瑰"],
    "sub/img_001.jpg": ["tulips"],
    "sub/图片_002.jpg": ["sunflowers", "玫瑰"],
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030", "gbk"])
@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_csv_in_every_encoding_line_end_and_delimiter(
    dataset: Dataset, tmp_path: Path, encoding: str, sep: str, line_end: str
) -> None:
    target = tmp_path / "labels.csv"
    frame = pd.DataFrame({"path": NAMES, "labels": LABELS})
    frame.to_csv(target, index=False, encoding=encoding, sep=sep, lineterminator=line_end)
    if encoding == "utf-16":
        assert target.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    # pandas itself reads it back the same way
    assert pd.read_csv(target, encoding=encoding, sep=sep)["path"].tolist() == NAMES
    report = import_labels(dataset, "csv", str(target))
    assert report.matched == 3
    assert not report.problems
    assert labels_by_path(dataset) == EXPECTED


def test_unquoted_labels_in_a_semicolon_csv_spill_into_more_fields(
    dataset: Dataset, tmp_path: Path
) -> None:
    (tmp_path / "l.csv").write_text("path;labels\nsub/图片_002.jpg;玫瑰;sunflowers\n", "utf-8")
    import_labels(dataset, "csv", str(tmp_path / "l.csv"))
    assert labels_by_path(dataset) == {"sub/图片_002.jpg": ["sunflowers", "玫瑰"]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_txt_sidecars_in_every_encoding(
    dataset: Dataset, tmp_path: Path, encoding: str, line_end: str
) -> None:
    folder = tmp_path / "txt"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "图片_002.txt").write_bytes(
        line_end.join(["玫瑰", "sunflowers", ""]).encode(encoding)
    )
    report = import_labels(dataset, "txt", str(folder))
    assert not report.problems
    assert labels_by_path(dataset) == {"sub/图片_002.jpg": ["sunflowers", "玫瑰"]}


UNREADABLE = {
    "not text at all": b"path,labels\n\xff\xfe\xfd\x80\x81,x\n",
    "UTF-16 without its byte-order mark": "path,labels\nimg_000.jpg,x\n".encode("utf-16-le"),
    "UTF-32": "path,labels\nimg_000.jpg,x\n".encode("utf-32"),
}


@pytest.mark.parametrize("data", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_what_cannot_be_decoded_is_refused_with_nothing_imported(
    dataset: Dataset, tmp_path: Path, data: bytes
) -> None:
    (tmp_path / "bad.csv").write_bytes(data)
    with pytest.raises(FormatError, match="save it as UTF-8"):
        import_labels(dataset, "csv", str(tmp_path / "bad.csv"))
    assert dataset.annotations().empty


def test_a_bad_txt_file_is_listed_and_the_others_import(dataset: Dataset, tmp_path: Path) -> None:
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "img_000.txt").write_bytes("玫瑰\n".encode("gb18030"))
    (folder / "img_001.txt").write_bytes(b"\xff\xfe\x00\x00x\x00\x00\x00")
    report = import_labels(dataset, "txt", str(folder))
    assert len(report.problems) == 1
    assert "img_001.txt" in report.problems[0]
    assert labels_by_path(dataset) == {"img_000.jpg": ["玫瑰"]}


def test_cli_refuses_an_unreadable_csv_in_one_line_with_exit_2(
    dataset: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.csv").write_bytes(UNREADABLE["not text at all"])
    source = dataset.source_url
    dataset.close()
    code = main(
        [
            "import",
            source,
            "--format",
            "csv",
            "--from",
            str(tmp_path / "bad.csv"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "bad.csv" in err


def test_cli_imports_a_gbk_csv_with_cr_line_ends(
    dataset: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "l.csv").write_bytes("path;labels\rimg_000.jpg;玫瑰\r".encode("gbk"))
    source = dataset.source_url
    dataset.close()
    code = main(
        [
            "import",
            source,
            "--format",
            "csv",
            "--from",
            str(tmp_path / "l.csv"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0, capsys.readouterr()
    ds = Dataset.open(source, output=tmp_path / "out")
    assert labels_by_path(ds) == {"img_000.jpg": ["玫瑰"]}
    ds.close()
