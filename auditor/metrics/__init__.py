"""Group metrics from sufficient statistics, and proxy scores."""

from auditor.metrics.counts import GroupCounts, count_groups
from auditor.metrics.gap import proxy_ranking
from auditor.metrics.group_metrics import Grouping, compute_group_metrics, groupings
from auditor.metrics.practical import adjust_holm
from auditor.metrics.proxies import proxy_scores
from auditor.metrics.slices import slice_search
from auditor.metrics.stats import ratio_interval, two_proportion_p, wilson_interval
from auditor.metrics.stratified import stratified_metrics
from auditor.metrics.weighted import weighted_grouping_records

__all__ = [
    "GroupCounts",
    "Grouping",
    "adjust_holm",
    "compute_group_metrics",
    "count_groups",
    "groupings",
    "proxy_ranking",
    "proxy_scores",
    "ratio_interval",
    "slice_search",
    "stratified_metrics",
    "two_proportion_p",
    "weighted_grouping_records",
    "wilson_interval",
]
