"""The Dataset's contract, run on every backend: local folder, memory://, S3 and OBS over HTTP.

S3 is moto's server on 127.0.0.1; OBS is the same behind a proxy that behaves as OBS documents
(no multi-object DELETE without Content-MD5, no payload checksum headers, no conditional PUT).
"""

from __future__ import annotations

import pytest
from conftest import StoreLocation
from imagegen import fill_folder, image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.storage import open_store


class TestDatasetOnEveryStore:
    @pytest.fixture
    def ds(self, store_location: StoreLocation) -> Dataset:
        store = open_store(*store_location)
        fill_folder(store.write, 12)
        store.write("sub/a.png", image_bytes(40, fmt="PNG"))
        store.write("sub/a.txt", b"roses\n")
        return Dataset.open(
            store_location.url, storage_options=store_location.storage_options, author="alice"
        )

    def reopen(self, ds: Dataset, store_location: StoreLocation) -> Dataset:
        return Dataset.open(
            store_location.url, storage_options=store_location.storage_options, author="bob"
        )

    def test_open_label_reopen(self, ds: Dataset, store_location: StoreLocation) -> None:
        assert len(ds) == 13
        assert ds.counts()["images"].to_dict() == {"roses": 1}
        chosen = list(ds.unlabeled().index[:6])
        assert ds.add_label("tulips", chosen).saved
        assert ds.remove_label("tulips", chosen[:1]).saved
        ds.rename_label("roses", "玫瑰")
        again = self.reopen(ds, store_location)
        assert again.counts()["images"].to_dict() == {"tulips": 5, "玫瑰": 1}
        assert again.images.sort_index().equals(ds.images.sort_index())

    def test_manifest_sources_are_full_urls(
        self, ds: Dataset, store_location: StoreLocation
    ) -> None:
        ds.add_label("tulips", list(ds.ids()[:2]))
        url = ds.save()
        assert url == f"{store_location.url}/.jupyter_labeler/dataset.manifest"
        manifest = open_store(*store_location).read(".jupyter_labeler/dataset.manifest")
        first = manifest.splitlines()[0].decode()
        # ModelArts names OBS objects s3://bucket/key: so do the manifests of OBS datasets.
        expected = store_location.url.replace("obs://", "s3://", 1)
        assert f'"source":"{expected}/' in first

    def test_delete_with_files_and_sync(self, ds: Dataset, store_location: StoreLocation) -> None:
        store = open_store(*store_location)
        chosen = list(ds.unlabeled().index[:3])
        paths = [ds.info(i)["path"] for i in chosen]
        ds.add_label("doomed", chosen)
        ds.delete_label("doomed", mode="with_images_and_files")
        assert not any(store.exists(p) for p in paths)
        store.write("late.jpg", image_bytes(77))
        assert ds.sync().added == 1
        again = self.reopen(ds, store_location)
        assert len(again) == 11
        assert "late.jpg" in set(again.images["path"])

    def test_uploads_land_in_the_source_folder(
        self, ds: Dataset, store_location: StoreLocation
    ) -> None:
        result = ds.add_images(
            {"../up load.jpg": image_bytes(5), "x.png": image_bytes(6, fmt="PNG")}
        )
        assert result.refused == []
        store = open_store(*store_location)
        assert store.exists("up_load.jpg")
        assert store.exists("x.png")
        assert len(self.reopen(ds, store_location)) == 15

    def test_thumbnails_come_in_one_batch(self, ds: Dataset) -> None:
        page = list(ds.ids()[:8])
        thumbs = ds.thumbnails(page)
        assert set(thumbs) == set(page)
        assert all(t.error is None and t.data[:2] == b"\xff\xd8" for t in thumbs.values())

    def test_two_sessions_see_each_other_after_refresh(
        self, ds: Dataset, store_location: StoreLocation
    ) -> None:
        other = self.reopen(ds, store_location)
        ds.add_label("tulips", list(ds.ids()[:2]))
        other.add_label("daisy", list(other.ids()[5:7]))
        assert other.refresh()
        assert ds.refresh()
        expected = {"roses": 1, "tulips": 2, "daisy": 2}
        assert ds.counts()["images"].to_dict() == expected
        assert other.counts()["images"].to_dict() == expected
        other.save()
        ds.add_label("tulips", list(ds.ids()[9:10]))
        ds.save()
        final = self.reopen(ds, store_location).counts()["images"].to_dict()
        assert final == {"roses": 1, "tulips": 3, "daisy": 2}
