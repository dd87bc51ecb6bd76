"""media_pipeline.transcode: the HLS ladder, poster, sprite and covers, with real ffmpeg on tiny sources."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import media_pipeline.transcode as transcode_module
from media_pipeline.errors import ProcessingFailed
from media_pipeline.probe import MediaInfo, validate
from media_pipeline.transcode import (
    LADDER,
    HlsOutput,
    hls_command,
    make_cover,
    output_fps,
    plan_ladder,
    rung_size,
    transcode,
)
from tests.media_pipeline.media_fixtures import FFMPEG, MediaFactory, ffprobe_json, session_media

PRESET = "ultrafast"
real_ffmpeg = pytest.mark.service("ffmpeg")


def info_of(
    width: int | None, height: int | None, *, audio: bool = True, fps: float | None = 30.0
) -> MediaInfo:
    video = width is not None
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=60.0,
        size=1,
        has_video=video,
        has_audio=audio,
        width=width,
        height=height,
        rotation=0,
        video_codec="h264" if video else None,
        audio_codec="aac" if audio else None,
        frame_rate=fps if video else None,
        video_index=0 if video else None,
        audio_index=(1 if video else 0) if audio else None,
    )


# -- planning (no ffmpeg needed) ------------------------------------------------------------------------


def sizes(info: MediaInfo) -> dict[str, tuple[int, int]]:
    return {rung.name: rung_size(info, rung) for rung in plan_ladder(info)}


def test_ladder_for_720p() -> None:
    assert [r.name for r in LADDER] == ["360p", "540p", "720p"]
    assert [(r.maxrate, r.bufsize) for r in LADDER] == [
        ("800k", "1600k"),
        ("1400k", "2800k"),
        ("2800k", "5600k"),
    ]
    assert sizes(info_of(1280, 720)) == {"360p": (640, 360), "540p": (960, 540), "720p": (1280, 720)}
    assert sizes(info_of(1920, 1080)) == {"360p": (640, 360), "540p": (960, 540), "720p": (1280, 720)}


def test_ladder_for_portrait_uses_the_short_side() -> None:
    assert sizes(info_of(1080, 1920)) == {"360p": (360, 640), "540p": (540, 960), "720p": (720, 1280)}


def test_no_upscaling() -> None:
    assert sizes(info_of(854, 480)) == {"360p": (640, 360)}
    assert sizes(info_of(960, 540)) == {"360p": (640, 360), "540p": (960, 540)}


def test_small_source_gets_one_rung_at_its_own_size() -> None:
    assert sizes(info_of(320, 240)) == {"240p": (320, 240)}
    (rung,) = plan_ladder(info_of(321, 239))
    assert (rung.name, rung.maxrate) == ("238p", "800k")
    assert rung_size(info_of(321, 239), rung) == (320, 238)


def test_audio_only_has_no_video_rungs() -> None:
    assert plan_ladder(info_of(None, None)) == []


@pytest.mark.parametrize(
    ("fps", "expected"),
    [(60.0, "30"), (30000 / 1001, "30000/1001"), (25.0, "25"), (16.0, "16"), (None, "30")],
)
def test_output_fps_is_constant_and_capped(fps: float | None, expected: str) -> None:
    assert str(output_fps(info_of(1280, 720, fps=fps))) == expected


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_hls_command_for_video_with_audio(tmp_path: Path) -> None:
    argv = hls_command(tmp_path / "in.mp4", tmp_path / "out", info_of(1280, 720), preset="medium")
    assert argv[0] == "ffmpeg"
    for flag in ("-nostdin", "-nostats", "-y", "-xerror"):
        assert flag in argv
    assert option(argv, "-progress") == "pipe:1"
    assert option(argv, "-loglevel") == "error"
    assert option(argv, "-protocol_whitelist") == "file"
    assert option(argv, "-i") == f"file:{tmp_path / 'in.mp4'}"
    assert option(argv, "-c:v") == "libx264" and option(argv, "-preset") == "medium"
    assert option(argv, "-profile:v") == "high" and option(argv, "-pix_fmt") == "yuv420p"
    assert option(argv, "-crf") == "23"
    assert option(argv, "-maxrate:v:2") == "2800k" and option(argv, "-bufsize:v:2") == "5600k"
    assert option(argv, "-force_key_frames:v") == "expr:gte(t,n_forced*2)"
    assert option(argv, "-sc_threshold") == "0"
    assert option(argv, "-fps_mode:v") == "cfr"
    assert option(argv, "-ar") == "48000" and option(argv, "-c:a") == "aac"
    assert option(argv, "-hls_time") == "6" and option(argv, "-hls_segment_type") == "fmp4"
    assert option(argv, "-hls_playlist_type") == "vod"
    assert option(argv, "-hls_flags") == "independent_segments"
    assert option(argv, "-master_pl_name") == "master.m3u8"
    assert option(argv, "-var_stream_map") == (
        "v:0,agroup:aud,name:360p v:1,agroup:aud,name:540p v:2,agroup:aud,name:720p "
        "a:0,agroup:aud,name:audio,default:yes"
    )
    graph = option(argv, "-filter_complex")
    assert "fps=30,split=3" in graph and "scale=640:360" in graph and "scale=1280:720" in graph
    assert argv[-1] == f"{tmp_path / 'out'}/sprite.jpg"
    assert f"{tmp_path / 'out'}/poster.jpg" in argv


def test_hls_command_for_silent_video(tmp_path: Path) -> None:
    argv = hls_command(tmp_path / "in.mp4", tmp_path / "out", info_of(640, 360, audio=False))
    assert option(argv, "-var_stream_map") == "v:0,name:360p"
    assert "-c:a" not in argv and "agroup" not in " ".join(argv)


def test_hls_command_for_audio_only(tmp_path: Path) -> None:
    argv = hls_command(tmp_path / "in.m4a", tmp_path / "out", info_of(None, None))
    assert "-filter_complex" not in argv and "poster" not in " ".join(argv)
    assert option(argv, "-map") == "0:0"
    assert option(argv, "-hls_time") == "10"
    assert option(argv, "-var_stream_map") == "a:0,name:audio"
    assert option(argv, "-hls_segment_type") == "fmp4"


def test_hls_command_refuses_odd_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        hls_command(Path("in.mp4"), tmp_path, info_of(640, 360))
    with pytest.raises(ValueError, match="starts with '-'"):
        hls_command(tmp_path / "-in.mp4", tmp_path / "out", info_of(640, 360))
    with pytest.raises(ValueError, match="neither"):
        hls_command(tmp_path / "in.mp4", tmp_path / "out", info_of(None, None, audio=False))


# -- real transcodes ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaFactory:
    return session_media(tmp_path_factory)


def run(src: Path, out_dir: Path, **kwargs: Any) -> tuple[HlsOutput, MediaInfo]:
    info = validate(src, "audio" if src.suffix in (".m4a", ".mp3") else "video")
    return transcode(src, out_dir, info, preset=PRESET, **kwargs), info


def extinf(playlist: Path) -> list[float]:
    return [float(m) for m in re.findall(r"^#EXTINF:([\d.]+),", playlist.read_text(), re.MULTILINE)]


def joined(out_dir: Path, variant: str, tmp_path: Path) -> Path:
    """The variant's init segment followed by its media segments: a playable fragmented mp4."""
    text = (out_dir / variant / "index.m3u8").read_text()
    (init,) = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
    segments = [line for line in text.splitlines() if line and not line.startswith("#")]
    path = tmp_path / f"{variant}.mp4"
    path.write_bytes(b"".join((out_dir / variant / name).read_bytes() for name in [init, *segments]))
    return path


