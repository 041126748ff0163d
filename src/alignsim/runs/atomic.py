"""Atomic file writes: a temporary file in the same folder, then one rename over the target.

A reader (or a process that resumes after a kill) therefore sees either the old file or the
whole new one, never a part. Temporary files are named ``.<name>.<random>.tmp`` (so
``RunFolder.clean_temporary`` can find leftovers) and are created with mode ``0o666`` minus
the user's umask, like any file the user's shell would create (``tempfile.mkstemp`` would give
0600).

Fault injection for the crash tests: ``ALIGNSIM_FAULT=write:N`` ends the process with
``os._exit(137)`` (as ``kill -9`` would) half-way through the N-th atomic write of the process
(half of the temporary file written), ``ALIGNSIM_FAULT=rename:N`` just before its N-th rename.
Several points may be given, separated by commas. Unset, the hook costs one dict lookup.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

FAULT_ENV = "ALIGNSIM_FAULT"
_counts = {"write": 0, "rename": 0}


def _fault(kind: str) -> bool:
    """True if this is the write/rename at which ``ALIGNSIM_FAULT`` asks the process to die."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return False
    _counts[kind] += 1
    for point in spec.split(","):
        name, _, n = point.partition(":")
        if name.strip() == kind and n.strip().isdigit() and int(n) == _counts[kind]:
            return True
    return False


def _die() -> None:
    os._exit(137)  # what a SIGKILL leaves: no cleanup, no atexit, no finally


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (``.<name>.<random>.tmp``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file, which then replaces ``path``.

    On any error the temporary file is removed and an existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    os.close(fd)
    try:
        write(tmp)
        if _fault("write"):
            with open(tmp, "r+b") as fh:
                fh.truncate(tmp.stat().st_size // 2)
            _die()
        if _fault("rename"):
            _die()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda p: p.write_bytes(data))


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json_text(data))


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda p: frame.to_csv(p, index=False))


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda p: frame.to_parquet(p, index=True))


def save_figure(path: str | Path, fig) -> None:
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
