"""The run folder: atomic writes, a manifest, and never overwriting what exists."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from alignsim.errors import RunError
from alignsim.outputs import figures
from alignsim.scenario import Scenario


def _atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    _atomic(path, lambda p: frame.to_csv(p, index=False))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    _atomic(path, lambda p: frame.to_parquet(p, index=True))


def save_figure(path: Path, fig) -> None:
    _atomic(path, lambda p: figures.save_png(fig, p, dpi=110))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def new_run_dir(scenario_name: str, out: str | Path | None = None, root: str | Path = "runs") -> Path:
    """Create the run folder; an existing folder is never reused or overwritten."""
    if out is not None:
        path = Path(out)
        if path.exists():
            raise RunError(f"--out {path}: the folder exists; choose a new one (runs never overwrite)")
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise RunError(f"--out {path}: cannot create the folder ({exc.strerror}); expected a writable path") from None
        return path
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{scenario_name}-{stamp}"
    path, k = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            k += 1
            path = base.with_name(f"{base.name}-{k}")


def resolved_config(scenario: Scenario) -> dict:
    """The scenario after include and overrides, as plain data."""
    return scenario.model_dump(mode="json", exclude_none=True)


def config_hash(scenario: Scenario) -> str:
    blob = json.dumps(resolved_config(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("alignsim", "numpy", "pandas", "mesa", "scipy", "pydantic", "pyarrow", "matplotlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def manifest(scenario: Scenario, config_path: str | None, seed: int, replicates: int, draws: int,
             batch_size: int, wall_seconds: float, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    return {
        "alignsim_version": versions().get("alignsim"),
        "scenario": scenario.name,
        "config_path": config_path,
        "config_sha256": config_hash(scenario),
        "overrides": list(overrides),
        "seed": int(seed),
        "replicates": int(replicates),
        "draws": int(draws),
        "batch_size": int(batch_size),
        "versions": versions(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "wall_seconds": round(float(wall_seconds), 3),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_config(path: Path, scenario: Scenario) -> None:
    write_text(path, yaml.safe_dump(resolved_config(scenario), sort_keys=False, allow_unicode=True))
