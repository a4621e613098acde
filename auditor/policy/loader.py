"""Load policy packs strictly: every problem names the file, the rule and the field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from auditor._resources import policies_dir
from auditor.errors import PolicyLoadError
from auditor.policy.language import ConditionSyntaxError
from auditor.policy.schema import PackMeta, Rule, legacy_fields
from auditor.safe_yaml import YamlLimitError, load_yaml_text, read_yaml_text


@dataclass(frozen=True)
class PolicyPack:
    """A loaded pack: its metadata and rules, in file-name order."""

    meta: PackMeta
    rules: tuple[Rule, ...]
    folder: Path
    # rule files written the older way: they load, and the audit says how to update them
    deprecations: tuple[str, ...] = ()


def pack_folders(root: Path | None = None, extra: Sequence[Path] = ()) -> dict[str, Path]:
    """Pack id -> folder, over the shipped packs (or ``root``) and ``extra`` folders.

    An extra folder may not reuse a shipped pack's id: a pack is identified by its id in
    every audit result, so two packs with one id would make findings ambiguous.
    """
    found: dict[str, Path] = {}
    for base in [root or policies_dir(), *extra]:
        for meta in sorted(base.glob("*/pack.yaml")):
            folder = meta.parent
            if folder.name in found:
                raise PolicyLoadError(
                    f"{folder}: pack id '{folder.name}' is already provided by "
                    f"{found[folder.name]}; give the organisation's pack another id."
                )
            found[folder.name] = folder
    return found


def available_packs(root: Path | None = None, extra: Sequence[Path] = ()) -> list[str]:
    """Ids of the packs available (folders with a ``pack.yaml``)."""
    return sorted(pack_folders(root, extra))


def load_packs(
    ids: list[str], root: Path | None = None, extra: Sequence[Path] = ()
) -> list[PolicyPack]:
    """Load the named packs; unknown ids, malformed files and duplicate rule ids fail."""
    folders = pack_folders(root, extra)
    unknown = [i for i in ids if i not in folders]
    if unknown:
        raise PolicyLoadError(
            f"Unknown policy pack(s): {', '.join(unknown)}. "
            f"Available: {', '.join(sorted(folders))}."
        )
    packs = [load_pack(folders[i]) for i in ids]
    seen: dict[str, Path] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.id in seen:
                raise PolicyLoadError(
                    f"{pack.folder}: rule id {rule.id} is also defined in {seen[rule.id]}."
                )
            seen[rule.id] = pack.folder
    return packs


def load_pack(folder: Path) -> PolicyPack:
    """Load ``folder/pack.yaml`` and every ``folder/rules/*.yaml``."""
    meta_file = folder / "pack.yaml"
    if not meta_file.is_file():
        raise PolicyLoadError(f"{folder}: no pack.yaml")
    try:
        meta = PackMeta.model_validate(read_yaml(meta_file))
    except ValidationError as exc:
        raise PolicyLoadError(
            f"{meta_file}: invalid pack metadata.",
            problems=[f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()],
        ) from None
    if meta.id != folder.name:
        raise PolicyLoadError(f"{meta_file}: id '{meta.id}' differs from folder '{folder.name}'.")
    problems: list[str] = []
    rules: list[Rule] = []
    ids: set[str] = set()
    deprecations: list[str] = []
    for path in sorted((folder / "rules").glob("*.yaml")):
        data = read_yaml(path)
        rule_id = data.get("id", "?") if isinstance(data, dict) else "?"
        try:
            rule = Rule.model_validate(data)
        except ValidationError as exc:
            problems += [f"{path} (rule {rule_id}): {p}" for p in _problems(exc)]
            continue
        deprecations += [f"{path} (rule {rule.id}): {m}" for m in legacy_fields(data)]
        if rule.id in ids:
            problems.append(f"{path}: duplicate rule id {rule.id}")
        if (
            rule.effective_until
            and rule.effective_from
            and rule.effective_until < rule.effective_from
        ):
            problems.append(f"{path} (rule {rule.id}): effective_until precedes effective_from")
        ids.add(rule.id)
        rules.append(rule)
    for i, entry in enumerate(meta.changelog):
        unknown = [r for r in entry.rules if r not in ids]
        if unknown:
            problems.append(
                f"{meta_file}: changelog.{i} names rule(s) not in the pack: {', '.join(unknown)}"
            )
    if problems:
        raise PolicyLoadError(f"Policy pack '{folder.name}' is malformed.", problems=problems)
    return PolicyPack(meta, tuple(rules), folder, tuple(deprecations))


def _problems(exc: ValidationError) -> list[str]:
    """``field.path: message`` per error; check-language errors point at their node."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ConditionSyntaxError):
            loc = ".".join(p for p in (loc, cause.where) if p)
            msg = cause.message
        out.append(f"{loc}: {msg}")
    return out


def read_yaml(path: Path) -> dict[str, object]:
    try:
        # dates stay text, so a bad one is reported by the schema with its rule and field
        data = load_yaml_text(read_yaml_text(path, regular_only=True))
    except YamlLimitError as exc:
        raise PolicyLoadError(f"{path}: refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyLoadError(f"{path}: malformed YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"{path}: cannot read ({exc})") from None
    except ValueError as exc:  # e.g. an explicitly tagged !!timestamp that is no date
        raise PolicyLoadError(f"{path}: invalid value ({exc})") from None
    if not isinstance(data, dict):
        raise PolicyLoadError(f"{path}: expected a mapping of keys to values")
    return data
