"""Generated hostile objects: random malformed journal objects and manifest lines (wrong types,
missing keys, huge strings, traversal paths, bad names) never stop a dataset from opening, never
write or delete outside the folders involved, and never lose an acknowledged action."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imagegen import fill_folder, image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.events import OPS
from jupyter_labeler.formats import export_labels

KEPT = "kept_label_zq"  # the acknowledged action's label: no generated value can be it

HOSTILE_TEXT = st.sampled_from(
    [
        "../victim.jpg",
        "../../victim.jpg",
        "/etc/passwd",
        ".jupyter_labeler/dataset.manifest",
        "a//b.jpg",
        "./img_000.jpg",
        "img_000.jpg",
        "..",
        "<script>alert(1)</script>",
        "x" * 5000,
        "roses",
        "a\x00b",
        "",
        "s3://other/x.jpg",
        "file:///etc/passwd",
    ]
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    HOSTILE_TEXT,
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "op",
        "label",
        "ids",
        "by",
        "at",
        "extra",
        "rows",
        "old",
        "new",
        "if_empty",
        "drop_empty",
        "paths",
        "id",
        "path",
        "size",
        "usage",
    ]
)


@st.composite
def ops(draw: st.DrawFn) -> Any:
    op: dict[str, Any] = draw(st.dictionaries(KEYS, VALUE, max_size=6))
    if draw(st.booleans()):
        op["op"] = draw(st.sampled_from(OPS))
    if op.get("op") == "images+" and draw(st.booleans()):
        op["rows"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"id": st.one_of(st.text(max_size=8), VALUE), "path": HOSTILE_TEXT},
                    optional={"size": VALUE, "usage": VALUE, "extra": VALUE},
                ),
                max_size=4,
            )
        )
    return draw(st.one_of(st.just(op), VALUE))


EVENTS = st.one_of(
    st.fixed_dictionaries(
        {"ops": st.lists(ops(), max_size=5)}, optional={"v": VALUE, "author": VALUE}
    ),
    VALUE,
)


@st.composite
def manifest_lines(draw: st.DrawFn) -> bytes:
    line: Any = draw(
        st.fixed_dictionaries(
            {"source": st.one_of(HOSTILE_TEXT, VALUE)},
            optional={
                "annotation": st.one_of(
                    VALUE,
                    st.lists(
                        st.fixed_dictionaries(
                            {"name": st.one_of(HOSTILE_TEXT, VALUE)},
                            optional={"type": VALUE, "annotated-by": VALUE},
                        ),
                        max_size=3,
                    ),
                ),
                "id": VALUE,
                "usage": VALUE,
            },
        )
    )
    if draw(st.booleans()):
        return orjson.dumps(line)
    return draw(st.one_of(st.binary(max_size=40), st.just(b'{"source": "a.jpg"')))


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENTS, max_size=4), lines=st.lists(manifest_lines(), max_size=6))
@example(events=[], lines=[b'{"source":null}'])  # read whole by Arrow, then one line again
def test_hostile_objects_never_break_escape_or_lose(events: list[Any], lines: list[bytes]) -> None:
    root = Path(tempfile.mkdtemp(prefix="jl-fuzz-"))
    try:
        src = root / "src"
        src.mkdir()
        fill_folder(lambda n, d: (src / n).write_bytes(d), 3)
        (root / "victim.jpg").write_bytes(image_bytes(99))
        out = src / ".jupyter_labeler"
        out.mkdir()
        (out / "dataset.manifest").write_bytes(b"\n".join(lines))
        ds = Dataset.open(src, author="me")
        kept = ds.images.index[:1].tolist()
        assert ds.add_label(KEPT, kept).saved
        for number, event in enumerate(events, start=1):
            name = f"{int(time.time() * 1000):013d}-f{number:011x}-00000001"
            ds.output.write(f"journal/{name}.json", orjson.dumps(event))
        before = {k: v for k, v in tree(root).items() if not k.startswith("src/")}

        other = Dataset.open(src, author="other")
        assert other.with_label(KEPT).index.tolist() == kept
        assert all(isinstance(p, str) for p in other.problems)
        other.save()
        assert Dataset.open(src).with_label(KEPT).index.tolist() == kept
        for fmt in ("imagefolder", "txt", "csv", "manifest", "labelstudio", "hf"):
            to = root / "exports" / fmt
            export_labels(other, fmt, str(to if fmt in ("imagefolder", "txt") else to / "f"))
        other.remove_images(other.images.index, delete_source=True)
        for name in list(other.label_names):
            other.delete_label(name, "with_images_and_files")
        after = {k: v for k, v in tree(root).items() if not k.startswith(("src/", "exports/"))}
        assert after == before
        assert (root / "victim.jpg").read_bytes() == image_bytes(99)
        for path in (root / "exports").rglob("*"):
            assert path.resolve().is_relative_to(root / "exports")
    finally:
        shutil.rmtree(root, ignore_errors=True)
