"""``auditor policies``: list, show and validate policy packs and their fixtures."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from auditor._cli_common import err, guard, out
from auditor.policy.describe import basis_text, describe
from auditor.policy.loader import PolicyPack
from auditor.policy.schema import Rule

policy_app = typer.Typer(help="Inspect and validate the policy packs.", no_args_is_help=True)

ExtraOption = Annotated[
    list[Path] | None,
    typer.Option("--policy-path", help="Also read an organisation's packs from this folder."),
]


def _all_packs(extra: list[Path] | None) -> list[PolicyPack]:
    from auditor.policy import available_packs, load_packs

    folders = extra or []
    return guard(lambda: load_packs(available_packs(extra=folders), extra=folders))


def _print(text: str, *, markup: bool = False) -> None:
    out.print(text, highlight=False, markup=markup, soft_wrap=True)


@policy_app.command("list")
def policies_list(
    domain: Annotated[
        str | None, typer.Option(help="Only rules for this domain: credit or hiring.")
    ] = None,
    jurisdiction: Annotated[
        str | None, typer.Option(help="Only this jurisdiction or its parts, e.g. US or EU.")
    ] = None,
    policy_path: ExtraOption = None,
) -> None:
    """List the packs and their rules (id, status, severity, citation)."""
    for pack in _all_packs(policy_path):
        rules = [r for r in pack.rules if _matches(r, domain, jurisdiction)]
        if not rules:
            continue
        advisory = " (advisory)" if pack.meta.advisory else ""
        _print(
            f"[bold]{escape(pack.meta.id)}[/] {escape(pack.meta.version)}{advisory}: "
            f"{escape(pack.meta.title)}",
            markup=True,
        )
        today = date.today()
        for rule in rules:
            since = f" from {rule.effective_from}" if rule.effective_from else ""
            mark = "" if rule.verified else "  (unverified)"
            _print(
                f"  {rule.id}  [{rule.status_on(today)} on {today}{since}, {rule.domain}, "
                f"{rule.severity}]  {rule.citation}{mark}"
            )


@policy_app.command("show")
def policies_show(
    rule_id: Annotated[str, typer.Argument(help="A rule id, e.g. EEOC-UGESP-4D-FOUR-FIFTHS.")],
    policy_path: ExtraOption = None,
) -> None:
    """Print one rule in plain language, with its citation, status and sources."""
    for pack in _all_packs(policy_path):
        for rule in pack.rules:
            if rule.id.upper() == rule_id.upper():
                _show(pack, rule)
                return
    err.print(f"[bold red]error:[/] no rule '{escape(rule_id)}'; see `auditor policies list`.")
    raise typer.Exit(2)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(
            f"[bold red]error:[/] {option}: '{escape(text)}' is not a date (YYYY-MM-DD).",
            highlight=False,
        )
        raise typer.Exit(2) from None


@policy_app.command("diff")
def policies_diff(
    date_from: Annotated[str, typer.Option("--from", help="The earlier date, YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="The later date, YYYY-MM-DD.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    policy_path: ExtraOption = None,
) -> None:
    """List the rules whose status, citation or agency posture changes between two dates."""
    from auditor.policy.diff import logged_changes, status_changes

    start, end = _day(date_from, "--from"), _day(date_to, "--to")
    if end < start:
        err.print(f"[bold red]error:[/] --to {end} is before --from {start}.", highlight=False)
        raise typer.Exit(2)
    packs = _all_packs(policy_path)
    changes = status_changes(packs, start, end)
    logged = logged_changes(packs, start, end)
    if as_json:
        import json
        from dataclasses import asdict

        data = {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "rules": [
                {**asdict(c), "days": [d.isoformat() for d in c.days], "changed": c.what}
                for c in changes
            ],
            "changelog": [{**asdict(c), "day": c.day.isoformat()} for c in logged],
        }
        out.print_json(json.dumps(data))
        return
    _print(f"Rules whose standing changes between {start} and {end}: {len(changes)}")
    for c in changes:
        on = ", ".join(d.isoformat() for d in c.days)
        _print(f"  {c.rule_id} ({c.pack}): {c.before} -> {c.after} [{c.what}; on {on}]")
        if c.citation_before != c.citation_after:
            _print(f"      citation: {c.citation_before} -> {c.citation_after}")
        if c.enforcement_before != c.enforcement_after:
            _print(f"      enforcement: {c.enforcement_before} -> {c.enforcement_after}")
        for note in c.notes:
            _print(f"      note: {note}")
    if logged:
        _print(f"Pack changelog entries in the window: {len(logged)}")
        for e in logged:
            _print(f"  {e.day} {e.pack}: {e.change}")


@policy_app.command("validate")
def policies_validate(
    path: Annotated[
        Path | None,
        typer.Argument(help="A pack folder, or a folder of packs (default: the shipped packs)."),
    ] = None,
) -> None:
    """Load packs strictly and run their fixtures; exit 2 naming any problem."""
    from auditor.policy import available_packs, load_pack, load_packs
    from auditor.policy.fixtures import FixtureResult, run_fixtures

    def load() -> list[PolicyPack]:
        if path is not None and (path / "pack.yaml").is_file():
            return [load_pack(path)]
        return load_packs(available_packs(path), path)

    def fixtures() -> list[FixtureResult]:
        return [r for pack in packs for r in run_fixtures(pack)]

    packs = guard(load)
    results = guard(fixtures)
    failed = [r for r in results if not r.ok]
    for r in failed:
        err.print(
            f"fixture failed: {r.file} case '{r.case}': expected {sorted(r.expected)}, "
            f"got {sorted(r.got)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    rules = sum(len(p.rules) for p in packs)
    for pack in packs:
        for message in pack.deprecations:  # older fields still load; say how to update
            err.print(f"deprecated: {message}", highlight=False, markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(2)
    _print(f"{len(packs)} packs, {rules} rules, {len(results)} fixture cases: all valid.")


def _matches(rule: Rule, domain: str | None, jurisdiction: str | None) -> bool:
    if domain and rule.domain not in (domain, "both"):
        return False
    return not jurisdiction or rule.jurisdiction.upper().startswith(jurisdiction.upper())


def _show(pack: PolicyPack, rule: Rule) -> None:
    until = f" until {rule.effective_until}" if rule.effective_until else ""
    since = f"from {rule.effective_from}" if rule.effective_from else "no date in force"
    lines = [
        f"{rule.id}: {rule.title}",
        f"  pack        {pack.meta.id} {pack.meta.version}"
        + (" (advisory: can flag, never fail)" if pack.meta.advisory else ""),
        f"  citation    {rule.citation}",
        f"  instrument  {rule.instrument}",
        f"  status      {rule.status}, {since}{until}",
        *[
            f"  period      {p.from_ or '…'} to {p.until or '…'}: {p.status}"
            + (f" ({p.citation})" if p.citation else "")
            for p in rule.statutory_basis or []
        ],
        *[
            f"  enforcement {p.from_ or '…'} to {p.until or '…'}: "
            f"{p.posture.replace('_', ' ')} ({p.by})"
            for p in rule.enforcement
        ],
        f"  applies to  {rule.domain} decisions, jurisdiction {rule.jurisdiction}, "
        f"territory {', '.join(rule.territory_or(pack.meta.territory_or_derived())) or 'any'}",
        "  verified    "
        + (
            f"{rule.verified.source} ({rule.verified.date})"
            if rule.verified
            else "no: the citation is not yet checked against the primary text"
        ),
        f"  kind        {rule.kind} check ({rule.check.type}), severity {rule.severity}",
        f"  basis       {basis_text(rule)}",
        f"  checks      {describe(rule)}",
    ]
    if rule.notes:
        lines.append(f"  notes       {' '.join(rule.notes.split())}")
    lines += [f"  source      {s}" for s in rule.sources]
    for line in lines:
        _print(line)
