"""Files embedded in the full report's PDF: the spec, the JSON result, the policy fixtures.

Printed as pages, the spec alone took 3.5 pages of raw YAML that nobody reads on paper and
nobody can check by machine from paper. Embedded files (PDF attachments) keep every byte
with the report, can be extracted (``pdfdetach -saveall``) and compared with the database.

The policy fixtures come from the installed packs. A stored audit may be re-rendered after
a pack was updated, so a pack's fixtures are attached only when the installed pack has the
version the audit recorded; otherwise the attachment list says why they are missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from auditor._resources import policies_dir
from auditor.result import AuditResult


@dataclass(frozen=True)
class Attachment:
    """One embedded file: its name in the PDF, what it holds and its bytes."""

    name: str
    description: str
    data: bytes


def report_attachments(result: AuditResult) -> list[Attachment]:
    """The spec (YAML), the JSON result and each used pack's fixtures (one YAML per pack)."""
    spec = result.spec if isinstance(result.spec, dict) else {}
    out = [
        Attachment(
            "spec.yaml",
            "The audit spec as validated, paths as written.",
            _yaml(spec).encode("utf-8"),
        ),
        Attachment(
            "result.json",
            "The complete audit result (every metric, finding and attribution) as stored; "
            "its SHA-256 is the stored audit's result digest.",
            result.to_json().encode("utf-8"),
        ),
    ]
    for pack, version in result.provenance.policy_packs.items():
        out.append(_fixtures(pack, version))
    return out


def _yaml(data: object) -> str:
    try:
        return yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, width=88, default_flow_style=False
        )
    except yaml.YAMLError:
        return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _fixtures(pack: str, version: str) -> Attachment:
    name = f"fixtures-{pack}.yaml"
    folder = _pack_folder(pack)
    installed = _installed_version(folder) if folder is not None else None
    if folder is None or installed != str(version):
        why = (
            f"pack {pack} is not installed here"
            if folder is None
            else f"the installed pack {pack} is version {installed}, the audit used {version}"
        )
        text = f"# No fixtures attached: {why}.\n"
        described = f"Fixtures of {pack} {version}: not attached ({why})."
        return Attachment(name, described, text.encode())
    files = sorted((folder / "fixtures").glob("*.yaml"))
    parts = [f"# Test fixtures of policy pack {pack} {version}: {len(files)} file(s).\n"]
    for path in files:
        parts.append(f"---\n# file: fixtures/{path.name}\n{path.read_text(encoding='utf-8')}")
    return Attachment(
        name,
        f"The {len(files)} test fixture(s) of policy pack {pack} {version}, which show each "
        "rule's outcome on known inputs.",
        "".join(parts).encode("utf-8"),
    )


def _pack_folder(pack: str) -> Path | None:
    try:
        folder = policies_dir() / pack
    except FileNotFoundError:
        return None
    return folder if (folder / "pack.yaml").is_file() else None


def _installed_version(folder: Path) -> str | None:
    try:
        data = yaml.safe_load((folder / "pack.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return None if version is None else str(version)
