"""The spec's explanation methods come from the explainer registry, not a copy of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auditor.errors import SpecError
from auditor.explain import base as registry
from auditor.explain import explainer_names
from auditor.spec import ExplainSpec, load_spec
from tests.unit.spec.test_spec import base_spec, problems_of


@pytest.fixture
def new_method() -> Iterator[str]:
    """A method registered the way a new file in auditor/explain/ registers one."""
    name = "test_only_method"

    @registry.register(name)
    def _factory() -> Any:  # never called: the spec only checks the name
        raise AssertionError

    yield name
    registry._REGISTRY.pop(name)


def test_every_registered_method_and_no_other_is_accepted(new_method: str) -> None:
    for name in [*explainer_names(), "auto", "none"]:
        assert ExplainSpec(method=name).method == name
    # a method registered after the spec module was imported is accepted at once
    spec = load_spec(
        base_spec(explain={"method": new_method, "quality": {"methods": [new_method]}})
    )
    assert spec.explain.method == new_method
    enum = ExplainSpec.model_json_schema()["properties"]["method"]["enum"]
    assert new_method in enum
    assert set(enum) == {"auto", "none", *explainer_names()}


def test_unknown_methods_are_named_with_the_choices() -> None:
    with pytest.raises(SpecError) as err:
        load_spec(base_spec(explain={"method": "magic", "quality": {"methods": ["guesswork"]}}))
    text = " ".join(problems_of(err))
    assert "explain.method" in text
    assert "unknown explanation method 'magic'" in text
    assert "unknown explanation method 'guesswork'" in text
    assert "integrated_gradients" in text
