"""Policy packs: strict loading, facts, and the rule engine that produces findings."""

from auditor.policy.engine import evaluate
from auditor.policy.facts import Facts
from auditor.policy.loader import PolicyPack, available_packs, load_pack, load_packs

__all__ = ["Facts", "PolicyPack", "available_packs", "evaluate", "load_pack", "load_packs"]
