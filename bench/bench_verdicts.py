"""How often the verdict rules fail a group: false alarms and detection, both rules at once.

Simulated audits of one hiring tool: sex x race/ethnicity and their intersection (as LL144
and UGESP audits tabulate them), 4,700 applicants in realistic proportions:

    White 2,400 · Hispanic or Latino 1,200 · Asian 600 · Black or African American 300 ·
    Two or More Races 150 · American Indian or Alaska Native 50; each half female, half
    male (so 12 intersectional cells of 25 to 1,200; the 25s are below the minimum size).

Selections are drawn per cell (binomial) at the base rate, times the true ratio for the
Black group (300 applicants). Each audit goes through the metrics layer (the same
``grouping_records`` and Holm adjustment as a real audit, from group counts) and the
UGESP four-fifths rule (EEOC-UGESP-4D-FOUR-FIFTHS) under each verdict rule:

- ``below_line_holm`` (default since December 2026; auditor/policy/verdict.py);
- ``raw_p`` (the rule before: ratio below 0.8 and unadjusted two-sided p < 0.05).

Scenarios: no disparity (true ratio 1 everywhere); the Black group at a true ratio of
0.60, 0.80 (exactly on the line) and 0.85. Printed per rule: the share of audits with
any ``fail`` and the share where the Black group itself fails (its intersections are
at the same ratio and count among "any").

Columns: ``below_line_holm`` (family: the audit), ``family grouping`` (the same rule with
one Holm family per grouping, spec ``verdict: {family: grouping}``), ``raw_p``; then two
yardsticks for the target group alone: ``single test`` (the one-sided log-ratio test of
the target against White, the group known to be the reference, at 0.05: no search for the
best rate, no multiplicity) and ``oracle`` (the most powerful level-0.05 test of H0:
ratio >= 0.80 for a group of 300 when the reference's true rate is known: the randomised
Karlin-Rubin binomial test, computed exactly; no test of that group can do better).

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/bench_verdicts.py [--audits 1000]
[--base 0.7 0.5 0.3] [--quick]``. 1,000 audits per scenario and base rate take about 80-130 s
on one core; ``--quick`` (100 audits) about 20 s of CPU.

Results (December 2026, 1,000 audits per cell, seed 2026; any fail / the target fails):

    base  scenario      below_line_holm   family grouping   raw_p            single  oracle
    0.70  no disparity   0.0% /  0.0%      0.0% /  0.0%     14.4% /   0.4%    0.0%    0.0%
          ratio 0.60    95.9% / 95.6%     98.8% / 98.8%    100.0% / 100.0%   99.9%   99.9%
          ratio 0.80     0.1% /  0.1%      0.7% /  0.7%     91.6% /  76.3%    4.6%    5.0%
          ratio 0.85     0.0% /  0.0%      0.0% /  0.0%     70.7% /  40.8%    0.1%    0.2%
    0.50  no disparity   0.0% /  0.0%      0.0% /  0.0%     36.7% /   2.6%    0.0%    0.0%
          ratio 0.60    66.6% / 65.4%     80.0% / 79.6%    100.0% / 100.0%   96.1%   97.7%
          ratio 0.80     0.0% /  0.0%      0.6% /  0.4%     84.9% /  66.6%    4.6%    5.0%
          ratio 0.85     0.0% /  0.0%      0.1% /  0.1%     70.5% /  42.6%    0.9%    0.6%
    0.30  no disparity   0.0% /  0.0%      0.0% /  0.0%     43.5% /   5.1%    0.0%    0.0%
          ratio 0.60    25.8% / 24.4%     40.8% / 40.1%     99.3% /  96.9%   75.7%   81.5%
          ratio 0.80     0.1% /  0.1%      0.3% /  0.3%     74.1% /  52.9%    3.9%    5.0%
          ratio 0.85     0.0% /  0.0%      0.0% /  0.0%     64.0% /  39.4%    0.7%    1.3%

The power decision (issue 17, items 1/2):

- At a 0.30 base rate 80% detection of a true 0.60 ratio in a group of 300 is not
  reachable by any valid test that estimates the reference rate: with the reference's
  rate *known* the most powerful test detects 81.5% (79.7% without randomisation), and the
  plain one-sided test against the known reference group, with no multiplicity at all,
  75.7%. At 0.50 and 0.70 the single test reaches 96% and 100%: the gap to the default
  rule is the price of family-wise control over the audit (40 comparisons in the hiring
  demo, 15 here) and of the data-chosen reference.
- A step-down max-T over the elementary pair tests (each group against each candidate
  reference, using their positive correlation instead of Bonferroni shares) was
  evaluated and not adopted: with the covariance of the log rates at the true rates, the
  single-step max-T critical value over this design's 122 pair tests is z = -3.16 at
  every base rate, stricter than the Bonferroni share the default rule gives the target's
  test against White (about z = -2.9); in 400 simulated audits it detected the 0.60 ratio
  in 94.5%, 63.7% and 20.8% at base rates 0.70, 0.50, 0.30, no better than
  ``below_line_holm``. The pair tests are many and only weakly correlated; the union over
  candidate references, not the correlation, is what costs power.
- ``verdict: {family: grouping}`` is the option with more power and a stated error rate:
  Holm within each grouping keeps the probability of a false fail in any one grouping at
  most alpha, and in the audit at most alpha x the number of groupings (0.15 here, stated
  in the report's verdict block). It detects 80.0% at 0.50 (66.6% by default) and 40.8% at
  0.30; null audits 0.0% with any fail, 0.3-0.7% at a true ratio of exactly 0.80.
- The default stays ``family: audit``: a ``fail`` then means the same thing whatever the
  number of groupings, and an audit's any-false-fail rate is at most 0.05. Where 80%
  power at a low base rate matters, it needs more applicants in the group (or a
  pre-registered single comparison), not a different multiplicity rule.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
from scipy import stats

from auditor.metrics.below_line import Rate, below_line_test
from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.metrics.practical import adjust_holm
from auditor.policy import Facts, PolicyPack, available_packs, evaluate, load_packs
from auditor.policy.verdict import VerdictRule, VerdictRuleName
from auditor.result import AttributionSummary, MetricRecord

RACES = {
    "White": 2400,
    "Hispanic or Latino": 1200,
    "Asian": 600,
    "Black or African American": 300,
    "Two or More Races": 150,
    "American Indian or Alaska Native": 50,
}
TARGET = "Black or African American"
SEXES = ("Female", "Male")
# column name -> the verdict rule and its family
VARIANTS: dict[str, VerdictRule] = {
    "below_line_holm": VerdictRule("below_line_holm"),
    "family grouping": VerdictRule("below_line_holm", family="grouping"),
    "raw_p": VerdictRule("raw_p"),
}
RULES = tuple(VARIANTS)
SCENARIOS = (
    ("no disparity", 1.0),
    ("ratio 0.60", 0.60),
    ("ratio 0.80", 0.80),
    ("ratio 0.85", 0.85),
)
MIN_GROUP_SIZE = 30
LINE = 0.8
ALPHA = 0.05


def four_fifths_rule() -> PolicyPack:
    """The UGESP pack with its four-fifths rule only."""
    (pack,) = [p for p in load_packs(available_packs()) if p.meta.id == "eeoc_ugesp"]
    rules = tuple(r for r in pack.rules if r.id == "EEOC-UGESP-4D-FOUR-FIFTHS")
    return PolicyPack(pack.meta, rules, pack.folder)


def simulate(rng: np.random.Generator, base: float, ratio: float) -> list[MetricRecord]:
    """One audit's metric records: per-cell binomial selections, three groupings."""
    cells: dict[tuple[str, str], tuple[int, int]] = {}
    for race, size in RACES.items():
        rate = base * (ratio if race == TARGET else 1.0)
        for sex in SEXES:
            n = size // 2
            cells[(sex, race)] = (int(rng.binomial(n, rate)), n)
    groupings: dict[str, dict[str, GroupCounts]] = {"sex": {}, "race_ethnicity": {}}
    groupings["sex & race_ethnicity"] = {}
    for (sex, race), (x, n) in cells.items():
        for name, key in (("sex", sex), ("race_ethnicity", race)):
            old = groupings[name].get(key, GroupCounts(0, 0))
            groupings[name][key] = GroupCounts(old.n + n, old.favorable + x)
        groupings["sex & race_ethnicity"][f"{sex} & {race}"] = GroupCounts(n, x)
    records: list[MetricRecord] = []
    for name, counts in groupings.items():
        recs, _ = grouping_records(name, counts, min_group_size=MIN_GROUP_SIZE)
        records += recs
    return adjust_holm(records)


