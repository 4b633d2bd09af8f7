"""The ``jupyter-labeler`` command line, for scripts and pipelines.

::

    jupyter-labeler demo [FOLDER]                       generate demo images, open JupyterLab on them
    jupyter-labeler counts SOURCE [--format table|csv|json]
    jupyter-labeler sync SOURCE                         pick up images added or removed by other means
    jupyter-labeler export SOURCE --format FORMAT --to DEST
    jupyter-labeler import SOURCE --format FORMAT --from FILE
    jupyter-labeler check SOURCE                        exit status 1 when not ready for training
    jupyter-labeler features SOURCE [--embedder builtin] [--dask ADDRESS]
                                                        compute the images' features once

Every dataset command takes ``--output`` (where the labels live; default ``.jupyter_labeler``
inside SOURCE), ``--author`` and ``--storage-option KEY=VALUE`` (repeatable). Exit status: 0 on
success, 1 when ``check`` finds the dataset not ready or on an unexpected error, 2 on bad
arguments, an unreachable or refusing store, or a file that cannot be imported. Errors are one
line on stderr, never a traceback and never a credential.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import LabelerError, StoreError
from .formats import FORMATS, export_labels, import_labels

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = ["build_parser", "demo_command", "main"]

PROG = "jupyter-labeler"
DEMO_FOLDER = "jupyter-labeler-demo"
DEMO_NOTEBOOK = "quickstart.ipynb"
# Written into the demo folder beside the images; the first is the one JupyterLab opens.
DEMO_NOTEBOOKS = (DEMO_NOTEBOOK, "explore.ipynb")
DEMO_ENV = "JUPYTER_LABELER_DEMO"
# Storage options that are always text, however they look: a secret made of digits stays text.
_TEXT_OPTIONS = frozenset(
    {"key", "secret", "token", "endpoint_url", "profile", "anon_key", "username", "password"}
)
# How long a command waits for the store to take its last actions before giving up.
_FLUSH_SECONDS = 30.0
# How many of a long list of entries (unmatched, ambiguous) a command prints.
_LISTED = 20

log = logging.getLogger(__name__)


class UsageError(Exception):
    """A bad argument found after argparse (exit status 2)."""


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """A tqdm progress bar on stderr fed as ``progress(done, total)``; drawn only on a terminal."""

    def __init__(self, what: str, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=self.what, file=self.stream, leave=True)
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextlib.contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Progress]:
    """A progress bar named after the command, closed on leaving."""
    bar = Progress(args.command, enabled=not args.quiet)
    try:
        yield bar
    finally:
        bar.close()


# -- arguments ------------------------------------------------------------------------------------
def _storage_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        # The value is never echoed: it may be a secret.
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE (for example endpoint_url=https://...)"
        )
    return key, _option_value(key, value)


def _option_value(key: str, value: str) -> Any:
    """``true``/``false``/``null``, numbers and JSON objects or lists become values; the rest
    (and credentials, whatever they look like) stay text."""
    if key in _TEXT_OPTIONS:
        return value
    stripped = value.strip()
    if stripped in {"true", "false", "null"} or stripped[:1] in {"{", "["}:
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"the value of {key} is not valid JSON") from exc
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            continue
    return value


def _format_name(text: str) -> str:
    from .formats import normalize_format

    try:
        return normalize_format(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# -- the dataset commands' table ------------------------------------------------------------------
# The positional and keyword arguments of one ``add_argument`` call.
_Option = tuple[tuple[str, ...], dict[str, Any]]
_Work = Callable[[argparse.Namespace, "Dataset"], int]


def _option(*flags: str, **settings: Any) -> _Option:
    return flags, settings


@dataclass(frozen=True)
class DatasetCommand:
    """A subcommand that works on the dataset at SOURCE.

    ``help`` and ``description`` are its words in ``--help``; ``options`` are its own arguments
    besides the ones every dataset command takes; ``work`` gets the opened dataset and returns
    the exit status; ``check``, when given, looks at the arguments before the dataset is opened
    (raising :class:`UsageError`), so that a mistake is told before a slow open.
    """

    help: str
    description: str
    work: _Work
    options: tuple[_Option, ...] = ()
    check: Callable[[argparse.Namespace], None] | None = None

    def __call__(self, args: argparse.Namespace) -> int:
        if self.check is not None:
            self.check(args)
        dataset = _open(args)
        try:
            return self.work(args, dataset)
        finally:
            dataset.close()


# Name -> command, in the order ``--help`` lists them; filled by @_dataset_command below.
_DATASET_COMMANDS: dict[str, DatasetCommand] = {}


def _dataset_command(
    name: str,
    *,
    help: str,
    description: str,
    options: Sequence[_Option] = (),
    check: Callable[[argparse.Namespace], None] | None = None,
) -> Callable[[_Work], _Work]:
    """Register the decorated ``work(args, dataset)`` as the subcommand ``name``."""

    def register(work: _Work) -> _Work:
        _DATASET_COMMANDS[name] = DatasetCommand(help, description, work, tuple(options), check)
        return work

    return register


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jupyter-labeler`` (each subcommand sets ``func``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Label images for image classification: a Jupyter widget, and this command "
        "line for scripts and pipelines. Labels are kept as a ModelArts manifest with a journal "
        "on local disk, S3 or Huawei OBS.",
        epilog="Exit status: 0 success, 1 'check' found the dataset not ready (or an unexpected "
        "error), 2 bad arguments, an unreachable store or an unusable file.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="generate a demo dataset and open JupyterLab on it",
        description="Generate a demo image dataset (no network, no credentials) in FOLDER with "
        f"the notebooks {' and '.join(DEMO_NOTEBOOKS)} beside it, then open JupyterLab on "
        f"{DEMO_NOTEBOOK}. Images and notebooks already in FOLDER are kept.",
    )
    demo.add_argument(
        "folder", metavar="FOLDER", nargs="?", default=DEMO_FOLDER, help=f"default: ./{DEMO_FOLDER}"
    )
    demo.add_argument(
        "--count", type=int, default=300, help="how many images to generate (default 300)"
    )
    demo.add_argument("--port", type=int, help="the port for JupyterLab (passed to it)")
    demo.add_argument(
        "--no-browser", action="store_true", help="start JupyterLab without opening a browser"
    )
    demo.add_argument(
        "--dry-run",
        action="store_true",
        help="prepare the folder and print the JupyterLab command instead of running it",
    )
    demo.set_defaults(func=cmd_demo)

    common = _common_parser()
    for name, command in _DATASET_COMMANDS.items():
        sub = commands.add_parser(
            name, parents=[common], help=command.help, description=command.description
        )
        for flags, settings in command.options:
            sub.add_argument(*flags, **settings)
        sub.set_defaults(func=command)
    return parser


def _common_parser() -> argparse.ArgumentParser:
    """The arguments every dataset command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "source",
        metavar="SOURCE",
        help="the folder of images: a local path, s3://bucket/prefix or obs://bucket/prefix",
    )
    common.add_argument(
        "--output",
        metavar="URL",
        help="where the labels live (journal, snapshots, dataset.manifest); "
        "default: .jupyter_labeler inside SOURCE",
    )
    common.add_argument(
        "--author", help="the name written into annotated-by; default: the user name"
    )
    common.add_argument(
        "--storage-option",
        dest="storage_options",
        metavar="KEY=VALUE",
        type=_storage_option,
        action="append",
        default=[],
        help="an option for the object store, repeatable, e.g. endpoint_url=https://... "
        "(numbers, true/false and JSON objects are parsed; key, secret and token stay text)",
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line and no summary on stderr"
    )
    return common


