"""Live team labeling: many annotators on one bucket, each following the others.

    python benchmarks/bench_team.py [--annotators 20] [--seconds 60] [--interval 3] [--every 1]
                                    [--quick]
                                    [--json result.json]

A moto S3 server on loopback (real HTTP, in a child process, behind a small counting layer)
holds a dataset of tiny images. Each annotator is its own process with its own ``Dataset``
and author name, following the others (``Dataset.follow(interval)``, as a displayed Labeler
does) and doing one labeling action a second (``--every``): it adds one of five shared labels
to one to three images of its own share of the dataset, and every fifth action removes the
previous action's label again. Annotators start staggered across the second, as people do not click in step.

Measured:

- propagation: from an action's acknowledgement (its ``add_label`` / ``remove_label``
  returned saved) until EVERY other annotator has applied it (its dataset holds it and its
  observers were told), by each follower's wall clock (all processes run on this machine, so
  clocks agree); also until a single follower has it. Target: p95 <= 2 x interval. The same
  from the click (the action's start) for every action, saved at once or not;
- requests to the store per second while labeling, counted by the server, by method and by what
  they touch (journal, feed, presence, snapshots: listings, reads, writes), and the CPU that one
  annotator process used (median, as a share of one core);
- actions lost: at the end, the journal and the newest snapshot must name every acknowledged
  action, a dataset reopened from the store must hold exactly what the actions leave (it is
  checked again after a compaction), and so must every annotator's own followed dataset once
  it has caught up (each waits, up to --drain seconds, until it holds every action stored).

An annotator that falls more than a second behind its schedule (a starved machine) skips that
slot, as a person would, and the skipped slots are counted. ``--quick``: 4 annotators, 10 s.

Each follower records when it applied which event by wrapping two methods of its inner parts
(``applied.Recent.apply``, which applies an event read from the store, and the journal's
``append``, which names this annotator's own); the times are taken when its observers are
told, i.e. when a Labeler would redraw.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fake_aws import server_in_child, use_fake_aws

use_fake_aws()  # before botocore is imported

LABELS = ("cat", "dog", "bird", "fish", "horse")
COUNTS_PATH = "/_bench/counts"


# ---------------------------------------------------------------------------------------------
# the store: moto, with every request counted on the server's side
def _kind(environ: dict[str, Any]) -> str:
    """What a request touches: journal/presence/snapshots/other, and list or object."""
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "list-type" in query or "prefix" in query:
        where = (query.get("prefix") or [""])[0]
        listing = True
    else:
        where = path
        listing = False
    area = "other"
    for name in ("journal/", "feed/", "presence/", "snapshots/", "features/"):
        if name in where:
            area = name.rstrip("/")
            break
    if where.endswith(("journal", "feed", "presence")):
        area = where.rsplit("/", 1)[-1]
    return f"{area} {'LIST' if listing else environ.get('REQUEST_METHOD', '?')}"


def _serve(queue: Any, stop: Any) -> None:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == COUNTS_PATH:
            with lock:
                body = json.dumps(dict(counts)).encode()
                if environ.get("REQUEST_METHOD") == "DELETE":
                    counts.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        with lock:
            counts[_kind(environ)] += 1
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        queue.put(server.server_address[:2])
        stop.wait()
    finally:
        server.shutdown()


def moto_server() -> contextlib.AbstractContextManager[str]:
    """A counting moto S3 server on 127.0.0.1 in a child process; yields its URL."""
    return server_in_child(_serve, timeout=120)


def server_counts(endpoint: str, *, reset: bool = False) -> dict[str, int]:
    """The server's request counts so far (``reset``: and start again from zero)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("DELETE" if reset else "GET", COUNTS_PATH)
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# one annotator
def own_images(ids: list[str], index: int, annotators: int) -> list[str]:
    """This annotator's share: the team divides the images, so no two touch the same one."""
    return ids[index::annotators]


