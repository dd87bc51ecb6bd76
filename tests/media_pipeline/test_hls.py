"""Playlist rewriting for private HLS: every URI replaced, everything else byte for byte the same."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from media_pipeline import InvalidKey
from media_pipeline.hls import join_uri, rewrite_playlist, variant_uris
from media_pipeline.storage import MinioStore

# What ffmpeg 5.1 writes for -f hls -hls_segment_type fmp4 -master_pl_name master.m3u8
# -var_stream_map "v:0,agroup:aud,name:360p v:1,agroup:aud,name:240p a:0,agroup:aud,name:audio,default:yes"
MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_aud",NAME="audio_2",DEFAULT=YES,URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1210000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="group_aud"
360p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=2628000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_aud"
720p/index.m3u8

"""

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init_0.mp4"
#EXTINF:6.000000,
seg_00000.m4s
#EXTINF:6.000000,
seg_00001.m4s
#EXTINF:3.480000,
seg_00002.m4s
#EXT-X-ENDLIST
"""

ENCRYPTED = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:10
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-KEY:METHOD=AES-128,URI="keys/lesson.key",IV=0x00000000000000000000000000000001
#EXTINF:10.000000,
seg_00000.ts
#EXT-X-KEY:METHOD=AES-128,URI="keys/rotated.key",IV=0x00000000000000000000000000000002,KEYFORMAT="identity"
#EXTINF:10.000000,
seg_00001.ts
#EXT-X-ENDLIST
"""


def tagged(uri: str) -> str:
    return f"https://cdn.example.cn/{uri}?sig=1&x=2"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, uri: str) -> str:
        self.seen.append(uri)
        return tagged(uri)


def test_master_playlist() -> None:
    resolve = Recorder()

    rewritten = rewrite_playlist(MASTER, resolve)

    assert resolve.seen == ["audio/index.m3u8", "360p/index.m3u8", "720p/index.m3u8"]
    assert rewritten == (
        MASTER.replace('URI="audio/index.m3u8"', f'URI="{tagged("audio/index.m3u8")}"')
        .replace("\n360p/index.m3u8\n", f"\n{tagged('360p/index.m3u8')}\n")
        .replace("\n720p/index.m3u8\n", f"\n{tagged('720p/index.m3u8')}\n")
    )
    assert variant_uris(MASTER) == ["audio/index.m3u8", "360p/index.m3u8", "720p/index.m3u8"]


def test_fmp4_media_playlist() -> None:
    resolve = Recorder()

    rewritten = rewrite_playlist(MEDIA, resolve)

    assert resolve.seen == ["init_0.mp4", "seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"]
    lines = rewritten.split("\n")
    assert lines[5] == f'#EXT-X-MAP:URI="{tagged("init_0.mp4")}"'
    assert lines[7] == tagged("seg_00000.m4s")
    assert [line for line in lines if line.startswith("#") and "MAP" not in line] == [
        line for line in MEDIA.split("\n") if line.startswith("#") and "MAP" not in line
    ]
    assert rewritten.endswith("#EXT-X-ENDLIST\n")


def test_keys_are_rewritten_and_their_other_attributes_kept() -> None:
    rewritten = rewrite_playlist(ENCRYPTED, lambda uri: f"/keys?k={uri}")

    assert (
        '#EXT-X-KEY:METHOD=AES-128,URI="/keys?k=keys/lesson.key",IV=0x00000000000000000000000000000001\n'
        in rewritten
    )
    assert (
        '#EXT-X-KEY:METHOD=AES-128,URI="/keys?k=keys/rotated.key",IV=0x00000000000000000000000000000002,'
        'KEYFORMAT="identity"\n' in rewritten
    )
    assert "\n/keys?k=seg_00001.ts\n" in rewritten


