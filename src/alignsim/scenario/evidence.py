"""Evidence: every quote is checked verbatim against the source texts in ``seeds/``.

Source texts are the files directly in ``seeds/`` (``*.txt``). Evidence notes in ``seeds/notes/``
list facts with URLs and dates: a ``source`` URL must be listed there, but a quote found only in
the notes never passes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from alignsim.errors import ConfigError
from alignsim.scenario.schema import DIST_FIELDS, Prior, Scenario, iter_cited

_URL = re.compile(r"https?://[^\s;,)]+")
_TRANSLATE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                            "\u2013": "-", "\u2014": "-", "\u00a0": " "})


def normalise(text: str) -> str:
    """Collapse whitespace and typographic quotes/dashes so a quote typed in YAML matches."""
    return " ".join(text.translate(_TRANSLATE).split())


def source_texts(seeds: Path) -> str:
    """All source texts in ``seeds/`` (not its notes), normalised and joined."""
    files = sorted(p for p in seeds.glob("*.txt") if p.is_file())
    if not files:
        raise ConfigError("seeds", str(seeds), "a folder holding at least one source text (*.txt)")
    texts = []
    for p in files:
        try:
            texts.append(normalise(p.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            raise ConfigError("seeds", str(p), "source texts in UTF-8") from None
    return "\n".join(texts)


def _clean_url(url: str) -> str:
    return url.rstrip("/.`*_>]|'\"")


def listed_urls(seeds: Path) -> set[str]:
    """Every URL listed in the evidence notes (``seeds/notes/**/*.md``); a cited URL must be one."""
    notes = seeds / "notes"
    if not notes.is_dir():
        return set()
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(notes.rglob("*.md")))
    return {_clean_url(u) for u in _URL.findall(text)}


def check_scenario_evidence(scenario: Scenario, seeds: Path) -> None:
    """Raise ``ConfigError`` naming the first quote not found verbatim or URL not listed."""
    corpus = source_texts(seeds)
    urls = listed_urls(seeds)
    for path, item in iter_cited(scenario):
        if item.quote and normalise(item.quote) not in corpus:
            raise ConfigError(f"{path}.quote", item.quote, f"a passage found verbatim in a source text in {seeds}")
        for url in _URL.findall(item.source or ""):
            if _clean_url(url) not in urls:  # exactly a listed URL, not a fragment of one
                raise ConfigError(f"{path}.source", url, f"a URL listed in an evidence note in {seeds / 'notes'}")


def describe_prior(prior: Prior) -> str:
    """A short human-readable form, e.g. ``uniform(0.5, 2)``."""
    args = ", ".join(f"{getattr(prior, k):g}" for k in DIST_FIELDS[prior.dist])
    return f"{prior.dist}({args})"


def evidence_table(scenario: Scenario) -> pd.DataFrame:
    """One row per cited number or fact: path, what it is, its prior, basis and citation."""
    rows = []
    for path, item in iter_cited(scenario):
        rows.append({
            "path": path,
            "prior": describe_prior(item) if isinstance(item, Prior) else "",
            "basis": item.basis,
            "quote": item.quote or "",
            "source": item.source or "",
            "note": item.note or "",
        })
    return pd.DataFrame(rows)
