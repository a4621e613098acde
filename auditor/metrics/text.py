"""Feature and group values as text; moved to :mod:`auditor.text_values`.

Kept so that ``from auditor.metrics.text import as_text`` goes on working; the helpers
live on the bottom floor because the model checks (below the metrics) use them too.
"""

from auditor.text_values import *  # noqa: F403
from auditor.text_values import __all__ as __all__
