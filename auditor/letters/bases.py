"""ECOA / Regulation B prohibited bases; moved to :mod:`auditor.letter_bases`.

Kept so that ``from auditor.letters.bases import suggestions`` (a public import path)
goes on working; the bases live below :mod:`auditor.spec`, which validates them.
"""

from auditor.letter_bases import *  # noqa: F403
from auditor.letter_bases import __all__ as __all__