def action_of(index: int, k: int, own: list[str]) -> tuple[str, str, list[str]]:
    """The k-th action of annotator ``index``: ("add" | "remove", label, image ids)."""
    if k % 5 == 4:
        _, label, ids = action_of(index, k - 1, own)
        return ("remove", label, ids)
    size = 1 + (k + index) % 3
    start = (k * 3) % len(own)  # images not labeled yet while the share lasts
    ids = [own[(start + j) % len(own)] for j in range(size)]
    return ("add", LABELS[(k + index) % len(LABELS)], ids)


def expected_labels(index: int, done: set[int], own: list[str]) -> dict[str, list[str]]:
    """Image id -> sorted labels that the actions ``done`` of annotator ``index`` leave."""
    model: dict[str, set[str]] = {i: set() for i in own}
    for k in sorted(done):
        kind, label, ids = action_of(index, k, own)
        for image in ids:
            if kind == "add":
                model[image].add(label)
            else:
                model[image].discard(label)
    return {image: sorted(labels) for image, labels in model.items()}


def labels_by_image(ds: Any) -> dict[str, list[str]]:
    table = ds.annotations()
    out: dict[str, list[str]] = {str(i): [] for i in ds.images.index}
    for image, label in zip(table["image_id"], table["label"], strict=True):
        out[str(image)].append(str(label))
    return {image: sorted(labels) for image, labels in out.items()}


def annotator(
    index: int,
    config: dict[str, Any],
    ready: Any,
    go: Any,
    start_at: Any,
    all_acted: Any,
    result_path: str,
) -> None:
    logging.basicConfig(level=logging.WARNING, format=f"[annotator {index}] %(message)s")
    from jupyter_labeler import Dataset
    from jupyter_labeler.applied import Recent

    annotators, seconds, interval = config["annotators"], config["seconds"], config["interval"]
    every = config["every"]
    ds = Dataset.open(
        config["url"], storage_options=config["options"], author=f"annotator{index:02d}"
    )
    ids = sorted(str(i) for i in ds.images.index)
    own = own_images(ids, index, annotators)

    lock = threading.Lock()
    just_applied: list[str] = []
    applied: dict[str, float] = {}
    reloads = [0]
    own_names: list[str] = []
    apply_stored = Recent.apply
    append = ds.replica.journal.append

    def recording_apply(self: Any, state: Any, name: str, event: Any, **kwargs: Any) -> Any:
        with lock:
            just_applied.append(name)
        return apply_stored(self, state, name, event, **kwargs)

    def recording_append(name: str, event: Any) -> bool:
        own_names.append(name)
        return append(name, event)

    def observer(change: Any) -> None:
        now = time.time()
        if change.kind == "reload":
            reloads[0] += 1
        with lock:
            for name in just_applied:
                applied.setdefault(name, now)
            just_applied.clear()

    Recent.apply = recording_apply  # type: ignore[method-assign]
    ds.replica.journal.append = recording_append  # type: ignore[method-assign]
    ds.observe(observer)
    ds.follow(interval)
    ready.put(index)
    go.wait()
    start = start_at.value + every * index / annotators  # staggered, as people are
    cpu_at_start = time.process_time()
    acks: list[tuple[str, float, bool, float]] = []  # name, acknowledged at, saved, took
    failures: list[str] = []
    done: set[int] = set()
    skipped = 0
    k = 0
    while k < int(seconds / every):
        due = start + k * every
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        elif wait < -every:  # a whole slot late: this one is gone, as a person would skip it
            skipped += 1
            k += 1
            continue
        kind, label, image_ids = action_of(index, k, own)
        if kind == "remove" and k - 1 not in done:  # what it takes back was never done
            skipped += 1
            k += 1
            continue
        written = len(own_names)
        t0 = time.time()
        try:
            if kind == "add":
                result = ds.add_label(label, image_ids)
            else:
                result = ds.remove_label(label, image_ids)
        except Exception as exc:  # counted and reported: the run goes on
            failures.append(f"action {k} ({kind} {label}): {type(exc).__name__}: {exc}")
            k += 1
            continue
        t1 = time.time()
        if len(own_names) > written:  # else it changed nothing here, and wrote nothing
            acks.append((own_names[-1], t1, bool(result.saved), t1 - t0))
        else:
            failures.append(f"action {k} ({kind} {label}): changed nothing ({result.message})")
        done.add(k)
        k += 1
    actions = len(done)
    done_acting = time.time()
    cpu = time.process_time() - cpu_at_start
    flushed = ds.flush(timeout=120)
    all_acted.wait(timeout=600)
    # Keep following until every action in the store has arrived here (or time is up). The
    # check lists the whole journal, which costs the store per object: by all annotators every
    # half second it would slow the store down while the last actions are still propagating.
    # So it starts once they have had three intervals to arrive, and repeats every interval.
    deadline = time.time() + config["drain"]
    converged = None
    time.sleep(3 * interval)
    while time.time() < deadline:
        listed = set(ds.replica.journal.list_events())
        if listed <= set(ds.replica.applied) | ds.replica.covered:
            converged = time.time() - done_acting
            break
        time.sleep(interval)
    assert ds.follower is not None
    polls = ds.follower.polls
    ds.follow(None)
    with lock:
        for name in just_applied:
            applied.setdefault(name, time.time())
    state = labels_by_image(ds)
    result = {
        "index": index,
        "writer": ds.replica.journal.writer,
        "actions": actions,
        "acks": acks,
        "applied": applied,
        "reloads": reloads[0],
        "polls": polls,
        "flushed": flushed,
        "skipped": skipped,
        "converged_after": converged,
        "done_acting": done_acting,
        "cpu_per_s": cpu / max(done_acting - start, 1e-9),
        "expected": expected_labels(index, done, own),
        "failures": failures,
        "state": state,
    }
    ds.close()
    Path(result_path).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# the run
