"""Small I/O helpers shared by every module: atomic writes and config digests.

Nothing half-written is ever taken as done: every output goes to a temporary file in the
same directory and is renamed into place (``os.replace`` is atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    def _w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, _w)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class InputError(ValueError):
    """A known bad input (a torn or foreign file, a file in the wrong slot, a bad setting).

    Its message names the file or key and says what to do; command lines print it as one
    ``error: …`` line and exit with status 2, without a traceback (:func:`run_cli`).
    """


#: what to do with a generated file that cannot be read: the workflow remakes it
REMAKE = "delete it and rerun (the workflow remakes it)"


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e}); {REMAKE}") from None


def load_dataset_config(text: str) -> dict:
    """A dataset's config entry, given as a JSON string or as the path of a JSON/YAML file."""
    path = Path(text)
    if not text.lstrip().startswith("{") and path.exists():
        import yaml

        return yaml.safe_load(path.read_text())
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(
            f"error: --dataset-config is neither a file nor valid JSON ({e})"
        ) from None


def read_npz(
    path: str | os.PathLike, keys: Sequence[str], what: str, optional: Sequence[str] = ()
) -> list[Any]:
    """Arrays ``keys`` (and ``optional`` ones, ``None`` where absent) of an ``.npz`` file.

    Never unpickles (``allow_pickle=False``). A missing, torn, truncated or foreign file is an
    :class:`InputError` naming it, what it should be, and the fix.
    """
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    bad = (OSError, EOFError, ValueError, zipfile.BadZipFile)
    try:
        z = np.load(path, allow_pickle=False)
    except bad as e:
        raise InputError(f"{path}: not a readable .npz {what} ({e}); {REMAKE}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: a .npy array, not an .npz {what}; {REMAKE}")
    with z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise InputError(
                f"{path}: {what} lacks key(s) {missing} (has {sorted(z.files)}); {REMAKE}"
            )
        try:
            return [z[k] for k in keys] + [z[k] if k in z.files else None for k in optional]
        except bad as e:
            raise InputError(f"{path}: corrupt .npz {what} ({e}); {REMAKE}") from None


def read_npz_all(path: str | os.PathLike, required: Sequence[str], what: str) -> dict[str, Any]:
    """Every array of an ``.npz`` file as a dict (``required`` keys checked), errors as in
    :func:`read_npz`."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
    except (OSError, EOFError, ValueError, AttributeError, zipfile.BadZipFile):
        names = []  # read_npz names the problem
    arrays = read_npz(path, required, what, [k for k in names if k not in required])
    return dict(zip([*required, *[k for k in names if k not in required]], arrays, strict=True))


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_input_error(e: BaseException) -> bool:
    """Whether ``e`` is a known bad input: an :class:`InputError`, a missing input file, or an
    exception whose class sets ``input_error = True`` (:class:`artrl.schedules.ScheduleError`,
    of a module that imports no other artrl module)."""
    if isinstance(e, InputError | FileNotFoundError):
        return True
    return getattr(type(e), "input_error", False) is True


def run_cli(main: Callable[..., Any], argv: list[str] | None = None) -> int:
    """Run a command line's ``main``; a known bad input ends it with one ``error: …`` line.

    A known bad input (:func:`is_input_error`) exits with status 2 and no traceback; any
    other exception is a bug and keeps its traceback. ``ARTRL_TRACEBACK=1`` shows every one.
    ``main`` may return an exit status (an int); anything else counts as success.
    """
    import sys

    try:
        rc = main(argv)
    except Exception as e:
        if not is_input_error(e) or os.environ.get("ARTRL_TRACEBACK"):
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0


def config_digest(obj: Any, length: int = 12) -> str:
    """A short, stable sha256 digest of a JSON-serialisable config fragment."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


#: the timestamp of every member of the npz files written here (the zip format's earliest)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """``np.savez`` to ``path`` atomically, and byte-reproducibly.

    The same arrays always give the same bytes: ``np.savez`` stamps each zip member with the
    current time, here every member carries a fixed timestamp (``np.load`` reads it as usual).
    Object arrays are refused (``np.load`` would need ``allow_pickle`` to read them back).
    """
    import zipfile

    import numpy as np

    def _w(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, value in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_STORED
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)

    return atomic_write(path, _w)


def torch_save(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` to ``path`` atomically, and byte-reproducibly.

    Through a file object: given a file *name*, ``torch.save`` names the archive's root folder
    after it, and the temporary name of :func:`atomic_write` is random.
    """
    import torch

    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    return atomic_write(path, _w)


@contextlib.contextmanager
def sigterm_flag():
    """Within the block, SIGTERM (what SLURM sends at a time limit) sets ``flag["set"]``.

    Long loops check the flag, write a checkpoint and exit with 143 instead of dying mid-write.
    Outside the main thread (where handlers cannot be installed) the flag simply stays False.
    """
    flag = {"set": False}
    try:
        old = signal.signal(signal.SIGTERM, lambda *_: flag.update(set=True))
    except ValueError:
        old = None
    try:
        yield flag
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
