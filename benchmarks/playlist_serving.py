"""Benchmark: serving a rewritten HLS variant playlist of a 2-hour lecture, on gunicorn + PostgreSQL + MinIO.

    eval "$(scripts/services.sh env)"       # PostgreSQL + MinIO (LMS_STORAGE_BACKEND=minio)
    .venv/bin/python benchmarks/playlist_serving.py [--seconds 10] [--clients 8] [--segments 1200]
                                                    [--workers 5] [--cold-assets 5]

Nothing is transcoded: the output of a processed lecture is synthesized in MinIO (a master playlist as
ffmpeg writes it, 360p/540p/720p rungs with a shared audio group, per-rung variant playlists with an
EXT-X-MAP and ``--segments`` 6-second segments; the audio rendition has 10-second ones) and READY
MediaAsset rows point at it, in a throwaway PostgreSQL database (dropped at the end, the MinIO objects
deleted). A teacher owns the assets; a published course has a lesson using the first one.

Over HTTP against gunicorn, with bearer tokens:

(1) first requests right after gunicorn starts (fresh workers: DB connection, MinIO client, playlist
    read and every segment URL signed), one per rung;
(2) correctness, once: 1 EXT-X-MAP and ``--segments`` segment lines, every URI presigned; the learner
    route serves the same text; a presigned segment URL fetched from MinIO gives 200 for an uploaded
    dummy segment and 404 for one that does not exist;
(3) warm throughput and latency with ``--clients`` client processes for ``--seconds`` each, and with one
    client (the unloaded latency): (a) teacher preview of the 360p variant ``/media/<id>/hls/...``,
    (b) learner ``/learn/lessons/<id>/hls/360p/index.m3u8`` (adds the course-visibility check),
    (c) the master playlist;
(4) cold cost on warm workers: the first request of each rung of ``--cold-assets`` further assets (what
    every playlist costs once per worker per hour, when the hour bucket turns);
(5) an in-process breakdown of a cold rewrite (MinIO reads, signing) against a cache hit.

Clients and server share the machine (2 cores here), so the figures are a floor; the load average is
printed before and after. Prints figures only.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing as mp
import os
import re
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gunicorn_server import gunicorn
from scratch import bench_env, scratch_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks/out"

SEGMENT_S = 6
AUDIO_SEGMENT_S = 10
# name, resolution, bandwidth, codecs (what ffmpeg's master playlist says for our ladder)
RUNGS = [
    ("360p", "640x360", 1_006_000, "avc1.64001e,mp4a.40.2"),
    ("540p", "960x540", 1_716_000, "avc1.64001f,mp4a.40.2"),
    ("720p", "1280x720", 3_256_000, "avc1.64001f,mp4a.40.2"),
]
PLAYLISTS = [*(name for name, *_ in RUNGS), "audio"]


# Synthesized output --------------------------------------------------------------------------------


def master_text() -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_aud",NAME="audio",DEFAULT=YES,URI="audio/index.m3u8"',
    ]
    for name, resolution, bandwidth, codecs in RUNGS:
        lines += [
            f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={resolution},CODECS="{codecs}",'
            'AUDIO="group_aud"',
            f"{name}/index.m3u8",
            "",
        ]
    return "\n".join(lines) + "\n"


def variant_text(name: str, seconds: float, segment_s: int) -> str:
    count = -(-int(seconds) // segment_s)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{segment_s}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="init_{name}.mp4"',
    ]
    for n in range(count):
        length = min(segment_s, seconds - n * segment_s)
        lines += [f"#EXTINF:{length:.6f},", f"seg_{n:05d}.m4s"]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def write_output(store, prefix: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    def put(key: str, text: str) -> None:
        data = text.encode()
        store.put(prefix + key, data, length=len(data), content_type="application/vnd.apple.mpegurl")

    put("master.m3u8", master_text())
    for name, *_ in RUNGS:
        put(f"{name}/index.m3u8", variant_text(name, seconds, SEGMENT_S))
    put("audio/index.m3u8", variant_text("audio", seconds, AUDIO_SEGMENT_S))


# Setup ---------------------------------------------------------------------------------------------


def _env(tag: str) -> dict[str, str]:
    return bench_env("playlist", tag)


def setup(app, segments: int, cold_assets: int, written: list[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Org, teacher, org admin, learner; READY assets with synthesized output (their prefixes appended
    to ``written``); a published course."""
    from lms.accounts.services import issue_token
    from lms.catalog import services as catalog
    from lms.catalog.queries import active_lessons
    from lms.catalog.validation import clean_course_data
    from lms.core.db import db, utcnow
    from lms.media.models import AssetKind, AssetStatus, MediaAsset
    from lms.media.storage import get_storage
    from tests.factories import make_admin, make_org, make_teacher, make_user

    seconds = float(segments * SEGMENT_S)
    store = get_storage()
    org = make_org(name="基准测试党校")
    teacher = make_teacher(org=org, name="讲课教师")
    admin = make_admin(of=org)
    learner = make_user(org=org)
    assets = []
    for n in range(1 + cold_assets):
        asset = MediaAsset(
            owner_id=teacher.id,
            org_id=org.id,
            kind=AssetKind.VIDEO,
            title=f"两小时专题讲座 {n}",
            status=AssetStatus.READY,
            progress=100,
            source_key=f"uploads/bench/{secrets.token_hex(8)}/lecture.mp4",
            source_size=0,
            duration_s=seconds,
            width=1280,
            height=720,
            renditions=[name for name, *_ in RUNGS],
            ready_at=utcnow(),
        )
        db.session.add(asset)
        db.session.flush()
        asset.output_prefix = f"media/{asset.id}/{secrets.token_hex(16)}/"
        asset.playlist_key = asset.output_prefix + "master.m3u8"
        written.append(asset.output_prefix)
        write_output(store, asset.output_prefix, seconds)
        assets.append(asset)
    db.session.commit()
    main = assets[0]
    data = clean_course_data(
        {"title": "两小时专题讲座", "lessons": [{"title": "第一讲", "media_asset_id": main.id}]}
    )
    course = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=admin, course=course)
    db.session.commit()
    (lesson,) = active_lessons(course.id)
    teacher_token, _ = issue_token(user=teacher, ttl=timedelta(hours=6))
    learner_token, _ = issue_token(user=learner, ttl=timedelta(hours=6))
    db.session.commit()
    return {
        "assets": [(a.id, a.output_prefix) for a in assets],
        "lesson": lesson.id,
        "teacher": teacher_token,
        "learner": learner_token,
    }


