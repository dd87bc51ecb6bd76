"""Transcode a validated upload into an HLS ladder (plus poster and thumbnail sprite) with one ffmpeg pass.

Ladder (see docs: H.264 High, yuv420p, capped CRF 23; AAC-LC 48 kHz in one shared audio group; fMP4
segments of 6 s; a key frame every 2 s by time so segments line up across rungs)::

    out_dir/master.m3u8
    out_dir/360p/index.m3u8, init_360p.mp4, seg_00000.m4s, ...
    out_dir/540p/..., out_dir/720p/...
    out_dir/audio/index.m3u8, init_audio.mp4, seg_00000.m4s, ...   (the shared audio rendition)
    out_dir/poster.jpg, out_dir/sprite.jpg

Audio-only input gives ``out_dir/master.m3u8`` and ``out_dir/audio/`` (10 s segments). ffmpeg names the
init segment ``init.mp4`` when there is a single variant (audio-only, or one rung without audio) and
``init_<variant>.mp4`` otherwise; the playlists' ``#EXT-X-MAP`` always names it.

The argv is built by hand rather than with ffmpeg-python: its kwargs come out sorted alphabetically and
its global args after the outputs (so option order cannot be controlled), it cannot give one output file
several per-stream option sets plus two image outputs without merge_outputs gymnastics, and the list is
easier to read, test and paste into a shell when it is built explicitly.

ffmpeg runs with ``-xerror``, so a truncated or corrupt input stops the job instead of producing half a
lesson (checked with ffmpeg 5.1 and HLS output: a cut-off mp4 exits 1). As a second guard the produced
playlists' duration is compared with the probed one.
"""

from __future__ import annotations

import math
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

from media_pipeline.errors import ProcessingFailed
from media_pipeline.probe import FORMAT_WHITELIST, MediaInfo

SEGMENT_S = 6
AUDIO_SEGMENT_S = 10
KEYFRAME_S = 2
MAX_FPS = 30
AUDIO_BITRATE = "96k"
POSTER_WIDTH = 640
POSTER_AT = 0.1  # fraction of the duration: past black intro frames
SPRITE_INTERVAL_S = 10
SPRITE_TILE_WIDTH = 160
SPRITE_MAX_GRID = 10  # at most 10x10 tiles: longer media get a longer interval
PROGRESS_PERIOD_S = 1.0
MIN_TIMEOUT_S = 600.0
# ffmpeg catches SIGINT/SIGTERM, stops cleanly and exits with 255 (its errors exit with 1).
_FFMPEG_SIGNALLED = 255
# Failures that may go away on a retry (another machine, later).
_TRANSIENT = ("No space left on device", "Cannot allocate memory", "Resource temporarily unavailable")


@dataclass(frozen=True)
class Rung:
    name: str  # "360p" | "540p" | "720p": the SHORT side of the displayed picture
    short_side: int
    maxrate: str
    bufsize: str


LADDER: tuple[Rung, ...] = (
    Rung("360p", 360, "800k", "1600k"),
    Rung("540p", 540, "1400k", "2800k"),
    Rung("720p", 720, "2800k", "5600k"),
)


@dataclass(frozen=True)
class SpriteLayout:
    """How to cut ``sprite.jpg``: tile ``i`` (row-major, ``columns`` per row) shows the picture at about
    ``i * interval_s`` seconds and sits at x = (i % columns) * tile_width, y = (i // columns) * tile_height.
    ``count`` tiles are used (the grid may have blank cells after them). In the rare file whose video
    stream ends more than one interval before its probed duration, fewer frames arrive: the sheet then
    starts with blank tiles and the others sit later than their time."""

    interval_s: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    count: int


@dataclass(frozen=True)
class HlsOutput:
    master: str  # "master.m3u8", relative to out_dir
    files: list[str]  # every file written, relative to out_dir, posix separators, sorted
    rungs: list[str]  # rung names, or ["audio"] for audio-only
    poster: str | None  # "poster.jpg" for video
    sprite: str | None  # "sprite.jpg" for video
    duration_s: float  # the longest variant playlist (sum of EXTINF)
    sprite_layout: SpriteLayout | None = None


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def plan_ladder(info: MediaInfo) -> list[Rung]:
    """Rungs not above the source's displayed short side (no upscaling); a source smaller than 360 gets
    one rung at its own size (even), named after it (e.g. "240p") with the 360p bitrate cap."""
    if not info.has_video or not info.width or not info.height:
        return []
    short = min(info.width, info.height)
    rungs = [rung for rung in LADDER if rung.short_side <= short]
    if rungs:
        return rungs
    side = max(2, short - short % 2)
    return [Rung(f"{side}p", side, LADDER[0].maxrate, LADDER[0].bufsize)]


