"""Booleans are not numbers in a spec or a pack.

Pydantic's lax mode turns ``true`` into ``1`` for an ``int`` field and ``1.0`` for a
``float`` one, so ``seed: true``, ``min: false`` or ``max_rows: yes`` (YAML 1.1 reads
``yes`` as true) would run with a number the author never wrote. Models whose fields are
filled from YAML derive from :class:`NoBoolNumbers`: a boolean given where the field
takes no boolean is an error naming the key, before pydantic's own conversion.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, model_validator

__all__ = ["NoBoolNumbers", "accepts_bool", "bool_misuse"]

_SEQUENCES = (list, tuple, set, frozenset)


def _any_member(annotation: Any, test: Any) -> bool:
    """Whether ``test`` holds for the annotation or, through ``Annotated`` and unions, for
    any of the types it stands for."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _any_member(typing.get_args(annotation)[0], test)
    if origin is typing.Union or origin is types.UnionType:
        return any(_any_member(arg, test) for arg in typing.get_args(annotation))
    return bool(test(annotation))


def _bool_type(annotation: Any) -> bool:
    if annotation is bool or annotation is Any or annotation is object:
        return True
    literal = typing.get_origin(annotation) is typing.Literal
    return literal and any(isinstance(arg, bool) for arg in typing.get_args(annotation))


def accepts_bool(annotation: Any) -> bool:
    """Whether a field of this type may hold ``True``/``False`` as a value of its own
    (``bool``, ``Any``, an unconstrained object, a literal ``True``/``False``, or a union
    with one of those)."""
    return _any_member(annotation, _bool_type)


def _takes_numbers(annotation: Any) -> bool:
    return _any_member(annotation, lambda t: t in (int, float))


def _contained(annotation: Any, container: str) -> Any | None:
    """The element type of a ``list[T]``-like annotation (``container="items"``) or the
    value type of a ``dict[K, V]`` (``"values"``), through ``Optional``/``Annotated``;
    None when there is none or more than one."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _contained(args[0], container)
    if origin is typing.Union or origin is types.UnionType:
        found = [t for t in (_contained(a, container) for a in args) if t is not None]
        return found[0] if len(found) == 1 else None
    if container == "values":
        return args[1] if origin is dict and len(args) == 2 else None
    if origin not in _SEQUENCES:
        return None
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return None  # fixed-shape tuples: left to pydantic
    return args[0] if args else None


def bool_misuse(annotation: Any, value: Any) -> str | None:
    """A message when ``value`` (or an element of it) is a boolean where ``annotation``
    takes a number and no boolean, else None."""
    if isinstance(value, bool):
        if _takes_numbers(annotation) and not accepts_bool(annotation):
            word = "true" if value else "false"
            return f"expected a number, got the boolean {word} (write the number itself)"
        return None
    if isinstance(value, dict):
        mapped = _contained(annotation, "values")
        if mapped is None:
            return None
        for key, item in value.items():
            message = bool_misuse(mapped, item)
            if message is not None:
                return f"{key}: {message}"
        return None
    if isinstance(value, _SEQUENCES):
        element = _contained(annotation, "items")
        if element is None:
            return None
        for position, item in enumerate(value):
            message = bool_misuse(element, item)
            if message is not None:
                return f"item {position + 1}: {message}"
    return None


class NoBoolNumbers(BaseModel):
    """Base model that refuses booleans in numeric fields (see the module's docstring)."""

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        # one check over the raw mapping (a per-field "before" validator is not allowed on
        # the discriminator of a tagged union); the error names the key as written
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            for key in (field.alias, name):
                if key is not None and key in data:
                    message = bool_misuse(field.annotation, data[key])
                    if message is not None:
                        raise ValueError(f"{key}: {message}")
                    break
        return data
