"""alignsim: Monte Carlo scenario forecasts of geopolitical alignment with Mesa agents."""

from .api import RunResult, run
from .ensemble import run_ensemble, simulate
from .errors import AlignsimError, ConfigError, RunError
from .scenario import Scenario, load_scenario

__all__ = ["AlignsimError", "ConfigError", "RunError", "RunResult", "Scenario", "load_scenario",
           "run", "run_ensemble", "simulate"]
__version__ = "0.1.0"
