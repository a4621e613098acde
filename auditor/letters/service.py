"""``issue_letters``: letters for stored decisions of a stored audit (CLI and web UI).

Data: the decisions (model inputs, scores, outcomes) come from the database, stored with
the audit. Model: reloaded from the audit's spec (path resolved against the spec's folder
at audit time) and used only after its SHA-256 matches the audit's fingerprint, because
reasons and counterfactuals must come from the model that made the decisions.
Nothing is written unless every letter was built: letters go to the database in one
transaction, then the files are moved into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import AuditorError
from auditor.explain.quality.stability import FeatureNoise
from auditor.letters.attribution import baseline_attributions
from auditor.letters.baseline import Baseline, choose_baseline
from auditor.letters.bases import basis_text
from auditor.letters.consumer import consumer_facts, read_report_columns
from auditor.letters.content import (
    KIND_TITLES,
    check_letter,
    content_packs,
    fields_for,
    letter_facts,
    weight_text,
)
from auditor.letters.context import letter_context, method_text
from auditor.letters.counterfactuals import CounterfactualSearch
from auditor.letters.reasons import ReasonMapper
from auditor.letters.recipients import Recipient, match_recipients
from auditor.letters.render import RenderedLetter, RenderQueue, render_body, wrap
from auditor.letters.review import (
    MeasurementNoise,
    ReasonReview,
    calibrated,
    hold_summary,
    review_reasons,
)
from auditor.letters.settings import LETTER_KINDS, LettersSpec
from auditor.provenance import current_user, file_sha256
from auditor.spec import AuditSpec, load_spec
from auditor.store import Store, load_result
from auditor.store.decisions import (
    StoredDecisions,
    add_letters,
    decision_source,
    load_decisions,
)

Progress = Callable[[int, int], None]
BATCH = 40  # kept for callers; letters now go to the renderers in chunks (letters.pdf.CHUNK)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class LetterError(AuditorError):
    """Letters cannot be issued for this audit or selection."""


@dataclass(frozen=True)
class IssuedLetter:
    """One letter: its record (the JSON contract) and, when issued, its PDF."""

    record: dict[str, Any]
    html: str
    pdf: bytes | None

    @property
    def issued(self) -> bool:
        """Whether the letter was issued: content checks passed and its reasons are stable
        (a letter held for review has a PDF but is not issued)."""
        return bool(self.record["status"] == "issued")


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


def _scoring_threads() -> contextlib.AbstractContextManager[Any]:
    """Score on one OpenMP thread (this thread only) while letters are built: LightGBM's
    threads on the counterfactual search's small batches cost more than they save
    (measured 1.7-2.8x slower per call with two threads on the shared machine), and with
    render processes the other cores are theirs. Not around the attributions: numba's
    kernels use OpenMP too and do gain from the threads."""
    from threadpoolctl import threadpool_limits

    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="openmp")
    return limits


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
    spec = _spec(result.spec, stored.spec_dir, audit_id)
    letters = spec.letters
    assert letters is not None  # checked by _spec
    chosen = _kind(kind, letters, spec.domain)
    model = _model(spec, result.provenance.model_sha256, audit_id)
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
    plan = LetterPlan.of(spec, chosen, base, x_all[base.rows], noise, len(rows), model)
    search = CounterfactualSearch(model, letters.counterfactual, stored.features, spec.threshold)
    reports = _reports(spec, result.provenance.data_sha256, [stored.ids[r] for r in rows], stored)
    built, queued, _ = build_letters(
        plan,
        model,
        search,
        stored.features.iloc[rows],
        x_all[rows],
        [stored.ids[r] for r in rows],
        stored.favorable[rows],
        recipients,
        queue,
        scope,
        reports=reports,
    )
    letters_out = _render(built, chosen, queue.results(), queued)
    _store(store, audit_id, letters_out)
    _write(letters_out, out_dir, json_path)
    return letters_out


@dataclass(frozen=True)
class LetterPlan:
    """What every letter of one batch shares, taken from all the audit's decisions.

    The in-memory path computes it from the stored decisions; the Spark path
    (:mod:`auditor.letters.spark`) from per-partition summaries, to the same values.
    ``total`` is the number of letters in the batch; ``noise`` the review's noise
    scales, calibrated per feature (:func:`auditor.letters.review.calibrated`).
    """

    spec: AuditSpec
    kind: str
    packs: list[Any]
    today: date
    base: Baseline
    baseline_x: np.ndarray
    noise: MeasurementNoise | None
    total: int

    @classmethod
    def of(
        cls,
        spec: AuditSpec,
        kind: str,
        base: Baseline,
        baseline_x: np.ndarray,
        noise: FeatureNoise | None,
        total: int,
        model: Any,
    ) -> LetterPlan:
        """The plan for letters of ``kind`` issued today (content packs from the spec)."""
        assert spec.letters is not None
        measured = None
        if noise is not None:
            try:
                measured = calibrated(
                    noise,
                    model.feature_names,
                    spec.letters.review,
                    categorical=_categorical(model),
                )
            except ValueError as exc:
                raise LetterError(str(exc)) from None
        packs = content_packs(kind, list(spec.policies), spec.policy_folders())
        today = datetime.now(UTC).date()
        return cls(spec, kind, packs, today, base, baseline_x, measured, total)


Built = tuple[dict[str, Any], Any, str]


def _categorical(model: Any) -> list[str]:
    """The model's categorical inputs (their codes are never perturbed as numbers; a
    LightGBM model lists them with their levels, or None when integer-coded already)."""
    categories = getattr(model, "categories", None)
    return [str(name) for name in categories] if isinstance(categories, Mapping) else []


def build_letters(
    plan: LetterPlan,
    model: Any,
    search: CounterfactualSearch,
    features: pd.DataFrame,
    x: np.ndarray,
    ids: Sequence[str],
    favorable: np.ndarray,
    recipients: Mapping[str, Recipient] | None,
    queue: RenderQueue,
    scope: contextlib.ExitStack,
    *,
    index: np.ndarray | None = None,
    reports: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[list[Built], dict[str, int], float]:
    """Build and check the letters of some decisions of the batch; queue them to render.

    ``features``/``x``/``ids``/``favorable``: the decisions' raw inputs, encoded inputs,
    ids and outcomes, in letter order; ``index``: their places in the batch (None: they
    are the whole batch); each decision's review draws come from its id alone.
    ``reports``: per letter, the values of the consumer-report columns the spec names
    (:mod:`auditor.letters.consumer`; None: none named).
    Returns (record, body, anchor) per letter, the render queue's index per anchor, and
    the attributions' largest additivity error (recorded on every letter of the batch:
    the caller of a part takes the largest of the parts).
    """
    spec, chosen, base = plan.spec, plan.kind, plan.base
    letters = spec.letters
    assert letters is not None
    at = np.arange(len(ids)) if index is None else np.asarray(index, dtype=np.int64)
    attr = baseline_attributions(
        model,
        x,
        plan.baseline_x,
        permutations=letters.baseline.permutations,
        steps=spec.explain.steps,
        seed=spec.seed,
    )
    credit = spec.domain == "credit"
    mapper = ReasonMapper(letters, model.feature_names, spec.protected, credit=credit)
    grouped = mapper.grouped(attr.values)
    raws = [{str(k): v for k, v in features.iloc[i].items()} for i in range(len(ids))]
    adverse_rows = [i for i in range(len(ids)) if not favorable[i]]
    mapper.check(
        grouped[adverse_rows], [ids[i] for i in adverse_rows], [raws[i] for i in adverse_rows]
    )
    review = _review(model, x, plan.baseline_x, mapper, grouped, letters, spec, plan.noise, ids)
    baseline_record = {
        **base.record,
        "description": base.description,
        "method": attr.method,
        "output": attr.output_space,
        "additivity_error": attr.additivity_error,
        **{f"method_{k}": v for k, v in attr.params.items()},
    }
    method = method_text(attr.method)
    packs, today = plan.packs, plan.today
    built: list[Built] = []
    queued: dict[str, int] = {}  # anchor -> index in the render queue
    scope.enter_context(_scoring_threads())
    scores = np.asarray(model.score(x), dtype=np.float64) if len(ids) else np.zeros(0)
    for i in range(len(ids)):
        raw = raws[i]
        adverse_decision = not favorable[i]
        reasons = mapper.reasons(grouped[i], raw) if adverse_decision else []
        withheld = mapper.withheld(grouped[i], raw) if adverse_decision else []
        # the adverse factors the letter may state (a prohibited basis never is): the
        # content check compares the stated reasons with these
        everything = [
            k
            for k in mapper.principal_keys(grouped[i], limit=len(mapper.keys))
            if mapper.on_basis(k, raw) is None
        ]
        adverse = [
            {"feature": mapper.keys[k], "contribution": round(float(grouped[i][k]), 6)}
            for k in everything
        ]
        if not adverse_decision and chosen == "gdpr":
            # an approved applicant's explanation (Art. 15(1)(h)): the factors that
            # helped most, checked against every helpful factor in order
            helped = mapper.helpful_keys(grouped[i], raw)
            reasons = mapper.favorable(grouped[i], raw, limit=letters.max_reasons)
            adverse = [
                {"feature": mapper.keys[k], "contribution": round(float(grouped[i][k]), 6)}
                for k in helped
            ]
        cf = search.search(x[i]) if adverse_decision else None
        changes = cf.changes if cf is not None else None
        note = cf.note if cf is not None else "the decision was favourable"
        cf_detail = cf.detail() if cf is not None else {"note": note, "cost": None, "score": None}
        recipient = recipients.get(ids[i]) if recipients is not None else None
        records = [rs.record() for rs in reasons]
        consumer = consumer_facts(letters.consumer_report, raw, reports[i] if reports else {})
        score = float(scores[i])
        fields = fields_for(
            chosen,
            letters,
            domain=spec.domain,
            reasons_text="; ".join(rs.text for rs in reasons),
            factors_text="; ".join(rs.text for rs in reasons),
            data_used=", ".join(f"{k}: {v}" for k, v in raw.items()),
            sources=", ".join(sorted({e.source for e in letters.reason_codes.values()})),
            consumer=consumer,
            favorable=not adverse_decision,
            weight=weight_text(score, spec.threshold, adverse_decision, letters.review_process),
        )
        check = check_letter(
            packs,
            spec.domain,
            today,
            letter_facts(chosen, fields, records, adverse, letters, changes, note, consumer),
        )
        decision_id = ids[i]
        anchor = f"letter-{at[i]}"
        context = letter_context(
            letters,
            chosen,
            decision_id,
            today,
            fields,
            reasons,
            mapper.favorable(grouped[i], raw),
            changes,
            note,
            raw,
            base.description,
            method,
            recipient=recipient,
            searched=cf.searched if cf is not None else (),
            domain=spec.domain,
            score=score,
            cutoff=spec.threshold,
            favorable_decision=not adverse_decision,
        )
        failures = list(check.failures)
        if withheld and withheld[0]["rank"] == 1:
            failures.insert(0, _basis_failure(withheld[0]))
        held = adverse_decision and bool(review.needs_review[i])
        status = "blocked" if failures else "needs_review" if held else "issued"
        # the status is printed on every page of a letter that must not be mailed
        body = render_body(chosen, {**context, "status": status}, anchor)
        record = {
            "decision_id": decision_id,
            "kind": chosen,
            "status": status,
            "reasons": records,
            "baseline": baseline_record,
            "counterfactual": changes,
            "counterfactual_note": note,
            "sha256": "",
            "failure": "; ".join(failures) or None,
            "checks": check.records(),
            "review": review.record(i) if adverse_decision else None,
            "counterfactual_detail": cf_detail,
            "addressed": recipient is not None,
        }
        if credit:
            record["withheld_reasons"] = withheld
        # blocked letters are rendered too (watermarked), so the reviewer sees what failed
        title = f"{KIND_TITLES[chosen]} ({decision_id})"
        queued[anchor] = queue.add(wrap([body], title), title, letters.organisation.name)
        built.append((record, body, anchor))
    return built, queued, attr.additivity_error


def _basis_failure(hit: Mapping[str, Any]) -> str:
    return (
        f"ECOA-PROHIBITED-BASIS: the principal reason is '{hit['feature']}', mapped to the "
        f"prohibited basis '{basis_text(str(hit['basis']))}' (letters.prohibited_bases); a "
        "credit decision may not be explained by it (ECOA, 12 CFR 1002.4(a)): the model's "
        "use of it needs review before any letter is sent"
    )


def _review(
    model: Any,
    x: np.ndarray,
    baseline_x: np.ndarray,
    mapper: ReasonMapper,
    grouped: np.ndarray,
    letters: LettersSpec,
    spec: AuditSpec,
    noise: MeasurementNoise | None,
    ids: Sequence[str],
) -> ReasonReview:
    """Stability of each letter's principal reason under plausible measurement noise."""

    def explain(rows: np.ndarray) -> np.ndarray:
        attr = baseline_attributions(
            model,
            rows,
            baseline_x,
            permutations=letters.baseline.permutations,
            steps=spec.explain.steps,
            seed=spec.seed,
        )
        return mapper.grouped(attr.values)

    def principal(values: np.ndarray) -> list[list[int]]:
        # the reasons the letter would state (the copies' raw values are not kept: an age
        # allowed under 1002.6(b)(2) counts as not stated here, the cautious side)
        return [mapper.stated_keys(row, {}) for row in values]

    # the reasons a letter may state (prohibited bases never are): the near tie compares
    # the principal reason with the next of these
    statable = np.array([mapper.on_basis(i, {}) is None for i in range(len(mapper.keys))])
    return review_reasons(
        explain,
        principal,
        x,
        grouped,
        noise if noise is not None else baseline_x,
        k=letters.max_reasons,
        seed=spec.seed,
        settings=letters.review,
        ids=ids,
        statable=statable,
    )


