"""Quarters as calendar labels ("2017-Q3") and as integer indices on a run's time axis."""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter. ``ordinal`` counts quarters since year 0 (Q1 of year 0 is 0)."""

    ordinal: int

    @classmethod
    def parse(cls, text: object) -> "Quarter":
        """Parse ``"YYYY-Qn"``; raises ``ValueError`` with the expected form."""
        match = _QUARTER.match(str(text).strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"a quarter written YYYY-Qn (e.g. 2017-Q3), got {text!r}")
        return cls(int(match.group(1)) * 4 + int(match.group(2)) - 1)

    @property
    def year(self) -> int:
        return self.ordinal // 4

    @property
    def q(self) -> int:
        return self.ordinal % 4 + 1

    def __add__(self, n: int) -> "Quarter":
        return Quarter(self.ordinal + n)

    def __sub__(self, other: "Quarter") -> int:
        return self.ordinal - other.ordinal

    def __str__(self) -> str:
        return f"{self.year}-Q{self.q}"

    def end_date(self) -> str:
        """ISO date of the quarter's last day."""
        return {1: f"{self.year}-03-31", 2: f"{self.year}-06-30",
                3: f"{self.year}-09-30", 4: f"{self.year}-12-31"}[self.q]


@dataclass(frozen=True)
class TimeAxis:
    """The quarters a run simulates: step ``t`` (1-based) ends at quarter ``start + t - 1``.

    Step 0 is the initial state at the start of ``start``; the model takes ``n_steps`` steps,
    the last one ending at ``end``.
    """

    start: Quarter
    end: Quarter

    @property
    def n_steps(self) -> int:
        return self.end - self.start + 1

    def step_of(self, quarter: Quarter) -> int:
        """1-based step index whose quarter is ``quarter``."""
        return quarter - self.start + 1

    def quarter_of(self, step: int) -> Quarter:
        return self.start + (step - 1)

    def year_end_steps(self) -> list[int]:
        """Steps ending in Q4, plus the final step if it is not a Q4."""
        steps = [s for s in range(1, self.n_steps + 1) if self.quarter_of(s).q == 4]
        if not steps or steps[-1] != self.n_steps:
            steps.append(self.n_steps)
        return steps