# HTTP clients --------------------------------------------------------------------------------------


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[int, bytes, float]:
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    return response.status, body, time.perf_counter() - start


def _client(job: tuple[int, str, str, float]) -> tuple[list[float], int]:
    """One client process: GET ``path`` in a loop on a keep-alive connection for ``seconds``."""
    port, path, token, seconds = job
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            status, body, elapsed = _get(conn, path, token)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if status == 200 and body.startswith(b"#EXTM3U"):
            samples.append(elapsed)
        else:
            errors += 1
    conn.close()
    return samples, errors


def _drive(pool, port: int, path: str, token: str, clients: int, seconds: float):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    results = pool.map(_client, [(port, path, token, seconds)] * clients, chunksize=1)
    elapsed = time.perf_counter() - start
    samples = [s for r, _ in results for s in r]
    return samples, sum(e for _, e in results), elapsed


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


# Checks and breakdown ------------------------------------------------------------------------------


def verify(port: int, ids: dict[str, object], segments: int, store) -> None:  # type: ignore[no-untyped-def]
    asset_id, prefix = ids["assets"][0]  # type: ignore[index]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, body, _ = _get(conn, f"/media/{asset_id}/hls/360p/index.m3u8", ids["teacher"])  # type: ignore[arg-type]
    text = body.decode()
    uri_lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    maps = re.findall(r'^#EXT-X-MAP:URI="([^"]*)"', text, re.M)
    signed = sum("X-Amz-Signature=" in line for line in uri_lines)
    ok = (
        status == 200
        and len(uri_lines) == segments
        and signed == segments
        and len(maps) == 1
        and "X-Amz-Signature=" in maps[0]
    )
    print(
        f"  teacher 360p: HTTP {status}, {len(body):,} bytes, {len(uri_lines)} segment lines "
        f"({signed} presigned), {len(maps)} EXT-X-MAP "
        f"(presigned: {bool(maps) and 'X-Amz-Signature=' in maps[0]}) -> {'OK' if ok else 'WRONG'}"
    )
    status, learner_body, _ = _get(
        conn, f"/learn/lessons/{ids['lesson']}/hls/360p/index.m3u8", ids["learner"]
    )  # type: ignore[arg-type]
    print(f"  learner 360p: HTTP {status}, same text as the teacher's: {learner_body == body}")
    status, master, _ = _get(conn, f"/media/{asset_id}/hls/master.m3u8", ids["teacher"])  # type: ignore[arg-type]
    print(f"  master: HTTP {status}, as stored (relative variant URIs): {master.decode() == master_text()}")
    outsider = _get(conn, f"/media/{asset_id}/hls/360p/index.m3u8", ids["learner"])[0]  # type: ignore[arg-type]
    print(f"  learner on the teacher preview route: HTTP {outsider} (expected 404)")
    conn.close()
    dummy = secrets.token_bytes(1024)
    store.put(prefix + "360p/seg_00000.m4s", dummy, length=len(dummy), content_type="video/iso.segment")
    for n, expect in ((0, "200 + the dummy's bytes"), (1, "404, no object")):
        url = uri_lines[n] if n < len(uri_lines) else ""
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local MinIO
                got = f"{response.status}, bytes match: {response.read() == dummy}"
        except urllib.error.HTTPError as error:
            got = str(error.code)
        print(f"  MinIO GET of presigned seg_{n:05d}.m4s: {got} (expected {expect})")