def _render(
    built: list[tuple[dict[str, Any], Any, str]],
    kind: str,
    rendered: list[RenderedLetter],
    queued: dict[str, int],
) -> list[IssuedLetter]:
    # letters held for review are rendered too: the reviewer reads the letter as it would go
    out: list[IssuedLetter] = []
    for record, body, anchor in built:
        if anchor in queued:
            done = rendered[queued[anchor]]
            record["sha256"] = done.sha256
            out.append(IssuedLetter(record, done.html, done.pdf))
        else:
            html = wrap([body], KIND_TITLES[kind])
            record["sha256"] = hashlib.sha256(html.encode()).hexdigest()
            out.append(IssuedLetter(record, html, None))
    return out


def _store(store: Store, audit_id: str, letters: list[IssuedLetter]) -> None:
    rows = [
        {
            "decision_id": lt.record["decision_id"],
            "kind": lt.record["kind"],
            "html": lt.html,
            "pdf": lt.pdf,
            "sha256": lt.record["sha256"],
            "status": lt.record["status"],
            "failure": lt.record["failure"],
            "reasons": lt.record["reasons"],
            "baseline": lt.record["baseline"],
            "counterfactual": lt.record["counterfactual"],
            "checks": lt.record["checks"],
            "review": lt.record["review"],
            "counterfactual_detail": lt.record["counterfactual_detail"],
            "addressed": lt.record["addressed"],
        }
        for lt in letters
    ]
    with store.session() as session:
        add_letters(session, audit_id, rows, user=current_user())


