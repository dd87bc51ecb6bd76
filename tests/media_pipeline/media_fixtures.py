"""Small test media made with ffmpeg's lavfi sources (a few seconds, small sizes, ultrafast).

``MediaFactory(directory)`` makes each file the first time it is asked for and reuses it afterwards, so
test modules that point a factory at the same session directory share the files::

    @pytest.fixture(scope="session")
    def media(tmp_path_factory):
        return session_media(tmp_path_factory)
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service_guard import need_service

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "64k"]


def ffmpeg(*args: str | Path) -> None:
    """Run ffmpeg quietly; fail loudly with its stderr."""
    assert FFMPEG is not None
    argv = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stderr}"


def ffprobe_json(path: Path, *entries: str) -> str:
    assert FFPROBE is not None
    argv = [FFPROBE, "-v", "error", *entries, "-of", "json", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@functools.cache
def has_encoder(name: str) -> bool:
    if FFMPEG is None:
        return False
    out = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == [name] for line in out.splitlines() if line.strip())


def require_ffmpeg() -> None:
    need_service(
        "ffmpeg",
        available=FFMPEG is not None and FFPROBE is not None,
        why="ffmpeg and ffprobe must be on PATH (Debian package ffmpeg)",
    )


def video_src(size: str, seconds: float, rate: int = 15) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def tone(seconds: float, frequency: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}"]


class MediaFactory:
    """Each method returns the absolute path of a test file, made on first use."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> tuple[Path, bool]:
        path = self.dir / name
        return path, path.exists()

    def _make(self, name: str, *args: str | Path) -> Path:
        path, exists = self._path(name)
        if not exists:
            tmp = path.with_name(f"tmp-{name}")
            ffmpeg(*args, tmp)
            tmp.rename(path)
        return path

    # -- video --------------------------------------------------------------------------------------

    def video_720p(self, seconds: float = 8) -> Path:
        """1280x720 @ 15 fps with AAC audio (long enough for two 6 s segments)."""
        return self._make(
            f"v720_{seconds}.mp4", *video_src("1280x720", seconds), *tone(seconds), *X264, *AAC, "-shortest"
        )

    def video_480p(self) -> Path:
        return self._make("v480.mp4", *video_src("854x480", 3), *tone(3), *X264, *AAC, "-shortest")

    def video_silent(self) -> Path:
        """A screen recording without audio."""
        return self._make("silent.mp4", *video_src("640x360", 3), *X264)

    def video_tiny(self) -> Path:
        """Smaller than the lowest rung (320x240)."""
        return self._make("tiny.mp4", *video_src("320x240", 2), *tone(2), *X264, *AAC, "-shortest")

    def portrait_native(self) -> Path:
        """A 720x1280 picture (stored portrait, no rotation)."""
        return self._make("portrait.mp4", *video_src("720x1280", 2), *tone(2), *X264, *AAC, "-shortest")

    def rotated(self, stored: str = "640x360") -> Path:
        """A landscape picture with a display matrix that turns it 90° clockwise, like a phone held
        upright. ffmpeg 5.1 writes ``-metadata:s:v rotate=N`` as a counter-clockwise matrix (the legacy
        tag meant clockwise), hence 270 here; the tests check the direction against ffmpeg's autorotate
        rather than trusting this."""
        plain = self._make(
            f"landscape_{stored}.mp4", *video_src(stored, 2), *tone(2), *X264, *AAC, "-shortest"
        )
        return self._make(f"rotated_{stored}.mp4", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270")

    def vfr(self) -> Path:
        """Variable frame rate: frames dropped irregularly, timestamps passed through."""
        return self._make(
            "vfr.mp4",
            *video_src("640x360", 4, rate=30),
            *tone(4),
            "-vf",
            "select='lt(mod(n,7),3)+lt(mod(n,11),2)'",
            "-fps_mode",
            "vfr",
            *X264,
            *AAC,
            "-shortest",
        )

    def hevc(self) -> Path:
        return self._make(
            "hevc.mp4",
            *video_src("320x240", 2),
            *tone(2),
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
            "-pix_fmt",
            "yuv420p",
            *AAC,
            "-shortest",
        )

    def webm(self) -> Path:
        return self._make(
            "clip.webm",
            *video_src("320x240", 2),
            *tone(2),
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-b:v",
            "200k",
            "-c:a",
            "libopus",
            "-shortest",
        )

    def colour_steps(self) -> Path:
        """25 s at 5 fps: red for 10 s, green for 10 s, blue for 5 s (to check the sprite's tiles)."""
        return self._make(
            "steps.mp4",
            "-f",
            "lavfi",
            "-i",
            "color=red:size=320x180:rate=5:duration=10[a];color=lime:size=320x180:rate=5:duration=10[b];"
            "color=blue:size=320x180:rate=5:duration=5[c];[a][b][c]concat=n=3",
            *X264,
        )

    def faststart(self) -> Path:
        """The 720p clip with the moov box first (so a truncated copy still probes)."""
        return self._make("faststart.mp4", "-i", self.video_720p(), "-c", "copy", "-movflags", "+faststart")

    def truncated(self, *, faststart: bool) -> Path:
        """The first 30 % of the 720p clip."""
        source = self.faststart() if faststart else self.video_720p()
        path, exists = self._path(f"truncated_{'fs' if faststart else 'plain'}.mp4")
        if not exists:
            data = source.read_bytes()
            path.write_bytes(data[: len(data) * 3 // 10])
        return path

    # -- audio --------------------------------------------------------------------------------------

    def audio_m4a(self, seconds: float = 3) -> Path:
        return self._make(f"a_{seconds}.m4a", *tone(seconds), *AAC)

    def audio_in_mp4(self) -> Path:
        """Audio only, in a file named .mp4 (uploaded as a video)."""
        return self._make("audio_only.mp4", *tone(3), *AAC, "-f", "mp4")

    def audio_mp3(self) -> Path:
        return self._make("a.mp3", *tone(3), "-c:a", "libmp3lame", "-b:a", "64k")

    def audio_mp3_cover(self) -> Path:
        return self._make(
            "a_cover.mp3",
            "-i",
            self.audio_mp3(),
            "-i",
            self.jpeg(),
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-c",
            "copy",
            "-disposition:v:0",
            "attached_pic",
            "-id3v2_version",
            "3",
        )

    def audio_m4a_cover(self) -> Path:
        return self._make(
            "a_cover.m4a",
            "-i",
            self.audio_m4a(),
            "-i",
            self.jpeg(),
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-c",
            "copy",
            "-disposition:v:0",
            "attached_pic",
        )

    # -- images -------------------------------------------------------------------------------------

    def jpeg(self) -> Path:
        return self._make("cover.jpg", *video_src("800x450", 1), "-frames:v", "1")

    def png(self, size: str = "320x240") -> Path:
        return self._make(f"cover_{size}.png", *video_src(size, 1), "-frames:v", "1")

    def transparent_png(self) -> Path:
        return self._make(
            "transparent.png",
            "-f",
            "lavfi",
            "-i",
            "color=black@0.0:size=200x100,format=rgba",
            "-frames:v",
            "1",
        )

    def webp(self) -> Path:
        return self._make("cover.webp", *video_src("320x240", 1), "-frames:v", "1")

    # -- not media ----------------------------------------------------------------------------------

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def pdf_as_mp4(self) -> Path:
        return self.write("document.mp4", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")

    def text_file(self) -> Path:
        return self.write("notes.mp4", "第一讲：学习笔记\n".encode() * 50)

    def empty(self) -> Path:
        return self.write("empty.mp4", b"")


def session_media(tmp_path_factory: pytest.TempPathFactory) -> MediaFactory:
    """The session's shared factory (skips, or fails in CI, without ffmpeg)."""
    require_ffmpeg()
    return MediaFactory(tmp_path_factory.getbasetemp() / "media_pipeline_media")
