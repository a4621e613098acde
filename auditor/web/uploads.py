"""Specs uploaded through the web, and server-side paths confined to the data root.

An uploaded spec cannot carry its model and data files; its relative paths are read
against the server's data root (``auditor serve --data-root``), and every path it names
(model, data, protected attributes, policy folders) must stay inside that root, so an
upload cannot make the server read arbitrary files.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from auditor.errors import SpecError
from auditor.spec import AuditSpec, load_spec
from auditor.web.worker import WorkerFailed, WorkerLimits, run_isolated

MAX_SPEC_BYTES = 256 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def inside_root(path: Path, data_root: Path) -> bool:
    """True when ``path`` (resolved, symlinks followed) lies inside ``data_root``."""
    return path.resolve().is_relative_to(data_root.resolve())


def server_path(path: str, data_root: Path, *, what: str) -> Path:
    """``path`` (relative to ``data_root``, or absolute inside it), resolved.

    Raises :class:`SpecError` naming ``what`` when the path leaves the data root.
    """
    if "\x00" in path or not path.strip():
        raise SpecError(f"{what} {path!r} is not a usable path.")
    candidate = Path(path).expanduser()
    resolved = (candidate if candidate.is_absolute() else data_root / candidate).resolve()
    if not inside_root(resolved, data_root):
        raise SpecError(
            f"{what} {path!r} is outside the server's data root {data_root}; use a path "
            "relative to the data root."
        )
    return resolved


def load_uploaded_spec(content: bytes, filename: str, data_root: Path) -> AuditSpec:
    """Parse and validate an uploaded spec; its paths are relative to ``data_root``.

    Every problem is reported at once, naming the uploaded file's name (not a temporary
    path), as for a spec given on the command line.
    """
    name = _SAFE.sub("_", Path(filename or "spec.yaml").name).strip("._") or "spec.yaml"
    if len(content) > MAX_SPEC_BYTES:
        raise SpecError(f"{name}: the spec is larger than {MAX_SPEC_BYTES // 1024} KiB.")
    if not content.strip():
        raise SpecError(f"{name}: the uploaded file is empty.")
    with tempfile.TemporaryDirectory(prefix="auditor-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            spec = load_spec(path, base_dir=data_root)
        except SpecError as exc:
            raise SpecError(str(exc).replace(str(path), name)) from None
    # whatever an upload says, it never makes the server import code or unpickle a file
    spec.forbid_code()
    problems = _outside(spec, data_root)
    if problems:
        raise SpecError(
            f"{name}: the spec names files outside the server's data root.", problems=problems
        )
    problems = _code_problems(spec)
    if problems:
        raise SpecError(
            f"{name}: the spec asks the server to run code or reach other machines.",
            problems=problems,
        )
    return spec


def _code_problems(spec: AuditSpec) -> list[str]:
    """What an upload may not ask the server to do: run code, or reach other machines."""
    from auditor.provenance import is_url

    problems = []
    for key, value in (
        ("data.path", spec.data.path),
        ("data.protected_path", spec.data.protected_path),
    ):
        if value and is_url(value):
            problems.append(f"{key}: {value!r}: an uploaded spec cannot name a URL")
    if spec.engine.master is not None:
        # a Spark master outside would receive the model and the data
        problems.append("engine.master: an uploaded spec cannot choose a Spark master")
    sc = spec.screener
    if sc is not None and sc.target.kind in ("http", "chat"):
        problems.append(
            f"screener.target: an uploaded spec cannot make the server call a screener over "
            f"the network ({sc.target.kind}); run it with 'auditor audit --allow-host'"
        )
    if sc is not None and sc.target.kind == "callable":
        problems.append(
            "screener.target: an uploaded spec cannot name a function to call; use a torch "
            "target (kind: torch) or run it with 'auditor audit'"
        )
    if sc is not None and sc.target.kind == "torch" and sc.target.module:
        problems.append(
            f"screener.target.module: {sc.target.module!r}: an uploaded spec cannot name "
            "code to import"
        )
    if spec.model is None:
        return problems
    if spec.model.module:
        problems.append(
            f"model.module: {spec.model.module!r}: an uploaded spec cannot name code to "
            "import; save the torch model as TorchScript"
        )
    if spec.model.trusted:
        problems.append(
            "model.trusted: an uploaded spec cannot load pickle/joblib or untrusted skops "
            "types; save the model with skops or as LightGBM text"
        )
    return problems


def parse_upload(content: bytes, filename: str, data_root: Path) -> tuple[AuditSpec, str]:
    """The uploaded spec and its digest (run in a worker process: see
    :func:`parse_upload_isolated`)."""
    spec = load_uploaded_spec(content, filename, data_root)
    return spec, spec.digest()


async def parse_upload_isolated(
    content: bytes, filename: str, data_root: Path, limits: WorkerLimits
) -> tuple[AuditSpec, str]:
    """:func:`parse_upload` in a worker process under ``limits``, awaited from a thread.

    YAML parsing and the digest of a hostile upload (an alias bomb expands to gigabytes)
    cost that worker its memory or time limit and the uploader a 400, never the event
    loop or the server's memory.
    """
    from starlette.concurrency import run_in_threadpool

    name = _SAFE.sub("_", Path(filename or "spec.yaml").name).strip("._") or "spec.yaml"
    try:
        result: tuple[AuditSpec, str] = await run_in_threadpool(
            run_isolated,
            parse_upload,
            content,
            filename,
            data_root,
            limits=limits,
            what=f"Reading the uploaded spec {name}",
        )
    except WorkerFailed as exc:
        raise SpecError(str(exc)) from None
    return result


def _outside(spec: AuditSpec, data_root: Path) -> list[str]:
    named = [("data.path", spec.data.path)]
    if spec.data.protected_path:
        named.append(("data.protected_path", spec.data.protected_path))
    if spec.model is not None:
        named.append(("model.path", spec.model.path))
    named += [(f"policy_paths.{i}", p) for i, p in enumerate(spec.policy_paths)]
    if spec.screener is not None:
        if spec.screener.applications:
            named.append(("screener.applications", spec.screener.applications))
        if spec.screener.target.kind == "torch":
            named.append(("screener.target.path", spec.screener.target.path))
    return [
        f"{key}: {value!r} resolves outside {data_root}"
        for key, value in named
        if not inside_root(spec.resolve(value), data_root)
    ]