# where a letter's PDF goes under ``--out``: only issued letters sit in the folder itself,
# so that a folder handed to the mail room holds nothing that must not be mailed
STATUS_FOLDERS = {"issued": "", "needs_review": "held", "blocked": "blocked"}
SUMMARY_FILE = "letters-summary.json"


def letter_path(out_dir: Path, record: Mapping[str, Any]) -> Path:
    """Where ``record``'s PDF is written under ``out_dir`` (by its status)."""
    name = _SAFE.sub("_", str(record["decision_id"]))[:80] or "letter"
    folder = STATUS_FOLDERS[str(record["status"])]
    return (out_dir / folder if folder else out_dir) / f"{name}-{record['kind']}.pdf"


def _write(letters: list[IssuedLetter], out_dir: Path | None, json_path: Path | None) -> None:
    from auditor.service import move_into_place, stage_file

    staged = []
    try:
        if out_dir is not None:
            for lt in letters:
                if lt.pdf is not None:
                    path = letter_path(out_dir, lt.record)
                    staged.append((stage_file(path, lt.pdf), path))
            if letters:
                # the batch's counts and hold rate, for whoever receives the folder
                path = out_dir / SUMMARY_FILE
                summary = json.dumps(hold_summary([lt.record for lt in letters]), indent=2)
                staged.append((stage_file(path, summary.encode("utf-8")), path))
        if json_path is not None:
            data = json.dumps([lt.record for lt in letters], indent=2, ensure_ascii=False)
            staged.append((stage_file(json_path, data.encode("utf-8")), json_path))
        for tmp, final in staged:
            move_into_place(tmp, final)
        staged.clear()
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _spec(data: dict[str, Any], spec_dir: str, audit_id: str) -> AuditSpec:
    spec = load_spec(data, base_dir=Path(spec_dir))
    if spec.letters is None:
        raise LetterError(f"Audit {audit_id}: its spec has no 'letters:' section.")
    return spec


