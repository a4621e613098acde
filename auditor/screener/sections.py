"""Which sections of an application move a screener's score, and which carry a probe's effect.

Three methods, all reported in score units as a mean over applications with a bootstrap
interval over applications:

* ``leave_one_out`` — score with the section minus score with the section removed (set to
  missing): what the section as a whole adds. One extra call per section per application.
* ``occlusion`` — the section's words are deleted a window at a time (``window`` words); the
  section's attribution is the sum of the score drops over its windows: what its parts add
  one at a time (for a screener that reads words independently it is close to
  leave-one-out; a screener that reacts to a section being empty shows a difference).
* ``gradient`` — for the local torch sample screener only: input x gradient of the score with
  respect to each token's presence, summed per section (no extra calls; exact section
  contributions to the logit, scaled by the sigmoid's slope).

:func:`probe_effect_by_section` asks whether a probe's paired effect runs through a section:
the effect is re-measured with each section removed from both variants; an effect that
vanishes when a section is removed runs through that section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.screener.paired import paired_bootstrap_interval

ScoreFn = Callable[[list[dict[str, object]]], list[float]]
METHODS = ("leave_one_out", "occlusion", "gradient")


@dataclass(frozen=True)
class SectionAttribution:
    """One section's mean contribution to the score over applications."""

    section: str
    mean: float
    ci_low: float
    ci_high: float
    applications: int  # applications where the section had text (others contribute 0)


@dataclass(frozen=True)
class SectionAttributions:
    method: str
    mean_score: float  # mean score of the unmodified applications
    sections: tuple[SectionAttribution, ...]
    calls: int  # records scored to compute them (0 for gradients)
    interval: str


@dataclass(frozen=True)
class ProbeSectionEffect:
    """A probe's paired effect with ``removed`` taken out of both variants (None: nothing)."""

    removed: str | None
    applications: int
    mean_difference: float
    ci_low: float
    ci_high: float


def _has_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _summaries(
    per_section: dict[str, np.ndarray],
    present: dict[str, int],
    *,
    alpha: float,
    seed: int,
    resamples: int,
) -> tuple[SectionAttribution, ...]:
    rng = np.random.default_rng(seed)
    out = []
    for section, values in per_section.items():
        low, high = paired_bootstrap_interval(values, alpha=alpha, rng=rng, resamples=resamples)
        out.append(SectionAttribution(section, float(values.mean()), low, high, present[section]))
    return tuple(out)


def section_attributions(
    score: ScoreFn,
    records: list[dict[str, object]],
    text_fields: Sequence[str],
    *,
    method: str = "leave_one_out",
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 2_000,
    window: int = 8,
    model: object | None = None,
) -> SectionAttributions:
    """Per-section attributions of ``score`` over ``records`` (see the module docstring).

    ``model`` is needed by ``method="gradient"`` only: a saved sample screener's folder or a
    loaded :class:`~auditor.screener.sample_model.SampleScreener`."""
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; use one of {METHODS}")
    if not records:
        raise ValueError("no applications to attribute")
    present = {s: sum(_has_text(r.get(s)) for r in records) for s in text_fields}
    interval = f"bootstrap over applications ({resamples:,} resamples, {100 * (1 - alpha):g}%)"
    if method == "gradient":
        base, per_section = _gradients(model, records, text_fields)
        return SectionAttributions(
            method,
            float(np.mean(base)),
            _summaries(per_section, present, alpha=alpha, seed=seed, resamples=resamples),
            0,
            interval,
        )
    batch: list[dict[str, object]] = [dict(r) for r in records]
    slots: list[tuple[int, str]] = []  # (application, section) of each extra record
    for i, record in enumerate(records):
        for section in text_fields:
            if not _has_text(record.get(section)):
                continue
            if method == "leave_one_out":
                batch.append({**record, section: None})
                slots.append((i, section))
            else:
                words = str(record[section]).split()
                for start in range(0, len(words), window):
                    kept = words[:start] + words[start + window :]
                    batch.append({**record, section: " ".join(kept) or None})
                    slots.append((i, section))
    scores = np.asarray(score(batch), dtype=float)
    if len(scores) != len(batch):
        raise ValueError(f"the screener returned {len(scores)} scores for {len(batch)} records")
    base = scores[: len(records)]
    per_section = {s: np.zeros(len(records)) for s in text_fields}
    for (i, section), value in zip(slots, scores[len(records) :], strict=True):
        per_section[section][i] += base[i] - value
    return SectionAttributions(
        method,
        float(base.mean()),
        _summaries(per_section, present, alpha=alpha, seed=seed, resamples=resamples),
        len(batch),
        interval,
    )


def _gradients(
    model: object | None, records: list[dict[str, object]], text_fields: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    import torch

    from auditor.screener import sample_model as sm

    if isinstance(model, (str, Path)):
        model = sm.load(Path(model))
    if not isinstance(model, sm.SampleScreener):
        raise ValueError("gradient attributions need the local torch sample screener (model=)")
    batch = sm.Batch(model.config, records)
    known = [s for s in text_fields if s in batch.sections]
    unknown = sorted(set(text_fields) - set(known))
    if unknown:
        raise ValueError(f"the screener does not read section(s) {', '.join(unknown)}")
    ones = {s: torch.ones(batch.sections[s][0].shape, requires_grad=True) for s in known}
    logits = torch.stack(list(model.section_logits(batch, weights=ones).values())).sum(dim=0)
    probs = torch.sigmoid(logits)
    probs.sum().backward()  # type: ignore[no-untyped-call]
    out: dict[str, np.ndarray] = {}
    rows = len(records)
    for section in known:
        flat, offsets = batch.sections[section]
        grad = ones[section].grad
        assert grad is not None
        # input x gradient: the input (token presence) is 1, so each token's term is its grad
        ends = torch.cat([offsets[1:], torch.tensor([flat.numel()])])
        index = torch.repeat_interleave(torch.arange(rows), ends - offsets)
        summed = torch.zeros(rows).index_add(0, index, grad.detach())
        out[section] = summed.numpy().astype(float)
    return probs.detach().numpy().astype(float), out


def probe_effect_by_section(
    score: ScoreFn,
    group_records: Sequence[dict[str, object]],
    reference_records: Sequence[dict[str, object]],
    sections: Sequence[str],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 2_000,
) -> list[ProbeSectionEffect]:
    """The paired effect (group variant - reference variant, per application) with nothing
    removed and with each of ``sections`` removed from both variants. ``group_records[i]``
    and ``reference_records[i]`` are the two variants of application ``i``."""
    if len(group_records) != len(reference_records):
        raise ValueError("group and reference variants must pair up one to one")
    n = len(group_records)
    batch: list[dict[str, object]] = []
    for removed in (None, *sections):
        for variants in (group_records, reference_records):
            batch.extend(dict(r) if removed is None else {**r, removed: None} for r in variants)
    scores = np.asarray(score(batch), dtype=float)
    if len(scores) != len(batch):
        raise ValueError(f"the screener returned {len(scores)} scores for {len(batch)} records")
    rng = np.random.default_rng(seed)
    out = []
    for k, removed in enumerate((None, *sections)):
        block = scores[2 * n * k : 2 * n * (k + 1)]
        diffs = block[:n] - block[n:]
        low, high = paired_bootstrap_interval(diffs, alpha=alpha, rng=rng, resamples=resamples)
        out.append(ProbeSectionEffect(removed, n, float(diffs.mean()), low, high))
    return out
