"""Per-decision letters: adverse-action notices and explanations from this decision's
attributions, with counterfactuals, content checks against the policy packs, and storage.

Import the pieces from their modules (``auditor.letters.service.issue_letters``); this
package stays light because :mod:`auditor.spec` imports :mod:`auditor.letters.settings`.
"""