def tiny_jpeg(i: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(
        buf, "JPEG", quality=80
    )
    return buf.getvalue()


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    from jupyter_labeler import Dataset
    from jupyter_labeler.journal import Journal
    from jupyter_labeler.storage import open_store

    annotators, seconds, interval = args.annotators, args.seconds, args.interval
    drain = args.drain
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        bucket = f"team-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        images = max(args.images, int(annotators * 3 * seconds / args.every))  # all new
        for i in range(images):
            client.put_object(Bucket=bucket, Key=f"src/img_{i:05d}.jpg", Body=tiny_jpeg(i))
        url = f"s3://{bucket}/src"
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        Dataset.open(url, storage_options=options, author="setup").close()

        config = {
            "annotators": annotators,
            "seconds": seconds,
            "interval": interval,
            "every": args.every,
            "drain": drain,
            "url": url,
            "options": options,
        }
        ctx = multiprocessing.get_context("spawn")
        ready, go = ctx.Queue(), ctx.Event()
        start_at = ctx.Value("d", 0.0)
        all_acted = ctx.Barrier(annotators)
        paths = [os.path.join(tmp, f"annotator{i}.json") for i in range(annotators)]
        procs = [
            ctx.Process(
                target=annotator,
                args=(i, config, ready, go, start_at, all_acted, paths[i]),
                daemon=True,
            )
            for i in range(annotators)
        ]
        print(f"starting {annotators} annotator processes ...", flush=True)
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=600)
        # Let every follower settle (first polls and heartbeats) before the clock starts.
        time.sleep(interval + 1)
        server_counts(endpoint, reset=True)
        start_at.value = time.time() + 1.0
        go.set()
        print(f"labeling for {seconds} s, following every {interval:g} s ...", flush=True)
        time.sleep(max(0.0, start_at.value + seconds - time.time()))
        counts = server_counts(endpoint)
        window = time.time() - start_at.value
        for proc in procs:
            proc.join(seconds + drain + 300)
        results = [json.loads(Path(p).read_text()) for p in paths if os.path.exists(p)]
        if len(results) != annotators:
            raise SystemExit(f"only {len(results)} of {annotators} annotators finished")

        # Propagation: acknowledgement -> applied by every other annotator.
        # Also from the click (the action's start) for every action, saved at once or not:
        # what the annotators feel, whatever the store's acknowledgements did.
        everyone, single, not_propagated, ack_times = [], [], 0, []
        from_click: list[float] = []
        acked: list[str] = []
        for res in results:
            others = [r for r in results if r["index"] != res["index"]]
            for name, t_ack, saved, took in res["acks"]:
                ack_times.append(took)
                times = [r["applied"].get(name) for r in others]
                if all(t is not None for t in times):
                    from_click.append(max(times) - (t_ack - took))
                if not saved:
                    continue
                acked.append(name)
                if any(t is None for t in times):
                    not_propagated += 1
                    continue
                everyone.append(max(times) - t_ack)
                single.extend(t - t_ack for t in times)

        # Lost: the store names every acknowledged action, and a reopened dataset holds them.
        expected: dict[str, list[str]] = {}
        for res in results:
            expected.update(res["expected"])
        journal = Journal(open_store(url + "/.jupyter_labeler", options))
        marker, _ = journal.latest_marker()
        stored = set(journal.list_events()) | set(marker["covered"] if marker else [])
        lost = sum(1 for name in acked if name not in stored)
        diverged_live = sum(
            1
            for res in results
            for image, labels in expected.items()
            if res["state"].get(image, []) != labels
        )
        reopened = Dataset.open(url, storage_options=options, author="checker")
        state = labels_by_image(reopened)
        wrong_reopened = sum(1 for i, labels in expected.items() if state.get(i, []) != labels)
        wrong_sample = [
            (i, labels, state.get(i, []))
            for i, labels in expected.items()
            if state.get(i, []) != labels
        ][:5]
        reopened.save()
        reopened.close()
        again = Dataset.open(url, storage_options=options, author="checker")
        state = labels_by_image(again)
        wrong_compacted = sum(1 for i, labels in expected.items() if state.get(i, []) != labels)
        again.close()

    actions = sum(r["actions"] for r in results)
    by_method: collections.Counter[str] = collections.Counter()
    for key, n in counts.items():
        by_method[key.split()[-1]] += n
    return {
        "annotators": annotators,
        "seconds": seconds,
        "interval": interval,
        "every": args.every,
        "images": images,
        "actions": actions,
        "skipped": sum(r["skipped"] for r in results),
        "not_converged": sum(1 for r in results if r["converged_after"] is None),
        "actions_failed": sum(len(r["failures"]) for r in results),
        "failures_sample": [f for r in results for f in r["failures"]][:5],
        "acknowledged": len(acked),
        "not_saved_at_once": sum(1 for r in results for a in r["acks"] if not a[2]),
        "propagation_all_p50": quantile(everyone, 0.5),
        "propagation_all_p95": quantile(everyone, 0.95),
        "propagation_all_max": max(everyone, default=float("nan")),
        "propagation_click_p50": quantile(from_click, 0.5),
        "propagation_click_p95": quantile(from_click, 0.95),
        "propagation_click_count": len(from_click),
        "propagation_one_p50": quantile(single, 0.5),
        "propagation_one_p95": quantile(single, 0.95),
        "not_propagated": not_propagated,
        "ack_p50": quantile(ack_times, 0.5),
        "ack_p95": quantile(ack_times, 0.95),
        "requests_per_s": sum(counts.values()) / window,
        "requests_per_s_by_method": {k: v / window for k, v in sorted(by_method.items())},
        "requests_per_s_by_kind": {k: v / window for k, v in sorted(counts.items())},
        "reloads": sum(r["reloads"] for r in results),
        "annotator_cpu_per_s": quantile([r["cpu_per_s"] for r in results], 0.5),
        "polls": sum(r["polls"] for r in results),
        "lost": lost,
        "images_wrong_live": diverged_live,
        "images_wrong_reopened": wrong_reopened,
        "images_wrong_after_compaction": wrong_compacted,
        "wrong_sample": wrong_sample,
        "load": load_average(),
    }


