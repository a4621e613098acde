"""Per-decision letters: adverse-action notices and explanations from this decision's
attributions, with counterfactuals, content checks against the policy packs, and storage.

Import the pieces from their modules (``auditor.letters.service.issue_letters``); this
package stays light (the spec's letters section lives in :mod:`auditor.letter_settings`).
"""
