"""One letter build for every source of decisions: the plan, the builder, the checks
on an audit before any letter is built.

:func:`build_letters` turns a :class:`LetterPlan` (what every letter of a batch shares:
settings, baseline, review noise, recipients, content rules, date) and some
:class:`LetterDecisions` into checked, queued letters. The stored-decisions path
(:mod:`auditor.letters.service`) calls it once for the batch; the Spark path
(:mod:`auditor.letters.spark`) once per chunk of a partition, on the executors. Both
check the audit, the kind and the model with the functions here, so the two give the
same messages.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import AuditorError
from auditor.explain.quality.stability import FeatureNoise
from auditor.letter_bases import basis_text
from auditor.letter_settings import LETTER_KINDS, LettersSpec
from auditor.letters.attribution import baseline_attributions
from auditor.letters.baseline import Baseline
from auditor.letters.consumer import consumer_facts
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
from auditor.letters.recipients import Recipient
from auditor.letters.record import IssuedLetter, LetterRecord, LetterStatus
from auditor.letters.render import RenderedLetter, RenderQueue, render_body, wrap
from auditor.letters.review import (
    MeasurementNoise,
    ReasonReview,
    calibrated,
    review_reasons,
)
from auditor.provenance import file_sha256
from auditor.spec import AuditSpec, load_spec

Progress = Callable[[int, int], None]


class LetterError(AuditorError):
    """Letters cannot be issued for this audit or selection."""


def _scoring_threads() -> contextlib.AbstractContextManager[Any]:
    """Score on one OpenMP thread (this thread only) while letters are built: LightGBM's
    threads on the counterfactual search's small batches cost more than they save
    (measured 1.7-2.8x slower per call with two threads on the shared machine), and with
    render processes the other cores are theirs. Not around the attributions: numba's
    kernels use OpenMP too and do gain from the threads."""
    from threadpoolctl import threadpool_limits

    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="openmp")
    return limits


@dataclass(frozen=True)
class LetterPlan:
    """What every letter of one batch shares, taken from all the audit's decisions.

    The in-memory path computes it from the stored decisions; the Spark path
    (:mod:`auditor.letters.spark`) from per-partition summaries, to the same values.
    ``total`` is the number of letters in the batch; ``noise`` the review's noise
    scales, calibrated per feature (:func:`auditor.letters.review.calibrated`);
    ``recipients`` (decision id -> name and address) addresses the letters (None: none).
    """

    spec: AuditSpec
    kind: str
    packs: list[Any]
    today: date
    base: Baseline
    baseline_x: np.ndarray
    noise: MeasurementNoise | None
    total: int
    recipients: Mapping[str, Recipient] | None = None

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
        recipients: Mapping[str, Recipient] | None = None,
    ) -> LetterPlan:
        """The plan for letters of ``kind`` issued today (content packs from the spec)."""
        if spec.letters is None:
            raise LetterError("The spec has no 'letters:' section.")
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
        return cls(spec, kind, packs, today, base, baseline_x, measured, total, recipients)


@dataclass(frozen=True)
class LetterDecisions:
    """Some decisions of a batch, in letter order: raw inputs (``features``), encoded
    inputs (``x``), ids and favourable outcomes. ``index``: their places in the batch
    (None: they are the whole batch); each decision's review draws come from its id
    alone. ``reports``: per letter, the values of the consumer-report columns the spec
    names (:mod:`auditor.letters.consumer`; None: none named)."""

    features: pd.DataFrame
    x: np.ndarray
    ids: Sequence[str]
    favorable: np.ndarray
    index: np.ndarray | None = None
    reports: Sequence[Mapping[str, Any]] | None = None


Built = tuple[LetterRecord, Any, str]


def _categorical(model: Any) -> list[str]:
    """The model's categorical inputs (their codes are never perturbed as numbers; a
    LightGBM model lists them with their levels, or None when integer-coded already)."""
    categories = getattr(model, "categories", None)
    return [str(name) for name in categories] if isinstance(categories, Mapping) else []


@dataclass(frozen=True)
class BuiltLetters:
    """Letters built and queued: (record, body, anchor) per letter, the render queue's
    index per anchor, and the attributions' largest additivity error (recorded on every
    letter of the batch: the caller of a part takes the largest of the parts)."""

    built: list[Built]
    queued: dict[str, int]
    additivity_error: float


def build_letters(
    plan: LetterPlan,
    decisions: LetterDecisions,
    *,
    model: Any,
    search: CounterfactualSearch,
    queue: RenderQueue,
    scope: contextlib.ExitStack,
) -> BuiltLetters:
    """Build and check the letters of some decisions of the batch; queue them to render
    (``queue``; ``scope`` holds the scoring-thread limit until the caller is done)."""
    spec, chosen, base = plan.spec, plan.kind, plan.base
    letters = spec.letters
    if letters is None:
        raise LetterError("The spec has no 'letters:' section.")
    features, x, ids = decisions.features, decisions.x, decisions.ids
    favorable, reports, recipients = decisions.favorable, decisions.reports, plan.recipients
    index = decisions.index
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
        status: LetterStatus = "blocked" if failures else "needs_review" if held else "issued"
        # the status is printed on every page of a letter that must not be mailed
        body = render_body(chosen, {**context, "status": status}, anchor)
        record = LetterRecord(
            decision_id=decision_id,
            kind=chosen,
            status=status,
            reasons=records,
            baseline=baseline_record,
            counterfactual=changes,
            counterfactual_note=note,
            sha256="",  # set once rendered (finish_letters)
            failure="; ".join(failures) or None,
            checks=check.records(),
            review=review.record(i) if adverse_decision else None,
            counterfactual_detail=cf_detail,
            addressed=recipient is not None,
            withheld_reasons=withheld if credit else None,
        )
        # blocked letters are rendered too (watermarked), so the reviewer sees what failed
        title = f"{KIND_TITLES[chosen]} ({decision_id})"
        queued[anchor] = queue.add(wrap([body], title), title, letters.organisation.name)
        built.append((record, body, anchor))
    return BuiltLetters(built, queued, attr.additivity_error)


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


def finish_letters(
    letters: BuiltLetters, kind: str, rendered: list[RenderedLetter]
) -> list[IssuedLetter]:
    """The issued letters: each record with its rendered document's SHA-256."""
    # letters held for review are rendered too: the reviewer reads the letter as it would go
    out: list[IssuedLetter] = []
    for record, body, anchor in letters.built:
        if anchor in letters.queued:
            done = rendered[letters.queued[anchor]]
            out.append(IssuedLetter(record.with_digest(done.sha256), done.html, done.pdf))
        else:
            html = wrap([body], KIND_TITLES[kind])
            digest = hashlib.sha256(html.encode()).hexdigest()
            out.append(IssuedLetter(record.with_digest(digest), html, None))
    return out


def audit_spec(data: dict[str, Any], spec_dir: str, audit_id: str) -> AuditSpec:
    """The stored audit's spec, which must have a ``letters:`` section."""
    spec = load_spec(data, base_dir=Path(spec_dir))
    if spec.letters is None:
        raise LetterError(f"Audit {audit_id}: its spec has no 'letters:' section.")
    return spec


def choose_kind(kind: str | None, letters: LettersSpec, domain: str) -> str:
    """The letter kind asked for, else the spec's first, checked against the domain."""
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


def audited_model(spec: AuditSpec, expected: str | None, audit_id: str) -> Any:
    """The audit's model, loaded only when its file's SHA-256 is the audited one."""
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


def unknown_decisions(unknown: Sequence[str]) -> LetterError:
    """The error for ``--decisions`` ids not in the audited data (none given: empty)."""
    return LetterError(
        f"--decisions: unknown decision id(s) {', '.join(unknown) or '(none given)'}; "
        "use 'adverse', 'all' or ids from the audited data."
    )