def streams(path: Path) -> list[dict[str, Any]]:
    return json.loads(ffprobe_json(path, "-show_streams"))["streams"]


def size_of(path: Path) -> tuple[int, int]:
    (stream,) = streams(path)
    return stream["width"], stream["height"]


@pytest.fixture(scope="module")
def ladder(
    media: MediaFactory, tmp_path_factory: pytest.TempPathFactory
) -> tuple[HlsOutput, Path, list[float]]:
    """The 8 s 720p clip through the whole ladder, with progress recorded."""
    out_dir = tmp_path_factory.mktemp("ladder") / "hls"
    calls: list[float] = []
    output, _ = run(media.video_720p(), out_dir, on_progress=calls.append)
    return output, out_dir, calls


@real_ffmpeg
def test_720p_gives_three_rungs_and_a_master(ladder: tuple[HlsOutput, Path, list[float]]) -> None:
    output, out_dir, _ = ladder
    assert output.rungs == ["360p", "540p", "720p"]
    assert output.master == "master.m3u8"
    assert output.duration_s == pytest.approx(8, abs=0.1)
    master = (out_dir / "master.m3u8").read_text()
    assert re.search(r'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_aud".*URI="audio/index.m3u8"', master)
    for rung, resolution in (("360p", "640x360"), ("540p", "960x540"), ("720p", "1280x720")):
        assert re.search(
            rf'RESOLUTION={resolution},CODECS="[^"]+",AUDIO="group_aud"\n{rung}/index.m3u8', master
        )


