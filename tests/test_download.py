"""artrl.download against a local http.server: sha256 pinning, truncation, retries, offline."""

import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from artrl.download import (
    EDM_FID_REFS,
    EDM_PRETRAINED,
    INCEPTION_TORCHSCRIPT_URL,
    ChecksumError,
    DownloadError,
    OfflineError,
    TruncatedDownloadError,
    download,
    main,
    verify,
)


class _Handler(BaseHTTPRequestHandler):
    """Routes: ``/<name>`` serves ``files[name]``; ``/truncated/<name>`` announces 100 bytes
    more than it sends and closes; ``/flaky/<name>`` answers 503 to the first two requests."""

    files: dict[str, bytes] = {}
    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        path = self.path.lstrip("/")
        self.hits[path] = self.hits.get(path, 0) + 1
        mode, _, name = path.partition("/") if "/" in path else ("", "", path)
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        if mode == "flaky" and self.hits[path] <= 2:
            self.send_error(503)
            return
        self.send_response(200)
        extra = 100 if mode == "truncated" else 0
        self.send_header("Content-Length", str(len(body) + extra))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    _Handler.files, _Handler.hits = {}, {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_first_download_records_sha256_then_verifies(server, tmp_path):
    base, h = server
    h.files["net.pkl"] = data = b"edm network bytes " * 1000
    lock = tmp_path / "resources" / "checksums.json"
    dest = tmp_path / "resources" / "edm" / "net.pkl"
    out = download(f"{base}/net.pkl", dest, lock_file=lock, key="models.cifar10.path")
    assert out == dest and dest.read_bytes() == data
    digest = hashlib.sha256(data).hexdigest()
    assert json.loads(lock.read_text()) == {"edm/net.pkl": digest}
    assert verify(dest, lock) == digest
    assert _leftovers(dest.parent) == []
    download(f"{base}/net.pkl", dest, lock_file=lock, key="k")  # present and verified
    assert h.hits["net.pkl"] == 1
    dest.unlink()
    download(f"{base}/net.pkl", dest, lock_file=lock, key="k")  # same bytes: accepted
    assert dest.read_bytes() == data and h.hits["net.pkl"] == 2


def test_changed_file_is_refused(server, tmp_path):
    base, h = server
    h.files["ref.npz"] = b"original"
    lock, dest = tmp_path / "checksums.json", tmp_path / "fid" / "ref.npz"
    download(f"{base}/ref.npz", dest, lock_file=lock, key="fid.ref_path")
    old = hashlib.sha256(b"original").hexdigest()
    new = hashlib.sha256(b"changed upstream").hexdigest()
    h.files["ref.npz"] = b"changed upstream"
    dest.unlink()
    with pytest.raises(ChecksumError) as e:
        download(f"{base}/ref.npz", dest, lock_file=lock, key="fid.ref_path")
    msg = str(e.value)
    assert str(dest) in msg and old in msg and new in msg and str(lock) in msg
    assert "delete" in msg  # how to fix
    assert not dest.exists() and _leftovers(dest.parent) == []
    assert json.loads(lock.read_text()) == {"fid/ref.npz": old}
    dest.write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match=old):
        verify(dest, lock)
    with pytest.raises(ChecksumError, match="no sha256 recorded"):
        verify(tmp_path / "checksums.json", lock)


def test_truncated_download_is_refused_and_leaves_nothing(server, tmp_path):
    base, h = server
    h.files["big.pt"] = b"x" * 5000
    dest = tmp_path / "big.pt"
    with pytest.raises(TruncatedDownloadError, match="Content-Length") as e:
        download(
            f"{base}/truncated/big.pt",
            dest,
            lock_file=tmp_path / "c.json",
            key="fid.inception_path",
            retries=2,
            backoff=0,
        )
    assert "fid.inception_path" in str(e.value)
    assert h.hits["truncated/big.pt"] == 3  # retried
    assert not dest.exists() and _leftovers(tmp_path) == []
    assert not (tmp_path / "c.json").exists()


def test_transient_http_errors_are_retried(server, tmp_path):
    base, h = server
    h.files["f.bin"] = b"ok"
    dest = tmp_path / "f.bin"
    download(f"{base}/flaky/f.bin", dest, lock_file=tmp_path / "c.json", key="k", backoff=0)
    assert dest.read_bytes() == b"ok" and h.hits["flaky/f.bin"] == 3
    with pytest.raises(DownloadError, match=r"HTTP 404.*'models\.x\.path'"):
        download(
            f"{base}/missing", tmp_path / "m", lock_file=tmp_path / "c.json", key="models.x.path"
        )
    assert h.hits["missing"] == 1  # not retried


def test_unreachable_host_fails_fast(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/edm-cifar10-32x32-cond-vp.pkl"
    dest = tmp_path / "net.pkl"
    t0 = time.monotonic()
    with pytest.raises(OfflineError) as e:
        download(url, dest, lock_file=tmp_path / "c.json", key="models.cifar10.path", backoff=5)
    assert time.monotonic() - t0 < 3  # no retries, no backoff
    assert url in str(e.value) and "models.cifar10.path" in str(e.value)
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_cli(server, tmp_path, capsys):
    base, h = server
    h.files["a.bin"] = b"abc"
    lock, out = tmp_path / "checksums.json", tmp_path / "a.bin"
    args = ["--url", f"{base}/a.bin", "--out", str(out), "--lock", str(lock), "--key", "k"]
    assert main(args) == 0
    assert hashlib.sha256(b"abc").hexdigest() in capsys.readouterr().out
    assert main(["--verify", "--out", str(out), "--lock", str(lock)]) == 0
    out.write_bytes(b"abd")
    assert main(["--verify", "--out", str(out), "--lock", str(lock)]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    r = subprocess.run(
        [sys.executable, "-m", "artrl.download", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "--url" in r.stdout and "--key" in r.stdout


def test_url_table():
    assert len(EDM_PRETRAINED) == 5 and len(EDM_FID_REFS) == 5
    for url in [*EDM_PRETRAINED.values(), *EDM_FID_REFS.values()]:
        assert url.startswith("https://nvlabs-fi-cdn.nvidia.com/edm/")
    assert EDM_PRETRAINED["cifar10-cond"].endswith("/pretrained/edm-cifar10-32x32-cond-vp.pkl")
    assert EDM_FID_REFS["cifar10"].endswith("/fid-refs/cifar10-32x32.npz")
    assert INCEPTION_TORCHSCRIPT_URL.endswith("/metrics/inception-2015-12-05.pt")
