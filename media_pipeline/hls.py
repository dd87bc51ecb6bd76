"""HLS playlists served privately: rewrite every URI of an m3u8 to a URL the browser may fetch.

The playlists and segments stay private in the store. The app serves each playlist itself (after its
access checks) with every URI replaced: variant playlists by URLs of the app, segments, init sections
and keys by presigned URLs, e.g.::

    def resolve(uri: str) -> str:
        return store.presigned_get_url(join_uri(playlist_key, uri, within=asset_folder), ttl)

    body = rewrite_playlist(store.read(playlist_key).decode(), resolve)

Serve the result with ``Content-Type: application/vnd.apple.mpegurl`` and ``Cache-Control: private,
no-store`` (it holds signed URLs). Only the stdlib and ``storage.validate_key`` are used here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from media_pipeline.errors import InvalidKey
from media_pipeline.storage import validate_key

PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"

# Tags whose URI="..." attribute names a resource: the five of RFC 8216 plus the later ones (session
# data, LL-HLS parts, preload hints, rendition reports), so that no relative URI is ever left behind.
_URI_TAGS = "MAP|KEY|MEDIA|I-FRAME-STREAM-INF|SESSION-KEY|SESSION-DATA|PART|PRELOAD-HINT|RENDITION-REPORT"
# One pass over the text finds both kinds of line that hold a URI: group 1 is a URI line (neither a
# comment/tag nor blank; surrounding blanks are not part of it), group 2 a tag with a URI attribute.
# Every other line is skipped by the regex engine without a Python call, which keeps this fast.
_LINE = re.compile(rf"^(?:[ \t]*([^#\s][^\r\n]*)|(#EXT-X-(?:{_URI_TAGS}):[^\r\n]*))", re.MULTILINE)
# URI="..." as a whole attribute (after the tag's ':' or a ','), so that a client attribute such as
# X-URI="..." is not taken for one.
_ATTRIBUTE = re.compile(r'(?<=[:,])URI="([^"\r\n]*)"')
_PLAYLIST_TAGS = ("#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:")
# Not a relative path reference: absolute ('/...', '//host/...'), with a scheme (RFC 3986: a relative
# reference's first segment has no ':'), or with a query, fragment or percent-encoding.
_NOT_RELATIVE = re.compile(r"\A/|\A[^/]*:|[?#%]")


def rewrite_playlist(text: str, resolve: Callable[[str], str]) -> str:
    """Replace every URI in an m3u8 (master or media playlist): plain URI lines (segments or variant
    playlists) and URI="..." attributes of EXT-X-MAP, EXT-X-KEY, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF,
    EXT-X-SESSION-KEY (and EXT-X-SESSION-DATA, EXT-X-PART, EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT).

    ``resolve`` gets each URI exactly as written (a URI line without its surrounding blanks) and
    returns the replacement. Everything else, line endings (LF or CRLF) included, is kept as it is.
    A replacement that could break the playlist (a line break, or a '"' inside an attribute) raises
    ValueError.
    """

    def attribute(match: re.Match[str]) -> str:
        replacement = resolve(match.group(1))
        if '"' in replacement or "\n" in replacement or "\r" in replacement:
            raise ValueError(f"a replacement URI must not contain '\"' or a line break: {replacement!r}")
        return f'URI="{replacement}"'

    def line(match: re.Match[str]) -> str:
        uri = match.group(1)
        if uri is None:
            return _ATTRIBUTE.sub(attribute, match.group(2))
        replacement = resolve(uri.rstrip(" \t"))
        if "\n" in replacement or "\r" in replacement:
            raise ValueError(f"a replacement URI must not contain a line break: {replacement!r}")
        return replacement

    return _LINE.sub(line, text)


def variant_uris(master_text: str) -> list[str]:
    """The URIs of the playlists a master playlist lists, in order and without repeats: the variant
    streams (the URI lines), the renditions of EXT-X-MEDIA (alternative audio, subtitles) and the
    I-frame playlists of EXT-X-I-FRAME-STREAM-INF."""
    found: dict[str, None] = {}
    for match in _LINE.finditer(master_text):
        uri, tag = match.groups()
        if uri is not None:
            found[uri.rstrip(" \t")] = None
        elif tag.startswith(_PLAYLIST_TAGS):
            found.update(dict.fromkeys(_ATTRIBUTE.findall(tag)))
    return list(found)


@functools.lru_cache(maxsize=256)  # a playlist's URIs all share one base: check it once
def _base(base_key: str, within: str | None) -> tuple[str, str]:
    """The folder of ``base_key`` and the folder that '..' may not leave."""
    validate_key(base_key)
    folder = base_key.rpartition("/")[0]
    if within is None:
        return folder, base_key.split("/", 1)[0] if folder else ""
    root = validate_key(within.removesuffix("/"))
    if not base_key.startswith(root + "/"):
        raise InvalidKey(f"the playlist {base_key!r} is not inside {within!r}")
    return folder, root


def join_uri(base_key: str, uri: str, *, within: str | None = None) -> str:
    """Resolve a relative URI against the key of the playlist it appears in.

    ``'media/7/3/360p/index.m3u8'`` + ``'seg_00001.m4s'`` gives ``'media/7/3/360p/seg_00001.m4s'``;
    ``'media/7/3/master.m3u8'`` + ``'360p/index.m3u8'`` gives ``'media/7/3/360p/index.m3u8'``.

    ``'..'`` may climb, but never out of ``within`` (a folder of ``base_key``; by default its top
    folder, e.g. ``'media'``; pass the asset's own folder, e.g. ``'media/7/3'``, to keep a playlist to
    its own files). Raises InvalidKey for an absolute path, a scheme (``http:``, ``data:``...), a query,
    fragment or percent-escape, a URI naming a folder, an escape from ``within``, and any result that
    ``validate_key`` refuses.
    """
    if not isinstance(uri, str) or not uri or not isinstance(base_key, str):
        raise InvalidKey(f"a playlist URI and its base must be non-empty strings, not {uri!r}, {base_key!r}")
    if _NOT_RELATIVE.search(uri):
        raise InvalidKey(
            f"a stored playlist may only hold relative paths (no '/' first, scheme, query, fragment or "
            f"%-escape): {uri!r}"
        )
    folder, root = _base(base_key, within)
    if "./" not in uri + "/":  # no '.' or '..' segment (the common case): the base's folder + the URI
        return validate_key(f"{folder}/{uri}" if folder else uri)
    floor = root.count("/") + 1 if root else 0
    segments = folder.split("/") if folder else []
    parts = uri.split("/")
    if parts[-1] in (".", ".."):
        raise InvalidKey(f"a playlist URI must name a file, not a folder: {uri!r}")
    for part in parts:
        if part == "..":
            if len(segments) <= floor:
                raise InvalidKey(f"{uri!r} in {base_key!r} leads out of {root or 'the store'!r}")
            segments.pop()
        elif part != ".":
            segments.append(part)
    return validate_key("/".join(segments))
