"""Checked downloads for the workflow: EDM pickles, EDM FID references, the TF-Inception port.

:func:`download` streams a URL into a temporary file next to ``dest`` and renames it into place
(nothing half-written is ever taken as done), refuses a truncated response (fewer or more bytes
than ``Content-Length``), and pins the file's sha256 in a JSON lock file
(``resources/checksums.json``: ``{path relative to the lock file's folder: sha256}``). The
first download records the digest; every later download or :func:`verify` must match it.
Upstream publishes no checksums (NVlabs/edm ``README.md``; docs/references.md §3.1), hence
trust on first use.

Transient failures (HTTP 5xx/408/429, a dropped or truncated transfer, a read timeout) are
retried with exponential backoff. When the host cannot be reached at all (no network, DNS
failure, connection refused) it fails at once, naming the URL and the config key that can
point at a local copy instead (e.g. ``models.cifar10.path``, ``fid.inception_path``).

Only the standard library (``urllib``) is used. Run ``python -m artrl.download --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from artrl.io import file_sha256, read_json, run_cli, write_json

__all__ = [
    "EDM_PRETRAINED",
    "EDM_FID_REFS",
    "INCEPTION_TORCHSCRIPT_URL",
    "URLS",
    "DownloadError",
    "OfflineError",
    "ChecksumError",
    "TruncatedDownloadError",
    "download",
    "verify",
    "sha256_file",
    "lock_key",
    "read_lock",
    "main",
]

# NVIDIA EDM pretrained networks (NVlabs/edm README.md, example.py; docs/references.md §3.1).
_EDM = "https://nvlabs-fi-cdn.nvidia.com/edm"
EDM_PRETRAINED: dict[str, str] = {
    "cifar10-cond": f"{_EDM}/pretrained/edm-cifar10-32x32-cond-vp.pkl",
    "cifar10-uncond": f"{_EDM}/pretrained/edm-cifar10-32x32-uncond-vp.pkl",
    "afhqv2": f"{_EDM}/pretrained/edm-afhqv2-64x64-uncond-vp.pkl",
    "ffhq": f"{_EDM}/pretrained/edm-ffhq-64x64-uncond-vp.pkl",
    "imagenet64-cond": f"{_EDM}/pretrained/edm-imagenet-64x64-cond-adm.pkl",
}
# EDM FID reference statistics (NVlabs/edm README.md, fid.py; npz with ``mu`` and ``sigma``).
EDM_FID_REFS: dict[str, str] = {
    "cifar10": f"{_EDM}/fid-refs/cifar10-32x32.npz",
    "ffhq": f"{_EDM}/fid-refs/ffhq-64x64.npz",
    "afhqv2": f"{_EDM}/fid-refs/afhqv2-64x64.npz",
    "imagenet64": f"{_EDM}/fid-refs/imagenet-64x64.npz",
    "imagenet64-baseline": f"{_EDM}/fid-refs/imagenet-64x64-baseline.npz",
}
# NVIDIA's TorchScript port of the TF Inception graph (clean-fid's ``legacy_tensorflow`` mode;
# GaParmar/clean-fid ``cleanfid/inception_torchscript.py``); load it with cleanfid's InceptionV3W
# from a resources/ folder (docs/references.md §3.2).
INCEPTION_TORCHSCRIPT_URL = (
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
    "inception-2015-12-05.pt"
)
URLS: dict[str, str] = {
    **{f"edm-{k}": v for k, v in EDM_PRETRAINED.items()},
    **{f"fid-ref-{k}": v for k, v in EDM_FID_REFS.items()},
    "inception-torchscript": INCEPTION_TORCHSCRIPT_URL,
}

USER_AGENT = "artrl-download/0.1 (+urllib)"
_CHUNK = 1 << 20
_RETRY_HTTP = {408, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download that did not produce a verified file; the message says what to do."""


class OfflineError(DownloadError):
    """The host could not be reached at all (no retries)."""