def facts(metrics: list[MetricRecord], rule: VerdictRuleName | VerdictRule) -> Facts:
    """What the policy engine sees for one simulated audit."""
    return Facts(
        domain="hiring",
        audit_date=date(2026, 12, 6),
        metrics=tuple(metrics),
        groups=(),
        groupings=("sex", "race_ethnicity", "sex & race_ethnicity"),
        intersections=("sex & race_ethnicity",),
        features=(),
        attributions=AttributionSummary(computed=False, reason="not needed"),
        min_group_size=MIN_GROUP_SIZE,
        verdict_rule=rule if isinstance(rule, VerdictRule) else VerdictRule(rule),
    )


def oracle_power(
    n: int, base: float, ratio: float, line: float = LINE, alpha: float = ALPHA
) -> float:
    """Power of the most powerful level-``alpha`` test of H0: ratio >= ``line`` for one
    group of ``n`` when the reference's true rate ``base`` is known, at a true ``ratio``.

    With the reference rate known, H0 is p >= line * base for a binomial count: the
    Karlin-Rubin test (reject for small counts, randomised at the boundary count so that
    its size is exactly ``alpha``) is uniformly most powerful, so no test of that group,
    with or without multiplicity control, can do better; returns its rejection rate.
    """
    p0, p1 = line * base, ratio * base
    c = int(stats.binom.ppf(alpha, n, p0))
    while c >= 0 and stats.binom.cdf(c, n, p0) > alpha:
        c -= 1
    at_c = float(stats.binom.cdf(c, n, p0)) if c >= 0 else 0.0
    gamma = (alpha - at_c) / float(stats.binom.pmf(c + 1, n, p0))
    power = float(stats.binom.cdf(c, n, p1)) if c >= 0 else 0.0
    return power + gamma * float(stats.binom.pmf(c + 1, n, p1))


