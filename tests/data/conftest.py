"""A real HTTP server on loopback that plays the remote side of every download test."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    redirect: str | None = None
    cut_after: int | None = None  # send the full Content-Length but close after this many bytes (once)
    delay: float = 0.0  # seconds before answering (to make concurrent fetches overlap)
    honour_range: bool = True


@dataclass
class Loopback:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, path: str, body: bytes = b"", **kwargs) -> str:
        self.routes[path] = Route(body, **kwargs)
        return f"{self.url}{path}"

    def gets(self, path: str) -> list[str | None]:
        """The Range headers of the GETs of ``path`` (None for a plain GET)."""
        return [rng for p, rng in self.log if p == path]


@pytest.fixture
def server():
    state = Loopback(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - http.server's naming
            route = state.routes.get(self.path)
            state.log.append((self.path, self.headers.get("Range")))
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.delay:
                time.sleep(route.delay)
            if route.redirect:
                self.send_response(302)
                self.send_header("Location", route.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.status != 200:
                self.send_error(route.status)
                return
            body, start = route.body, 0
            wanted = self.headers.get("Range")
            if wanted and route.honour_range:
                start = int(wanted.split("=")[1].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if route.cut_after is not None:
                self.wfile.write(chunk[: route.cut_after])
                self.wfile.flush()
                route.cut_after = None  # only the first answer is cut
                self.close_connection = True
                return
            self.wfile.write(chunk)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    """A manifests folder of the test's own (schema from the repository), and an empty data folder."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    monkeypatch.setenv("COURSE_MANIFEST_DIR", str(folder))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("COURSE_DATA_READONLY", raising=False)
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)

    def write(name: str, files: list[dict], **extra) -> Path:
        doc = {"name": name, "title": f"Test {name}", "kind": "dataset", "licence": "CC0-1.0",
               "citation": "test2026", "homepage": "http://127.0.0.1/", "chapters": [1],
               "status": extra.pop("status", "verified"), "files": files, **extra}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(url: str, body: bytes | None, **kwargs) -> dict:
    entry = {"url": url, "size": len(body) if body is not None else None,
             "checksum": {"algorithm": "sha256", "value": sha256(body)} if body is not None else None}
    entry.update(kwargs)
    return entry
