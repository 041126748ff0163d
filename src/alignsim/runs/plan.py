"""What to run: a ``RunPlan`` made one of three ways, checked before any folder exists.

- ``RunPlan.fresh(config, ...)``: a scenario file (or ``Scenario``) with optional ``--set``
  overrides and Monte Carlo settings; the settings are validated by the same schema as the file
  (``monte_carlo`` in ``scenario/schema.py``), so ``--replicates 1e12`` is refused like
  ``monte_carlo.replicates: 1e12`` would be.
- ``RunPlan.resume(run_dir, ...)``: an interrupted run folder, completed in place with its
  recorded scenario (``config.resolved.yaml``, checked against the recorded hash) and settings;
  a different config, ``--set``, seed, replicate count or batch size is refused with one line.
- ``RunPlan.from_manifest(file, ...)``: the recorded config file, overrides, seed and replicates
  of a manifest, into a new folder; refused if the file now resolves to another config.

Recorded paths are absolute (plus relative to the run folder), so the last two work from any
working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from alignsim.engine.ensemble import batch_bounds
from alignsim.errors import ConfigError, RunError
from alignsim.runs.folder import RunFolder, config_hash, manifest, read_manifest_file
from alignsim.scenario import Scenario, load_scenario
from alignsim.scenario.schema import MonteCarlo


@dataclass(frozen=True)
class RunPlan:
    """A run, fully decided: scenario, Monte Carlo settings and where it is written.

    ``source`` is "fresh", "resume" or "manifest". ``out`` is the folder to create (None: the
    default ``runs/<scenario>-<time>``); ``resume_dir`` the folder a resume completes;
    ``save=False`` writes nothing. ``replicates`` is the cap when ``precision`` is set.
    """

    scenario: Scenario
    config_path: str | None
    overrides: tuple[str, ...]
    replicates: int
    seed: int
    batch_size: int
    precision: float | None = None
    source: str = "fresh"
    out: Path | None = None
    resume_dir: Path | None = None
    save: bool = True
    cap: int | None = field(default=None, repr=False)  # precision: the --replicates given (None: default cap)

    @property
    def draws(self) -> int:
        return min(self.scenario.monte_carlo.draws, self.replicates)

    @property
    def n_batches(self) -> int:
        return len(batch_bounds(self.replicates, self.batch_size))

    def manifest(self) -> dict:
        """The manifest recorded at the start of this run."""
        return manifest(self.scenario, self.config_path, self.seed, self.replicates, self.draws, self.batch_size,
                        self.overrides, self.precision)

    # ------------------------------------------------------------ the three ways to make one

    @classmethod
    def fresh(cls, config: str | Path | Scenario | None, overrides: list[str] | tuple[str, ...] = (),
              replicates: int | None = None, seed: int | None = None, batch_size: int | None = None,
              precision: float | None = None, out: str | Path | None = None, save: bool = True) -> "RunPlan":
        if config is None:
            raise ConfigError("config", None, "a scenario file (or --resume RUN_DIR / --from-manifest FILE)")
        if isinstance(config, Scenario):
            scenario, config_path = config, None
            if overrides:
                raise ConfigError("overrides", list(overrides), "no overrides with a loaded Scenario (apply them "
                                  "when loading it)")
        else:
            scenario, config_path = load_scenario(config, overrides), str(config)
        mc = checked_settings(scenario, replicates=replicates, seed=seed, batch_size=batch_size)
        if precision is not None and not 0.0 < float(precision) < 0.5:
            raise ConfigError("--precision", precision, "a half-width between 0 and 0.5, e.g. 0.01")
        if out is not None and Path(out).exists():
            raise RunError(f"--out {out}: the folder exists; choose a new one (runs never overwrite)")
        return cls(scenario, config_path, tuple(overrides), mc.replicates, mc.seed, mc.batch_size,
                   None if precision is None else float(precision), "fresh",
                   None if out is None else Path(out), None, save, replicates)

    @classmethod
    def resume(cls, run_dir: str | Path, config: str | Path | Scenario | None = None,
               overrides: list[str] | tuple[str, ...] = (), replicates: int | None = None,
               seed: int | None = None, batch_size: int | None = None) -> "RunPlan":
        folder = RunFolder.open(run_dir, "--resume")
        m = folder.manifest
        if folder.complete:
            raise RunError(f"--resume {run_dir}: the run is already complete; start a new run instead")
        if m.get("precision") is not None:
            raise RunError(f"--resume {run_dir}: a --precision run cannot be resumed (its size was not fixed); "
                           "start a new run")
        recorded = tuple(m.get("overrides") or ())
        if config is not None:  # given: it must resolve to the recorded config
            scenario = config if isinstance(config, Scenario) else load_scenario(config, overrides)
            digest = config_hash(scenario)
            if digest != m["config_sha256"]:
                raise RunError(f"--resume {run_dir}: the config differs from the recorded one (sha256 {digest[:12]} "
                               f"vs {str(m['config_sha256'])[:12]}); resume with the same config and --set "
                               "overrides, or start a new run")
        else:
            if overrides and tuple(overrides) != recorded:
                raise RunError(f"--set {' '.join(overrides)}: a resumed run keeps its recorded overrides "
                               f"({', '.join(recorded) or 'none'}); omit --set, or start a new run")
            scenario = folder.recorded_scenario()
        checked_settings(scenario, replicates=replicates, seed=seed, batch_size=batch_size)
        return cls(scenario, m.get("config_path"), recorded,
                   same("--replicates", replicates, m["replicates"]), same("--seed", seed, m["seed"]),
                   same("--batch-size", batch_size, m["batch_size"]), None, "resume", None, folder.path)

    @classmethod
    def from_manifest(cls, file: str | Path, replicates: int | None = None, seed: int | None = None,
                      batch_size: int | None = None, out: str | Path | None = None,
                      save: bool = True) -> "RunPlan":
        file = Path(file)
        m = read_manifest_file(file, "--from-manifest")
        base = file if file.is_dir() else file.parent
        given = m.get("config_path")
        if not given:
            raise RunError(f"--from-manifest {file}: the run was made from an in-memory scenario (no config_path)")
        candidates = [given, m.get("config_path_relative") and base / m["config_path_relative"],
                      m.get("config_path_given")]
        path = next((Path(c) for c in candidates if c and Path(c).is_file()), None)
        if path is None:
            raise RunError(f"--from-manifest {file}: the recorded config {given} is gone; restore it to reproduce "
                           "the run (its resolved copy is config.resolved.yaml beside the manifest)")
        overrides = tuple(m.get("overrides") or ())
        scenario = load_scenario(path, overrides)
        digest = config_hash(scenario)
        if digest != m["config_sha256"]:
            raise RunError(f"--from-manifest {file}: {path} now resolves to a different config (sha256 {digest[:12]} "
                           f"vs recorded {str(m['config_sha256'])[:12]}); restore the file to reproduce the run")
        reps = m.get("replicates_run") or m["replicates"]
        plan = cls.fresh(scenario, replicates=same("--replicates", replicates, reps), seed=same("--seed", seed, m["seed"]),
                         batch_size=m["batch_size"] if batch_size is None else batch_size, out=out, save=save)
        return replace(plan, config_path=str(path), overrides=overrides, source="manifest")


def same(flag: str, given: int | None, recorded: int) -> int:
    """The recorded setting; ``RunError`` if the user asked for another."""
    if given is not None and int(given) != int(recorded):
        raise RunError(f"{flag} {given} differs from the recorded {recorded}; a resumed or reproduced run "
                       "keeps the recorded settings (omit the flag)")
    return int(recorded)


def checked_settings(scenario: Scenario, **given: int | None) -> MonteCarlo:
    """The scenario's ``monte_carlo`` with the given settings, validated by the file's schema.

    An out-of-range value is refused as ``--replicates: got 1000000000000; expected ...`` before
    anything is created or allocated.
    """
    mc = scenario.monte_carlo
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        return mc
    try:
        return MonteCarlo.model_validate({**mc.model_dump(), **changes})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else next(iter(changes))
        raise ConfigError(f"--{name.replace('_', '-')}", changes.get(name, err.get("input")),
                          f"{err['msg'].removeprefix('Value error, ')} (as monte_carlo.{name} in a scenario file)") from None
