"""Reading manifests written by ModelArts and others, and writing them back."""

from __future__ import annotations

import orjson

from jupyter_labeler import Dataset
from jupyter_labeler.manifest import parse_manifest, write_manifest

ROOT = "s3://bucket/flowers/"


def relative(url: str) -> str:
    return url[len(ROOT) :] if url.startswith(ROOT) else url


FOREIGN = "\n".join(
    [
        # lowercase usage, ModelArts' annotated-by, property as an object
        '{"source":"s3://bucket/flowers/a.jpg","usage":"train","id":"XA1","annotation":[{"type":"modelarts/image_classification","name":"roses","annotated-by":"human/alice/alice","creation-time":"2020-01-02 03:04:05","property":{"color":"red"}}],"inference-loc":"s3://bucket/inf/a.json"}',
        "",
        # underscore spellings and a Chinese label; property as a JSON string
        '{"source":"s3://bucket/flowers/b.jpg","usage":"EVAL","id":"XB2","annotation":[{"type":"modelarts/image_classification","name":"玫瑰","annotated_by":"bob","creation_time":"2021-05-06 07:08:09","property":"{\\"k\\": 1}"}]}',
        "   ",
        # malformed
        '{"source":"s3://bucket/flowers/c.jpg", "usage":',
        # not an object
        "[1, 2, 3]",
        # unlabeled, unknown top-level field, no usage
        '{"source":"s3://bucket/flowers/sub/d.png","id":"XD4","hard":true}',
        # two labels, one of another kind (kept untouched)
        '{"source":"s3://bucket/flowers/e.bmp","usage":"TRAIN","id":"XE5","annotation":[{"type":"modelarts/image_classification","name":"tulips","annotated-by":"carol","creation-time":"2022-01-01 00:00:00"},{"type":"modelarts/image_classification","name":"roses"},{"type":"modelarts/object_detection","name":"box","bndbox":{"xmin":1}}]}',
        # no source
        '{"usage":"TRAIN","id":"XF6"}',
    ]
).encode()


def parsed():
    return parse_manifest(FOREIGN, where="test.manifest", relative=relative)


def test_foreign_manifest_loads_what_it_can_and_names_bad_lines() -> None:
    result = parsed()
    assert result.rows.paths == ["a.jpg", "b.jpg", "sub/d.png", "e.bmp"]
    assert result.rows.ids == ["XA1", "XB2", "XD4", "XE5"]
    assert result.rows.usage == ["TRAIN", "EVAL", "", "TRAIN"]
    problems = "\n".join(result.problems)
    assert "test.manifest line 5: not valid JSON" in problems
    assert "test.manifest line 6: not a JSON object" in problems
    assert "test.manifest line 9: no 'source'" in problems
    labels = {(row, name, by, at) for row, name, by, at, _ in result.labels}
    assert (0, "roses", "human/alice/alice", "2020-01-02 03:04:05") in labels
    assert (1, "玫瑰", "bob", "2021-05-06 07:08:09") in labels
    assert {(r, n) for r, n, *_ in result.labels} == {
        (0, "roses"),
        (1, "玫瑰"),
        (3, "tulips"),
        (3, "roses"),
    }


def test_foreign_fields_survive_a_round_trip() -> None:
    state = parsed().to_state()
    out = write_manifest(state, ROOT)
    lines = [orjson.loads(line) for line in out.splitlines()]
    by_id = {line["id"]: line for line in lines}
    a = by_id["XA1"]
    assert a["source"] == "s3://bucket/flowers/a.jpg"
    assert a["usage"] == "TRAIN"
    assert a["inference-loc"] == "s3://bucket/inf/a.json"
    assert a["annotation"] == [
        {
            "type": "modelarts/image_classification",
            "name": "roses",
            "annotated-by": "human/alice/alice",
            "creation-time": "2020-01-02 03:04:05",
            "property": {"color": "red"},
        }
    ]
    b = by_id["XB2"]["annotation"][0]
    # underscore spellings come back in the canonical form; a plain name as ModelArts writes
    # its users
    assert b["annotated-by"] == "human/bob/bob"
    assert b["creation-time"] == "2021-05-06 07:08:09"
    assert b["property"] == '{"k": 1}'  # a JSON string stays a string
    assert by_id["XD4"]["hard"] is True
    assert "annotation" not in by_id["XD4"]
    kinds = [ann["type"] for ann in by_id["XE5"]["annotation"]]
    assert kinds.count("modelarts/object_detection") == 1
    assert {ann.get("name") for ann in by_id["XE5"]["annotation"]} == {"tulips", "roses", "box"}
    # And a second pass is a fixed point.
    again = parse_manifest(out, where="again", relative=relative)
    assert again.problems == []
    assert write_manifest(again.to_state(), ROOT) == out


