"""alignsim: Monte Carlo scenario forecasts of geopolitical alignment with Mesa agents.

Layers (each a subpackage; arrows point down, checked by import-linter in CI):
``apps`` -> ``analyses`` -> ``runs`` -> ``outputs`` -> ``engine`` -> ``scenario`` -> ``errors``.
"""

from importlib.metadata import PackageNotFoundError, version

from alignsim import _moved
from alignsim.engine.ensemble import run_ensemble, simulate
from alignsim.errors import AlignsimError, ConfigError, RunError
from alignsim.analyses.forecast import run
from alignsim.runs.api import RunResult
from alignsim.scenario import Scenario, load_scenario

try:
    __version__ = version("alignsim")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_moved.install()

__all__ = ["AlignsimError", "ConfigError", "RunError", "RunResult", "Scenario", "__version__", "load_scenario",
           "run", "run_ensemble", "simulate"]
