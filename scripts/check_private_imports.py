"""Fail when a module imports another package's private names (``make lint``).

import-linter checks the import graph between modules; it cannot see *which names* are
imported. A name with a leading underscore is a module's own business: another package
that imports it binds itself to code its owner may change without notice (the letters'
Spark path once copied six of them from the stored-decisions path). Within one package
(``auditor.letters.*`` among themselves) private names are shared freely.

A "package" here is the first level below ``auditor``: ``auditor.letters`` (all its
modules) or a top-level module such as ``auditor.data``. Flagged:

- ``from auditor.x import _name`` in a module outside ``auditor.x``'s package;
- ``from auditor.x._mod import name`` / ``import auditor.x._mod`` (a private module
  below a package) from outside that package. The root's own helpers
  (``auditor._cli_common``, ``auditor._resources``, ``auditor._version``) are private
  to ``auditor`` as a whole and may be imported anywhere in it.

Usage: ``python scripts/check_private_imports.py [ROOT]`` (default: ``auditor`` beside
this script's folder). Exit 1 and one line per import when there are any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT_PACKAGE = "auditor"

# Temporarily allowed: (importing module, imported module, name). Each entry says who
# removes it; the checker fails on an entry that no longer matches anything, so the list
# can only shrink.
ALLOWED: dict[tuple[str, str, str], str] = {}


def module_name(path: Path, root: Path) -> str:
    """Dotted name of the module at ``path`` under the package folder ``root``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def owner(module: str) -> str:
    """The package a module belongs to: ``auditor`` plus its first component."""
    return ".".join(module.split(".")[:2])


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def private_module(module: str) -> bool:
    """Whether a module below a package (not the root's own helpers) is private."""
    parts = module.split(".")
    return any(is_private(p) for p in parts[2:])


def violations(root: Path) -> Iterator[tuple[str, int, str, str, str]]:
    """(file, line, importing module, imported module, name) per cross-package import."""
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = resolve(importer, is_package, node)
                if not source.startswith(ROOT_PACKAGE + ".") or owner(source) == owner(importer):
                    continue
                if private_module(source):
                    yield str(path), node.lineno, importer, source, "*module*"
                    continue
                for alias in node.names:
                    if is_private(alias.name):
                        yield str(path), node.lineno, importer, source, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.name
                    if (
                        name.startswith(ROOT_PACKAGE + ".")
                        and owner(name) != owner(importer)
                        and private_module(name)
                    ):
                        yield str(path), node.lineno, importer, name, "*module*"


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent.parent
    root = Path(argv[1]) if len(argv) > 1 else here / ROOT_PACKAGE
    found = list(violations(root))
    used: set[tuple[str, str, str]] = set()
    bad = []
    for file, line, importer, source, name in found:
        key = (importer, source, name)
        if key in ALLOWED:
            used.add(key)
            continue
        bad.append(f"{file}:{line}: {importer} imports private '{name}' from {source}")
    stale = [
        f"scripts/check_private_imports.py: allowed entry {k} matches no import any more; "
        "remove it from ALLOWED"
        for k in ALLOWED
        if k not in used
    ]
    for msg in [*bad, *stale]:
        print(msg)
    if bad or stale:
        print(
            f"{len(bad)} cross-package private import(s), {len(stale)} stale allowance(s). "
            "Make the name public in its module (and document it), or move the code into "
            "the package that owns it."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