# -- what the dataset commands share --------------------------------------------------------------
def _open(args: argparse.Namespace) -> Dataset:
    from .dataset import Dataset

    source = args.source
    if "://" not in source and not os.path.isdir(source):
        raise UsageError(f"{source}: no such folder")
    return Dataset.open(
        source, output=args.output, storage_options=_storage_options(args), author=args.author
    )


def _storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    return dict(args.storage_options) or None


def _save(dataset: Dataset) -> str:
    """Make sure every action reached the store and compact it; the manifest's URL."""
    if not dataset.flush(timeout=_FLUSH_SECONDS):
        raise StoreError(
            f"{dataset.pending} actions could not be written: the store at "
            f"{dataset.output_url} cannot be reached; they were not saved",
            dataset.output_url,
        )
    return dataset.save()


def _say(args: argparse.Namespace, text: str) -> None:
    """A summary on stderr, unless --quiet."""
    if not args.quiet:
        print(text, file=sys.stderr)


def _complain(args: argparse.Namespace, text: str) -> None:
    """One line on stderr naming the command, --quiet or not."""
    print(f"{PROG} {args.command}: {text}", file=sys.stderr)


def _list_some(lines: Sequence[str], more: str) -> None:
    """The first lines on stderr, then how many were left out (``... and N {more}``)."""
    for line in lines[:_LISTED]:
        print(line, file=sys.stderr)
    if len(lines) > _LISTED:
        print(f"  ... and {len(lines) - _LISTED} {more}", file=sys.stderr)