def rung_size(info: MediaInfo, rung: Rung) -> tuple[int, int]:
    """Displayed width x height of ``rung`` for this source (portrait stays portrait), both even."""
    assert info.width and info.height
    if info.width >= info.height:
        return _even(info.width * rung.short_side / info.height), rung.short_side
    return rung.short_side, _even(info.height * rung.short_side / info.width)


def sprite_layout(info: MediaInfo) -> SpriteLayout:
    """One tile per 10 s (longer for media over 1000 s, so there are at most 10x10 tiles), 160 px wide."""
    assert info.width and info.height
    max_tiles = SPRITE_MAX_GRID * SPRITE_MAX_GRID
    interval = max(SPRITE_INTERVAL_S, math.ceil(info.duration_s / max_tiles))
    count = min(max_tiles, max(1, math.ceil(info.duration_s / interval)))
    columns = min(SPRITE_MAX_GRID, count)
    return SpriteLayout(
        interval_s=interval,
        tile_width=SPRITE_TILE_WIDTH,
        tile_height=_even(SPRITE_TILE_WIDTH * info.height / info.width),
        columns=columns,
        rows=math.ceil(count / columns),
        count=count,
    )


def output_fps(info: MediaInfo) -> Fraction:
    """Constant output frame rate: the source's average rate (common NTSC rates kept exact), at most 30."""
    rate = info.frame_rate if info.frame_rate and info.frame_rate > 0 else MAX_FPS
    rate = min(max(rate, 1.0), MAX_FPS)
    return Fraction(rate).limit_denominator(1001)


def _check_paths(src: Path, out: Path) -> None:
    for path in (src, out):
        if not path.is_absolute():
            raise ValueError(f"media paths must be absolute: {path}")
        if path.name.startswith("-"):
            raise ValueError(f"refusing a media path whose name starts with '-': {path}")
    if "%" in str(out):  # the muxers expand %v / %05d patterns in output names
        raise ValueError(f"refusing an output path with '%': {out}")


def _common_head(src: Path, ffmpeg: str) -> list[str]:
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-y",
        "-xerror",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-i",
        f"file:{src}",
    ]


def _hls_muxer(out_dir: Path, *, segment_s: int, var_stream_map: str, single: bool) -> list[str]:
    return [
        "-f",
        "hls",
        "-hls_time",
        str(segment_s),
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_type",
        "fmp4",
        # with several variants ffmpeg appends "_<n>" unless the name has %v; with one it keeps it as is
        "-hls_fmp4_init_filename",
        "init.mp4" if single else "init_%v.mp4",
        "-hls_segment_filename",
        f"{out_dir}/%v/seg_%05d.m4s",
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        var_stream_map,
        f"{out_dir}/%v/index.m3u8",
    ]


def _audio_codec() -> list[str]:
    return ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ac", "2", "-ar", "48000"]