def single_test(metrics: list[MetricRecord]) -> bool:
    """The one-sided log-ratio test of the target against the group known to be the
    reference (White, the largest; no search for the best, no multiplicity) at ALPHA."""
    rates = {
        m.group: Rate(float(m.count or 0), float(m.n))
        for m in metrics
        if m.attribute == "race_ethnicity" and m.metric == "selection_rate"
    }
    test = below_line_test(rates[TARGET], [rates["White"]], LINE)
    return test is not None and test.p_value < ALPHA


def run(audits: int, base: float, seed: int) -> dict[tuple[str, str], tuple[float, float]]:
    """(scenario, rule) -> (share of audits with any fail, share where the target fails);
    also (scenario, "single") -> the single test's rejection share for the target."""
    pack = four_fifths_rule()
    target_scope = f"race_ethnicity={TARGET}"
    out = {}
    for s_index, (scenario, ratio) in enumerate(SCENARIOS):
        rng = np.random.default_rng([seed, s_index, int(base * 1000)])
        any_fail = dict.fromkeys(RULES, 0)
        target_fail = dict.fromkeys(RULES, 0)
        single = 0
        for _ in range(audits):
            metrics = simulate(rng, base, ratio)
            single += single_test(metrics)
            for rule in RULES:
                findings = evaluate([pack], facts(metrics, VARIANTS[rule]))
                # the verdict rule's own decision: UGESP is guidance on the audit date (issue
                # 18), so its findings warn with check_failed set where the check failed
                failed = {f.scope for f in findings if f.status == "fail" or f.check_failed}
                any_fail[rule] += bool(failed)
                target_fail[rule] += target_scope in failed
        for rule in RULES:
            out[(scenario, rule)] = (any_fail[rule] / audits, target_fail[rule] / audits)
        out[(scenario, "single")] = (single / audits, single / audits)
    return out


def main() -> None:
    """Print both rules' false-alarm and detection shares side by side."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audits", type=int, default=1000)
    ap.add_argument("--base", type=float, nargs="+", default=[0.7, 0.5, 0.3])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--quick", action="store_true", help="100 audits per scenario (about 20 s of CPU)"
    )
    args = ap.parse_args()
    audits = 100 if args.quick else args.audits
    for base in args.base:
        t0 = time.perf_counter()
        res = run(audits, base, args.seed)
        secs = time.perf_counter() - t0
        print(f"\nbase rate {base:.2f}, {audits} audits per scenario ({secs:.0f} s)")
        head = "".join(f"{r + ': any / target':>30}" for r in RULES)
        print(f"{'scenario':<14}{head}{'single test':>14}{'oracle':>9}")
        for scenario, ratio in SCENARIOS:
            cells = "".join(
                f"{res[(scenario, r)][0]:>21.1%} / {res[(scenario, r)][1]:>6.1%}" for r in RULES
            )
            single = res[(scenario, "single")][0]
            oracle = oracle_power(RACES[TARGET], base, ratio)
            print(f"{scenario:<14}{cells}{single:>14.1%}{oracle:>9.1%}", flush=True)


if __name__ == "__main__":
    main()
