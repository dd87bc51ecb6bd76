"""Identify and validate uploaded media with magic bytes and ffprobe (stdlib only; ffprobe as a subprocess).

``validate`` is the gate between an upload and the transcode job. It never trusts the file name, the
extension or the client's Content-Type: it sniffs the first bytes, then asks ffprobe (restricted to local
files and to an allow-list of demuxers, with a hard timeout), then checks formats, codecs, streams,
duration and dimensions against ``Limits``. Every rejection is an ``InvalidMedia`` with a stable ``code``
and the ``params`` a message needs.

A full decode (the corruption check) is not done here: the transcode decodes everything anyway, with
``-xerror``, so a truncated or corrupt file fails there (``ProcessingFailed(retryable=False)``).
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from media_pipeline.errors import InvalidMedia

Expect = Literal["video", "audio", "image"]

HEAD_BYTES = 64 * 1024
"""How much of the file ``validate`` reads for ``sniff``."""

# Demuxers ffprobe/ffmpeg may use at all (-format_whitelist). Names are libavformat demuxer names;
# "mov" is the demuxer called "mov,mp4,m4a,3gp,3g2,mj2" and "matroska" the one called "matroska,webm".
FORMAT_WHITELIST = "mov,matroska,mp3,aac,wav,ogg,flac,image2,jpeg_pipe,png_pipe,webp_pipe"

ALLOWED_FORMATS: dict[str, frozenset[str]] = {
    "video": frozenset({"mov", "matroska"}),
    "audio": frozenset({"mov", "matroska", "mp3", "aac", "wav", "ogg", "flac"}),
    "image": frozenset({"image2", "jpeg_pipe", "png_pipe", "webp_pipe"}),
}
IMAGE_FORMATS = ALLOWED_FORMATS["image"]

# Magic-byte families acceptable for each kind of upload (see ``sniff``).
ALLOWED_FAMILIES: dict[str, frozenset[str]] = {
    "video": frozenset({"mp4", "matroska"}),
    "audio": frozenset({"mp4", "matroska", "mp3", "aac", "wav", "ogg", "flac"}),
    "image": frozenset({"jpeg", "png", "webp"}),
}

# Decodable by Debian's ffmpeg 5.1 and met in practice: phones (h264, hevc; h263/amr in old 3gp), screen
# recorders and browsers (vp8, vp9, av1, opus, vorbis), Macs (prores, alac), cameras (mpeg4, pcm).
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "h263", "prores"})
AUDIO_CODECS = frozenset(
    {
        "aac",
        "mp3",
        "opus",
        "vorbis",
        "flac",
        "alac",
        "ac3",
        "eac3",
        "amr_nb",
        "amr_wb",
        "pcm_s16le",
        "pcm_s16be",
        "pcm_s24le",
        "pcm_s24be",
        "pcm_s32le",
        "pcm_f32le",
        "pcm_u8",
    }
)
IMAGE_CODECS = frozenset({"mjpeg", "png", "webp"})


@dataclass(frozen=True)
class Limits:
    max_duration_s: float = 4 * 3600
    min_duration_s: float = 1.0
    max_dimension: int = 4096
    probe_timeout_s: float = 30.0


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file, reduced to what the pipeline needs.

    ``width``/``height`` are the *displayed* size (rotation applied). ``rotation`` is the clockwise
    rotation a player applies for display (the legacy ``rotate`` tag's meaning; an iPhone portrait clip
    is 90), i.e. the same direction ffmpeg's autorotate turns the decoded frames. A cover picture in an
    audio file (``attached_pic``) is not a video stream. For a still image ``is_image`` is true,
    ``has_video`` false, ``video_codec`` the image codec and ``duration_s`` 0.

    ``video_index``/``audio_index`` are ffprobe's absolute indexes of the streams the transcode maps
    (the first real video and first audio stream); None when absent.
    """

    format_name: str
    duration_s: float
    size: int
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    rotation: int
    video_codec: str | None
    audio_codec: str | None
    frame_rate: float | None
    is_image: bool = False
    video_index: int | None = None
    audio_index: int | None = None


# -- magic bytes ----------------------------------------------------------------------------------------

_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_MP3_BITRATE_BAD = 0xF
_MP3_RATE_BAD = 0x3


