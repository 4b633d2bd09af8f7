"""The manifest escapes what JSON needs escaped, found without a look at every value."""

from __future__ import annotations

import json
from pathlib import Path

from imagegen import image_bytes

from jupyter_labeler import Dataset


def test_quotes_backslashes_and_control_characters_are_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    names = ['say "cheese".jpg', "plain.jpg"]
    for k, name in enumerate(names):
        (folder / name).write_bytes(image_bytes(k))
    ds = Dataset.open(str(folder), author='ann "the\\first\t"')
    assert len(ds) == 2, ds.problems
    ds.add_label("cat", list(ds.ids("all")))
    lines = [json.loads(line) for line in ds.manifest_bytes().splitlines()]
    assert sorted(Path(line["source"]).name for line in lines) == sorted(names)
    for line in lines:
        (annotation,) = line["annotation"]
        assert annotation["name"] == "cat"
        assert annotation["annotated-by"].endswith('ann "the\\first\t"')
    ds.save()
    again = Dataset.open(str(folder), author="bob")
    assert sorted(again.paths_of(list(again.ids("all"))).values()) == sorted(names)