def test_every_uri_bearing_tag() -> None:
    playlist = "\n".join(
        [
            "#EXTM3U",
            '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="k.key"',
            '#EXT-X-SESSION-DATA:DATA-ID="com.example.title",URI="title.json"',
            '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,CODECS="avc1.64001e",URI="360p/iframes.m3u8"',
            '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="中文",LANGUAGE="zh",URI="subs/zh.m3u8"',
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="main",DEFAULT=YES',  # muxed: no URI
            '#EXT-X-STREAM-INF:BANDWIDTH=1210000,AUDIO="aud",SUBTITLES="subs"',
            "360p/index.m3u8",
            '#EXT-X-DATERANGE:ID="ad",START-DATE="2026-01-01T00:00:00Z",X-URI="not/a/resource"',
            '# a comment with URI="x"',
            "",
        ]
    )
    resolve = Recorder()

    rewritten = rewrite_playlist(playlist, resolve)

    assert resolve.seen == ["k.key", "title.json", "360p/iframes.m3u8", "subs/zh.m3u8", "360p/index.m3u8"]
    assert 'X-URI="not/a/resource"' in rewritten
    assert '# a comment with URI="x"' in rewritten
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="main",DEFAULT=YES\n' in rewritten
    assert variant_uris(playlist) == ["360p/iframes.m3u8", "subs/zh.m3u8", "360p/index.m3u8"]


def test_crlf_blank_lines_and_stray_blanks_are_kept() -> None:
    playlist = MEDIA.replace("\n", "\r\n").replace("seg_00001.m4s", "  seg_00001.m4s \t")
    playlist = playlist.replace("#EXT-X-ENDLIST", "\r\n   \r\n#EXT-X-ENDLIST")
    resolve = Recorder()

    rewritten = rewrite_playlist(playlist, resolve)

    assert resolve.seen == ["init_0.mp4", "seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"]
    expected = (
        playlist.replace('URI="init_0.mp4"', f'URI="{tagged("init_0.mp4")}"')
        .replace("\r\nseg_00000.m4s\r\n", f"\r\n{tagged('seg_00000.m4s')}\r\n")
        .replace("\r\n  seg_00001.m4s \t\r\n", f"\r\n{tagged('seg_00001.m4s')}\r\n")
        .replace("\r\nseg_00002.m4s\r\n", f"\r\n{tagged('seg_00002.m4s')}\r\n")
    )
    assert rewritten == expected
    assert "\r\n\r\n   \r\n#EXT-X-ENDLIST\r\n" in rewritten


def test_no_final_newline_and_empty_input() -> None:
    assert rewrite_playlist("#EXTM3U\nseg.ts", tagged) == f"#EXTM3U\n{tagged('seg.ts')}"
    assert rewrite_playlist("", tagged) == ""
    assert variant_uris("") == []


def test_a_replacement_cannot_break_the_playlist() -> None:
    with pytest.raises(ValueError, match="line break"):
        rewrite_playlist(MEDIA, lambda uri: uri + "\n#EXT-X-ENDLIST")
    with pytest.raises(ValueError, match="must not contain"):
        rewrite_playlist(MEDIA, lambda uri: uri + '",X="')


def test_variant_uris_without_repeats() -> None:
    master = MASTER + '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="group_aud"\n360p/index.m3u8\n'

    assert variant_uris(master) == ["audio/index.m3u8", "360p/index.m3u8", "720p/index.m3u8"]


