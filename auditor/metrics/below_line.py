"""One-sided tests that a group's rate ratio is below a line (e.g. the four-fifths line).

The question a ``fail`` answers is "is there evidence that this group's rate is below
``line`` times the reference rate?", i.e. a one-sided test of H0: ratio >= line against
H1: ratio < line, on the log scale (Morris & Lobsenz 2000 test the impact ratio this way;
the standard error of a log rate ratio is Katz et al. 1978's):

    z = (log(r_g / r_j) - log(line)) / sqrt(s_g^2 + s_j^2),  s = sqrt((1 - r) / (n r)),
    p = Phi(z).

**The highest-rate reference is chosen by the data.** The observed maximum of several
noisy rates is biased upwards, so a plain test against it rejects too often. The ratio
to the true best rate M is below the line if and only if the group is below ``line``
times *some* group's true rate, so H0: r_g >= line * M is the intersection of the pair
hypotheses H0_j: r_g >= line * r_j over the other groups j. A union-intersection test
(Roy 1953; Hsu 1996, ch. 4 on comparisons with the best) rejects H0 when some pair test
rejects at a Bonferroni share of the level: pair j gets the weight w_j = n_j / sum(n),
fixed by the group sizes, never by the outcomes, so the test keeps its level whatever the
other groups' rates are, and the groups with most data (usually the reference) get most
of the level. Its p-value is ``min_j p_j / w_j`` (capped at 1). A tiny group that is
best by chance cannot force a fail: its pair test has a wide standard error and a small
weight.

(A least-favourable-configuration max-type statistic, every other group tied at M, was
tried first: one group of 40 among the others cost most of the power, because it assumes
that group's noise could set the maximum.)

With a named control group (fair lending) the reference is not chosen by the data: one
pair, weight 1, the ordinary one-sided log-ratio z-test.

A rate of 0 or 1 has no finite log-scale error; such a count gets the Haldane-Anscombe
correction (x + 0.5) / (n + 1) for the test only (the reported ratio is unchanged).
Observed (Wald) standard errors: in simulation the test rejected 3.8-4.3% at the line
for a nominal 5% (bench/bench_verdicts.py measures the whole rule).

References: Katz, D., Baptista, J., Azen, S. P. & Pike, M. C. (1978) "Obtaining
confidence intervals for the risk ratio in cohort studies", Biometrics 34(3), 469-474;
Morris, S. B. & Lobsenz, R. E. (2000) "Significance tests and confidence intervals for
the adverse impact ratio", Personnel Psychology 53(1), 89-111; Roy, S. N. (1953) "On a
heuristic method of test construction and its use in multivariate analysis", Ann. Math.
Statist. 24(2), 220-238; Hsu, J. C. (1996) *Multiple Comparisons: Theory and Methods*,
Chapman & Hall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()  # scalar normal cdf/quantiles, far cheaper than scipy's per call


@dataclass(frozen=True)
class Rate:
    """A group's favourable count ``x`` out of ``n`` (weighted: effective counts)."""

    x: float
    n: float

    def corrected(self) -> float:
        """The rate used on the log scale (Haldane-Anscombe at 0 and 1)."""
        if self.x <= 0 or self.x >= self.n:
            return (self.x + 0.5) / (self.n + 1)
        return self.x / self.n

    def log_se(self) -> float:
        """Delta-method standard error of the log rate, sqrt((1 - r) / x), corrected."""
        r = self.corrected()
        x = r * (self.n + 1) if self.x <= 0 or self.x >= self.n else self.x
        return math.sqrt((1 - r) / x)


@dataclass(frozen=True)
class PairTest:
    """One pair: the group against one candidate reference, with its share of the level."""

    log_gap: float  # log(r_g / r_j) - log(line): negative when below the line
    se: float
    weight: float

    @property
    def p_value(self) -> float:
        """One-sided p of H0_j: r_g >= line * r_j."""
        return _NORMAL.cdf(self.log_gap / self.se)


@dataclass(frozen=True)
class BelowLineTest:
    """The union-intersection test of one group against the best of the others."""

    pairs: tuple[PairTest, ...]

    @property
    def p_value(self) -> float:
        """Weighted-Bonferroni p of H0: ratio to the best rate >= line."""
        return min(1.0, min(p.p_value / p.weight for p in self.pairs))

    def power(self, level: float, true_ratio: float, line: float) -> float:
        """Power to reject at ``level`` when the true ratio to the best is ``true_ratio``.

        Taken for the pair with most power (a lower bound for the union of the pairs),
        with the observed standard errors.
        """
        shift = math.log(true_ratio / line)
        return max(
            _NORMAL.cdf(-shift / p.se - _NORMAL.inv_cdf(1 - level * p.weight))
            for p in self.pairs
        )


def below_line_test(group: Rate, others: list[Rate], line: float) -> BelowLineTest | None:
    """The test of H0: rate(group) >= line * the best rate of ``others``; None without data.

    ``others``: every candidate reference (highest-rate reference), or the one control.
    """
    pool = [r for r in others if r.n > 0]
    if group.n <= 0 or not pool or not 0 < line <= 1:
        return None
    total = sum(r.n for r in pool)
    log_g = math.log(group.corrected()) - math.log(line)
    return BelowLineTest(
        tuple(
            PairTest(
                log_g - math.log(r.corrected()),
                math.sqrt(group.log_se() ** 2 + r.log_se() ** 2),
                r.n / total,
            )
            for r in pool
        )
    )
