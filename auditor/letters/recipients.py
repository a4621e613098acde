"""Recipients of letters: name and postal address per decision, from a CSV file.

Names and addresses are personal data the audit does not need, so they are never stored
in the audit's decision tables: they are read for one batch of letters, printed in each
letter's address block (and so kept only inside the letter's HTML and PDF, which is the
letter that was sent), and the letter record says only ``addressed: true``.

The file: UTF-8 CSV with a header row; columns ``decision_id``, ``name`` and
``address_1`` … ``address_6`` (empty address lines are skipped; at least one is needed).
Other columns are ignored. Every value is plain text: the templates autoescape it and
the renderer fetches nothing, so markup or URLs in a name print as typed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import AuditorError
from auditor.input_files import read_limited

ID_COLUMN = "decision_id"
NAME_COLUMN = "name"
ADDRESS_COLUMNS = tuple(f"address_{i}" for i in range(1, 7))
MAX_FIELD = 500  # characters per value: far beyond any postal line, short of abuse
MAX_BYTES = 50_000_000
MAX_RECIPIENTS_CHARS = 20_000_000  # web uploads (held in memory)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # line breaks included: one line per column


class RecipientError(AuditorError):
    """The recipients file cannot be used (the message names the file, row and column)."""


@dataclass(frozen=True)
class Recipient:
    """Who a letter goes to."""

    name: str
    address: tuple[str, ...]
    source: str = field(default="", compare=False)  # where it was read: file and line
    line: int = field(default=0, compare=False)


def read_recipients(path: Path) -> dict[str, Recipient]:
    """Recipients by decision id from a CSV file (see the module docstring)."""
    too_large = RecipientError(f"Recipients file {path} is larger than {MAX_BYTES} bytes.")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise too_large
        # at most one byte past the limit: a device (/dev/zero) has no size and no end
        data = read_limited(path, MAX_BYTES)
    except OSError as exc:
        raise RecipientError(
            f"Cannot read recipients file {path}: {exc.strerror or exc}."
        ) from None
    if len(data) > MAX_BYTES:
        raise too_large
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipientError(
            f"Recipients file {path} is not UTF-8 text (byte {exc.start})."
        ) from None
    return parse_recipients(text, source=str(path))


def parse_recipients(text: str, *, source: str) -> dict[str, Recipient]:
    """Recipients by decision id from CSV text; ``source`` names it in errors."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise RecipientError(f"Recipients file {source} is empty.")
        header = [h.strip() for h in header]
        missing = [c for c in (ID_COLUMN, NAME_COLUMN, ADDRESS_COLUMNS[0]) if c not in header]
        if missing:
            raise RecipientError(
                f"Recipients file {source}: missing column(s) {', '.join(missing)} (expected "
                f"{ID_COLUMN}, {NAME_COLUMN}, {ADDRESS_COLUMNS[0]} … {ADDRESS_COLUMNS[-1]})."
            )
        dup = sorted({h for h in header if h and header.count(h) > 1})
        if dup:
            raise RecipientError(f"Recipients file {source}: column(s) {', '.join(dup)} twice.")
        at = {h: i for i, h in enumerate(header)}
        out: dict[str, Recipient] = {}
        first_row: dict[str, int] = {}
        for values in reader:
            row = reader.line_num  # the file's line (a quoted value may span lines)
            if not any(v.strip() for v in values):
                continue

            def cell(column: str, values: list[str] = values, row: int = row) -> str:
                raw = values[at[column]] if at[column] < len(values) else ""
                return _clean(raw, source, row, column)

            decision_id = cell(ID_COLUMN)
            if not decision_id:
                raise RecipientError(f"Recipients file {source}, line {row}: no {ID_COLUMN}.")
            if decision_id in first_row:
                raise RecipientError(
                    f"Recipients file {source}, line {row}: decision '{decision_id}' is "
                    f"listed twice (also line {first_row[decision_id]})."
                )
            name = cell(NAME_COLUMN)
            if not name:
                raise RecipientError(
                    f"Recipients file {source}, line {row}: no {NAME_COLUMN} for decision "
                    f"'{decision_id}'."
                )
            lines = tuple(v for c in ADDRESS_COLUMNS if c in at and (v := cell(c)))
            if not lines:
                raise RecipientError(
                    f"Recipients file {source}, line {row}: no address for decision "
                    f"'{decision_id}' ({ADDRESS_COLUMNS[0]} is empty)."
                )
            first_row[decision_id] = row
            out[decision_id] = Recipient(name, lines, source, row)
    except csv.Error as exc:
        raise RecipientError(
            f"Recipients file {source}, line {reader.line_num}: not valid CSV ({exc})."
        ) from None
    if not out:
        raise RecipientError(f"Recipients file {source} has no recipients.")
    return out


def match_recipients(
    recipients: Mapping[str, Recipient], audit_ids: Iterable[str], selected: Iterable[str]
) -> None:
    """Every recipient is a decision of the audit, and every selected decision has one."""
    known = set(audit_ids)
    unknown = [d for d in recipients if d not in known]
    if unknown:
        first = recipients[unknown[0]]
        raise RecipientError(
            f"Recipients file {first.source}, line {first.line}: decision '{unknown[0]}' is "
            f"not in this audit ({len(unknown)} such id(s): {_some(unknown)})."
        )
    lacking = [d for d in selected if d not in recipients]
    if lacking:
        raise RecipientError(
            f"Recipients file: no recipient for {len(lacking)} selected decision(s): "
            f"{_some(lacking)}; add them, or choose decisions with --decisions."
        )


def _clean(raw: str, source: str, row: int, column: str) -> str:
    value = raw.replace("\t", " ").strip()
    if _CONTROL.search(value):
        raise RecipientError(
            f"Recipients file {source}, line {row}, column {column}: control characters or "
            "a line break inside a value (use one address_N column per line)."
        )
    if len(value) > MAX_FIELD:
        raise RecipientError(
            f"Recipients file {source}, line {row}, column {column}: {len(value)} characters "
            f"(at most {MAX_FIELD})."
        )
    return _close_bidi(value)


def _close_bidi(value: str) -> str:
    """Close unterminated bidi embeddings, overrides and isolates, so that a right-to-left
    override in a name cannot reverse the letter text printed after it (the renderer does
    not isolate inline text)."""
    isolates = embeds = 0
    for ch in value:
        if ch in "\u2066\u2067\u2068":
            isolates += 1
        elif ch == "\u2069":
            isolates = max(0, isolates - 1)
        elif ch in "\u202a\u202b\u202d\u202e":
            embeds += 1
        elif ch == "\u202c":
            embeds = max(0, embeds - 1)
    return value + "\u202c" * embeds + "\u2069" * isolates


def _some(ids: list[str]) -> str:
    shown = ", ".join(repr(d) for d in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