def test_duplicate_ids_and_sources() -> None:
    data = b"\n".join(
        [
            b'{"source":"s3://bucket/flowers/a.jpg","id":"same","annotation":[{"name":"x"}]}',
            b'{"source":"s3://bucket/flowers/b.jpg","id":"same"}',
            b'{"source":"s3://bucket/flowers/a.jpg","id":"other","annotation":[{"name":"y"}]}',
        ]
    )
    result = parse_manifest(data, where="m", relative=relative)
    assert len(result.rows) == 2
    assert len(set(result.rows.ids)) == 2
    assert {(r, n) for r, n, *_ in result.labels} == {(0, "x"), (0, "y")}
    assert any("used twice" in p for p in result.problems)
    assert result.merged == 1
    assert any(
        "1 line repeat the source of an earlier line (the first: line 3" in p
        for p in result.problems
    )


BOX = {"type": "modelarts/object_detection", "name": "cat", "bndbox": {"xmin": 1, "ymax": 9}}


def test_lines_of_one_source_merge_without_repeating_annotations() -> None:
    line = {
        "source": "s3://bucket/flowers/a.jpg",
        "annotation": [BOX, {"type": "modelarts/image_classification", "name": "x"}],
    }
    other_box = {**BOX, "bndbox": {"xmin": 2, "ymax": 9}}
    again = {**line, "annotation": [*line["annotation"], other_box]}
    data = b"\n".join(orjson.dumps(r) for r in [line, line, again])
    result = parse_manifest(data, where="m", relative=relative)
    assert len(result.rows) == 1
    assert result.merged == 2
    assert "2 lines repeat the source" in "\n".join(result.problems)
    state = result.to_state()
    (out,) = [orjson.loads(x) for x in write_manifest(state, ROOT).splitlines()]
    assert [a["name"] for a in out["annotation"]] == ["x", "cat", "cat"]
    assert [a for a in out["annotation"] if a["type"] != "modelarts/image_classification"] == [
        BOX,
        other_box,
    ]


def test_absent_author_and_time_stay_absent() -> None:
    data = (
        b'{"source":"s3://bucket/flowers/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"x"}]}\n'
        b'{"source":"s3://bucket/flowers/b.jpg","annotation":[{"type":"modelarts/image_classification","name":"x","annotated-by":"bob"}]}\n'
    )
    state = parse_manifest(data, where="m", relative=relative).to_state()
    a, b = (orjson.loads(x)["annotation"][0] for x in write_manifest(state, ROOT).splitlines())
    assert a == {"type": "modelarts/image_classification", "name": "x"}
    assert b == {
        "type": "modelarts/image_classification",
        "name": "x",
        "annotated-by": "human/bob/bob",
    }


def test_label_names_breaking_the_rules_are_refused_and_the_image_stays() -> None:
    data = (
        b'{"source":"s3://bucket/flowers/a.jpg","annotation":[{"name":"two words"},{"name":"ok"}]}'
    )
    result = parse_manifest(data, where="m", relative=relative)
    assert result.rows.paths == ["a.jpg"]
    assert [n for _, n, *_ in result.labels] == ["ok"]
    assert "breaks the naming rules" in result.problems[0]
    assert "left off its images" in result.problems[0]


def test_dataset_opens_a_manifest_left_in_its_output(tmp_path) -> None:
    images = tmp_path / "flowers"
    images.mkdir()
    out = images / ".jupyter_labeler"
    out.mkdir()
    lines = [
        orjson.dumps(
            {
                "source": str(images / "a.jpg"),
                "usage": "train",
                "annotation": [{"name": "roses", "annotated-by": "human/x/x"}],
            }
        ),
        b"{broken",
        orjson.dumps({"source": f"file://{images / 'b.jpg'}"}),
    ]
    (out / "dataset.manifest").write_bytes(b"\n".join(lines))
    ds = Dataset.open(images, author="me")
    assert sorted(ds.images["path"]) == ["a.jpg", "b.jpg"]
    assert ds.counts().loc["roses", "images"] == 1
    assert any("line 2" in p for p in ds.problems)
