"""Errors a user can act on: each names the field, the value given and what was expected."""

from __future__ import annotations


class AlignsimError(Exception):
    """Base class for errors reported to the user as one line (exit code 2)."""


class ConfigError(AlignsimError):
    """A scenario, sweep or override value is invalid.

    Args:
        field: dotted path of the offending field, e.g. ``drivers.trust.weight.low``.
        value: the value given (shown with ``repr``, truncated).
        expected: what would have been accepted.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = _one_line(field)
        self.value = value
        self.expected = expected
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        expected = " ".join(str(expected).split())  # one line, whatever the source text held
        super().__init__(f"{self.field or '<document>'}: got {shown}; expected {expected}")


def _one_line(field: str) -> str:
    """A field path as typed, with control characters (a key such as ``"\\n"``) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(field))


class RunError(AlignsimError):
    """A run cannot proceed (existing output folder, numerical failure, resume mismatch)."""
