"""An audit's findings as JUnit XML, the test-report format every CI system displays.

One ``<testcase>`` per finding (``classname`` the policy pack, ``name`` the rule and its
scope). A failed rule is a ``<failure>``; a warning is ``<skipped>`` with its message (CI
shows it without failing the build: ``--fail-on`` decides the exit code); too little
evidence, a needed attestation or a rule that does not apply are ``<skipped>`` too, with
the reason; a rule met as checked is a plain passing case.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from auditor.errors import AuditorError
from auditor.result import AuditResult, Finding

# characters XML 1.0 cannot carry at all (a message quoting raw data could hold them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SKIP_REASON = {
    "warn": "warning",
    "insufficient_evidence": "insufficient evidence",
    "needs_attestation": "needs attestation",
    "not_applicable": "not applicable",
}


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _detail(f: Finding) -> str:
    lines = [
        f"{f.rule_id} ({f.pack}) on {f.scope}: {f.status}, severity {f.severity}",
        f"observed {f.observed}; threshold {f.threshold}",
        f"citation: {f.citation} ({f.rule_status}, basis {f.basis})",
        f.message,
    ]
    return _text("\n".join(lines))


def junit_xml(result: AuditResult) -> bytes:
    """The findings of ``result`` as a JUnit XML document (UTF-8)."""
    counts = result.findings_by_status()
    skipped = sum(counts[s] for s in _SKIP_REASON)
    suites = ET.Element("testsuites", name="auditor")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_text(result.name),
        tests=str(len(result.findings)),
        failures=str(counts["fail"]),
        errors="0",
        skipped=str(skipped),
        time=f"{result.run.duration_s:.3f}",
        timestamp=_text(result.run.started_at),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("audit_id", result.audit_id),
        ("domain", result.domain),
        ("spec_sha256", result.provenance.spec_sha256),
        ("data_sha256", result.provenance.data_sha256),
        ("model_sha256", result.provenance.model_sha256 or ""),
    ):
        ET.SubElement(props, "property", name=name, value=_text(value))
    for f in result.findings:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_text(f.pack),
            name=_text(f"{f.rule_id} [{f.scope}]"),
            time="0",
        )
        if f.status == "fail":
            failure = ET.SubElement(
                case, "failure", message=_text(f.message), type=f"severity:{f.severity}"
            )
            failure.text = _detail(f)
        elif f.status in _SKIP_REASON:
            ET.SubElement(case, "skipped", message=_text(f"{_SKIP_REASON[f.status]}: {f.message}"))
            out = ET.SubElement(case, "system-out")
            out.text = _detail(f)
    ET.indent(suites)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def write_junit(result: AuditResult, path: Path) -> Path:
    """Write :func:`junit_xml` to ``path``; an unwritable path is a user error."""
    try:
        path.write_bytes(junit_xml(result))
    except OSError as exc:
        raise AuditorError(f"--junit {path}: cannot write the file ({exc.strerror}).") from None
    return path
