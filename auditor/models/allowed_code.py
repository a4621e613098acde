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
import os
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


def allowed_modules() -> tuple[str, ...]:
    """The built-in model modules and those the operator listed in the environment."""
    listed = os.environ.get(ALLOWED_MODULES_ENV, "")
    return (*BUILTIN_MODULES, *(m.strip() for m in listed.split(",") if m.strip()))


def allow_modules(names: Iterable[str]) -> None:
    """Add ``names`` to the allowed modules of this process and the processes it starts.

    The environment is the one place the setting lives, so Spark's Python workers and
    other child processes see the same list as the command that started them.
    """
    current = [m for m in os.environ.get(ALLOWED_MODULES_ENV, "").split(",") if m.strip()]
    for name in names:
        if name.strip() and name.strip() not in current:
            current.append(name.strip())
    os.environ[ALLOWED_MODULES_ENV] = ",".join(current)


def is_allowed(target: str, allowed: Iterable[str]) -> bool:
    """Whether ``module:Class`` is covered by an entry (a module or a ``module:Class``)."""
    module = target.partition(":")[0]
    return any(entry in (module, target) for entry in allowed)


def check_module_allowed(target: str, *, code_allowed: bool = True) -> None:
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
    if not is_allowed(target, allowed_modules()):
        raise ModelLoadError(
            f"model.module: '{mod_name}' is not an allowed model module; {_HOW}. "
            "Save the model as TorchScript to need no module at all."
        )


def import_model_class(target: str, *, code_allowed: bool = True) -> type[Any]:
    """The ``torch.nn.Module`` subclass ``module:Class``, imported only when allowed."""
    check_module_allowed(target, code_allowed=code_allowed)
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
