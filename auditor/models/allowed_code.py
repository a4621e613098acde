"""Which Python code a spec may make the tool import: the operator decides, never the spec.

``model.module`` names a class to rebuild a torch state dict, and importing a module runs
its code. A spec is data anyone with write access to a folder (or the web workspace) can
author, so the module must be one of auditor's own model modules or one the operator
listed: in ``$AUDITOR_ALLOWED_MODULES`` (comma-separated) or with ``auditor audit
--allow-module``. Entries are a module (``pkg.models``: any class in it) or one class
(``pkg.models:Net``). Nothing is imported before the name is checked, and the class must
be a ``torch.nn.Module`` subclass before anything is instantiated.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable
from typing import Any

from auditor.errors import ModelLoadError

ALLOWED_MODULES_ENV = "AUDITOR_ALLOWED_MODULES"
BUILTIN_MODULES = ("auditor.models.mlp",)
"""auditor's own model classes, always allowed."""

_HOW = (
    f"an operator allows a module with 'auditor audit --allow-module MODULE' or "
    f"{ALLOWED_MODULES_ENV}=MODULE[,MODULE...] (a spec cannot allow it)"
)


def allowed_modules(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The built-in model modules, those the operator listed in the environment, those
    given to this process with :func:`allow_modules` (deprecated) and ``extra`` (what an
    operator allowed for one spec, :meth:`auditor.spec.AuditSpec.allow_modules`)."""
    from auditor.settings import load_settings

    listed = load_settings().module_allowlist
    return tuple(dict.fromkeys((*BUILTIN_MODULES, *listed, *_PROCESS_ALLOWED, *extra)))


_PROCESS_ALLOWED: list[str] = []


def allow_modules(names: Iterable[str]) -> None:
    """Deprecated: allow ``names`` for every spec this process loads.

    Allow them for one spec with :meth:`auditor.spec.AuditSpec.allow_modules` instead:
    the spec carries them to Spark's workers and to other processes, and nothing is
    written to the process environment (which this function used to do).
    """
    warnings.warn(
        "allow_modules() is deprecated: call spec.allow_modules([...]) on the AuditSpec "
        f"or list the modules in ${ALLOWED_MODULES_ENV}.",
        DeprecationWarning,
        stacklevel=2,
    )
    for name in names:
        if name.strip() and name.strip() not in _PROCESS_ALLOWED:
            _PROCESS_ALLOWED.append(name.strip())


def is_allowed(target: str, allowed: Iterable[str]) -> bool:
    """Whether ``module:Class`` is covered by an entry (a module or a ``module:Class``)."""
    module = target.partition(":")[0]
    return any(entry in (module, target) for entry in allowed)


def check_module_allowed(
    target: str, *, code_allowed: bool = True, extra: Iterable[str] = ()
) -> None:
    """Refuse ``module:Class`` unless the operator allowed it; imports nothing.

    ``code_allowed`` is False for specs from an untrusted source (a web upload): then no
    module is allowed whatever the settings say.
    """
    if not code_allowed:
        raise ModelLoadError(
            f"model.module: '{target}' refused: a spec uploaded through the web workspace "
            "cannot name code to import; save the model as TorchScript instead."
        )
    mod_name, sep, cls_name = target.partition(":")
    if not sep or not mod_name or not cls_name.isidentifier():
        raise ModelLoadError(f"model.module: expected 'package.module:ClassName', got {target!r}.")
    if not is_allowed(target, allowed_modules(extra)):
        raise ModelLoadError(
            f"model.module: '{mod_name}' is not an allowed model module; {_HOW}. "
            "Save the model as TorchScript to need no module at all."
        )


def import_model_class(
    target: str, *, code_allowed: bool = True, extra: Iterable[str] = ()
) -> type[Any]:
    """The ``torch.nn.Module`` subclass ``module:Class``, imported only when allowed
    (``extra``: modules the operator allowed for this spec)."""
    check_module_allowed(target, code_allowed=code_allowed, extra=extra)
    mod_name, _, cls_name = target.partition(":")
    try:
        klass = getattr(importlib.import_module(mod_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"model.module: cannot import '{target}' ({exc}).") from None
    import torch

    if not (isinstance(klass, type) and issubclass(klass, torch.nn.Module)):
        raise ModelLoadError(
            f"model.module: '{target}' is not a torch.nn.Module subclass; only a module "
            "class can rebuild a state dict."
        )
    return klass
