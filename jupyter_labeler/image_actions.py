"""Adding and removing images: what ``add_images`` and ``remove_images`` write, and the
deletion of source files that an action names.

Planners are functions of the state, called with the Dataset's lock held; the store work
(writing uploads, deleting files) is done here, outside that lock, on the Store it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import StoreError, UnsafePathError
from .manifest import image_id_for
from .paths import image_path_problem
from .plan import Plan
from .results import ActionResult, Change, UploadResult, touched
from .state import State
from .storage import Store
from .times import now
from .uploads import check_uploads
from .views import resolve
from .words import plural

__all__ = [
    "add_images",
    "delete_files",
    "files_to_delete",
    "live_paths",
    "remove_images",
    "with_failures",
]


def remove_images(
    state: State, ids: Iterable[str] | str, delete_source: bool = False
) -> Plan | ActionResult:
    """Remove the images ``ids``; with ``delete_source=True`` the plan also names their source
    files to delete (a ``files-`` operation, see :func:`files_to_delete`): not undoable.

    Only ``True`` itself deletes anything: not another value that happens to be true."""
    delete = delete_source is True
    codes = resolve(state, ids)
    if not len(codes):
        return ActionResult("remove_images", 0, True, "no image selected")
    ops: list[dict[str, Any]] = [
        {"op": "images-", "ids": state.ids[codes].tolist(), "_codes": codes, "_state": state}
    ]
    if delete:
        ops.append({"op": "files-", "paths": state.paths[codes].tolist()})
    n = len(codes)
    describe = f"Removed {plural(n, 'image')} from the dataset"
    if delete:
        describe += " and deleted their source files"
    return Plan(
        "remove_images",
        ops,
        describe=describe,
        changed=n,
        change=Change("images", touched(ops[0]["ids"])),
        irreversible=f"{n} source files were deleted" if delete else "",
    )


def files_to_delete(plan: Plan) -> list[str]:
    """The source files that ``plan`` deletes once it is recorded (its ``files-`` operations)."""
    return [path for op in plan.ops if op["op"] == "files-" for path in op["paths"]]


def delete_files(
    source: Store, paths: list[str], *, exclude: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, Exception]]:
    """Delete these image files from ``source``: (the paths tried, the failures by path).

    A path that is no image path of the dataset (see :func:`~.paths.image_path_problem`) is
    never tried: it fails with :class:`~.errors.UnsafePathError`."""
    # Paths of images passed image_path_problem when they entered; checked again here (and by
    # the Store) because this is the one place that destroys a user's files.
    local = [p for p in paths if image_path_problem(p, exclude=exclude) is None]
    failed = source.delete(local)
    kept = set(local)
    for p in paths:
        if p not in kept:
            failed[p] = UnsafePathError(p, "not a file of this dataset")
    return local, failed


def with_failures(result: ActionResult, failed: Mapping[str, Exception]) -> ActionResult:
    """``result``, its message saying how many files could not be deleted and why the first."""
    if not failed:
        return result
    first = next(iter(failed.values()))
    return ActionResult(
        result.action,
        result.changed,
        result.saved,
        f"{result.message}; {len(failed)} file(s) could not be deleted: {first}",
    )


def live_paths(state: State) -> set[str]:
    """The paths of the dataset's images: names an upload may not take."""
    return set(state.paths[state.alive].tolist())


def add_images(
    source: Store, files: Mapping[str, bytes], known: set[str]
) -> tuple[Plan | None, UploadResult]:
    """Check uploads (see :func:`~.uploads.check_uploads`), write the accepted ones into
    ``source`` under names neither ``known`` (the dataset's paths) nor in the folder, and plan
    their addition (None when none was stored). The result lists the refused files."""
    existing = set(source.list("").keys())
    accepted, refused = check_uploads(files, taken=lambda name: name in known or name in existing)
    result = UploadResult(refused=list(refused))
    rows = []
    for item in accepted:
        try:
            source.write(item.name, item.data)
        except StoreError as exc:
            result.refused.append((item.original_name, f"could not be stored: {exc}"))
            continue
        rows.append(
            {
                "id": image_id_for(item.name),
                "path": item.name,
                "size": len(item.data),
                "usage": "",
                "added_at": now(),
            }
        )
    if not rows:
        return None, result
    n = len(rows)
    result.added = [str(r["id"]) for r in rows]
    plan = Plan(
        "add_images",
        [{"op": "images+", "rows": rows}],
        describe=f"Added {plural(n, 'image')}",
        changed=n,
        change=Change("images", frozenset(result.added)),
    )
    return plan, result
