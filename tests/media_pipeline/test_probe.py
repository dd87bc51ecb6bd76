"""media_pipeline.probe: magic bytes, ffprobe and upload validation, on real files made with ffmpeg."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
from pathlib import Path

import pytest

from media_pipeline.errors import InvalidMedia
from media_pipeline.probe import Limits, MediaInfo, probe, sniff, validate
from tests.media_pipeline.media_fixtures import (
    FFMPEG,
    MediaFactory,
    ffmpeg,
    has_encoder,
    require_ffmpeg,
    session_media,
    video_src,
)

ffmpeg_needed = pytest.mark.service("ffmpeg")


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaFactory:
    return session_media(tmp_path_factory)


def invalid(path: Path, expect: str, limits: Limits | None = None) -> InvalidMedia:
    with pytest.raises(InvalidMedia) as caught:
        validate(path, expect, limits or Limits())  # type: ignore[arg-type]
    return caught.value


# -- sniff (no ffmpeg needed) ---------------------------------------------------------------------------


def _id3(payload: bytes) -> bytes:
    size = len(payload)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + payload


ADTS = b"\xff\xf1\x50\x80\x02\x1f\xfc"
MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 60


@pytest.mark.parametrize(
    ("head", "family"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "mp4"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00", "mp4"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "mp4"),
        (b"\x00\x00\x10\x00moov\x00\x00\x00\x6cmvhd", "mp4"),
        (b"\x00\x00\x10\x00mdat" + b"\x00" * 16, "mp4"),
        (b"\x00\x00\x00\x08free\x00\x00\x00\x00", "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "matroska"),
        (_id3(b"\x00" * 100) + MP3_FRAME, "mp3"),
        (_id3(b"\x00" * 100) + ADTS, "aac"),
        (_id3(b"\x00" * 100) + b"fLaC\x00\x00\x00\x22", "flac"),
        (_id3(b"\x00" * 100_000)[:1000], "mp3"),  # tag longer than the head: still mp3
        (MP3_FRAME, "mp3"),
        (ADTS + b"\x00" * 20, "aac"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x24\x08\x00\x00WEBPVP8 ", "webp"),
        (b"OggS\x00\x02" + b"\x00" * 20, "ogg"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", None),
        (b"RIFF\x24\x08\x00\x00AVI LIST", None),
        (b"GIF89a\x01\x00\x01\x00", None),
        ("第一讲：学习笔记".encode(), None),
        (b"\xff\xff\xff\xff" + b"\x00" * 10, None),  # frame sync with an invalid bitrate index
        (b"", None),
        (b"\x00\x00", None),
    ],
)
def test_sniff(head: bytes, family: str | None) -> None:
    assert sniff(head) == family


# -- probe ----------------------------------------------------------------------------------------------


@ffmpeg_needed
def test_probe_720p_with_audio(media: MediaFactory) -> None:
    path = media.video_720p()
    info = probe(path)
    assert "mp4" in info.format_name.split(",")
    assert info.duration_s == pytest.approx(8, abs=0.1)
    assert info.size == path.stat().st_size
    assert (info.has_video, info.has_audio, info.is_image) == (True, True, False)
    assert (info.width, info.height, info.rotation) == (1280, 720, 0)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.frame_rate == pytest.approx(15)
    assert validate(path, "video") == info


@ffmpeg_needed
def test_native_portrait(media: MediaFactory) -> None:
    info = validate(media.portrait_native(), "video")
    assert (info.width, info.height, info.rotation) == (720, 1280, 0)


@ffmpeg_needed
def test_rotated_phone_video_reports_displayed_size(media: MediaFactory) -> None:
    info = validate(media.rotated(), "video")
    assert (info.width, info.height) == (360, 640)  # stored 640x360
    assert info.rotation == 90


@ffmpeg_needed
def test_rotation_is_the_direction_ffmpeg_autorotates(media: MediaFactory) -> None:
    """``rotation`` is clockwise: the decoded (autorotated) frame equals the stored one turned clockwise."""
    assert FFMPEG is not None
    info = probe(media.rotated())
    transpose = {90: "clock", 270: "cclock"}[info.rotation]

    def frame(path: Path, *filters: str) -> bytes:
        argv = [
            FFMPEG,
            "-v",
            "error",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            ",".join([*filters, "scale=36:64"]),
        ]
        argv += ["-f", "rawvideo", "-pix_fmt", "gray", "-"]
        return subprocess.run(argv, capture_output=True, check=True).stdout

    def distance(a: bytes, b: bytes) -> float:
        return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)

    shown = frame(media.rotated())
    plain = media.dir / "landscape_640x360.mp4"
    assert distance(shown, frame(plain, f"transpose={transpose}")) < 3
    other = {"clock": "cclock", "cclock": "clock"}[transpose]
    assert distance(shown, frame(plain, f"transpose={other}")) > 20


@ffmpeg_needed
def test_vfr_video(media: MediaFactory) -> None:
    info = validate(media.vfr(), "video")
    assert info.frame_rate is not None
    assert 5 < info.frame_rate < 30  # an average, not the nominal 30
    assert info.duration_s == pytest.approx(4, abs=0.2)


@ffmpeg_needed
def test_hevc_video(media: MediaFactory) -> None:
    if not has_encoder("libx265"):
        pytest.skip("this ffmpeg has no libx265 encoder")
    info = validate(media.hevc(), "video")
    assert (info.video_codec, info.width, info.height) == ("hevc", 320, 240)


@ffmpeg_needed
def test_webm_video(media: MediaFactory) -> None:
    info = validate(media.webm(), "video")
    assert "webm" in info.format_name
    assert (info.video_codec, info.audio_codec) == ("vp8", "opus")


@ffmpeg_needed
def test_silent_video_is_fine(media: MediaFactory) -> None:
    info = validate(media.video_silent(), "video")
    assert info.has_video and not info.has_audio and info.audio_codec is None


@ffmpeg_needed
@pytest.mark.parametrize(("kind", "codec"), [("audio_m4a", "aac"), ("audio_mp3", "mp3")])
def test_audio(media: MediaFactory, kind: str, codec: str) -> None:
    info = validate(getattr(media, kind)(), "audio")
    assert (info.has_audio, info.has_video, info.audio_codec) == (True, False, codec)
    assert (info.width, info.height, info.frame_rate) == (None, None, None)
    assert info.duration_s == pytest.approx(3, abs=0.1)


@ffmpeg_needed
@pytest.mark.parametrize("kind", ["audio_mp3_cover", "audio_m4a_cover"])
def test_cover_art_is_not_video(media: MediaFactory, kind: str) -> None:
    path = getattr(media, kind)()
    info = validate(path, "audio")
    assert info.has_audio and not info.has_video
    assert info.video_index is None and info.width is None
    assert invalid(path, "video").code in ("no_video", "not_media")


@ffmpeg_needed
def test_cover_art_mp3_as_video_is_not_media(media: MediaFactory) -> None:
    assert invalid(media.audio_mp3_cover(), "video").code == "not_media"  # mp3 is no video container


@ffmpeg_needed
@pytest.mark.parametrize(
    ("kind", "fmt", "codec"),
    [("jpeg", "image2", "mjpeg"), ("png", "png_pipe", "png"), ("webp", "webp_pipe", "webp")],
)
def test_images(media: MediaFactory, kind: str, fmt: str, codec: str) -> None:
    path = getattr(media, kind)()
    info = validate(path, "image")
    assert (info.is_image, info.has_video, info.format_name, info.video_codec) == (True, False, fmt, codec)
    assert info.width and info.height and info.duration_s == 0


@ffmpeg_needed
def test_image_without_extension_probes_by_content(media: MediaFactory) -> None:
    path = media.write("upload.bin", media.jpeg().read_bytes())
    assert validate(path, "image").format_name == "jpeg_pipe"


# -- rejections -----------------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    assert invalid(path, "video").code == "empty"


@pytest.mark.parametrize("expect", ["video", "audio", "image"])
def test_pdf_renamed_mp4(tmp_path: Path, expect: str) -> None:
    path = tmp_path / "slides.mp4"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    error = invalid(path, expect)
    assert error.code == "not_media"
    assert error.params["expected"] == expect


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("第一讲：学习笔记\n" * 50)
    assert invalid(path, "video").code == "not_media"


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"RIFF\x24\x08\x00\x00AVI LIST", "avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "flv"),
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9", "asf"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        ((b"\x47" + b"\x00" * 187) * 3, "mpegts"),
    ],
)
def test_known_but_unaccepted_containers(tmp_path: Path, head: bytes, fmt: str) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(head + b"\x00" * 1000)
    error = invalid(path, "video")
    assert (error.code, error.params) == ("unsupported_format", {"format": fmt})


@ffmpeg_needed
def test_wrong_family(media: MediaFactory) -> None:
    error = invalid(media.jpeg(), "video")
    assert (error.code, error.params["family"]) == ("not_media", "jpeg")
    assert invalid(media.video_720p(), "image").code == "not_media"


@ffmpeg_needed
def test_truncated_without_faststart_is_unreadable(media: MediaFactory) -> None:
    """No moov box: ffprobe fails, so validate stops it (the faststart case is caught by the transcode)."""
    error = invalid(media.truncated(faststart=False), "video")
    assert error.code == "unreadable"
    assert "moov atom not found" in error.detail


@ffmpeg_needed
def test_truncated_with_faststart_passes_probe(media: MediaFactory) -> None:
    """The header is intact, so probing cannot tell; test_transcode checks that the transcode fails."""
    info = validate(media.truncated(faststart=True), "video")
    assert info.duration_s == pytest.approx(8, abs=0.1)


@ffmpeg_needed
def test_mp4_with_only_audio_as_video(media: MediaFactory) -> None:
    assert invalid(media.audio_in_mp4(), "video").code == "no_video"


@ffmpeg_needed
def test_video_without_audio_as_audio(media: MediaFactory) -> None:
    assert invalid(media.video_silent(), "audio").code == "no_audio"


@ffmpeg_needed
def test_too_long(media: MediaFactory) -> None:
    error = invalid(media.audio_m4a(), "audio", Limits(max_duration_s=2))
    assert error.code == "too_long"
    assert error.params == {"duration_s": pytest.approx(3, abs=0.1), "limit_s": 2}


@ffmpeg_needed
def test_too_short(media: MediaFactory) -> None:
    error = invalid(media.audio_m4a(), "audio", Limits(min_duration_s=5))
    assert (error.code, error.params["limit_s"]) == ("too_short", 5)


@ffmpeg_needed
def test_too_large(media: MediaFactory) -> None:
    error = invalid(media.video_720p(), "video", Limits(max_dimension=1000))
    assert error.code == "too_large"
    assert error.params == {"width": 1280, "height": 720, "limit": 1000}
    assert invalid(media.jpeg(), "image", Limits(max_dimension=640)).params["width"] == 800


@ffmpeg_needed
def test_unsupported_codec(media: MediaFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    import media_pipeline.probe as probe_module

    monkeypatch.setattr(probe_module, "VIDEO_CODECS", frozenset({"hevc"}))
    error = invalid(media.video_720p(), "video")
    assert (error.code, error.params) == ("unsupported_codec", {"codec": "h264", "stream": "video"})


@ffmpeg_needed
def test_format_outside_the_allow_list(media: MediaFactory) -> None:
    """A container ffprobe knows but we do not accept is refused by ffprobe's own -format_whitelist."""
    path = media.dir / "clip.avi"
    if not path.exists():
        ffmpeg(*video_src("160x120", 1), "-c:v", "mpeg4", path)
    with pytest.raises(InvalidMedia) as caught:
        probe(path)
    assert caught.value.code == "unsupported_format"


@ffmpeg_needed
def test_probe_timeout(media: MediaFactory) -> None:
    with pytest.raises(InvalidMedia) as caught:
        probe(media.video_720p(), timeout_s=0.000_001)
    assert caught.value.code == "probe_timeout"


def test_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        probe(Path("relative.mp4"))
    with pytest.raises(ValueError, match="starts with '-'"):
        probe(tmp_path / "-i.mp4")


@ffmpeg_needed
def test_corrupt_stream_in_a_valid_header(tmp_path: Path) -> None:
    """A made-up ISO BMFF header with garbage after it sniffs as mp4 but does not probe."""
    require_ffmpeg()
    path = tmp_path / "fake.mp4"
    path.write_bytes(struct.pack(">I", 24) + b"ftypisom" + b"\x00" * 12 + b"\x13\x37" * 5000)
    assert invalid(path, "video").code == "unreadable"


def test_media_info_is_frozen() -> None:
    info = MediaInfo("mp3", 1.0, 1, False, True, None, None, 0, None, "mp3", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.size = 2  # type: ignore[misc]
