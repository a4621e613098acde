"""Feature attributions: one file per method, chosen by the spec or by the model kind."""

import sys
import types
from typing import Any

from auditor.explain import baseline_shap as baseline_shap  # registers "interventional"
from auditor.explain import deeplift as deeplift  # registers (issue 10 methods)
from auditor.explain import gradients as gradients
from auditor.explain import integrated_gradients, permutation_shap, tree_shap  # registers
from auditor.explain import lime_tabular as lime_tabular
from auditor.explain import lrp as lrp
from auditor.explain import tree_interactions as tree_interactions
from auditor.explain.base import AttributionSet, explainer_names, get_explainer
from auditor.explain.interventional import interventional_tree_shap
from auditor.explain.run import choose_method, explain, explain_matrix

__all__ = [
    "AttributionSet",
    "choose_method",
    "explain",
    "explain_matrix",
    "explainer_names",
    "get_explainer",
    "integrated_gradients",
    "interventional_tree_shap",
    "permutation_shap",
    "tree_shap",
]


class _CallableModule(types.ModuleType):
    """``auditor.explain`` is both this package and the public ``explain`` function.

    Importing the subpackage binds the name ``explain`` on ``auditor`` to the module, so
    the module itself forwards calls: ``auditor.explain(model, X)`` always works.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> AttributionSet:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
