"""The spec's ``letters:`` section; moved to :mod:`auditor.letter_settings`.

Kept so that ``from auditor.letters.settings import LettersSpec`` (a public import path)
goes on working; the section lives below :mod:`auditor.spec` and the letters package,
so that the spec does not import the letters.
"""

from auditor.letter_settings import *  # noqa: F403
from auditor.letter_settings import __all__ as __all__