def breakdown(app, ids: dict[str, object], repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    """Where a variant playlist's time goes, in this process (one thread, no socket): MinIO reads,
    signing, rewriting, the cache hit, and the whole app (auth, DB, cache) through Flask's test client."""
    import gzip

    from sqlalchemy import event

    from lms.core.db import db, utcnow
    from lms.media.delivery import Delivery, UrlSigner
    from lms.media.models import MediaAsset
    from lms.media.storage import build_store
    from media_pipeline.hls import join_uri, rewrite_playlist

    def never(*_: object) -> str:
        raise AssertionError("MinIO presigns; no app URL is made")

    (asset_id, prefix), *_ = ids["assets"]  # type: ignore[misc]
    settings = app.extensions["lms.settings"]
    ttl = timedelta(hours=settings.media_url_ttl_hours)
    path = "360p/index.m3u8"
    key = prefix + path
    timings: dict[str, list[float]] = {}

    def timed(name: str, call: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = call()
        timings.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return result

    with app.app_context():
        asset = db.session.get(MediaAsset, asset_id)
        text = build_store(settings).read(key).decode()
        folder = prefix.rstrip("/")
        keys = [join_uri(key, line, within=folder) for line in re.findall(r"^([^#\n][^\n]*)$", text, re.M)]
        keys.append(join_uri(key, "init_360p.mp4", within=folder))
        for _ in range(repeat):
            store = build_store(settings)  # a fresh client: its presigned-URL memo is empty
            store.read(asset.playlist_key)  # its connection pool warmed
            timed("MinIO GET master.m3u8", lambda s=store: s.read(asset.playlist_key))
            timed("MinIO GET 360p/index.m3u8", lambda s=store: s.read(key))
            timed(
                f"presign {len(keys)} URIs, memo empty (SigV4 each)",
                lambda s=store: [s.presigned_get_url(k, ttl) for k in keys],
            )
            timed(
                f"presign {len(keys)} URIs, memo warm (dict lookups)",
                lambda s=store: [s.presigned_get_url(k, ttl) for k in keys],
            )
            timed(
                "rewrite_playlist + join_uri, memo warm",
                lambda s=store: rewrite_playlist(
                    text, lambda uri: s.presigned_get_url(join_uri(key, uri, within=folder), ttl)
                ),
            )
            cold = Delivery(build_store(settings), UrlSigner(settings.secret_key), ttl, never)
            cold.store.read(asset.playlist_key)
            timed(
                "Delivery.variant_playlist, cold (all of the above)",
                lambda d=cold: d.variant_playlist(asset, path, utcnow()),
            )
            timed(
                "Delivery.variant_playlist, cache hit",
                lambda d=cold: d.variant_playlist(asset, path, utcnow()),
            )
            timed("Delivery.master_playlist (no cache: a MinIO GET)", lambda d=cold: d.master_playlist(asset))
            body = cold.variant_playlist(asset, path, utcnow()).encode()
            timed("gzip level 6 of the rewritten playlist", lambda b=body: gzip.compress(b, 6))
        db.session.remove()
    client = app.test_client()
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *_: object) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    routes = [
        ("teacher variant", f"/media/{asset_id}/hls/{path}", ids["teacher"]),
        ("learner variant", f"/learn/lessons/{ids['lesson']}/hls/{path}", ids["learner"]),
        ("master", f"/media/{asset_id}/hls/master.m3u8", ids["teacher"]),
    ]
    queries: dict[str, int] = {}
    for label, url, token in routes:
        headers = {"Authorization": f"Bearer {token}"}
        client.get(url, headers=headers)  # this process's cache warmed
        event.listen(engine, "before_cursor_execute", count)
        client.get(url, headers=headers)
        event.remove(engine, "before_cursor_execute", count)
        queries[label] = len(statements)
        statements.clear()
        for _ in range(repeat * 4):
            timed(
                f"Flask test client, warm: {label} (auth, DB, cache)",
                lambda u=url, h=headers: client.get(u, headers=h),
            )
    for name, values in timings.items():
        print(f"  {name:<58} median {statistics.median(values):8.2f} ms   max {max(values):8.2f} ms")
    signing = statistics.median(timings[f"presign {len(keys)} URIs, memo empty (SigV4 each)"])
    print(
        f"  => {signing * 1000 / len(keys):.0f} µs to sign one segment URL; response {len(body):,} bytes, "
        f"{len(gzip.compress(body, 6)):,} gzipped"
    )
    print("  => SQL statements a warm request: " + ", ".join(f"{k} {v}" for k, v in queries.items()))


# Main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--segments", type=int, default=1200)
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", (os.cpu_count() or 1) * 2 + 1))
    )
    parser.add_argument(
        "--cold-assets", type=int, default=5, help="assets for the cold first-request figures"
    )
    parser.add_argument("--single-seconds", type=float, default=5, help="one-client phases (0: skip)")
    args = parser.parse_args()
    command = (
        ".venv/bin/python benchmarks/playlist_serving.py "
        f"--seconds {args.seconds:g} --clients {args.clients} --segments {args.segments} "
        f"--workers {args.workers} --cold-assets {args.cold_assets} "
        f"--single-seconds {args.single_seconds:g}"
    )
    base = os.environ.get("LMS_DATABASE_URL", "")
    if not base.startswith("postgresql") or os.environ.get("LMS_STORAGE_BACKEND") != "minio":
        print('needs PostgreSQL and MinIO: eval "$(scripts/services.sh env)"', file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    env = _env(tag)
    url, drop = scratch_database(base, f"lms_bench_playlist_{tag}")
    env["LMS_DATABASE_URL"] = url
    os.environ.update(env)
    from flask_migrate import upgrade

    from lms.app import create_app
    from lms.core.db import db
    from lms.media.storage import get_storage

    app = create_app()
    ids: dict[str, object] = {}
    written: list[str] = []
    try:
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
            started = time.perf_counter()
            ids = setup(app, args.segments, args.cold_assets, written)
            store = get_storage()
            db.session.remove()
        setup_s = time.perf_counter() - started
        (asset_id, _), *cold = ids["assets"]  # type: ignore[misc]
        lesson_id = ids["lesson"]
        hours = args.segments * SEGMENT_S / 3600
        print(f"command: {command}")
        print(
            f"lecture: {args.segments} x {SEGMENT_S} s segments ({hours:.2f} h) per video rung, "
            f"{-(-args.segments * SEGMENT_S // AUDIO_SEGMENT_S)} x {AUDIO_SEGMENT_S} s audio; "
            f"{1 + len(cold)} assets written to MinIO and PostgreSQL in {setup_s:.1f} s"
        )
        print(
            f"gunicorn: {args.workers} workers x {os.environ.get('GUNICORN_THREADS', '4')} threads "
            "(gthread); "
            f"cpu count {os.cpu_count()}; load average before {os.getloadavg()[0]:.2f}"
        )
        hour = datetime.now(UTC).hour
        routes = [
            ("(a) teacher variant", f"/media/{asset_id}/hls/360p/index.m3u8", ids["teacher"]),
            ("(b) learner variant", f"/learn/lessons/{lesson_id}/hls/360p/index.m3u8", ids["learner"]),
            ("(c) master", f"/media/{asset_id}/hls/master.m3u8", ids["teacher"]),
        ]
        log = OUT / f"playlist-gunicorn-{tag}.log"
        with (
            gunicorn(env, workers=args.workers, log_path=log) as port,
            mp.get_context("fork").Pool(max(args.clients, args.workers)) as pool,
        ):
            print("\n(1) first requests after gunicorn started (fresh workers), one connection each:")
            for name in [*PLAYLISTS, "master"]:
                path = f"/media/{asset_id}/hls/" + (
                    "master.m3u8" if name == "master" else f"{name}/index.m3u8"
                )
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status, body, elapsed = _get(conn, path, ids["teacher"])  # type: ignore[arg-type]
                conn.close()
                print(f"  {name:<7} HTTP {status}  {len(body):>9,} bytes  {elapsed * 1000:8.1f} ms")

            print("\n(2) correctness:")
            verify(port, ids, args.segments, store)

            print(f"\n(3) warm: {args.seconds:g} s per route ({args.single_seconds:g} s with 1 client)")
            header = "  {:<21} {:>7} {:>8} {:>8} {:>8} {:>8}  errors".format(
                "route", "clients", "req/s", "p50 ms", "p95 ms", "p99 ms"
            )
            print(header)
            table = []
            for label, path, token in routes:
                _drive(pool, port, path, token, max(args.clients, args.workers), 1.0)  # every worker warm
                plan = [(args.clients, args.seconds)]
                if args.single_seconds > 0:
                    plan.append((1, args.single_seconds))
                for clients, seconds in plan:
                    samples, errors, elapsed = _drive(pool, port, path, token, clients, seconds)
                    p50, p95, p99 = _quantiles(samples)
                    row = (
                        f"  {label:<21} {clients:>7} {len(samples) / elapsed:8.1f} {p50:8.1f} {p95:8.1f} "
                        f"{p99:8.1f}  {errors}"
                    )
                    table.append(row)
                    print(row, flush=True)

            print(f"\n(4) cold on warm workers: first request of each rung of {len(cold)} fresh assets (ms)")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            firsts: dict[str, list[float]] = {name: [] for name in PLAYLISTS}
            for cold_id, _ in cold:
                for name in PLAYLISTS:
                    status, _, elapsed = _get(conn, f"/media/{cold_id}/hls/{name}/index.m3u8", ids["teacher"])  # type: ignore[arg-type]
                    if status == 200:
                        firsts[name].append(elapsed * 1000)
            conn.close()
            for name, values in firsts.items():
                if values:
                    print(
                        f"  {name:<6} n={len(values)}  median {statistics.median(values):7.1f}  "
                        f"min {min(values):7.1f}  max {max(values):7.1f}"
                    )
        if datetime.now(UTC).hour != hour:
            print("  note: the hour turned during the run: some warm requests were cold rewrites")

        print(f"\n(5) breakdown of the 360p playlist ({args.segments} segments), in-process:")
        breakdown(app, ids)
        print(f"\nload average after {os.getloadavg()[0]:.2f}; gunicorn log: {log.relative_to(ROOT)}")
        print("\nsummary (target: p95 <= 20 ms):")
        print(header)
        for row in table:
            print(row)
        print(f"command: {command}")
    finally:
        with app.app_context():
            store = get_storage()
            for prefix in written:
                store.delete_prefix(prefix)  # only this run's objects: media/<id>/<random token>/
            db.session.remove()
            db.engine.dispose()
        drop()
        Path(env["LMS_SEARCH_PATH"]).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
