"""auditor: fairness and compliance audits of automated credit and hiring decisions."""

from auditor._version import __version__

__all__ = ["__version__"]
