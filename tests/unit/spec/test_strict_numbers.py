"""Booleans are refused where a spec or pack key takes a number, also inside lists and
mappings, and kept where the key takes a boolean."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, ValidationError

from auditor.strict_numbers import NoBoolNumbers, bool_misuse


@pytest.mark.parametrize(
    ("annotation", "value", "refused"),
    [
        (int, True, True),
        (float, False, True),
        (int | None, True, True),
        (Annotated[float, Field(gt=0)], True, True),
        (list[float], [1.0, True], True),
        (tuple[int, ...], (1, False), True),
        (dict[str, float], {"a": 0.5, "b": True}, True),
        (dict[str, float] | None, {"a": True}, True),
        (bool, True, False),
        (int | bool, True, False),
        (Any, True, False),
        (str, True, False),  # pydantic refuses it itself
        (Literal[True, "auto"], True, False),
        (list[bool], [True, False], False),
        (tuple[int, bool], (1, True), False),  # fixed-shape tuples are left to pydantic
        (int, 1, False),
    ],
)
def test_bool_misuse(annotation: Any, value: Any, refused: bool) -> None:
    assert (bool_misuse(annotation, value) is not None) is refused


class _Model(NoBoolNumbers):
    seed: int = 0
    weights: dict[str, float] = Field(default_factory=dict)
    enabled: bool = True


def test_a_model_names_the_key_and_keeps_real_booleans() -> None:
    with pytest.raises(ValidationError, match="seed: expected a number, got the boolean true"):
        _Model.model_validate({"seed": True})
    with pytest.raises(ValidationError, match="weights: b: expected a number"):
        _Model.model_validate({"weights": {"a": 1.0, "b": False}})
    assert _Model.model_validate({"seed": 3, "enabled": False}).enabled is False