@pytest.mark.parametrize(
    ("base", "uri", "expected"),
    [
        ("media/7/3/360p/index.m3u8", "seg_00001.m4s", "media/7/3/360p/seg_00001.m4s"),
        ("media/7/3/master.m3u8", "360p/index.m3u8", "media/7/3/360p/index.m3u8"),
        ("media/7/3/360p/index.m3u8", "./init_0.mp4", "media/7/3/360p/init_0.mp4"),
        ("media/7/3/360p/index.m3u8", "../keys/a.key", "media/7/3/keys/a.key"),
        ("media/7/3/360p/index.m3u8", "../../../8/x.m4s", "media/8/x.m4s"),  # still under 'media'
        ("media/7/3/360p/index.m3u8", "a..b/.hidden.m4s", "media/7/3/360p/a..b/.hidden.m4s"),
        ("master.m3u8", "360p/index.m3u8", "360p/index.m3u8"),
        ("课程/1/index.m3u8", "片段 1.ts", "课程/1/片段 1.ts"),
    ],
)
def test_join_uri(base: str, uri: str, expected: str) -> None:
    assert join_uri(base, uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "../../../../etc/passwd",  # out of 'media'
        "../../../../media/7/3/seg.m4s",  # out and back in: still refused
        "/media/7/3/seg.m4s",
        "//evil.example/seg.m4s",
        "https://evil.example/seg.m4s",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "seg.m4s?token=1",
        "seg.m4s#t=10",
        "%2e%2e/%2e%2e/x.m4s",
        "seg\\..\\x.m4s",
        "a//b.m4s",
        "folder/",
        "..",
        "sub/.",
        "",
        "seg\x00.m4s",
    ],
)
def test_join_uri_refuses(uri: str) -> None:
    with pytest.raises(InvalidKey):
        join_uri("media/7/3/360p/index.m3u8", uri)


def test_join_uri_within_a_folder() -> None:
    base = "media/7/3/360p/index.m3u8"

    assert join_uri(base, "../audio/index.m3u8", within="media/7/3") == "media/7/3/audio/index.m3u8"
    assert join_uri(base, "seg.m4s", within="media/7/3/") == "media/7/3/360p/seg.m4s"
    for uri in ("../../4/seg.m4s", "../../3/seg.m4s"):
        with pytest.raises(InvalidKey, match="leads out of 'media/7/3'"):
            join_uri(base, uri, within="media/7/3")
    with pytest.raises(InvalidKey):
        join_uri(base, "seg.m4s", within="media/7/4")  # the playlist itself is elsewhere
    with pytest.raises(InvalidKey):
        join_uri("../media/index.m3u8", "seg.m4s")
    with pytest.raises(InvalidKey):  # no folder to climb out of
        join_uri("master.m3u8", "../x.m3u8")


def lecture_playlist(segments: int) -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:6",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MAP:URI="init_0.mp4"',
    ]
    for number in range(segments):
        lines += ["#EXTINF:6.000000,", f"seg_{number:05d}.m4s"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def test_a_two_hour_lecture_with_presigned_segments() -> None:
    key = "media/7/3/360p/index.m3u8"
    playlist = lecture_playlist(1200)
    store = MinioStore("127.0.0.1:9", "access", "secret-key", "lms", public_endpoint="media.example.cn")

    rewritten = rewrite_playlist(
        playlist,
        lambda uri: store.presigned_get_url(join_uri(key, uri, within="media/7/3"), timedelta(hours=12)),
    )

    lines = rewritten.split("\n")
    assert len(lines) == len(playlist.split("\n"))
    assert lines[6].startswith('#EXT-X-MAP:URI="http://media.example.cn/lms/media/7/3/360p/init_0.mp4?X-Amz-')
    urls = [line for line in lines if line and not line.startswith("#")]
    assert len(urls) == 1200
    for number, url in enumerate(urls):
        assert url.startswith(f"http://media.example.cn/lms/media/7/3/360p/seg_{number:05d}.m4s?X-Amz-")
        assert "X-Amz-Signature=" in url
    assert [line for line in lines if line.startswith("#EXTINF")] == ["#EXTINF:6.000000,"] * 1200


def test_rewriting_is_fast() -> None:
    playlist = lecture_playlist(1200)  # 2,409 lines

    def elapsed() -> float:
        started = time.perf_counter()
        rewrite_playlist(playlist, str)
        return time.perf_counter() - started

    best = min(elapsed() for _ in range(5))
    assert best < 0.02, f"{best * 1000:.1f} ms for 2,409 lines"  # about 0.7 ms on a slow core
