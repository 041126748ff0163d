"""MkDocs hooks (``hooks:`` in mkdocs.yml): add the generated schema reference to the site.

``schema.md`` is rendered from the pydantic models on every build (``scripts/gen_schema_docs.py``),
so it cannot fall behind the code; it is not a file in docs/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_schema_docs import render  # noqa: E402  (a sibling script, not a package)


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "schema.md", content=render()))
    return files
