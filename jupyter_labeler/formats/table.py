"""CSV: a header ``path,labels`` and one row per image."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from ..errors import FormatError
from ._common import (
    Entries,
    ExportReport,
    Progress,
    clean,
    decode_text,
    labels_by_image,
    write_file,
)

if TYPE_CHECKING:
    from ..dataset import Dataset


def export_csv(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = labels_by_image(dataset)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "labels"])
    for image_id, path in images:
        writer.writerow([path, ";".join(labels.get(image_id, []))])
    written = write_file(to, out.getvalue().encode("utf-8"), options)
    return ExportReport("csv", written, len(images), len(labels), 1)


# Delimiters Excel writes: "," in most locales, ";" in European ones, tab for "Unicode text".
_DELIMITERS = (",", ";", "\t")
_REST = "\x00rest"


def _delimiter(header: str) -> str:
    """The delimiter of a CSV, judged by its header line (which names ``path``)."""
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(dataset: Dataset, source: str, data: bytes) -> Entries:
    content = decode_text(data, source)
    header = content.splitlines()[0] if content.strip() else ""
    delimiter = _delimiter(header)
    # newline="": the csv module sees the line ends as they are (CR-only, CRLF or LF).
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter, restkey=_REST)
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "path" not in fields or not ({"labels", "label"} & set(fields)):
            raise FormatError(
                source, "a CSV to import needs the columns path and labels (or label)"
            )
        reader.fieldnames = fields
        column = "labels" if "labels" in fields else "label"
        out = Entries()
        for row in reader:
            number = reader.line_num
            path = (row.get("path") or "").strip()
            if not path:
                out.problems.append(f"{source} line {number}: no path; skipped")
                continue
            names: list[str] = (row.get(column) or "").split(";")
            # "a;b" left unquoted in a ";" file spills into fields past the header's
            if delimiter == ";" and column == fields[-1]:
                names += row.get(_REST) or []
            out.entries.append((path, clean(names)))
    except csv.Error as exc:
        raise FormatError(f"{source} line {reader.line_num}", f"not valid CSV ({exc})") from exc
    return out