def report(res: dict[str, Any]) -> None:
    target = 2 * res["interval"]
    rows = [
        ("annotators (processes)", f"{res['annotators']}"),
        (f"actions (one every {res['every']:g} s each)", f"{res['actions']} in {res['seconds']} s"),
        ("slots skipped (annotator a slot late)", f"{res['skipped']}"),
        ("acknowledged (saved when returned)", f"{res['acknowledged']}"),
        ("actions that raised", f"{res['actions_failed']}"),
        (
            "action -> saved, p50 / p95",
            f"{res['ack_p50'] * 1000:.0f} / {res['ack_p95'] * 1000:.0f} ms",
        ),
        (
            f"saved -> applied by EVERY other, p50 / p95 (target p95 <= {target:g} s)",
            f"{res['propagation_all_p50']:.2f} / {res['propagation_all_p95']:.2f} s",
        ),
        ("the same, max", f"{res['propagation_all_max']:.2f} s"),
        (
            f"action -> applied by EVERY other, all {res['propagation_click_count']}, p50 / p95",
            f"{res['propagation_click_p50']:.2f} / {res['propagation_click_p95']:.2f} s",
        ),
        (
            "saved -> applied by one other, p50 / p95",
            f"{res['propagation_one_p50']:.2f} / {res['propagation_one_p95']:.2f} s",
        ),
        ("not applied by every other by the end", f"{res['not_propagated']}"),
        ("annotators still missing actions at the end", f"{res['not_converged']}"),
        ("full reloads (all followers)", f"{res['reloads']} in {res['polls']} polls"),
        (
            "CPU of one annotator process (median), share of a core",
            f"{res['annotator_cpu_per_s']:.0%}",
        ),
        ("requests to the store per second", f"{res['requests_per_s']:.0f}"),
    ]
    for method, rate in res["requests_per_s_by_method"].items():
        rows.append((f"  {method}", f"{rate:.1f}/s"))
    rows += [
        ("actions lost", f"{res['lost']}"),
        (
            "images wrong: live datasets / reopened / compacted",
            (
                f"{res['images_wrong_live']} / {res['images_wrong_reopened']} / "
                f"{res['images_wrong_after_compaction']}"
            ),
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("\nrequests per second by kind:")
    for kind, rate in res["requests_per_s_by_kind"].items():
        print(f"  {kind:<20} {rate:7.1f}")
    for failure in res["failures_sample"]:
        print(f"failed: {failure}")
    print(f"\nmachine: {os.cpu_count()} cores; {res['load']}")
    verdict = "met" if res["propagation_all_p95"] <= target else "NOT met"
    print(f"p95 target ({target:g} s): {verdict}; actions lost: {res['lost']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60, help="labeling time")
    parser.add_argument("--every", type=float, default=1.0, help="s between one's actions")
    parser.add_argument("--interval", type=float, default=3.0, help="following interval, s")
    parser.add_argument("--images", type=int, default=0, help="at least 3 per action")
    parser.add_argument(
        "--drain",
        type=float,
        default=120.0,
        help="at most this long for the last actions to arrive",
    )
    parser.add_argument("--quick", action="store_true", help="4 annotators for 10 s")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    args = parser.parse_args()
    if args.quick:
        args.annotators, args.seconds = 4, 10
    if args.annotators < 2 or args.seconds < 1 or not args.interval > 0 or not args.every > 0:
        parser.error("need at least 2 annotators, 1 second, a positive interval and --every")
    res = run(args)
    report(res)
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=2))
    if res["lost"] or res["images_wrong_reopened"] or res["images_wrong_after_compaction"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