def _kind(kind: str | None, letters: LettersSpec, domain: str) -> str:
    chosen = kind or (
        letters.kinds[0] if letters.kinds else ("reg_b" if domain == "credit" else "hiring")
    )
    if chosen not in LETTER_KINDS:
        raise LetterError(f"Unknown letter kind '{chosen}'; use one of {', '.join(LETTER_KINDS)}.")
    if chosen == "reg_b" and (domain != "credit" or letters.agency is None):
        raise LetterError(
            "A reg_b notice needs a credit audit and letters.agency (the federal agency)."
        )
    return chosen


def _model(spec: AuditSpec, expected: str | None, audit_id: str) -> Any:
    from auditor.models import load_model

    if spec.model is None or expected is None:
        raise LetterError(f"Audit {audit_id} had no model: reasons need the model's attributions.")
    path = spec.resolve(spec.model.path)
    if not path.is_file():
        raise LetterError(
            f"Model file {path} of audit {audit_id} is gone; letters need the exact model "
            "that made the decisions."
        )
    actual = file_sha256(path)
    if actual != expected:
        raise LetterError(
            f"Model file {path} has changed since audit {audit_id} (SHA-256 {actual[:12]}..., "
            f"audit recorded {expected[:12]}...); letters need the exact model that made the "
            "decisions."
        )
    return load_model(spec)


def _select(decisions: str, stored: StoredDecisions) -> list[int]:
    if decisions == "adverse":
        return [i for i, f in enumerate(stored.favorable) if not f]
    if decisions == "all":
        return list(range(len(stored.ids)))
    wanted = [d.strip() for d in decisions.split(",") if d.strip()]
    index = {d: i for i, d in enumerate(stored.ids)}
    unknown = [d for d in wanted if d not in index]
    if unknown or not wanted:
        raise LetterError(
            f"--decisions: unknown decision id(s) {', '.join(unknown) or '(none given)'}; "
            "use 'adverse', 'all' or ids from the audited data."
        )
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