def _mp3_frame(head: bytes, at: int) -> bool:
    """A plausible MPEG audio (layer I-III) frame header at ``at``."""
    if len(head) < at + 4 or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return False
    version = (head[at + 1] >> 3) & 0x3
    layer = (head[at + 1] >> 1) & 0x3
    bitrate = head[at + 2] >> 4
    rate = (head[at + 2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate != _MP3_BITRATE_BAD and rate != _MP3_RATE_BAD


def _adts_frame(head: bytes, at: int) -> bool:
    """An ADTS (raw AAC) header: sync 0xFFF, layer 00, a valid sampling index."""
    if len(head) < at + 7 or head[at] != 0xFF or head[at + 1] & 0xF6 != 0xF0:
        return False
    return (head[at + 2] >> 2) & 0xF < 13


def sniff(head: bytes) -> str | None:
    """Magic-byte family of the first bytes (>= 64 KiB is plenty): 'mp4' (ISO BMFF/QuickTime
    ftyp/moov/mdat/wide/free), 'matroska' (EBML, incl. webm), 'mp3' (ID3 or frame sync), 'aac' (ADTS),
    'wav' (RIFF/WAVE), 'ogg', 'flac', 'jpeg', 'png', 'webp', or None.

    An ID3v2 tag is skipped when the bytes after it are in ``head``, so an ID3-tagged ADTS or FLAC file
    is reported as what it is; otherwise an ID3 tag means 'mp3'.
    """
    if len(head) >= 8 and head[4:8] in _BMFF_BOXES:
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if len(head) >= 12 and head.startswith(b"RIFF"):
        return {b"WAVE": "wav", b"WEBP": "webp"}.get(head[8:12])
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"ID3") and len(head) >= 10:
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        end = 10 + size + (10 if head[5] & 0x10 else 0)  # footer flag
        if end + 4 <= len(head):
            after = sniff(head[end:])
            if after in ("aac", "flac"):
                return after
        return "mp3"
    if _adts_frame(head, 0):
        return "aac"
    if _mp3_frame(head, 0):
        return "mp3"
    return None


def _unsupported_family(head: bytes) -> str | None:
    """Media we recognise but do not accept (so the teacher hears "convert it", not "not media")."""
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"  # wmv / wma
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\x00\x00\x00\x00":
        return "bmp"
    return None


# -- ffprobe --------------------------------------------------------------------------------------------


def _check_path(path: Path) -> None:
    if not path.is_absolute():
        raise ValueError(f"media paths must be absolute: {path}")
    if path.name.startswith("-"):
        raise ValueError(f"refusing a media path whose name starts with '-': {path}")


def _tail(text: str, limit: int = 1000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rate(value: Any) -> float | None:
    """ffprobe's "30000/1001" (or "0/0") as a float."""
    if not isinstance(value, str) or "/" not in value:
        return _float(value)
    num, _, den = value.partition("/")
    n, d = _float(num), _float(den)
    if n is None or not d or n <= 0:
        return None
    return n / d


def _rotation(stream: dict[str, Any]) -> int:
    """Clockwise display rotation, snapped to 0/90/180/270.

    The display matrix's ``rotation`` (av_display_rotation_get) is counter-clockwise, hence the minus;
    the legacy ``rotate`` tag (older ffprobe) is already clockwise.
    """
    degrees: float | None = None
    for side in stream.get("side_data_list") or ():
        if side.get("side_data_type") == "Display Matrix" and _float(side.get("rotation")) is not None:
            degrees = -float(side["rotation"])
            break
    if degrees is None:
        degrees = _float((stream.get("tags") or {}).get("rotate")) or 0.0
    return (round(degrees / 90) * 90) % 360


def _media_info(data: dict[str, Any], size: int) -> MediaInfo:
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    is_image = bool(set(format_name.split(",")) & IMAGE_FORMATS)
    video: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    durations: list[float] = []
    for stream in data.get("streams") or ():
        kind = stream.get("codec_type")
        cover = (stream.get("disposition") or {}).get("attached_pic") == 1
        if kind == "video" and not cover and video is None:
            video = stream
        elif kind == "audio" and audio is None:
            audio = stream
        else:
            continue
        stream_duration = _float(stream.get("duration"))
        if stream_duration is not None:
            durations.append(stream_duration)
    duration = _float(fmt.get("duration"))
    if duration is None or duration <= 0:
        duration = max(durations, default=0.0)
    width = height = None
    rotation = 0
    if video is not None:
        width, height = video.get("width"), video.get("height")
        rotation = _rotation(video)
        if rotation in (90, 270) and width and height:
            width, height = height, width
    return MediaInfo(
        format_name=format_name,
        duration_s=0.0 if is_image else duration,
        size=size,
        has_video=video is not None and not is_image,
        has_audio=audio is not None,
        width=width or None,
        height=height or None,
        rotation=rotation,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        frame_rate=None if video is None or is_image else _rate(video.get("avg_frame_rate")),
        is_image=is_image,
        video_index=video.get("index") if video else None,
        audio_index=audio.get("index") if audio else None,
    )


def probe(path: Path, *, timeout_s: float = 30.0, ffprobe: str = "ffprobe") -> MediaInfo:
    """ffprobe -v error -protocol_whitelist file -format_whitelist <allow-list> -show_format -show_streams
    -of json, as a subprocess with a hard timeout (killed on timeout -> InvalidMedia('probe_timeout')).

    ``path`` must be absolute and generated by us (a name starting with '-' is refused with ValueError).
    Non-zero exit -> InvalidMedia('unreadable', stderr tail), or 'unsupported_format' when the only
    problem is a demuxer outside the allow-list.
    """
    _check_path(path)
    size = path.stat().st_size
    argv = [
        ffprobe,
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-show_format",
        "-show_streams",
        "-of",
        "json",
        f"file:{path}",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, path checked above
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed ffprobe already
        raise InvalidMedia(
            "probe_timeout", f"ffprobe took longer than {timeout_s:g} s", timeout_s=timeout_s
        ) from None
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        if "not on whitelist" in stderr:
            raise InvalidMedia("unsupported_format", _tail(stderr))
        raise InvalidMedia("unreadable", _tail(stderr) or f"ffprobe exited with {done.returncode}")
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise InvalidMedia("unreadable", "ffprobe printed no JSON") from None
    if not isinstance(data, dict) or not data.get("format"):
        raise InvalidMedia("unreadable", _tail(stderr) or "ffprobe found no container")
    return _media_info(data, size)


# -- validation -----------------------------------------------------------------------------------------


def validate(path: Path, expect: Expect, limits: Limits = Limits(), *, ffprobe: str = "ffprobe") -> MediaInfo:
    """Check an upload is acceptable as ``expect``; return its MediaInfo or raise InvalidMedia.

    Order: size 0 -> 'empty'; sniff(head) None or a family wrong for ``expect`` -> 'not_media' (a known
    but unaccepted container such as AVI/FLV/WMV/MPEG-TS/GIF -> 'unsupported_format'); probe ('unreadable',
    'probe_timeout'); format not in the allow-list -> 'unsupported_format'; codec not in the allow-list ->
    'unsupported_codec'; expect video but no video stream -> 'no_video'; expect audio but no audio stream ->
    'no_audio'; duration > max -> 'too_long'; < min -> 'too_short' (params duration_s, limit_s); width or
    height > max_dimension -> 'too_large' (params width, height, limit).

    Images: jpeg/png/webp only, dimension bounds, no duration checks. A video without audio is fine (a
    silent screen recording); an audio file may carry a cover picture (attached_pic), which is not video.
    An "audio" upload that does carry real video passes too; to get an audio-only HLS from it, hand
    ``dataclasses.replace(info, has_video=False)`` to the transcode.
    """
    if expect not in ALLOWED_FAMILIES:
        raise ValueError(f"expect must be video, audio or image, not {expect!r}")
    _check_path(path)
    size = path.stat().st_size
    if size == 0:
        raise InvalidMedia("empty", "the file is empty")
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    family = sniff(head)
    if family is None:
        other = _unsupported_family(head)
        if other is not None:
            raise InvalidMedia("unsupported_format", f"{other} files are not accepted", format=other)
        raise InvalidMedia("not_media", "the file is not a recognised media file", expected=expect)
    if family not in ALLOWED_FAMILIES[expect]:
        raise InvalidMedia("not_media", f"a {family} file is not {expect}", family=family, expected=expect)

    info = probe(path, timeout_s=limits.probe_timeout_s, ffprobe=ffprobe)

    if not set(info.format_name.split(",")) & ALLOWED_FORMATS[expect]:
        raise InvalidMedia(
            "unsupported_format", f"{info.format_name} is not accepted", format=info.format_name
        )
    _check_codecs(info, expect)
    if expect == "image":
        if info.width is None or info.height is None:
            raise InvalidMedia("unreadable", "the image has no picture")
    elif expect == "video" and not info.has_video:
        raise InvalidMedia("no_video", "the file has no video stream")
    elif expect == "audio" and not info.has_audio:
        raise InvalidMedia("no_audio", "the file has no audio stream")

    if expect != "image":
        duration = round(info.duration_s, 3)
        if info.duration_s > limits.max_duration_s:
            raise InvalidMedia(
                "too_long",
                f"{duration:g} s is longer than {limits.max_duration_s:g} s",
                duration_s=duration,
                limit_s=limits.max_duration_s,
            )
        if info.duration_s < limits.min_duration_s:
            raise InvalidMedia(
                "too_short",
                f"{duration:g} s is shorter than {limits.min_duration_s:g} s",
                duration_s=duration,
                limit_s=limits.min_duration_s,
            )
    if info.width and info.height and max(info.width, info.height) > limits.max_dimension:
        raise InvalidMedia(
            "too_large",
            f"{info.width}x{info.height} exceeds {limits.max_dimension} pixels",
            width=info.width,
            height=info.height,
            limit=limits.max_dimension,
        )
    return info


def _check_codecs(info: MediaInfo, expect: str) -> None:
    if expect == "image":
        if info.video_codec not in IMAGE_CODECS:
            raise InvalidMedia(
                "unsupported_codec", f"image codec {info.video_codec}", codec=info.video_codec, stream="image"
            )
        return
    if info.has_video and info.video_codec not in VIDEO_CODECS:
        raise InvalidMedia(
            "unsupported_codec", f"video codec {info.video_codec}", codec=info.video_codec, stream="video"
        )
    if info.has_audio and info.audio_codec not in AUDIO_CODECS:
        raise InvalidMedia(
            "unsupported_codec", f"audio codec {info.audio_codec}", codec=info.audio_codec, stream="audio"
        )
