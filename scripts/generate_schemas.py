"""Write the JSON Schemas of the public JSON contracts into ``auditor/schemas/``.

The schemas are generated from the types (:func:`auditor.result.audit_result_schema`,
:func:`auditor.letters.record.letter_record_schema`); the files are kept in the package
so that users and the docs can read them without running auditor. A test fails when a
file differs from what this script writes: run it after changing a result or letter
type (``python scripts/generate_schemas.py``; ``--check`` only compares).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.letters.record import letter_record_schema
from auditor.result import audit_result_schema

FOLDER = Path(__file__).resolve().parent.parent / "auditor" / "schemas"
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "audit-result.schema.json": audit_result_schema,
    "letter-record.schema.json": letter_record_schema,
}


def render(make: Callable[[], dict[str, Any]]) -> str:
    """The file's text: sorted keys, two-space indent, a final newline."""
    return json.dumps(make(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv[1:]
    stale = []
    for name, make in SCHEMAS.items():
        path = FOLDER / name
        text = render(make)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if check:
            stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for name in stale:
        print(f"auditor/schemas/{name} is stale: run python scripts/generate_schemas.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
