"""Report presets: which sections a report has and what its cover calls it.

A preset is a list of section templates (``templates/report/sections/<id>.html.j2``) plus
its cover wording. ``full`` is the complete audit report; ``ll144`` is the NYC Local Law 144
bias-audit summary (6 RCNY 5-301/5-303 layout); ``aaa`` is an impact-assessment document
that lists each element of the proposed Algorithmic Accountability Act's §4(a) with the
evidence the audit holds. To add a preset, add a :class:`Preset` to :data:`PRESETS`
(and any new section template).
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import RenderError


@dataclass(frozen=True)
class Preset:
    """A report layout: the section templates in order and the cover's wording."""

    key: str
    kicker: str
    description: str
    sections: tuple[str, ...]
    appendix_note: str
    charts: bool = False

    def templates(self) -> list[str]:
        """The template names of the sections, in order."""
        return [f"report/sections/{s}.html.j2" for s in self.sections]


PRESETS: dict[str, Preset] = {
    "full": Preset(
        key="full",
        kicker="{domain} decision audit report",
        description="the complete audit report (results, attributions, findings, appendix)",
        sections=(
            "lead",
            "toc",
            "summary",
            "scope",
            "methodology",
            "results",
            "attribution",
            "explanation_quality",
            "findings",
            "limitations",
            "appendix",
        ),
        appendix_note="the appendix (section 8)",
        charts=True,
    ),
    "ll144": Preset(
        key="ll144",
        kicker="NYC Local Law 144 bias-audit summary",
        description="NYC LL144 bias-audit summary for publication (6 RCNY 5-301, 5-303); "
        "needs the employer, tool and data facts under evidence (see docs/guides/officer.md)",
        sections=("ll144_cover", "ll144"),
        appendix_note="the companion JSON",
    ),
    "aaa": Preset(
        key="aaa",
        kicker="Algorithmic Accountability Act impact assessment (advisory)",
        description="impact-assessment checklist after the proposed AAA §4(a), with evidence",
        sections=("cover", "aaa"),
        appendix_note="section 4",
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is a :class:`RenderError`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise RenderError(
            f"Unknown report preset '{name}'; choose one of: {', '.join(PRESETS)}."
        ) from None
