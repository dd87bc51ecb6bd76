"""Benchmark: the HLS transcode (media_pipeline.transcode) on lecture-like 720p video.

    .venv/bin/python benchmarks/media_pipeline.py [--runs 3] [--lecture-minutes 10] [--preset veryfast]
                                                  [--overhead-seconds 60] [--input clip.mp4]

(1) Overhead of the Python wrapper: ``transcode()`` (progress parsing, timeout watch, stderr to a temp
    file, output listing and checks) against bare ``subprocess.run`` of the IDENTICAL argv from
    ``hls_command``, on the same input, alternating which goes first, ``--runs`` times each. Prints the
    median wall times and their ratio (target <= 1.10).
(2) Realtime factor: one ``transcode()`` of a ``--lecture-minutes`` lecture; prints media duration / wall.

The generated sources look like a recorded lecture: a static slide that changes every 15 s, a moving
pointer, a small "talking head" box, and speech-like audio (a pitch-wobbling voiced tone at a syllable
rate with pauses, over faint pink noise). They are cached in benchmarks/out/media_pipeline/.
Only ffmpeg's own work is measured; on a shared 2-core machine the figures move with other load, so
the load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks/out/media_pipeline"

from media_pipeline.probe import MediaInfo, validate  # noqa: E402
from media_pipeline.transcode import hls_command, transcode  # noqa: E402


def lecture_source(seconds: int) -> Path:
    """A 1280x720 @ 30 fps lecture-like clip with speech-like AAC audio (made once, then reused)."""
    path = OUT / f"lecture_{seconds}s.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    video = (
        f"testsrc=s=1280x720:r=1/15:d={seconds},fps=30,format=yuv420p[slides];"
        f"testsrc2=s=240x136:r=30:d={seconds}[head];"
        "[slides][head]overlay=x=W-w-24:y=H-h-24:shortest=1,"
        "drawbox=x='300+200*sin(t/3)':y='400+60*cos(t/2)':w=14:h=14:color=red:t=fill"
    )
    voice = (
        "aevalsrc='0.25*sin(2*PI*(140+25*sin(2*PI*0.7*t))*t)*(0.6+0.4*sin(2*PI*4*t))"
        f"*gt(sin(2*PI*0.23*t),-0.6)':s=48000:d={seconds}"
    )
    tmp = path.with_name(f"tmp-{path.name}")
    print(f"generating {path.name} ({seconds} s) ...", flush=True)
    argv = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        voice,
    ]
    argv += ["-f", "lavfi", "-i", f"anoisesrc=c=pink:a=0.02:r=48000:d={seconds}"]
    argv += ["-filter_complex", "[1:a][2:a]amix=inputs=2:normalize=0[a]", "-map", "0:v", "-map", "[a]"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]
    argv += ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(tmp)]
    subprocess.run(
        argv,
        check=True,
    )
    tmp.rename(path)
    return path


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    return directory


def timed_wrapper(src: Path, out_dir: Path, info: MediaInfo, preset: str) -> float:
    fresh(out_dir)
    started = time.perf_counter()
    transcode(src, out_dir, info, preset=preset, on_progress=lambda percent: None)
    return time.perf_counter() - started


def timed_bare(argv: list[str], out_dir: Path) -> float:
    fresh(out_dir).mkdir(parents=True)
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def overhead(src: Path, runs: int, preset: str) -> None:
    info = validate(src, "video")
    out_dir = OUT / "overhead_hls"
    argv = hls_command(src, out_dir, info, preset=preset)
    size = f"{info.width}x{info.height}"
    print(f"\n(1) wrapper overhead: {src.name}, {size}, {info.duration_s:.0f} s, preset {preset}")
    print(f"    {load()}")
    wrapper: list[float] = []
    bare: list[float] = []
    for run in range(runs):
        order = ("wrapper", "bare") if run % 2 == 0 else ("bare", "wrapper")
        for which in order:
            if which == "wrapper":
                wrapper.append(timed_wrapper(src, out_dir, info, preset))
            else:
                bare.append(timed_bare(argv, out_dir))
        print(
            f"    run {run + 1}: transcode() {wrapper[-1]:6.2f} s   bare ffmpeg {bare[-1]:6.2f} s", flush=True
        )
    w, b = statistics.median(wrapper), statistics.median(bare)
    print(f"    median: transcode() {w:.2f} s, bare ffmpeg {b:.2f} s, ratio {w / b:.3f} (target <= 1.10)")
    shutil.rmtree(out_dir, ignore_errors=True)


def realtime(minutes: float, preset: str) -> None:
    src = lecture_source(round(minutes * 60))
    info = validate(src, "video")
    out_dir = fresh(OUT / "lecture_hls")
    size = f"{info.width}x{info.height}"
    print(f"\n(2) realtime factor: {info.duration_s / 60:.1f} min lecture, {size}, preset {preset}")
    print(f"    {load()}")
    started = time.perf_counter()
    output = transcode(src, out_dir, info, preset=preset)
    wall = time.perf_counter() - started
    factor = info.duration_s / wall
    print(
        f"    wall {wall:.1f} s -> {factor:.2f}x realtime ({wall / info.duration_s:.3f} s per media second)"
    )
    for variant in [*output.rungs, "audio"]:
        files = list((out_dir / variant).glob("*")) if (out_dir / variant).is_dir() else []
        size = sum(f.stat().st_size for f in files)
        if files:
            print(f"    {variant:>5}: {size / 1e6:7.1f} MB, {8 * size / info.duration_s / 1000:6.0f} kbit/s")
    print(f"    {load()}")
    shutil.rmtree(out_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="overhead runs of each kind (default 3)")
    parser.add_argument("--lecture-minutes", type=float, default=10, help="realtime-factor source length")
    parser.add_argument(
        "--preset", default="veryfast", help="x264 preset (default veryfast, as in production)"
    )
    parser.add_argument("--overhead-seconds", type=int, default=60, help="generated overhead source length")
    parser.add_argument("--input", type=Path, help="use this video for the overhead part instead")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        sys.exit("ffmpeg and ffprobe must be on PATH")
    src = args.input.resolve() if args.input else lecture_source(args.overhead_seconds)
    overhead(src, args.runs, args.preset)
    if args.lecture_minutes > 0:
        realtime(args.lecture_minutes, args.preset)


if __name__ == "__main__":
    main()
