"""Test media made with ffmpeg's test sources, and the browser's upload protocol as a client would run it."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from tests.service_guard import need_service


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def make_media(directory: Path) -> dict[str, Path]:
    need_service("ffmpeg", available=shutil.which("ffmpeg") is not None, why="apt-get install ffmpeg")
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "video": directory / "lecture.mp4",
        "portrait": directory / "phone.mp4",
        "audio": directory / "talk.m4a",
        "cover": directory / "cover.png",
    }
    lavfi_video = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"]
    lavfi_audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    ffmpeg(*lavfi_video, *lavfi_audio, "-t", "4", *x264, str(files["video"]))
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=360x640:rate=30", *lavfi_audio, "-t", "3", *x264,
        str(files["portrait"]),
    )  # fmt: skip
    ffmpeg(*lavfi_audio, "-t", "3", "-c:a", "aac", str(files["audio"]))
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=96x64", "-frames:v", "1", str(files["cover"]))
    pdf = directory / "slides.mp4"  # a PDF renamed to .mp4
    pdf.write_bytes(b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 400 + b"%%EOF\n")
    files["renamed_pdf"] = pdf
    truncated = directory / "truncated.mp4"
    data = files["video"].read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    files["truncated"] = truncated
    return files


def upload_file(
    client: Any,
    headers: dict[str, str],
    path: Path,
    purpose: str,
    *,
    filename: str | None = None,
    skip_parts: tuple[int, ...] = (),
) -> Any:
    """Start, send every part (to the app or straight to the store), complete. Returns the completion
    response (or the start response when starting failed)."""
    data = path.read_bytes()
    started = client.post(
        "/api/v1/uploads",
        json={
            "filename": filename or path.name,
            "size": len(data),
            "content_type": "application/octet-stream",
            "purpose": purpose,
        },
        headers=headers,
    )
    if started.status_code != 201:
        return started
    upload = started.get_json()["upload"]
    numbers = list(range(1, upload["part_count"] + 1))
    urls = client.post(
        f"/api/v1/uploads/{upload['id']}/part-urls", json={"parts": numbers}, headers=headers
    ).get_json()["urls"]
    size = upload["part_size"]
    parts = []
    for n in numbers:
        if n in skip_parts:
            continue
        chunk = data[(n - 1) * size : n * size]
        etag = send_part(client, headers, urls[str(n)], chunk)
        parts.append({"number": n, "etag": etag})
    return client.post(f"/api/v1/uploads/{upload['id']}/complete", json={"parts": parts}, headers=headers)


def send_part(client: Any, headers: dict[str, str], target: dict[str, Any], chunk: bytes) -> str:
    if target["same_origin"]:
        response = client.put(
            target["url"], data=chunk, headers=headers | {"Content-Type": "application/octet-stream"}
        )
        assert response.status_code == 200, response.get_json()
        return str(response.get_json()["part"]["etag"])
    request = urllib.request.Request(
        target["url"], data=chunk, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # a presigned MinIO URL
        return str(response.headers["ETag"]).strip('"')
