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
from auditor.letters.content import (
    KIND_TITLES,
    check_letter,
    content_packs,
    fields_for,
    letter_facts,
)
from auditor.letters.context import letter_context, method_text
from auditor.letters.counterfactuals import CounterfactualSearch
from auditor.letters.reasons import ReasonMapper
from auditor.letters.recipients import Recipient, match_recipients
from auditor.letters.render import RenderedLetter, RenderQueue, render_body, wrap
from auditor.letters.review import ReasonReview, review_reasons
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
    plan = LetterPlan.of(spec, chosen, base, x_all[base.rows], noise, len(rows))
    search = CounterfactualSearch(model, letters.counterfactual, stored.features, spec.threshold)
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
    ``total`` is the number of letters in the batch (the review's noise is drawn for
    the whole batch: see :func:`auditor.letters.review.batch_draws`).
    """

    spec: AuditSpec
    kind: str
    packs: list[Any]
    today: date
    base: Baseline
    baseline_x: np.ndarray
    noise: FeatureNoise | None
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
    ) -> LetterPlan:
        """The plan for letters of ``kind`` issued today (content packs from the spec)."""
        packs = content_packs(kind, list(spec.policies), spec.policy_folders())
        today = datetime.now(UTC).date()
        return cls(spec, kind, packs, today, base, baseline_x, noise, total)


Built = tuple[dict[str, Any], Any, str]


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
    draws: Sequence[np.ndarray] | None = None,
) -> tuple[list[Built], dict[str, int], float]:
    """Build and check the letters of some decisions of the batch; queue them to render.

    ``features``/``x``/``ids``/``favorable``: the decisions' raw inputs, encoded inputs,
    ids and outcomes, in letter order; ``index``: their places in the batch (None: they
    are the whole batch), ``draws``: the review's noise draws for them in the batch
    (:func:`auditor.letters.review.batch_draws`; None: the whole batch's).
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
    mapper = ReasonMapper(letters, model.feature_names, spec.protected)
    grouped = mapper.grouped(attr.values)
    adverse_rows = [i for i in range(len(ids)) if not favorable[i]]
    mapper.check(grouped[adverse_rows], [ids[i] for i in adverse_rows])
    review = _review(model, x, plan.baseline_x, mapper, grouped, letters, spec, plan.noise, draws)
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
    for i in range(len(ids)):
        raw = {str(k): v for k, v in features.iloc[i].items()}
        adverse_decision = not favorable[i]
        reasons = mapper.reasons(grouped[i], raw) if adverse_decision else []
        everything = mapper.principal_keys(grouped[i], limit=len(mapper.keys))
        adverse = [
            {"feature": mapper.keys[k], "contribution": round(float(grouped[i][k]), 6)}
            for k in everything
        ]
        cf = search.search(x[i]) if adverse_decision else None
        changes = cf.changes if cf is not None else None
        note = cf.note if cf is not None else "the decision was favourable"
        cf_detail = cf.detail() if cf is not None else {"note": note, "cost": None, "score": None}
        recipient = recipients.get(ids[i]) if recipients is not None else None
        records = [rs.record() for rs in reasons]
        score_value = _score_value(letters, raw)
        fields = fields_for(
            chosen,
            letters,
            domain=spec.domain,
            reasons_text="; ".join(rs.text for rs in reasons),
            factors_text="; ".join(rs.text for rs in reasons),
            data_used=", ".join(f"{k}: {v}" for k, v in raw.items()),
            sources=", ".join(sorted({e.source for e in letters.reason_codes.values()})),
            score=score_value,
        )
        check = check_letter(
            packs,
            spec.domain,
            today,
            letter_facts(chosen, fields, records, adverse, letters, changes, note),
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
        )
        body = render_body(chosen, context, anchor)
        held = adverse_decision and bool(review.needs_review[i])
        record = {
            "decision_id": decision_id,
            "kind": chosen,
            "status": "blocked" if not check.ok else "needs_review" if held else "issued",
            "reasons": records,
            "baseline": baseline_record,
            "counterfactual": changes,
            "counterfactual_note": note,
            "sha256": "",
            "failure": "; ".join(check.failures) or None,
            "checks": check.records(),
            "review": review.record(i) if adverse_decision else None,
            "counterfactual_detail": cf_detail,
            "addressed": recipient is not None,
        }
        if record["status"] != "blocked":
            title = f"{KIND_TITLES[chosen]} ({decision_id})"
            queued[anchor] = queue.add(wrap([body], title), title, letters.organisation.name)
        built.append((record, body, anchor))
    return built, queued, attr.additivity_error


def _review(
    model: Any,
    x: np.ndarray,
    baseline_x: np.ndarray,
    mapper: ReasonMapper,
    grouped: np.ndarray,
    letters: LettersSpec,
    spec: AuditSpec,
    noise: FeatureNoise | None,
    draws: Sequence[np.ndarray] | None,
) -> ReasonReview:
    """Stability of each letter's principal reasons under small input perturbations."""

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
        return [mapper.principal_keys(row) for row in values]

    return review_reasons(
        explain,
        principal,
        x,
        grouped,
        noise if noise is not None else baseline_x,
        k=letters.max_reasons,
        seed=spec.seed,
        settings=letters.review,
        draws=draws,
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


def _write(letters: list[IssuedLetter], out_dir: Path | None, json_path: Path | None) -> None:
    from auditor.service import move_into_place, stage_file

    staged = []
    try:
        if out_dir is not None:
            for lt in letters:
                if lt.pdf is not None:
                    name = _SAFE.sub("_", str(lt.record["decision_id"]))[:80] or "letter"
                    path = out_dir / f"{name}-{lt.record['kind']}.pdf"
                    staged.append((stage_file(path, lt.pdf), path))
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


def _score_value(letters: LettersSpec, raw: dict[str, Any]) -> float | None:
    feature = letters.consumer_report.score_feature
    value = raw.get(feature) if feature else None
    return float(value) if isinstance(value, int | float) and np.isfinite(value) else None