class ChecksumError(DownloadError):
    """A file whose sha256 differs from the one recorded in the lock file."""


class TruncatedDownloadError(DownloadError):
    """A response body shorter (or longer) than its Content-Length."""


#: hex sha256 of a file's bytes (the one implementation, artrl.io.file_sha256)
sha256_file = file_sha256


# ----------------------------------------------------------------------------------------------
# The lock file


def lock_key(path: str | os.PathLike, lock_file: Path) -> str:
    """The lock entry of ``path``: relative to the lock file's folder, POSIX separators."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(lock_file.parent))
    return Path(rel).as_posix()


def read_lock(lock_file: Path) -> dict[str, str]:
    if not lock_file.exists():
        return {}
    data = read_json(lock_file)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{lock_file}: expected a JSON object {{path: sha256}}")
    return data


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Serialise read-modify-write of the lock file across processes (POSIX ``flock``)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still keeps the file whole
        yield
        return
    with open(lock_file.parent / f".{lock_file.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _record(lock_file: Path, key: str, digest: str) -> str:
    """Record ``key: digest`` unless present; return the digest now on record."""
    with _locked(lock_file):
        lock = read_lock(lock_file)
        if key not in lock:
            lock[key] = digest
            write_json(lock_file, dict(sorted(lock.items())))
        return lock[key]


def _mismatch(path: Path, lock_file: Path, key: str, expected: str, actual: str, url=None):
    src = f" downloaded from {url}" if url else ""
    return ChecksumError(
        f"{path}{src}: sha256 mismatch: expected {expected} (recorded in {lock_file} under "
        f"{key!r}), got {actual}. The file is corrupt or changed upstream. If the new file is "
        f"intended, delete the {key!r} entry from {lock_file} (and the file) and download again; "
        "otherwise restore the original file."
    )


def verify(path: str | os.PathLike, lock_file: str | os.PathLike) -> str:
    """Check ``path`` against its sha256 in ``lock_file``; return the digest.

    Raises FileNotFoundError (no file), :class:`ChecksumError` (no entry, or a mismatch).
    """
    path, lock_file = Path(path), Path(lock_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (nothing to verify)")
    key = lock_key(path, lock_file)
    expected = read_lock(lock_file).get(key)
    if expected is None:
        raise ChecksumError(
            f"{path}: no sha256 recorded in {lock_file} under {key!r}; download it with "
            "python -m artrl.download (which records it), or add the entry by hand"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise _mismatch(path, lock_file, key, expected, actual)
    return actual


# ----------------------------------------------------------------------------------------------
# Downloading


def _offline_message(url: str, key: str, dest: Path, reason: object) -> str:
    return (
        f"cannot reach {url} ({reason}). No network access? Download the file on a machine "
        f"with internet access and either copy it to {dest} or set the config key {key!r} to "
        "its local path."
    )


def _fetch_once(url: str, tmp: Path, timeout: float) -> tuple[str, int]:
    """Stream ``url`` into ``tmp``; return (sha256, bytes). Raises on a short/long body."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    opener = urllib.request.build_opener()  # proxies from the environment, read now
    h, n = hashlib.sha256(), 0
    with opener.open(request, timeout=timeout) as response, open(tmp, "wb") as f:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.strip().isdigit() else None
        while block := response.read(_CHUNK):
            f.write(block)
            h.update(block)
            n += len(block)
        f.flush()
        os.fsync(f.fileno())
    if expected is not None and n != expected:
        raise TruncatedDownloadError(
            f"{url}: received {n} bytes but Content-Length is {expected} (truncated download)"
        )
    return h.hexdigest(), n


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    lock_file: str | os.PathLike,
    key: str,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 2.0,
    quiet: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` and pin its sha256 in ``lock_file``; return ``dest``.

    If ``dest`` already exists with the recorded sha256, nothing is downloaded. ``key`` is
    the config key naming this file (used in error messages). Up to ``retries`` further
    attempts after transient failures, waiting ``backoff · 2^attempt`` seconds between them;
    no retry when the host is unreachable (:class:`OfflineError`) or on other HTTP errors.
    """
    dest, lock_file = Path(dest), Path(lock_file)
    entry = lock_key(dest, lock_file)
    recorded = read_lock(lock_file).get(entry)
    if recorded is not None and dest.is_file() and sha256_file(dest) == recorded:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        last: Exception | None = None
        for attempt in range(retries + 1):
            if attempt:
                wait = backoff * 2 ** (attempt - 1)
                if not quiet:
                    print(f"retrying {url} in {wait:.0f} s ({last})", file=sys.stderr)
                time.sleep(wait)
            try:
                digest, _ = _fetch_once(url, tmp, timeout)
                break
            except urllib.error.HTTPError as e:
                if e.code not in _RETRY_HTTP:
                    raise DownloadError(
                        f"{url}: HTTP {e.code} {e.reason}; check the URL, or set the config "
                        f"key {key!r} to a local copy of the file"
                    ) from None
                e.close()
                last = e
            except urllib.error.URLError as e:  # never connected: DNS, refused, unreachable
                raise OfflineError(_offline_message(url, key, dest, e.reason)) from None
            except (
                TruncatedDownloadError,
                http.client.HTTPException,
                ConnectionError,
                TimeoutError,
            ) as e:
                last = e
        else:
            if isinstance(last, TruncatedDownloadError):
                raise TruncatedDownloadError(
                    f"{last} after {retries + 1} attempts; {dest} was not written. Try again "
                    f"later, or set the config key {key!r} to a local copy."
                ) from None
            raise DownloadError(
                f"{url}: failed after {retries + 1} attempts ({type(last).__name__}: {last}); "
                f"{dest} was not written. Try again later, or set the config key {key!r} to a "
                "local copy."
            ) from None
        if recorded is not None and digest != recorded:
            raise _mismatch(dest, lock_file, entry, recorded, digest, url)
        os.replace(tmp, dest)
        on_record = _record(lock_file, entry, digest)  # trust on first use
        if on_record != digest:  # recorded by a concurrent download meanwhile
            dest.unlink()
            raise _mismatch(dest, lock_file, entry, on_record, digest, url)
        return dest
    finally:
        if tmp.exists():
            tmp.unlink()


# ----------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m artrl.download",
        description=(
            "Download a file atomically and pin its sha256 in a JSON lock file (recorded on "
            "first download, refused on a later mismatch)."
        ),
        epilog="known URLs (--name):\n" + "\n".join(f"  {k:28s} {v}" for k, v in URLS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", help="URL to download (or --name for a known one)")
    p.add_argument("--name", choices=sorted(URLS), metavar="NAME", help="a known URL (below)")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument(
        "--lock", default="resources/checksums.json", help="JSON lock file {path: sha256}"
    )
    p.add_argument(
        "--key",
        help="config key that can point at a local copy instead (named in error messages), "
        "e.g. models.cifar10.path or fid.inception_path; required unless --verify",
    )
    p.add_argument("--retries", type=int, default=3, help="further attempts on transient errors")
    p.add_argument("--timeout", type=float, default=60, help="socket timeout in seconds")
    p.add_argument("--verify", action="store_true", help="only check --out against the lock")
    a = p.parse_args(argv)
    try:
        if a.verify:
            digest = verify(a.out, a.lock)
        else:
            url = a.url or (URLS[a.name] if a.name else None)
            if url is None:
                p.error("give --url or --name")
            if not a.key:
                p.error("give --key (the config key that can point at a local copy)")
            download(
                url,
                a.out,
                lock_file=a.lock,
                key=a.key,
                retries=a.retries,
                timeout=a.timeout,
                quiet=False,
            )
            digest = sha256_file(a.out)
    except (DownloadError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{digest}  {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