def hls_command(
    src: Path, out_dir: Path, info: MediaInfo, *, preset: str = "veryfast", ffmpeg: str = "ffmpeg"
) -> list[str]:
    """The argv of ONE ffmpeg pass writing the HLS ladder, the poster and the thumbnail sprite.

    Video: ``[0:v]`` is split into the ladder branch (fps=N for constant frame rate, then one scale per
    rung to the exact displayed size, so portrait stays portrait: ffmpeg autorotates on decode), the
    poster (the frame at 10 % of the duration, at most 640 wide) and the sprite (one frame per
    ``SpriteLayout.interval_s``, 160 px wide tiles). Without audio the ladder has no audio group.
    Audio-only (``info.has_video`` false): one AAC rendition with 10 s segments and a master playlist.
    """
    _check_paths(src, out_dir)
    argv = _common_head(src, ffmpeg)
    audio_in = f"0:{info.audio_index}" if info.audio_index is not None else "0:a:0"
    if not info.has_video:
        if not info.has_audio:
            raise ValueError("the media has neither video nor audio")
        return [
            *argv,
            "-map",
            audio_in,
            *_audio_codec(),
            *_hls_muxer(out_dir, segment_s=AUDIO_SEGMENT_S, var_stream_map="a:0,name:audio", single=True),
        ]

    rungs = plan_ladder(info)
    if not rungs:
        raise ValueError("the video has no known size")
    video_in = f"0:{info.video_index}" if info.video_index is not None else "0:v:0"
    fps = output_fps(info)
    layout = sprite_layout(info)
    poster_w = _even(min(POSTER_WIDTH, info.width or POSTER_WIDTH))
    poster_h = _even(poster_w * (info.height or 1) / (info.width or 1))
    poster_at = round(info.duration_s * POSTER_AT, 3)
    n = len(rungs)
    graph = [
        f"[{video_in}]split=3[ladder][poster_in][sprite_in]",
        f"[ladder]fps={fps},split={n}" + "".join(f"[r{i}]" for i in range(n)),
    ]
    for i, rung in enumerate(rungs):
        width, height = rung_size(info, rung)
        graph.append(f"[r{i}]scale={width}:{height}[v{i}]")
    # The poster and sprite branches emit a frame at once (the first frame; an empty sprite sliding
    # window) and overwrite it later (-update 1): ffmpeg prints no -progress until every output has
    # written its header, so an output whose first frame comes late would hide progress until then.
    graph.append(
        f"[poster_in]select='eq(selected_n,0)+eq(selected_n,1)*gte(t,{poster_at})',"
        f"scale={poster_w}:{poster_h}[poster]"
    )
    # Frames at 0, i, 2i, ... (exactly `count`: the last frames are cloned for one interval in case the
    # video stream ends a little before the probed duration), tiled as a sliding window whose last
    # output holds them all in order.
    last = layout.count - 1
    graph.append(
        f"[sprite_in]tpad=stop_mode=clone:stop_duration={layout.interval_s},"
        f"select='lt(selected_n,{layout.count})*gte(t,selected_n*{layout.interval_s})',"
        f"scale={layout.tile_width}:{layout.tile_height},"
        f"tile={layout.columns}x{layout.rows}:nb_frames={layout.count}:overlap={last}:init_padding={last}"
        "[sprite]"
    )
    argv += ["-filter_complex", ";".join(graph)]
    for i in range(n):
        argv += ["-map", f"[v{i}]"]
    if info.has_audio:
        argv += ["-map", audio_in]
    argv += [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        "23",
    ]
    for i, rung in enumerate(rungs):
        argv += [f"-maxrate:v:{i}", rung.maxrate, f"-bufsize:v:{i}", rung.bufsize]
    argv += [
        "-force_key_frames:v",
        f"expr:gte(t,n_forced*{KEYFRAME_S})",
        "-sc_threshold",
        "0",
        "-fps_mode:v",
        "cfr",
    ]
    if info.has_audio:
        argv += _audio_codec()
        vsm = " ".join(f"v:{i},agroup:aud,name:{rung.name}" for i, rung in enumerate(rungs))
        vsm += " a:0,agroup:aud,name:audio,default:yes"
    else:
        vsm = " ".join(f"v:{i},name:{rung.name}" for i, rung in enumerate(rungs))
    single = n == 1 and not info.has_audio
    argv += _hls_muxer(out_dir, segment_s=SEGMENT_S, var_stream_map=vsm, single=single)
    argv += ["-map", "[poster]", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1"]
    argv += [f"{out_dir}/poster.jpg"]
    argv += ["-map", "[sprite]", "-c:v", "mjpeg", "-q:v", "5", "-f", "image2", "-update", "1"]
    argv += [f"{out_dir}/sprite.jpg"]
    return argv


# -- running ffmpeg -------------------------------------------------------------------------------------


def _stderr_tail(fh: IO[bytes], limit: int = 2000) -> str:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - limit))
    text = fh.read().decode("utf-8", "replace").strip()
    return ("…" if size > limit else "") + text


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _run(
    argv: list[str],
    *,
    duration_s: float,
    timeout_s: float,
    on_progress: Callable[[float], None] | None,
) -> None:
    """Run ffmpeg, follow ``-progress pipe:1`` on this thread, enforce the timeout; raise ProcessingFailed."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 - argv built by hls_command/make_cover from checked paths
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        )
        timed_out = False
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + timeout_s
            fd = proc.stdout.fileno()
            pending = b""
            percent = 0.0
            last_report = time.monotonic()
            with selectors.DefaultSelector() as selector:
                selector.register(fd, selectors.EVENT_READ)
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        timed_out = True
                        break
                    if not selector.select(min(remaining, 5.0)):
                        continue
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break  # ffmpeg closed stdout: it is exiting
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        key, _, value = line.strip().partition(b"=")
                        if key == b"out_time_us" and duration_s > 0:
                            try:
                                done_s = int(value) / 1e6
                            except ValueError:  # "N/A" before the first frame
                                continue
                            percent = max(percent, min(99.9, 100.0 * done_s / duration_s))
                        elif key == b"progress" and on_progress is not None:
                            now = time.monotonic()
                            if now - last_report >= PROGRESS_PERIOD_S:
                                last_report = now
                                on_progress(percent)
            if timed_out:
                _kill(proc)
            else:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill(proc)
        except BaseException:
            _kill(proc)
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
        if timed_out:
            raise ProcessingFailed(f"ffmpeg timed out after {timeout_s:g} s", retryable=True)
        code = proc.returncode
        if code == 0:
            return
        tail = _stderr_tail(errors)
        if code < 0:
            raise ProcessingFailed(f"ffmpeg killed by signal {-code}: {tail}", retryable=True)
        if code == _FFMPEG_SIGNALLED:
            raise ProcessingFailed(f"ffmpeg stopped by SIGINT/SIGTERM: {tail}", retryable=True)
        transient = any(marker in tail for marker in _TRANSIENT)
        raise ProcessingFailed(tail or f"ffmpeg exited with {code}", retryable=transient)


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"out_dir must be empty or absent: {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)


def _clear(out_dir: Path) -> None:
    """Remove what a failed run wrote (out_dir was empty before, so all of it is ours)."""
    for child in out_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def playlist_duration(playlist: Path) -> float:
    """The sum of a media playlist's #EXTINF durations."""
    total = 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            total += float(line[len("#EXTINF:") :].split(",", 1)[0])
    return total


