"""``issue_letters``: letters for stored decisions of a stored audit (CLI and web UI).

Data: the decisions (model inputs, scores, outcomes) come from the database, stored with
the audit. Model: reloaded from the audit's spec (path resolved against the spec's folder
at audit time) and used only after its SHA-256 matches the audit's fingerprint, because
reasons and counterfactuals must come from the model that made the decisions.
Nothing is written unless every letter was built: letters go to the database in one
transaction, then the files are moved into place.

The shared pieces live beside it: the plan and the builder in :mod:`auditor.letters.plan`
(the Spark path, :mod:`auditor.letters.spark`, builds with the same), the record in
:mod:`auditor.letters.record`, the storage and files in :mod:`auditor.letters.output`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.explain.quality.stability import FeatureNoise
from auditor.letters.baseline import choose_baseline
from auditor.letters.consumer import read_report_columns
from auditor.letters.counterfactuals import CounterfactualSearch
from auditor.letters.output import (
    STATUS_FOLDERS,
    SUMMARY_FILE,
    letter_path,
    letter_paths,
    store_letters,
    write_letters,
)
from auditor.letters.plan import (
    LetterDecisions,
    LetterError,
    LetterPlan,
    Progress,
    audit_spec,
    audited_model,
    build_letters,
    choose_kind,
    finish_letters,
    unknown_decisions,
)
from auditor.letters.recipients import Recipient, match_recipients
from auditor.letters.record import IssuedLetter, LetterRecord
from auditor.letters.render import RenderQueue
from auditor.spec import AuditSpec
from auditor.store import Store, load_result
from auditor.store.decisions import (
    StoredDecisions,
    decision_source,
    load_decisions,
)

# the module's public names, as before the plan, the record and the output had their own
# modules (callers import them from here)
__all__ = [
    "BATCH",
    "STATUS_FOLDERS",
    "SUMMARY_FILE",
    "IssuedLetter",
    "LetterError",
    "LetterRecord",
    "Progress",
    "issue_letters",
    "letter_path",
    "letter_paths",
]

BATCH = 40  # kept for callers; letters now go to the renderers in chunks (letters.pdf.CHUNK)


def issue_letters(
    store: Store,
    audit_id: str,
    *,
    kind: str | None = None,
    decisions: str = "adverse",
    out_dir: Path | None = None,
    json_path: Path | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    recipients: Mapping[str, Recipient] | None = None,
    engine: str | None = None,
    master: str | None = None,
) -> list[IssuedLetter]:
    """Build, check, render and store the letters; write PDFs/JSON when asked.

    ``workers`` > 1 renders on that many processes, started at once so that they get
    ready while the attributions are computed; letters go to them as they are built.
    ``recipients`` (decision id -> name and address) addresses the letters; every
    selected decision needs one. They are printed in the letters only, never stored apart.
    ``engine``: "local" (the stored decisions, in this process) or "spark" (the audited
    data read with Spark, letters built on its executors: :mod:`auditor.letters.spark`;
    ``master`` its URL); default: "spark" for an audit run on Spark, else "local".
    """
    if engine not in (None, "local", "spark"):
        raise LetterError(f"--engine must be local or spark; got '{engine}'.")
    with store.session() as session:
        source = decision_source(session, audit_id)
    on_data = source is not None and source[0] == "data"
    if engine == "spark" or (engine is None and on_data):
        from auditor.letters.spark import issue_letters_spark

        return issue_letters_spark(
            store,
            audit_id,
            kind=kind,
            decisions=decisions,
            out_dir=out_dir,
            json_path=json_path,
            progress=progress,
            recipients=recipients,
            master=master,
        )
    if on_data:
        raise LetterError(
            f"Audit {audit_id} ran on the Spark engine: its decisions were not stored but "
            "stay in its data; issue its letters with --engine spark."
        )
    with RenderQueue(workers=workers, progress=progress) as queue, contextlib.ExitStack() as scope:
        return _issue(
            store, audit_id, queue, scope, kind, decisions, out_dir, json_path, recipients
        )


def _issue(
    store: Store,
    audit_id: str,
    queue: RenderQueue,
    scope: contextlib.ExitStack,
    kind: str | None,
    decisions: str,
    out_dir: Path | None,
    json_path: Path | None,
    recipients: Mapping[str, Recipient] | None,
) -> list[IssuedLetter]:
    with store.session() as session:
        result = load_result(session, audit_id)
        stored = load_decisions(session, audit_id)
    spec = audit_spec(result.spec, stored.spec_dir, audit_id)
    letters = spec.letters
    assert letters is not None  # checked by audit_spec
    chosen = choose_kind(kind, letters, spec.domain)
    model = audited_model(spec, result.provenance.model_sha256, audit_id)
    rows = _select(decisions, stored)
    if recipients is not None:
        match_recipients(recipients, stored.ids, [stored.ids[r] for r in rows])
    queue.expected = len(rows)  # progress total (blocked letters are not rendered)
    x_all = model.encode(stored.features)
    scores = stored.scores if stored.scores is not None else model.score(x_all)
    base = choose_baseline(
        letters.baseline, scores, stored.favorable, spec.threshold, seed=spec.seed
    )
    noise = FeatureNoise.from_reference(x_all, letters.review.noise) if rows else None
    plan = LetterPlan.of(spec, chosen, base, x_all[base.rows], noise, len(rows), model, recipients)
    search = CounterfactualSearch(model, letters.counterfactual, stored.features, spec.threshold)
    reports = _reports(spec, result.provenance.data_sha256, [stored.ids[r] for r in rows], stored)
    ids = [stored.ids[r] for r in rows]
    decided = LetterDecisions(
        stored.features.iloc[rows], x_all[rows], ids, stored.favorable[rows], reports=reports
    )
    built = build_letters(plan, decided, model=model, search=search, queue=queue, scope=scope)
    letters_out = finish_letters(built, chosen, queue.results())
    store_letters(store, audit_id, letters_out)
    write_letters(letters_out, out_dir, json_path)
    return letters_out


def _select(decisions: str, stored: StoredDecisions) -> list[int]:
    if decisions == "adverse":
        return [i for i, f in enumerate(stored.favorable) if not f]
    if decisions == "all":
        return list(range(len(stored.ids)))
    wanted = [d.strip() for d in decisions.split(",") if d.strip()]
    index = {d: i for i, d in enumerate(stored.ids)}
    unknown = [d for d in wanted if d not in index]
    if unknown or not wanted:
        raise unknown_decisions(unknown)
    return [index[d] for d in wanted]


def _reports(
    spec: AuditSpec, data_sha256: str | None, ids: list[str], stored: StoredDecisions
) -> list[dict[str, Any]] | None:
    """The consumer-report columns the spec names, per selected decision, read from the
    audited data (checked against the audit's fingerprint: the letters must describe the
    data that was audited); None when no column is named beyond the stored inputs."""
    assert spec.letters is not None
    cr = spec.letters.consumer_report
    have = list(stored.features.columns)
    if not [c for c in cr.columns.named() if c not in have]:
        return None
    from auditor.pipeline import data_sha256 as fingerprint

    where = spec.resolve(spec.data.path)
    if not where.exists() or (data_sha256 and fingerprint(spec) != data_sha256):
        raise LetterError(
            f"Data {where} is gone or changed since the audit; the consumer-report columns "
            "(letters.consumer_report.columns) are read from it."
        )
    return read_report_columns(cr, where, spec.data.format, spec.columns.id, ids, have)
