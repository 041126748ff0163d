"""The run folder: the one place that knows its layout.

A run folder (``runs/<scenario>-<time>/`` or ``--out``) holds, when complete::

    manifest.json          what was run (written once at the start, status running -> complete)
    config.resolved.yaml   the scenario after include and overrides
    summary.json, replicates.parquet, quarters.csv, contributions.csv, year_ends.csv, evidence.csv
    cumulative.png, contributions.png, gap_fan.png, report.html, report.md, report_figures/

and, while it runs, ``batches/batch-00012.parquet`` (the batch's replicates) followed by
``batches/batch-00012.totals.npz`` (its per-quarter totals and its identity: config hash, seed,
replicate range, and sha256 checksums of both parts). The ``.npz`` is the batch's completion
mark; ``load_batches`` accepts a batch only if everything in it matches the manifest, so a
truncated, foreign or tampered batch is run again, never mixed in.

``RunFolder`` creates a folder (never an existing one), writes every file atomically
(``runs.atomic``), holds an OS lock (``flock``, released by the kernel when the process dies) while
a process works on it, cleans temporary files left by a kill, reads a folder back, and refuses
with one line a folder it cannot trust.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fcntl
import hashlib
import io
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alignsim.engine.ensemble import BatchResult, QuarterTotals
from alignsim.errors import ConfigError, RunError
from alignsim.runs import atomic
from alignsim.runs.atomic import atomic_write, is_temporary, write_csv, write_json, write_parquet, write_text
from alignsim.scenario import Scenario

__all__ = ["FORMAT_VERSION", "RunFolder", "atomic_write", "config_hash", "manifest", "new_run_dir",
           "resolved_config", "save_figure", "write_config", "write_csv", "write_json", "write_parquet",
           "write_text"]

FORMAT_VERSION = 2  # 1: manifests before this field existed (no identity, batches without checksums)
MANIFEST = "manifest.json"
CONFIG = "config.resolved.yaml"
BATCH_DIR = "batches"
LOCK = ".lock"
IDENTITY_FIELDS = ("format_version", "config_sha256", "overrides", "seed", "replicates", "draws", "batch_size",
                   "precision")
_TOTALS_FIELDS = tuple(f.name for f in dataclasses.fields(QuarterTotals) if f.name != "n")

save_figure = atomic.save_figure
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # our own config.resolved.yaml: safe, and C is 10x faster


# ---------------------------------------------------------------- plain data of a run

def resolved_config(scenario: Scenario) -> dict:
    """The scenario after include and overrides, as plain data."""
    return scenario.model_dump(mode="json", exclude_none=True)


def config_hash(scenario: Scenario) -> str:
    """sha256 of the resolved scenario (so of the file, what it includes, and the overrides)."""
    blob = json.dumps(resolved_config(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def write_config(path: Path, scenario: Scenario) -> None:
    write_text(path, yaml.safe_dump(resolved_config(scenario), sort_keys=False, allow_unicode=True))


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


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_sources(config_path: str | Path | None, scenario: Scenario) -> dict[str, Any]:
    """Where the config came from: its absolute path, the files read (file + include) with sha256."""
    if config_path is None:
        return {"config_path": None, "config_files": {}}
    path = Path(config_path).resolve()
    files = {str(path): _file_sha256(path)} if path.is_file() else {}
    if scenario.include and path.is_file():
        inc = (path.parent / scenario.include).resolve()
        if inc.is_file():
            files[str(inc)] = _file_sha256(inc)
    return {"config_path": str(path), "config_path_given": str(config_path), "config_files": files}


def manifest(scenario: Scenario, config_path: str | Path | None, seed: int, replicates: int, draws: int,
             batch_size: int, overrides: list[str] | tuple[str, ...] = (), precision: float | None = None,
             **extra: Any) -> dict:
    """The manifest of a run (or of a sweep, with ``extra`` fields), with its identity digest."""
    data = {
        "format_version": FORMAT_VERSION,
        "alignsim_version": versions().get("alignsim"),
        "scenario": scenario.name,
        **config_sources(config_path, scenario),
        "config_sha256": config_hash(scenario),
        "overrides": list(overrides),
        "seed": int(seed),
        "replicates": int(replicates),
        "draws": int(draws),
        "batch_size": int(batch_size),
        "precision": precision,
        "versions": versions(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    data["identity_sha256"] = identity_digest(data)
    return data


def identity_digest(data: dict) -> str:
    """sha256 over the fields that decide a run's numbers (``IDENTITY_FIELDS``)."""
    blob = json.dumps({k: data.get(k) for k in IDENTITY_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def new_run_dir(scenario_name: str, out: str | Path | None = None, root: str | Path = "runs") -> Path:
    """Create an output folder; an existing folder is never reused or overwritten."""
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


def read_manifest_file(path: Path, field: str) -> dict[str, Any]:
    """A manifest.json that alignsim wrote and nobody edited, else one ``RunError`` line."""
    if path.is_dir():
        if not (path / MANIFEST).is_file() and (path / LOCK).is_file():
            raise RunError(f"{field} {path}: the run was stopped before its manifest was written, so nothing was "
                           "computed; delete the folder and start the run again")
        path = path / MANIFEST
    if not path.is_file():
        raise ConfigError(field, str(path), "a run folder holding manifest.json (or a manifest.json file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{field} {path}: not a JSON manifest written by alignsim ({exc.__class__.__name__}); "
                       "the run cannot be trusted: start a new one") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        found = data.get("format_version") if isinstance(data, dict) else None
        raise RunError(f"{field} {path}: manifest format_version {found!r}, expected {FORMAT_VERSION} "
                       "(written by another alignsim version, or not a manifest); start a new run")
    if data.get("identity_sha256") != identity_digest(data):
        raise RunError(f"{field} {path}: the manifest was edited after the run started (its identity check "
                       "fails for seed, replicates, batch size, config or overrides); start a new run")
    return data


# ---------------------------------------------------------------- the folder

class RunFolder:
    """One run folder on disk. Create with ``RunFolder.create``, open an existing one with ``open``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: int | None = None
        self._manifest: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- life cycle

    @classmethod
    def create(cls, scenario_name: str, out: str | Path | None = None, root: str | Path = "runs") -> "RunFolder":
        """Make a new folder (``out``, or ``root/<scenario>-<time>``) and lock it."""
        folder = cls(new_run_dir(scenario_name, out, root))
        folder.lock()
        return folder

    @classmethod
    def open(cls, path: str | Path, field: str = "--resume") -> "RunFolder":
        """An existing run folder whose manifest can be trusted (``RunError`` otherwise)."""
        folder = cls(path)
        folder._manifest = read_manifest_file(folder.path, field)
        return folder

    def lock(self) -> None:
        """Hold an exclusive ``flock`` on the folder until ``unlock`` or the process ends."""
        if self._lock is not None:
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(f"{self.path}: another alignsim process is working on this run folder; wait for it "
                           "to finish (or stop it) and try again") from None
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def close(self, remove_lock: bool = False) -> None:
        if remove_lock and self._lock is not None:
            (self.path / LOCK).unlink(missing_ok=True)
        self.unlock()

    def clean_temporary(self) -> list[Path]:
        """Remove temporary files left by a killed writer (call only while holding the lock)."""
        gone = [p for p in self.path.rglob("*") if p.is_file() and is_temporary(p.name)]
        for p in gone:
            p.unlink(missing_ok=True)
        return gone

    # -- manifest

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = read_manifest_file(self.path, "RUN_DIR")
        return self._manifest

    def start(self, scenario: Scenario, data: dict[str, Any]) -> None:
        """Record the run before any batch: the resolved config, then the manifest (status running).

        The manifest comes last: a folder with a manifest always has everything a resume needs.
        """
        data = {**data, "status": "running"}
        if config_path := data.get("config_path"):
            data["config_path_relative"] = os.path.relpath(config_path, self.path.resolve())
        write_config(self.path / CONFIG, scenario)
        write_json(self.path / MANIFEST, data)
        self._manifest = data

    def finish(self, **outcome: Any) -> None:
        """Mark the run complete (the last write of a run), adding ``outcome`` fields."""
        data = {**self.manifest, **outcome, "status": "complete"}
        write_json(self.path / MANIFEST, data)
        self._manifest = data

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"

    def recorded_config_path(self) -> Path | None:
        """The recorded config file, found from any working directory (absolute, then beside the folder)."""
        m = self.manifest
        for candidate in (m.get("config_path"),
                          m.get("config_path_relative") and self.path / m["config_path_relative"],
                          m.get("config_path_given")):
            if candidate and Path(candidate).is_file():
                return Path(candidate)
        return None

    def recorded_scenario(self) -> Scenario:
        """The scenario exactly as run, from config.resolved.yaml (checked against the recorded hash)."""
        from alignsim.scenario import validate_document

        path = self.path / CONFIG
        if not path.is_file():
            raise RunError(f"{self.path}: no {CONFIG}; the run was stopped before it started: start a new run")
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
            scenario = validate_document(doc if isinstance(doc, dict) else {})
        except (yaml.YAMLError, UnicodeDecodeError, ConfigError) as exc:
            raise RunError(f"{self.path}: {CONFIG} is not a valid scenario ({str(exc).splitlines()[0]})") from None
        if config_hash(scenario) != self.manifest["config_sha256"]:
            raise RunError(f"{self.path}: {CONFIG} does not match the manifest's config_sha256 (edited?); "
                           "start a new run")
        return scenario

    # -- batches

    def batch_paths(self, k: int) -> tuple[Path, Path]:
        """(replicates parquet, totals-and-identity npz) of batch ``k``."""
        base = self.path / BATCH_DIR / f"batch-{k:05d}"
        return base.with_name(base.name + ".parquet"), base.with_name(base.name + ".totals.npz")

    def save_batch(self, k: int, result: BatchResult) -> None:
        """Write batch ``k``: its replicates, then its totals with the run's identity (the completion mark)."""
        table_path, totals_path = self.batch_paths(k)
        buf = io.BytesIO()
        result.replicates.to_parquet(buf, index=True)
        table_bytes = buf.getvalue()
        atomic.write_bytes(table_path, table_bytes)
        t, m = result.totals, self.manifest
        index = result.replicates.index
        arrays = {f: np.asarray(getattr(t, f)) for f in _TOTALS_FIELDS if getattr(t, f) is not None}
        ident = {"config_sha256": np.str_(m["config_sha256"]), "seed": np.int64(m["seed"]),
                 "start": np.int64(index[0]), "stop": np.int64(index[-1] + 1), "n": np.int64(t.n),
                 "table_sha256": np.str_(hashlib.sha256(table_bytes).hexdigest()),
                 "totals_sha256": np.str_(_arrays_digest(arrays))}

        def write(p: Path) -> None:
            with open(p, "wb") as fh:
                np.savez(fh, **ident, **arrays)

        atomic_write(totals_path, write)

    def load_batches(self, bounds: list[tuple[int, int]]) -> tuple[dict[int, BatchResult], list[int]]:
        """(batches that verify, numbers of those rejected and deleted so they run again).

        A batch verifies if its mark loads, carries this run's config hash and seed, covers exactly
        ``bounds[k]``, and both checksums match. Anything else (truncated, from another run or seed,
        edited) is removed.
        """
        done: dict[int, BatchResult] = {}
        rejected: list[int] = []
        folder = self.path / BATCH_DIR
        if not folder.is_dir():
            return done, rejected
        numbers = sorted({int(p.name[6:].split(".")[0]) for p in folder.iterdir()
                          if p.name.startswith("batch-") and p.name[6:].split(".")[0].isdigit()})
        for k in numbers:
            result = self._verified_batch(k, bounds)
            if result is None:
                for p in self.batch_paths(k):
                    p.unlink(missing_ok=True)
                rejected.append(k)
            else:
                done[k] = result
        return done, rejected

    def _verified_batch(self, k: int, bounds: list[tuple[int, int]]) -> BatchResult | None:
        table_path, totals_path = self.batch_paths(k)
        if k >= len(bounds) or not (table_path.is_file() and totals_path.is_file()):
            return None
        m = self.manifest
        try:
            with np.load(totals_path, allow_pickle=False) as z:
                ident = {f: z[f].item() for f in ("config_sha256", "seed", "start", "stop", "n", "table_sha256",
                                                  "totals_sha256")}
                arrays = {f: z[f] for f in _TOTALS_FIELDS if f in z.files}  # optional ones may be absent
            table_bytes = table_path.read_bytes()
        except Exception:  # noqa: BLE001 - a truncated or foreign file of any kind is simply run again
            return None
        start, stop = bounds[k]
        if (ident["config_sha256"] != m["config_sha256"] or ident["seed"] != m["seed"]
                or (ident["start"], ident["stop"], ident["n"]) != (start, stop, stop - start)
                or ident["table_sha256"] != hashlib.sha256(table_bytes).hexdigest()
                or ident["totals_sha256"] != _arrays_digest(arrays)):
            return None
        table = pd.read_parquet(io.BytesIO(table_bytes))
        if len(table) != stop - start or table.index[0] != start:
            return None
        return BatchResult(table, QuarterTotals(stop - start, **arrays))

    def saved_batches(self) -> int:
        folder = self.path / BATCH_DIR
        return len(list(folder.glob("batch-*.totals.npz"))) if folder.is_dir() else 0

    def join_batches(self, n_batches: int) -> bool:
        """Stream the saved batch tables into one ``replicates.parquet`` (one batch in memory at a time)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        paths = [self.batch_paths(k)[0] for k in range(n_batches)]
        if not all(p.is_file() for p in paths):
            return False

        def write(tmp: Path) -> None:
            writer = None
            try:
                for p in paths:  # the replicate index becomes a column, so batches share one schema
                    table = pa.Table.from_pandas(pd.read_parquet(p), preserve_index=True)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()

        atomic_write(self.path / "replicates.parquet", write)
        return True

    def remove_batches(self) -> None:
        shutil.rmtree(self.path / BATCH_DIR, ignore_errors=True)

    # -- outputs

    def write_json(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def write_csv(self, name: str, frame: pd.DataFrame) -> None:
        write_csv(self.path / name, frame)

    def write_parquet(self, name: str, frame: pd.DataFrame) -> None:
        write_parquet(self.path / name, frame)

    def save_figure(self, name: str, fig) -> None:
        save_figure(self.path / name, fig)

    # -- reading a finished run back

    RUN_FILES = ("summary.json", MANIFEST, CONFIG, "quarters.csv", "year_ends.csv", "contributions.csv")

    def read_run(self) -> tuple[dict, dict, Scenario, dict[str, pd.DataFrame]]:
        """(summary, manifest, scenario, tables) of a run whose results are written; ``RunError`` if not."""
        from alignsim.scenario import validate_document

        d = self.path
        if not d.is_dir():
            raise RunError(f"RUN_DIR {d}: not a folder; expected a run folder written by `run`")
        missing = [f for f in self.RUN_FILES if not (d / f).is_file()]
        if missing:
            raise RunError(f"RUN_DIR {d}: missing {', '.join(missing)}; expected a finished run folder "
                           "(an interrupted run can be completed with run --resume)")
        try:
            summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
            manifest_data = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"RUN_DIR {d}: summary.json or manifest.json is not valid JSON "
                           f"({getattr(exc, 'msg', type(exc).__name__)})") from None
        try:
            doc = yaml.load((d / CONFIG).read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise RunError(f"RUN_DIR {d}: {CONFIG} is not readable YAML ({str(exc).splitlines()[0]})") from None
        try:
            scenario = validate_document(doc if isinstance(doc, dict) else {})
        except ConfigError as exc:
            raise RunError(f"RUN_DIR {d}: {CONFIG} no longer validates ({exc})") from None
        tables = {}
        for name, needed in (("quarters", "quarter"), ("year_ends", "quarter"), ("contributions", "driver")):
            try:
                tables[name] = pd.read_csv(d / f"{name}.csv")
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise RunError(f"RUN_DIR {d}: {name}.csv is not a readable table ({exc})") from None
            if needed not in tables[name]:
                raise RunError(f"RUN_DIR {d}: {name}.csv has no '{needed}' column; expected a table written by `run`")
        for key in ("probability", "start", "horizon", "event", "cumulative"):
            if key not in summary:
                raise RunError(f"RUN_DIR {d}: summary.json has no '{key}'; expected one written by `run`")
        return summary, manifest_data, scenario, tables


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()