def transcode(
    src: Path,
    out_dir: Path,
    info: MediaInfo,
    *,
    on_progress: Callable[[float], None] | None = None,
    timeout_s: float | None = None,
    preset: str = "veryfast",
    ffmpeg: str = "ffmpeg",
) -> HlsOutput:
    """Run ``hls_command`` and return what it wrote.

    ``on_progress(percent)`` is called on this thread at most about once a second with non-decreasing
    values below 100, then once with 100 on success; if it raises, ffmpeg is killed and the exception
    propagates. ``timeout_s`` defaults to max(600, 4 x duration). ``out_dir`` must be empty or absent
    (it is created). On any failure everything written to ``out_dir`` is removed and ProcessingFailed
    is raised: ``retryable=True`` for a timeout, a process killed by a signal, a full disk or lack of
    memory; ``retryable=False`` when the input cannot be decoded (``-xerror``) or the output came out
    more than one segment shorter than the probed duration.
    """
    argv = hls_command(src, out_dir, info, preset=preset, ffmpeg=ffmpeg)
    _prepare_out_dir(out_dir)
    limit = timeout_s if timeout_s is not None else max(MIN_TIMEOUT_S, 4 * info.duration_s)
    try:
        _run(argv, duration_s=info.duration_s, timeout_s=limit, on_progress=on_progress)
        result = _collect(out_dir, info)
        if on_progress is not None:
            on_progress(100.0)
    except BaseException:
        _clear(out_dir)
        raise
    return result


def _collect(out_dir: Path, info: MediaInfo) -> HlsOutput:
    master = out_dir / "master.m3u8"
    if not master.is_file():
        raise ProcessingFailed("ffmpeg wrote no master playlist", retryable=False)
    rungs = [rung.name for rung in plan_ladder(info)] if info.has_video else ["audio"]
    variants = [*rungs, "audio"] if info.has_video and info.has_audio else rungs
    durations = []
    for name in variants:
        playlist = out_dir / name / "index.m3u8"
        if not playlist.is_file():
            raise ProcessingFailed(f"ffmpeg wrote no playlist for {name}", retryable=False)
        durations.append(playlist_duration(playlist))
    produced = max(durations)
    segment = SEGMENT_S if info.has_video else AUDIO_SEGMENT_S
    if info.duration_s - produced > segment:
        raise ProcessingFailed(
            f"output is {produced:.1f} s, input {info.duration_s:.1f} s: truncated or corrupt input",
            retryable=False,
        )
    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    has_poster = info.has_video and (out_dir / "poster.jpg").is_file()
    has_sprite = info.has_video and (out_dir / "sprite.jpg").is_file()
    return HlsOutput(
        master="master.m3u8",
        files=files,
        rungs=rungs,
        poster="poster.jpg" if has_poster else None,
        sprite="sprite.jpg" if has_sprite else None,
        duration_s=round(produced, 3),
        sprite_layout=sprite_layout(info) if has_sprite else None,
    )


def make_cover(
    src: Path, dst: Path, *, width: int = 640, ffmpeg: str = "ffmpeg", timeout_s: float = 60
) -> None:
    """A still image (jpeg/png/webp) -> a JPEG at most ``width`` wide (no upscaling), q:v 3.

    Transparent areas are flattened onto white (a logo on a transparent PNG stays readable). EXIF
    orientation is not applied (ffmpeg 5.1 ignores it). Raises ProcessingFailed.
    """
    _check_paths(src, dst)
    graph = (
        f"[0:v]scale=w='trunc(min({width},iw)/2)*2':h=-2,format=rgba,split[bg][fg];"
        "[bg]drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill[white];"
        "[white][fg]overlay=format=auto,format=yuvj420p[out]"
    )
    argv = [
        *_common_head(src, ffmpeg),
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-frames:v",
        "1",
        "-c:v",
        "mjpeg",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        str(dst),
    ]
    try:
        _run(argv, duration_s=0.0, timeout_s=timeout_s, on_progress=None)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    if not dst.is_file() or dst.stat().st_size == 0:
        raise ProcessingFailed("ffmpeg wrote no cover image", retryable=False)