# -- the dataset commands -------------------------------------------------------------------------
@_dataset_command(
    "counts",
    help="print the images per label",
    description="Print how many images carry each label (most first), then how many are labeled.",
    options=[
        _option(
            "--format", choices=("table", "csv", "json"), default="table", help="default: table"
        )
    ],
)
def _counts(args: argparse.Namespace, dataset: Dataset) -> int:
    counts = dataset.counts()
    views = dataset.view_counts()
    if args.format == "csv":
        sys.stdout.write(counts.to_csv())
    elif args.format == "json":
        payload = {
            "labels": {str(k): int(v) for k, v in counts["images"].items()},
            "images": views["all"],
            "labeled": views["labeled"],
            "unlabeled": views["unlabeled"],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(counts.to_string() if len(counts) else "no labels yet")
        print(
            f"\n{views['all']} images: {views['labeled']} labeled, {views['unlabeled']} unlabeled"
        )
    return 0


@_dataset_command(
    "sync",
    help="pick up images added to or removed from SOURCE",
    description="Synchronize the dataset with its source folder: new images are added "
    "(labeled from a same-name .txt file beside them, as ModelArts does), vanished ones "
    "dropped; then the manifest is rewritten.",
)
def _sync(args: argparse.Namespace, dataset: Dataset) -> int:
    with _progress(args) as bar:
        summary = dataset.sync(progress=bar)
    for problem in summary.skipped:
        _complain(args, problem)
    manifest = _save(dataset)
    print(f"Synchronized {dataset.source_url}: {summary}")
    _say(args, f"manifest: {manifest}")
    return 0


_FORMAT_OPTION = _option("--format", required=True, type=_format_name, metavar="|".join(FORMATS))


@_dataset_command(
    "export",
    help="write the labels in another format",
    description="Write the labels as FORMAT to DEST: a file for manifest, csv and labelstudio; "
    "a folder for imagefolder, txt and hf.",
    options=[
        _FORMAT_OPTION,
        _option("--to", required=True, metavar="DEST", help="file or folder to write"),
        _option("--accepted-only", action="store_true", help="only the images a reviewer accepted"),
    ],
)
def _export(args: argparse.Namespace, dataset: Dataset) -> int:
    with _progress(args) as bar:
        report = export_labels(
            dataset,
            args.format,
            args.to,
            storage_options=_storage_options(args),
            progress=bar,
            accepted_only=args.accepted_only,
        )
    for problem in report.skipped:
        _complain(args, problem)
    print(report)
    return 0


@_dataset_command(
    "import",
    help="add labels from a file in another format",
    description="Add the labels found in FILE (a folder for imagefolder and txt; a folder or one "
    "metadata file for hf) to the images they name; labels are only ever added. Entries naming "
    "no image are listed.",
    options=[
        _FORMAT_OPTION,
        _option(
            "--from", dest="from_", required=True, metavar="FILE", help="file or folder to read"
        ),
    ],
)
def _import(args: argparse.Namespace, dataset: Dataset) -> int:
    with _progress(args) as bar:
        report = import_labels(
            dataset,
            args.format,
            args.from_,
            storage_options=_storage_options(args),
            progress=bar,
        )
    for problem in report.problems:
        _complain(args, problem)
    if report.unmatched:
        _complain(args, f"{len(report.unmatched)} entries name no image of the dataset:")
        _list_some([f"  {ref}" for ref in report.unmatched], "more")
    _list_some(
        [f"{PROG} {args.command}: ambiguous, not labeled: {line}" for line in report.ambiguous],
        "more ambiguous",
    )
    manifest = _save(dataset)
    print(report)
    _say(args, f"manifest: {manifest}")
    return 0


@_dataset_command(
    "check",
    help="is the dataset ready for training? (exit status 1 when not)",
    description="Apply the ModelArts ExeML rule: at least 2 labels with at least 5 images "
    "each (50 or more recommended); once images are in the eval part, every label needs one "
    "there too. Exit status 0 when ready, 1 when not.",
)
def _check(args: argparse.Namespace, dataset: Dataset) -> int:
    readiness = dataset.readiness()
    print(repr(readiness))
    if len(readiness.table):
        print()
        print(readiness.table.to_string())
    return 0 if readiness.ready else 1


def _dask_installed(args: argparse.Namespace) -> None:
    if args.dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError(
                "--dask needs dask.distributed: pip install 'jupyter-labeler[dask]'"
            ) from None


def _dask_client(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """A client of the --dask scheduler, closed on leaving; None without --dask."""
    if not args.dask:
        return contextlib.nullcontext()
    from distributed import Client

    return contextlib.closing(Client(args.dask))


@_dataset_command(
    "features",
    help="compute the images' features for suggestions, similar images and duplicates",
    description="Compute a feature vector for every image that has none yet and keep them "
    "in the output folder (features/EMBEDDER/), where every annotator's Labeler finds them.",
    options=[
        _option("--embedder", choices=("builtin",), default="builtin", help="default: builtin"),
        _option(
            "--dask",
            metavar="ADDRESS",
            help="run the batches on this dask.distributed scheduler (tcp://host:8786); "
            "needs jupyter-labeler[dask]",
        ),
    ],
    check=_dask_installed,
)
def _features(args: argparse.Namespace, dataset: Dataset) -> int:
    with _dask_client(args) as client, _progress(args) as bar:
        summary = dataset.compute_features(args.embedder, client=client, progress=bar)
    _say(
        args,
        f"{summary.computed} images computed ({summary.failed} unreadable), "
        f"{summary.reused} already had features",
    )
    return 0


# -- demo -----------------------------------------------------------------------------------------
def _packaged_notebook(name: str = DEMO_NOTEBOOK) -> bytes:
    return (resources.files("jupyter_labeler") / "notebooks" / name).read_bytes()


def _has_images(folder: Path) -> bool:
    from .scan import IMAGE_SUFFIXES

    return folder.is_dir() and any(
        p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()
    )


def demo_command(folder: Path, *, port: int | None = None, no_browser: bool = False) -> list[str]:
    """The command that opens JupyterLab on the demo notebook in ``folder``."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        # The URL JupyterLab prints (and opens) shows the notebook, not the Launcher.
        f"--LabApp.default_url=/lab/tree/{DEMO_NOTEBOOK}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers often run as root, where JupyterLab refuses to start without this.
        command.append("--allow-root")
    if port is not None:
        command.append(f"--port={port}")
    if no_browser:
        command.append("--no-browser")
    command.append(str(folder / DEMO_NOTEBOOK))
    return command


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import make_demo_images

    if args.count < 1:
        raise UsageError("--count must be 1 or more")
    folder = Path(args.folder).expanduser().resolve()
    images = folder / "images"
    if _has_images(images):
        print(f"Using the demo images already in {images}", file=sys.stderr)
    else:
        print(f"Generating {args.count} demo images in {images} ...", file=sys.stderr)
        summary = make_demo_images(images, count=args.count)
        print(
            f"  {summary['images']} images of {len(summary['classes'])} classes, "
            f"{summary['labeled']} labeled by .txt files beside them",
            file=sys.stderr,
        )
    for name in DEMO_NOTEBOOKS:
        path = folder / name
        if path.exists():
            print(f"Keeping the notebook already at {path}", file=sys.stderr)
        else:
            path.write_bytes(_packaged_notebook(name))
            print(f"Wrote the notebook {path}", file=sys.stderr)
    notebook = folder / DEMO_NOTEBOOK
    command = demo_command(folder, port=args.port, no_browser=args.no_browser)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        raise UsageError(
            "JupyterLab is not installed: pip install 'jupyter-labeler[lab]' "
            f"(or open {notebook} in a Jupyter you have)"
        )
    print("Starting JupyterLab (stop it with Ctrl+C) ...", file=sys.stderr)
    env = dict(os.environ, **{DEMO_ENV: str(images)})
    process = subprocess.Popen(command, cwd=folder, env=env)
    with contextlib.suppress(ValueError):  # not the main thread: no handler, no forwarding
        # Stopping this command stops JupyterLab too, instead of leaving it running.
        signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            # JupyterLab got the same Ctrl+C and shuts down by itself: wait for it.
            continue


# -- entry point ----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, LabelerError, OSError) as exc:
        # Store errors carry the URL, never a credential (see jupyter_labeler.errors).
        _complain(args, f"error: {exc}")
        return 2
    except Exception as exc:
        # A bug, or input no check foresaw: one line for the user, the traceback for the log.
        log.debug("%s %s failed", PROG, args.command, exc_info=True)
        _complain(
            args,
            f"error: unexpected {type(exc).__name__}: {exc} "
            "(set JUPYTER_LABELER_DEBUG=1 to see where)",
        )
        if os.environ.get("JUPYTER_LABELER_DEBUG"):
            traceback.print_exc()
        return 1