@real_ffmpeg
def test_files_lists_exactly_what_is_on_disk(ladder: tuple[HlsOutput, Path, list[float]]) -> None:
    output, out_dir, _ = ladder
    on_disk = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    assert output.files == on_disk
    assert {"master.m3u8", "poster.jpg", "sprite.jpg", "360p/index.m3u8", "audio/index.m3u8"} <= set(on_disk)
    assert output.poster == "poster.jpg" and output.sprite == "sprite.jpg"


@real_ffmpeg
def test_segments_are_six_seconds_and_aligned(ladder: tuple[HlsOutput, Path, list[float]]) -> None:
    _, out_dir, _ = ladder
    counts = set()
    for rung in ("360p", "540p", "720p"):
        playlist = out_dir / rung / "index.m3u8"
        text = playlist.read_text()
        assert "#EXT-X-MAP:URI=" in text and "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
        durations = extinf(playlist)
        assert durations[0] == pytest.approx(6, abs=0.01)
        assert sum(durations) == pytest.approx(8, abs=0.1)
        counts.add(len(durations))
    assert counts == {2}
    audio = extinf(out_dir / "audio" / "index.m3u8")
    assert len(audio) == 2 and sum(audio) == pytest.approx(8, abs=0.1)


@real_ffmpeg
def test_segments_are_h264_high_and_aac(
    ladder: tuple[HlsOutput, Path, list[float]], media: MediaFactory, tmp_path: Path
) -> None:
    _, out_dir, _ = ladder
    (video,) = streams(joined(out_dir, "540p", tmp_path))
    assert (video["codec_name"], video["width"], video["height"], video["pix_fmt"]) == (
        "h264",
        960,
        540,
        "yuv420p",
    )
    (audio,) = streams(joined(out_dir, "audio", tmp_path))
    assert (audio["codec_name"], audio["profile"], audio["sample_rate"]) == ("aac", "LC", "48000")


@real_ffmpeg
def test_every_segment_starts_with_a_key_frame(
    ladder: tuple[HlsOutput, Path, list[float]], tmp_path: Path
) -> None:
    _, out_dir, _ = ladder
    path = joined(out_dir, "360p", tmp_path)
    packets = json.loads(ffprobe_json(path, "-select_streams", "v", "-show_entries", "packet=pts_time,flags"))
    keys = [float(p["pts_time"]) for p in packets["packets"] if "K" in p["flags"]]
    assert keys[:4] == pytest.approx([0, 2, 4, 6], abs=0.07)


@real_ffmpeg
def test_poster_and_sprite(ladder: tuple[HlsOutput, Path, list[float]]) -> None:
    output, out_dir, _ = ladder
    assert size_of(out_dir / "poster.jpg") == (640, 360)
    layout = output.sprite_layout
    assert layout is not None
    assert (layout.interval_s, layout.tile_width, layout.tile_height, layout.count) == (10, 160, 90, 1)
    assert size_of(out_dir / "sprite.jpg") == (layout.columns * 160, layout.rows * 90)


@real_ffmpeg
def test_progress_ends_at_100(ladder: tuple[HlsOutput, Path, list[float]]) -> None:
    _, _, calls = ladder
    assert calls[-1] == 100 and calls.count(100) == 1
    assert calls == sorted(calls)


@real_ffmpeg
@pytest.mark.usefixtures("realtime")
def test_progress_about_once_a_second(media: MediaFactory, tmp_path: Path) -> None:
    stamps: list[tuple[float, float]] = []
    run(media.audio_m4a(), tmp_path / "hls", on_progress=lambda pct: stamps.append((time.monotonic(), pct)))
    times, calls = zip(*stamps, strict=True)
    assert len(calls) >= 3  # a 3 s clip at native speed: ~1 s, ~2 s, then 100
    assert list(calls) == sorted(calls) and calls[-1] == 100 and 0 < calls[0] < 100
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[:-1])]  # the 100 comes at once
    assert all(gap >= 0.99 for gap in gaps)


