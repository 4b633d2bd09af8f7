"""What the Labeler's buttons and dialogs do: each a Dataset call, its outcome said in the
status line.

Deleting a label (three choices, as on ModelArts), deleting images, splitting, renaming (a name
that exists already merges two labels, so it asks first), undo; the preview's one-image edits
and its previous / next; adding uploaded files and synchronizing. The Labeler keeps the public
methods (``ask_delete_label``, ``undo``, ``open_image``, ...) as one-line delegations here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import ipywidgets as widgets

from ..errors import LabelerError
from ..words import plural
from .closing import close_widgets
from .dialogs import Choice, ChoiceDialog
from .preview import Preview
from .status import StatusLine
from .traits import classes

__all__ = [
    "DELETE_IMAGES_CHOICES",
    "DELETE_LABEL_CHOICES",
    "SPLITS",
    "ActionCallbacks",
    "Actions",
]

# The splits the Split button offers: "eval share/test share" -> what it says.
SPLITS = {
    "0.2/0.0": "80% train, 20% eval",
    "0.2/0.1": "70% train, 20% eval, 10% test",
    "0.1/0.0": "90% train, 10% eval",
}
DELETE_LABEL_CHOICES = (
    Choice("Delete the label only", "label_only"),
    Choice(
        "Delete the label and the images that carry only this label (keep the source files)",
        "with_images",
    ),
    Choice(
        "Delete the label and the images that carry only this label, and their source files",
        "with_images_and_files",
        irreversible=True,
    ),
)
DELETE_IMAGES_CHOICES = (
    Choice("Remove them from the dataset only (keep the source files)", "dataset_only"),
    Choice("Also delete the source files", "with_files", irreversible=True),
)


@dataclass(frozen=True)
class ActionCallbacks:
    """What the actions ask of the Labeler."""

    #: The selected ids, in the order they were selected.
    selected: Callable[[], Sequence[str]]
    #: True when images are selected; else it says in the status line to select some first.
    need_selection: Callable[[], bool]
    #: Put a dialog (True: first) or the preview (False: just above the grid) over the grid.
    show_overlay: Callable[[widgets.Widget, bool], None]
    #: Show the Undo button again; True: the action just done deleted source files.
    show_undo: Callable[[bool], None]
    #: The label filter, and setting it (a renamed label's filter follows it).
    label_filter: Callable[[], str | None]
    set_label_filter: Callable[[str | None], None]
    #: The view's ids in the grid's order, and where one of them stands (None: not shown).
    ids: Callable[[], Sequence[Any]]
    position: Callable[[str], int | None]
    #: Turn to the page holding this image; with a view, in that view (and no label filter).
    show_image: Callable[[str, str | None], None]
    #: The side of the grid's thumbnails.
    thumb_px: Callable[[], int]


class Actions:
    """The Labeler's actions on ``dataset``; outcomes go to ``status``. Its buttons
    ``delete_images`` and ``split`` open their dialogs.

    The dialog and the preview are made when first opened (:attr:`dialog`, :attr:`preview`):
    most sessions open neither, and their few dozen widget models would slow every first display.
    """

    def __init__(self, dataset: Any, status: StatusLine, callbacks: ActionCallbacks) -> None:
        self._dataset = dataset
        self._status = status
        self._calls = callbacks
        self._dialog: ChoiceDialog | None = None
        self._preview: Preview | None = None
        self._opened_at: int | None = None  # the preview's image's place in the view
        guard = status.guard
        self.delete_images = widgets.Button(
            description="Delete images",
            icon="trash",
            disabled=True,
            **classes("jl-delete-images"),
        )
        self.delete_images.on_click(guard(lambda _b: self.ask_delete_images()))
        self.split = widgets.Button(
            description="Split",
            icon="random",
            tooltip="Put the labeled images in train / eval / test parts",
            **classes("jl-split"),
        )
        self.split.on_click(guard(lambda _b: self.ask_split()))

    @property
    def dialog(self) -> ChoiceDialog:
        """The dialog that asks before deleting, merging or splitting."""
        if self._dialog is None:
            self._dialog = ChoiceDialog(self._status.guard)
            self._calls.show_overlay(self._dialog.box, True)
        return self._dialog

    @property
    def preview(self) -> Preview:
        """One image, larger, with its labels."""
        if self._preview is None:
            self._preview = Preview(
                self.preview_add,
                self.preview_change,
                self.preview_remove,
                self._status.guard,
                on_step=self.preview_step,
            )
            self._calls.show_overlay(self._preview.box, False)
        return self._preview

    @property
    def overlay_open(self) -> bool:
        """Whether the preview or the dialog is open over the grid."""
        return any(part is not None and part.is_open for part in (self._preview, self._dialog))

    def close_overlay(self) -> bool:
        """Close the preview, else the dialog (what Esc does first); False when neither is open."""
        for part in (self._preview, self._dialog):
            if part is not None and part.is_open:
                part.hide()
                return True
        return False

    def done(self, result: Any, *, irreversible: bool = False) -> None:
        """Say the outcome of an action (a Dataset result); ``irreversible``: it deleted
        source files, which Undo cannot bring back."""
        message = str(getattr(result, "message", "") or "")
        if irreversible:
            # Said now, not when the user reaches for Undo.
            message = f"{message} The source files are deleted: Undo cannot bring them back."
            self._calls.show_undo(True)
        if message:
            self._status.info(message.strip())

    def undo(self) -> None:
        description = self._dataset.undo_description
        self._dataset.undo()
        self._status.info(f"Undone: {description}" if description else "Undone.")
        self._calls.show_undo(False)

    # -- dialogs ---------------------------------------------------------------------------------
    def ask_split(self) -> None:
        self.dialog.ask(
            "Split the labeled images",
            "Each label gives its share of images to each part (at least one to eval when it "
            "has two); images already in a part keep it. The parts go into the manifest's "
            "usage, as ModelArts reads it, and the exports follow them. Undo takes it back.",
            tuple(Choice(label, value) for value, label in SPLITS.items()),
            self._split_now,
            confirm_label="Split",
            danger=False,
        )

    def _split_now(self, choice: str) -> None:
        eval_share, test_share = (float(x) for x in choice.split("/"))
        self.done(self._dataset.split(eval=eval_share, test=test_share))

    def rename_label(self, old: str, new: str) -> None:
        """Rename at once; a name that already exists merges the two labels, so ask first."""
        ds = self._dataset
        if new != old and new in ds.label_names:
            counts = dict(ds.counts()["images"].items())
            self.dialog.ask(
                f"Merge {old} into {new}?",
                f"{new} already exists ({plural(int(counts.get(new, 0)), 'image')}). Renaming "
                f"{old} ({plural(int(counts.get(old, 0)), 'image')}) to {new} merges them: "
                f"every image labeled {old} is labeled {new}, and {old} is gone.",
                (Choice(f"Merge {old} into {new}", "merge"),),
                lambda _choice: self._rename_now(old, new),
                confirm_label="Merge",
                danger=False,
            )
            return
        self._rename_now(old, new)

    def _rename_now(self, old: str, new: str) -> None:
        filtered = self._calls.label_filter() == old
        self.done(self._dataset.rename_label(old, new))
        if filtered:
            self._calls.set_label_filter(new)

    def ask_delete_label(self, name: str) -> None:
        count = int(dict(self._dataset.counts()["images"].items()).get(name, 0))
        self.dialog.ask(
            f"Delete the label {name}?",
            f"The label {name} is on {plural(count, 'image')}.",
            DELETE_LABEL_CHOICES,
            lambda mode: self.done(
                self._dataset.delete_label(name, mode=mode),
                irreversible=mode == "with_images_and_files",
            ),
            confirm_label="Delete label",
            final_warning=f"The source files of the images carrying only {name} will be deleted "
            "from the store. This cannot be undone.",
        )

    def ask_delete_images(self) -> None:
        if not self._calls.need_selection():
            return
        ids = list(self._calls.selected())
        n = len(ids)
        self.dialog.ask(
            f"Delete {plural(n, 'image')}?",
            f"{plural(n, 'selected image')} will leave the dataset.",
            DELETE_IMAGES_CHOICES,
            lambda choice: self._delete_images_now(ids, choice == "with_files"),
            confirm_label="Delete images",
            final_warning=f"The source files of {plural(n, 'image')} will be deleted from the "
            "store. This cannot be undone.",
        )

    def _delete_images_now(self, ids: list[str], delete_source: bool) -> None:
        self.done(
            self._dataset.remove_images(ids, delete_source=delete_source),
            irreversible=delete_source,
        )

    # -- the preview -----------------------------------------------------------------------------
    def open_image(self, image_id: str) -> None:
        ds = self._dataset
        info = ds.info(image_id)
        try:
            data = ds.read_image(image_id)
        except LabelerError as exc:
            thumb = ds.thumbnails([image_id], size=self._calls.thumb_px()).get(image_id)
            data = thumb.data if thumb is not None else b""
            self._status.error(f"Cannot show {info.get('path', image_id)}: {exc}")
        self.preview.show(image_id, data, info, ds.label_names)
        # Where it stood, for Previous / Next once it has left the view.
        self._opened_at = self._calls.position(image_id)

    def preview_step(self, image_id: str, offset: int) -> None:
        """Open the image before or after this one in the view's order (and show its page).

        When the image shown has left the view (labeled in the Unlabeled tab, say), its
        neighbours closed up over the place it had: the next one stands there now, the
        previous one just before it."""
        ids = self._calls.ids()
        if not len(ids):
            self._status.info("No image is left in this view.")
            return
        position = self._calls.position(image_id)
        if position is not None:
            target = min(max(0, position + offset), len(ids) - 1)
            at_end = target == position
        else:
            place = self._opened_at if self._opened_at is not None else 0
            target = place if offset > 0 else place - 1
            at_end = not 0 <= target < len(ids)
        if at_end:
            self._status.info(
                "This is the " + ("first" if offset < 0 else "last") + " image of the view."
            )
            return
        self._calls.show_image(str(ids[target]), None)
        self.open_image(str(ids[target]))

    def preview_add(self, image_id: str, name: str) -> None:
        self.done(self._dataset.add_label(name, [image_id]))

    def preview_change(self, image_id: str, old: str, new: str) -> None:
        # Add first: if the second step fails, the image keeps a label rather than losing one.
        self._dataset.add_label(new, [image_id])
        self._dataset.remove_label(old, [image_id])
        self._status.info(f"Changed {old} to {new} on this image.")

    def preview_remove(self, image_id: str, name: str) -> None:
        self.done(self._dataset.remove_label(name, [image_id]))

    def refresh_preview(self) -> None:
        """The Dataset changed: show the open preview's image as it is now, or close it."""
        preview = self._preview
        image_id = preview.image_id if preview is not None else None
        if preview is None or image_id is None:
            return
        if self._dataset.unknown_ids([image_id]):
            preview.hide()
            return
        preview.refresh(self._dataset.info(image_id), self._dataset.label_names)

    # -- bringing images in ----------------------------------------------------------------------
    def add_files(self, files: dict[str, bytes]) -> Any:
        """Add uploaded files; the outcome (with the names files were stored under) for the
        upload panel. The first new image is shown, on its page of Unlabeled."""
        ds = self._dataset
        result = ds.add_images(files)
        added, refused = len(result.added), len(result.refused)
        # Accepted files keep their order: pair them with the names they were stored under.
        refused_names = {name for name, _ in result.refused}
        given = [name for name in files if name not in refused_names]
        renamed = []
        for original, image_id in zip(given, result.added, strict=False):
            stored = posixpath.basename(str(ds.info(image_id).get("path", "")))
            if stored and stored != posixpath.basename(original):
                renamed.append((original, stored))
        message = f"{plural(added, 'image')} added"
        self._status.info(f"{message}, {refused} refused." if refused else f"{message}.")
        if result.added:
            self._calls.show_image(str(result.added[0]), "unlabeled")
        return SimpleNamespace(added=result.added, refused=result.refused, renamed=renamed)

    def run_sync(self, progress: Any) -> Any:
        summary = self._dataset.sync(progress=progress)
        self._status.info(str(summary))
        return summary

    def close(self) -> None:
        for part in (self._dialog, self._preview):
            if part is not None:
                part.close()
        close_widgets(self.delete_images, self.split)