def rgb_at(image: Path, points: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    assert FFMPEG is not None
    width, _ = size_of(image)
    argv = [FFMPEG, "-v", "error", "-i", str(image), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(argv, capture_output=True, check=True).stdout
    return [tuple(raw[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x, y in points]  # type: ignore[misc]


@real_ffmpeg
def test_sprite_tiles_are_in_time_order(media: MediaFactory, tmp_path: Path) -> None:
    output, _ = run(media.colour_steps(), tmp_path / "hls")
    layout = output.sprite_layout
    assert layout is not None and (layout.count, layout.columns, layout.rows) == (3, 3, 1)
    centres = [(i * layout.tile_width + 80, 45) for i in range(3)]
    red, green, blue = rgb_at(tmp_path / "hls" / "sprite.jpg", centres)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert green[1] > 200 and green[0] < 60 and green[2] < 60
    assert blue[2] > 200 and blue[0] < 60 and blue[1] < 60
    (poster,) = rgb_at(tmp_path / "hls" / "poster.jpg", [(160, 90)])
    assert poster[0] > 200  # 10 % in: still red


@real_ffmpeg
def test_480p_has_no_higher_rungs(media: MediaFactory, tmp_path: Path) -> None:
    output, _ = run(media.video_480p(), tmp_path / "hls")
    assert output.rungs == ["360p"]
    master = (tmp_path / "hls" / "master.m3u8").read_text()
    assert "540p" not in master and "720p" not in master and "RESOLUTION=640x360" in master
    assert not (tmp_path / "hls" / "540p").exists()


@real_ffmpeg
def test_portrait_phone_video_gives_portrait_renditions(media: MediaFactory, tmp_path: Path) -> None:
    output, info = run(media.rotated(), tmp_path / "hls")
    assert info.rotation in (90, 270) and (info.width, info.height) == (360, 640)
    assert output.rungs == ["360p"]
    assert "RESOLUTION=360x640" in (tmp_path / "hls" / "master.m3u8").read_text()
    (video,) = streams(joined(tmp_path / "hls", "360p", tmp_path))
    assert (video["width"], video["height"]) == (360, 640)
    assert not video.get("side_data_list")  # turned upright, not tagged
    assert size_of(tmp_path / "hls" / "poster.jpg") == (360, 640)


@real_ffmpeg
def test_vfr_input_gives_constant_frame_rate(media: MediaFactory, tmp_path: Path) -> None:
    output, info = run(media.vfr(), tmp_path / "hls")
    rate = float(output_fps(info))
    path = joined(tmp_path / "hls", output.rungs[0], tmp_path)
    packets = json.loads(ffprobe_json(path, "-select_streams", "v", "-show_entries", "packet=duration_time"))
    durations = {round(float(p["duration_time"]), 4) for p in packets["packets"]}
    assert durations == {round(1 / rate, 4)}
    assert len(packets["packets"]) == pytest.approx(info.duration_s * rate, abs=2)


@real_ffmpeg
def test_audio_only(media: MediaFactory, tmp_path: Path) -> None:
    output, _ = run(media.audio_m4a(12), tmp_path / "hls")
    assert (output.rungs, output.poster, output.sprite, output.sprite_layout) == (["audio"], None, None, None)
    assert output.files == [
        "audio/index.m3u8",
        "audio/init.mp4",
        "audio/seg_00000.m4s",
        "audio/seg_00001.m4s",
        "master.m3u8",
    ]
    assert "audio/index.m3u8" in (tmp_path / "hls" / "master.m3u8").read_text()
    durations = extinf(tmp_path / "hls" / "audio" / "index.m3u8")
    assert durations[0] == pytest.approx(10, abs=0.1) and sum(durations) == pytest.approx(12, abs=0.1)
    (audio,) = streams(joined(tmp_path / "hls", "audio", tmp_path))
    assert audio["codec_name"] == "aac"


@real_ffmpeg
def test_audio_with_cover_art_ignores_the_picture(media: MediaFactory, tmp_path: Path) -> None:
    output, _ = run(media.audio_mp3_cover(), tmp_path / "hls")
    assert output.rungs == ["audio"]
    assert [s["codec_type"] for s in streams(joined(tmp_path / "hls", "audio", tmp_path))] == ["audio"]


@real_ffmpeg
def test_silent_video_has_no_audio_group(media: MediaFactory, tmp_path: Path) -> None:
    output, _ = run(media.video_silent(), tmp_path / "hls")
    assert output.rungs == ["360p"]
    master = (tmp_path / "hls" / "master.m3u8").read_text()
    assert "AUDIO" not in master and "360p/index.m3u8" in master
    assert "audio/index.m3u8" not in output.files


@real_ffmpeg
def test_hevc_source(media: MediaFactory, tmp_path: Path) -> None:
    output, _ = run(media.hevc(), tmp_path / "hls")
    assert output.rungs == ["240p"]
    (video,) = streams(joined(tmp_path / "hls", "240p", tmp_path))
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 320, 240)


# -- failures -------------------------------------------------------------------------------------------


@pytest.fixture
def realtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg reads its input at native speed (-re), so a run lasts as long as the clip, on any machine."""
    build = transcode_module.hls_command

    def paced(*args: Any, **kwargs: Any) -> list[str]:
        argv = build(*args, **kwargs)
        return [*argv[:1], "-re", *argv[1:]]

    monkeypatch.setattr(transcode_module, "hls_command", paced)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every ffmpeg process started (ffprobe runs are not recorded)."""
    procs: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real(*args, **kwargs)
        if Path(args[0][0]).name == "ffmpeg":
            procs.append(proc)
        return proc

    monkeypatch.setattr(transcode_module.subprocess, "Popen", spy)
    return procs


def assert_gone(proc: subprocess.Popen[bytes]) -> None:
    assert proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


@real_ffmpeg
def test_truncated_input_fails_instead_of_a_short_lesson(media: MediaFactory, tmp_path: Path) -> None:
    src = media.truncated(faststart=True)
    info = validate(src, "video")  # the header is intact, so it probes as a full 8 s
    with pytest.raises(ProcessingFailed) as caught:
        transcode(src, tmp_path / "hls", info, preset=PRESET)
    assert caught.value.retryable is False
    assert caught.value.detail
    assert list((tmp_path / "hls").iterdir()) == []  # nothing half-written is left to publish


@real_ffmpeg
def test_output_shorter_than_the_probe_fails(media: MediaFactory, tmp_path: Path) -> None:
    info = validate(media.video_tiny(), "video")
    longer = dataclasses.replace(info, duration_s=info.duration_s + 20)
    with pytest.raises(ProcessingFailed, match="truncated or corrupt") as caught:
        transcode(media.video_tiny(), tmp_path / "hls", longer, preset=PRESET)
    assert caught.value.retryable is False
    assert list((tmp_path / "hls").iterdir()) == []


@real_ffmpeg
@pytest.mark.usefixtures("realtime")
def test_callback_that_raises_kills_ffmpeg(
    media: MediaFactory, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    class Stop(Exception):
        pass

    def stop(percent: float) -> None:
        raise Stop(percent)

    with pytest.raises(Stop):
        run(media.video_720p(), tmp_path / "hls", on_progress=stop)
    (proc,) = started
    assert_gone(proc)
    assert list((tmp_path / "hls").iterdir()) == []


@real_ffmpeg
@pytest.mark.usefixtures("realtime")
def test_timeout_is_retryable(
    media: MediaFactory, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    with pytest.raises(ProcessingFailed, match="timed out") as caught:
        run(media.video_720p(), tmp_path / "hls", timeout_s=0.3)
    assert caught.value.retryable is True
    (proc,) = started
    assert_gone(proc)


@real_ffmpeg
@pytest.mark.usefixtures("realtime")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_by_a_signal_is_retryable(
    media: MediaFactory, tmp_path: Path, started: list[subprocess.Popen[bytes]], sig: signal.Signals
) -> None:
    def kill(percent: float) -> None:
        started[0].send_signal(sig)

    with pytest.raises(ProcessingFailed) as caught:
        run(media.video_720p(), tmp_path / "hls", on_progress=kill)
    assert caught.value.retryable is True
    assert_gone(started[0])


@real_ffmpeg
def test_out_dir_must_be_empty(media: MediaFactory, tmp_path: Path) -> None:
    (tmp_path / "hls").mkdir()
    (tmp_path / "hls" / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="empty"):
        run(media.video_tiny(), tmp_path / "hls")


# -- covers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"), [("jpeg", (640, 360)), ("png", (320, 240)), ("webp", (320, 240))]
)
def test_make_cover(media: MediaFactory, tmp_path: Path, kind: str, expected: tuple[int, int]) -> None:
    dst = tmp_path / "cover.jpg"
    make_cover(getattr(media, kind)(), dst)
    assert size_of(dst) == expected  # at most 640 wide, never upscaled
    (stream,) = streams(dst)
    assert stream["codec_name"] == "mjpeg"


@real_ffmpeg
def test_make_cover_flattens_transparency_onto_white(media: MediaFactory, tmp_path: Path) -> None:
    dst = tmp_path / "cover.jpg"
    make_cover(media.transparent_png(), dst, width=100)
    assert size_of(dst) == (100, 50)
    assert all(channel > 240 for channel in rgb_at(dst, [(50, 25)])[0])


@real_ffmpeg
def test_make_cover_of_a_broken_image(media: MediaFactory, tmp_path: Path) -> None:
    broken = media.write("broken.png", media.png().read_bytes()[:200])
    with pytest.raises(ProcessingFailed) as caught:
        make_cover(broken, tmp_path / "cover.jpg")
    assert caught.value.retryable is False
    assert not (tmp_path / "cover.jpg").exists()
