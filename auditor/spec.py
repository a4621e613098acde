"""The audit spec: parse and validate the YAML a user writes, reporting every problem at once.

Paths in a spec file are relative to the folder the file is in.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from auditor.bands import Bands
from auditor.errors import SpecError
from auditor.legal_terms import TERRITORY_RE, LegalCategory
from auditor.letter_settings import LettersSpec, letters_problems
from auditor.safe_yaml import (
    MAX_EXPANDED_NODES,
    BoundedSafeLoader,
    YamlLimitError,
    load_yaml_text,
    read_yaml_text,
)
from auditor.strict_numbers import NoBoolNumbers

EXPLAIN_CHOICES = ("auto", "none")
"""Explanation method values that are not a method: choose one for the model, or none."""


def _registered_method(value: str) -> str:
    """A method name the explainer registry knows (each method is one file in
    ``auditor/explain/`` plus its registration: the spec follows, never a copy of it)."""
    from auditor.explain import explainer_names  # local: the registry loads every method

    names = explainer_names()
    if value not in (*EXPLAIN_CHOICES, *names):
        raise ValueError(
            f"unknown explanation method '{value}'; use one of "
            f"{', '.join((*EXPLAIN_CHOICES, *names))}"
        )
    return value


def _method_enum(schema: dict[str, Any]) -> None:
    from auditor.explain import explainer_names

    schema["enum"] = [*EXPLAIN_CHOICES, *explainer_names()]


ExplainMethod = Annotated[
    str, AfterValidator(_registered_method), Field(json_schema_extra=_method_enum)
]
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}$")


class _Strict(NoBoolNumbers):
    # a float key set to .inf or .nan is an error naming the key, not a silent comparison
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_MAX_COUNT = 1_000_000_000  # upper bound of row counts and sizes: any real data set fits
MAX_STORED_NAME = 200
"""Longest attribute or group name the audit store keeps (``metrics.attribute`` and
``metrics.group`` are ``VARCHAR(200)`` on PostgreSQL)."""
_MAX_SEED = 2**32 - 1  # numpy's legacy generators take seeds in [0, 2**32)
_MAX_PLAIN_DEPTH = 32


def plain_data(value: Any, where: str) -> Any:
    """``value`` as plain JSON-like data (numpy scalars and tuples converted), or a
    ``ValueError`` naming the key under ``where`` that holds something else.

    Spec values reach the JSON result, the database and (for ``model.init``) a class's
    constructor, so only strings, finite numbers, booleans, None, dates, lists and
    mappings with string keys are accepted, at most ``MAX_EXPANDED_NODES`` values in all:
    a Python object graph can share lists as a YAML alias bomb does, and the copy made
    here has the expanded size.
    """
    return _plain(value, where, 0, [MAX_EXPANDED_NODES])


def _plain(value: Any, where: str, depth: int, budget: list[int]) -> Any:
    import numpy as np  # local: the spec module is imported by light commands too

    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"{where}: more than {MAX_EXPANDED_NODES:,} values in all")
    if depth > _MAX_PLAIN_DEPTH:
        raise ValueError(f"{where}: nested deeper than {_MAX_PLAIN_DEPTH} levels")
    if isinstance(value, np.generic) and not isinstance(value, np.void | np.object_):
        value = value.item()  # np.int64(3) -> 3, np.bool_ -> bool, np.str_ -> str
    if isinstance(value, date) and value != value:  # pandas' NaT is a datetime
        raise ValueError(f"{where}: a missing date (NaT) is not a value")
    if value is None or isinstance(value, str | bool | int | date):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: must be a finite number, got {value}")
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}.{i}", depth + 1, budget) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be text, got {key!r}")
            out[key] = _plain(v, f"{where}.{key}", depth + 1, budget)
        return out
    raise ValueError(
        f"{where}: {type(value).__name__} is not plain data (use text, numbers, true/false, "
        "lists and mappings)"
    )


class ModelSpec(_Strict):
    """Where the model is and how to load it."""

    path: str
    kind: Literal["lightgbm", "torch", "sklearn"]
    trusted: bool = Field(
        False, description="Allow pickle/joblib for sklearn models (runs code from the file)."
    )
    module: str | None = Field(
        None, description="'package.module:Class' to rebuild a torch module from a state dict."
    )
    init: dict[str, Any] = Field(default_factory=dict, description="Keyword args for `module`.")
    output: Literal["logit", "probability"] = Field(
        "logit", description="What a torch module returns for the favourable class."
    )

    @field_validator("init", mode="before")
    @classmethod
    def _init_is_plain(cls, v: Any) -> Any:
        # init reaches a constructor: objects from the Python API could smuggle behaviour
        return plain_data(v, "init")


class DataSpec(_Strict):
    """The decisions to audit, and optionally protected attributes kept in a separate file."""

    path: str
    format: Literal["csv", "parquet"] | None = None
    protected_path: str | None = Field(
        None, description="CSV/Parquet with the id column and protected attributes, joined by id."
    )


OutcomeDirection = Literal["higher", "lower"]
OUTCOME_DIRECTIONS: tuple[OutcomeDirection, ...] = ("higher", "lower")


class ColumnsSpec(_Strict):
    """Which column plays which role."""

    id: str
    decision: str | None = None
    score: str | None = None
    label: str | None = None
    features: list[str] = Field(default_factory=list)
    # issue 17: APR, credit limit, a score: each group's mean given the controls
    outcomes: list[str] = Field(
        default_factory=list,
        description="Continuous outcomes of the decision (APR, credit limit, a score): the "
        "regression-adjusted mean difference of every group against the reference, given "
        "the controls (OLS, HC3 robust intervals). An entry is a column name, or "
        "{name: apr, unfavorable: higher|lower} saying which direction harms the "
        "applicant (collected under outcome_directions).",
    )
    # written as `unfavorable:` on an outcome entry, kept here by column so that `outcomes`
    # stays a list of names for everything that reads it (as protected_bands does)
    outcome_directions: dict[str, OutcomeDirection] = Field(
        default_factory=dict,
        description="Outcome column -> the direction that harms the applicant: higher (APR, "
        "fees) or lower (credit limit); outcomes without one have no stated direction.",
    )

    @model_validator(mode="before")
    @classmethod
    def _outcome_entries(cls, data: Any) -> Any:
        """``outcomes`` entries written as mappings become a name plus its direction.

        An entry is a column name, or ``{name: apr, unfavorable: higher}`` (``column`` is
        accepted for ``name``): the direction goes to ``outcome_directions``, so a rule can
        tell which sign of a difference harms the group. Names alone keep working and mean
        "direction not stated".
        """
        if not isinstance(data, dict) or not isinstance(data.get("outcomes"), list):
            return data
        entries = data["outcomes"]
        if not any(isinstance(e, dict) for e in entries):
            return data
        if "outcome_directions" in data:
            raise ValueError(
                "outcome_directions: write the direction on the outcome entry instead: "
                "outcomes: [{name: apr, unfavorable: higher}]"
            )
        names: list[Any] = []
        directions: dict[str, Any] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                names.append(entry)
                continue
            entry = dict(entry)
            if "column" in entry and "name" not in entry:
                entry["name"] = entry.pop("column")
            name = entry.get("name")
            unknown = set(entry) - {"name", "unfavorable"}
            if unknown or not isinstance(name, str):
                raise ValueError(
                    f"outcomes.{i}: an entry is a column name, or a mapping with name (text) "
                    f"and unfavorable (higher or lower); got keys {sorted(map(str, entry))}"
                )
            direction = entry.get("unfavorable")
            if direction is not None and direction not in OUTCOME_DIRECTIONS:
                raise ValueError(
                    f"outcomes.{i} ({name}): unfavorable must be 'higher' (a higher value "
                    f"harms the applicant: APR, fees) or 'lower' (credit limit); got "
                    f"{str(direction)[:40]!r}"
                )
            names.append(name)
            if direction is not None:
                directions[name] = direction
        return {**data, "outcomes": names, "outcome_directions": directions}


class ExplainQualitySpec(_Strict):
    """The explanation-quality stage: fidelity and stability measured on a seeded sample."""

    enabled: bool = True
    rows: int = Field(200, ge=10, le=5000, description="Decisions sampled for the measures.")
    methods: list[ExplainMethod] = Field(
        default_factory=list,
        description="Methods compared (default: every suitable method for the model kind).",
    )
    top_k: int = Field(3, ge=1, le=10, description="How many principal reasons to compare.")
    perturbations: int = Field(3, ge=1, le=50, description="Perturbed copies per decision.")
    noise: float = Field(0.05, gt=0, le=1, description="Perturbation size, in feature SDs.")
    stability_rows: int = Field(50, ge=1, le=5000, description="Decisions re-explained.")
    lime_samples: int = Field(1000, ge=50, le=100_000)

    @field_validator("methods")
    @classmethod
    def _real_methods(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if m in ("auto", "none")]
        if bad:
            raise ValueError(f"name methods to compare, not '{bad[0]}'")
        return v


class ExplainSpec(_Strict):
    """How attributions are computed."""

    method: ExplainMethod = "auto"
    max_rows: int | None = Field(
        None,
        ge=1,
        le=_MAX_COUNT,
        description="Explain a seeded sample of this many rows (default: all rows "
        "for tree SHAP and integrated gradients, 500 for permutation SHAP).",
    )
    background: int = Field(100, ge=1, le=10_000)
    steps: int = Field(128, ge=2, le=4096, description="Integrated-gradients steps.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where tree SHAP and integrated gradients run: auto (a CUDA device when "
        "present and, for tree SHAP, rows x leaves >= 2^25), cpu, or cuda (fails when "
        "there is no device). The result's attribution params record the device used.",
    )
    tolerance: float | None = Field(
        None, gt=0, description="Additivity error above which the audit warns."
    )
    quality: ExplainQualitySpec = Field(default_factory=ExplainQualitySpec)


class SmallCategoryExclusion(_Strict):
    """NYC LL144's optional small-category exclusion (6 RCNY 5-301).

    Categories under ``below_share`` of the data get no impact ratio and cannot be the
    reference; their size and rate are still reported, with the justification.
    """

    below_share: float = Field(
        0.02, gt=0, le=0.02, description="Share of the data under which a category is excluded."
    )
    justification: str = Field(
        min_length=20,
        description="Why the excluded categories are left out (printed in the LL144 summary).",
    )


class VerdictSpec(_Strict):
    """How findings are decided from ratio estimates (see ``auditor/policy/verdict.py``)."""

    rule: Literal["below_line_holm", "raw_p"] = Field(
        "below_line_holm",
        description="below_line_holm: fail only with evidence that the true ratio is below "
        "the line (one-sided, highest-rate reference accounted for, Holm over every ratio "
        "comparison of the audit); raw_p: the rule before December 2026 (unadjusted "
        "two-sided p of equal rates), for comparison.",
    )
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="Family-wise error rate of the audit's fails."
    )
    family: Literal["audit", "grouping"] = Field(
        "audit",
        description="audit: one Holm family over every ratio comparison (any false fail in "
        "the audit at most alpha); grouping: one family per grouping (at most alpha per "
        "grouping, alpha times the number of groupings for the audit; more power).",
    )

    @model_validator(mode="after")
    def _family_needs_the_test(self) -> VerdictSpec:
        if self.family != "audit" and self.rule != "below_line_holm":
            raise ValueError(
                f"family: {self.family} sets the Holm families of below_line_holm; the rule "
                f"{self.rule} has no family-wise control"
            )
        return self


class ProtectedRole(_Strict):
    """The legal category a protected column carries (issue 18), and its value map.

    Written in the spec as a ``protected`` entry, ``{column: gender, category: sex,
    values: {M: Male, F: Female}}``; ``values`` recodes the column's values to the
    categories a law uses (EEO-1 / LL144), values not in the map are kept as they are.
    """

    category: LegalCategory
    values: dict[str, str] = Field(default_factory=dict)


class EngineSpec(_Strict):
    """Where the work runs; every engine gives the same result (see ``auditor/engine``)."""

    kind: Literal["local", "spark"] = "local"
    chunk_rows: int | None = Field(
        None,
        ge=1,
        le=_MAX_COUNT,
        description="Stream the decisions in chunks of this many rows (bounded memory); "
        "default: load them at once (local) or per Arrow batch (spark).",
    )
    master: str | None = Field(None, description="Spark master URL, e.g. local[2], yarn.")


class SplitSpec(_Strict):
    """How ``training.path`` is split (seeded): fit, search and held-out rows.

    Candidates are fitted on the rest, compared on ``search`` and judged on ``holdout``,
    which the search never sees.
    """

    seed: int = Field(0, ge=0, le=_MAX_SEED)
    search: float = Field(0.2, gt=0, lt=1, description="Share of rows used to compare candidates.")
    holdout: float = Field(
        0.2, gt=0, lt=1, description="Share of rows kept to judge the frontier (never searched)."
    )

    @model_validator(mode="after")
    def _leaves_rows_to_fit(self) -> SplitSpec:
        if self.search + self.holdout > 0.8:
            raise ValueError("search + holdout must leave at least 20% of the rows to fit on")
        return self


class LightGBMTraining(_Strict):
    """Training parameters of a LightGBM candidate (``training.model``)."""

    kind: Literal["lightgbm"] = "lightgbm"
    params: dict[str, Any] = Field(default_factory=dict, description="lightgbm.train params.")
    rounds: int = Field(200, ge=1, le=100_000, description="Boosting rounds.")

    @field_validator("params", mode="before")
    @classmethod
    def _params_are_plain(cls, v: Any) -> Any:
        return plain_data(v, "params")


class TorchTraining(_Strict):
    """A seeded, deterministic CPU training loop for a torch candidate (``training.model``).

    The architecture is ``module(**init)``: auditor's own ``TabularMLP`` by default, or an
    operator-allowed class (``--allow-module`` / ``$AUDITOR_ALLOWED_MODULES``; a spec
    cannot allow it). A candidate with a different feature count gets ``n_features``
    (the init key named by ``features_key``) set to its own count.
    """

    kind: Literal["torch"] = "torch"
    module: str = Field(
        "auditor.models.mlp:TabularMLP", description="'package.module:Class' of the network."
    )
    init: dict[str, Any] = Field(default_factory=dict, description="Keyword args for module.")
    features_key: str = Field(
        "n_features", description="The init key holding the number of inputs."
    )
    epochs: int = Field(20, ge=1, le=1000)
    batch_size: int = Field(512, ge=1, le=1_000_000)
    learning_rate: float = Field(5e-3, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)

    @field_validator("init", mode="before")
    @classmethod
    def _init_is_plain(cls, v: Any) -> Any:
        return plain_data(v, "init")


def _training_kind(v: Any) -> str:
    """``training.model``'s kind; LightGBM when unnamed (specs before torch and sklearn)."""
    kind = v.get("kind", "lightgbm") if isinstance(v, dict) else getattr(v, "kind", "lightgbm")
    return str(kind)


SklearnEstimatorName = Literal[
    "logistic_regression", "hist_gradient_boosting", "random_forest", "decision_tree"
]


class SklearnTraining(_Strict):
    """A scikit-learn candidate from a fixed list of estimators (``training.model``): the
    spec names one and its parameters; no code or pickle is loaded."""

    kind: Literal["sklearn"] = "sklearn"
    estimator: SklearnEstimatorName = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator parameters.")

    @field_validator("params", mode="before")
    @classmethod
    def _params_are_plain(cls, v: Any) -> Any:
        return plain_data(v, "params")


class TrainingSpec(_Strict):
    """How to refit the model, for the search for less discriminatory alternatives
    (``auditor lda``). Protected attributes are never model inputs."""

    path: str = Field(description="Training data (CSV/Parquet), relative to the spec file.")
    format: Literal["csv", "parquet"] | None = None
    label: str = Field(description="Column the model is trained to predict.")
    performance_label: str | None = Field(
        None,
        description="Column performance (AUC) is measured against (default: label), e.g. a "
        "job-related criterion when the label is a historical decision.",
    )
    features: list[str] | None = Field(
        None, description="Model inputs (default: columns.features)."
    )
    model: Annotated[
        Literal["as_audited"]
        | Annotated[
            Annotated[LightGBMTraining, Tag("lightgbm")]
            | Annotated[TorchTraining, Tag("torch")]
            | Annotated[SklearnTraining, Tag("sklearn")],
            Discriminator(_training_kind),
        ],
        Field(
            description="'as_audited' refits the audited model's kind: a LightGBM booster's "
            "parameters and rounds, a torch module's architecture (model.module/init, loop "
            "settings of kind: torch), or a clone of a scikit-learn estimator's parameters."
        ),
    ] = "as_audited"
    torch_loop: TorchTraining | None = Field(
        None,
        description="Loop settings (epochs, batch size, learning rate) for refitting an "
        "audited torch model with model: as_audited (default: kind: torch's defaults).",
    )
    variants: int = Field(
        2, ge=0, le=8, description="Hyperparameter variants of the baseline to try (seeded)."
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    top_k: int = Field(3, ge=1, le=20, description="Features carrying the gap to aim at.")
    # business measures (issue 22 item 3): the expected loss with labels needs both values
    loss_per_bad_approval: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description="Loss of approving an applicant whose performance label is 0 (a default, "
        "a hire who is not qualified), in the organisation's unit; with gain_per_good_approval "
        "it gives each candidate's expected loss per application.",
    )
    gain_per_good_approval: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description="Gain of approving an applicant whose performance label is 1, in the same "
        "unit as loss_per_bad_approval.",
    )
    tolerance_on: Literal["auc", "approval_rate", "default_rate", "error_rate", "expected_loss"] = (
        Field(
            "auc",
            description="The measure the business-necessity tolerance (--tolerance) bounds: AUC "
            "lost (default), the approval rate's change, the rise of the default (credit) or "
            "error (hiring) rate among approved, or the rise of the expected loss per "
            "application.",
        )
    )
    tolerance: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description="The tolerance itself when --tolerance is not given (default 0.01).",
    )

    @model_validator(mode="after")
    def _loss_needs_both_values(self) -> TrainingSpec:
        given = (self.loss_per_bad_approval is None, self.gain_per_good_approval is None)
        if given[0] != given[1]:
            raise ValueError(
                "loss_per_bad_approval and gain_per_good_approval go together: give both "
                "(0 for a value that does not apply)"
            )
        if self.tolerance_on == "expected_loss" and given[0]:
            raise ValueError(
                "tolerance_on: expected_loss needs loss_per_bad_approval and gain_per_good_approval"
            )
        return self


# keys added to training: after its first release (business measures)
_TRAINING_LATER_DEFAULTS: dict[str, Any] = {
    "loss_per_bad_approval": None,
    "gain_per_good_approval": None,
    "tolerance_on": "auc",
    "tolerance": None,
}


# ---- issue 23: screener audits (a text or LLM screener probed with paired variants) ----

_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _field_name(value: str) -> str:
    if not _FIELD_RE.match(value):
        raise ValueError(
            f"{value!r}: a field name is letters, digits and '_' (starting with a letter or "
            "'_', at most 64 characters)"
        )
    return value


FieldName = Annotated[str, AfterValidator(_field_name)]


class _CallCare(_Strict):
    """How a network screener is called: limits the operator can rely on."""

    timeout_s: float = Field(30.0, gt=0, le=600, description="Per-request timeout, seconds.")
    retries: int = Field(3, ge=0, le=10, description="Retries on 429, 5xx and timeouts.")
    backoff_s: float = Field(
        0.5, ge=0, le=60, description="First retry delay, doubled each retry."
    )
    rate_per_s: float = Field(5.0, gt=0, le=1000, description="At most this many requests/s.")
    batch_size: int = Field(32, ge=1, le=1000, description="Records per request (http).")


class CallableTarget(_Strict):
    """A Python function ``module:function`` from a module the operator allowed:
    ``fn(records, **options) -> scores`` (one number per record)."""

    kind: Literal["callable"]
    function: str = Field(description="'package.module:function' (the operator allows it).")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments.")
    path_options: list[str] = Field(
        default_factory=list,
        description="Options whose values are file paths, resolved against the spec's folder.",
    )

    @model_validator(mode="after")
    def _paths_are_options(self) -> CallableTarget:
        bad = [k for k in self.path_options if not isinstance(self.options.get(k), str)]
        if bad:
            raise ValueError(f"path_options: '{bad[0]}' is not a text option")
        return self

    @field_validator("options", mode="before")
    @classmethod
    def _options_are_plain(cls, v: Any) -> Any:
        return plain_data(v, "options")

    @field_validator("function")
    @classmethod
    def _module_function(cls, v: str) -> str:
        mod, sep, fn = v.partition(":")
        if not sep or not mod or not fn.isidentifier():
            raise ValueError(f"expected 'package.module:function', got {v!r}")
        return v


class HttpTarget(_CallCare):
    """A JSON scoring API: POST ``{"records": [...]}``, reply ``{"scores": [...]}``."""

    kind: Literal["http"]
    url: str = Field(description="http(s) URL on a host the operator allowed.")
    records_key: str = "records"
    scores_key: str = "scores"


class ChatTarget(_CallCare):
    """An OpenAI-compatible chat-completions endpoint scoring one application per request.

    ``prompt`` names fields as ``{field}``; the reply's first match of ``score_pattern``
    (a regular expression with exactly one group) is the score; any other reply is an
    error naming the application, never a guessed score.
    """

    kind: Literal["chat"]
    url: str = Field(description="The chat-completions URL (…/v1/chat/completions).")
    model: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1, max_length=20_000)
    system: str | None = Field(None, max_length=20_000)
    score_pattern: str = Field(
        r"(?i)score\s*[:=]\s*([0-9]+(?:\.[0-9]+)?)",
        max_length=500,
        description="Regex with one group: the score in the reply.",
    )
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(64, ge=1, le=4096)

    @field_validator("score_pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            groups = re.compile(v).groups
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        if groups != 1:
            raise ValueError(f"needs exactly one group (the score), has {groups}")
        return v


class TorchTarget(_Strict):
    """A local torch text model: a state-dict file and the class that rebuilds it
    (auditor's sample screener class by default; any other class the operator allowed)."""

    kind: Literal["torch"]
    path: str
    module: str | None = Field(None, description="'package.module:Class' (default: sample).")
    init: dict[str, Any] = Field(default_factory=dict)

    @field_validator("init", mode="before")
    @classmethod
    def _init_is_plain(cls, v: Any) -> Any:
        return plain_data(v, "init")


ScreenerTarget = Annotated[
    CallableTarget | HttpTarget | ChatTarget | TorchTarget, Field(discriminator="kind")
]


class SelectionRule(_Strict):
    """Which variants the screener selects (LL144's selection rate): score at or above
    ``threshold``, or the ``top_share`` best-scored variants."""

    threshold: float | None = None
    top_share: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> SelectionRule:
        if (self.threshold is None) == (self.top_share is None):
            raise ValueError("give exactly one of threshold or top_share")
        return self


class NamesProbe(_Strict):
    """First and last names by sex × race/ethnicity, ``per_group`` names in each cell."""

    per_group: int = Field(3, ge=1, le=50)
    sexes: list[str] | None = Field(None, description="Default: every sex the table has.")
    races: list[str] | None = Field(None, description="Default: every race/ethnicity.")


class AgeProbe(_Strict):
    """Graduation years rewritten (the structured field and its occurrences in the text)."""

    field: FieldName = "graduation_year"
    younger: int = Field(2018, ge=1940, le=2030)
    older: int = Field(1988, ge=1940, le=2030)

    @model_validator(mode="after")
    def _older_first(self) -> AgeProbe:
        if self.older >= self.younger:
            raise ValueError("older must be an earlier graduation year than younger")
        return self


class CustomProbe(_Strict):
    """Another signal: ``find`` (literal text) in the text fields replaced by each variant."""

    name: FieldName
    find: str = Field(min_length=1, max_length=200)
    variants: dict[str, str] = Field(description="Group label -> replacement text.")

    @field_validator("variants")
    @classmethod
    def _two_or_more(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) < 2:
            raise ValueError("needs at least two variants")
        return v


class ProbesSpec(_Strict):
    """Paired variants of each application differing in one signal."""

    names: NamesProbe | None = Field(default_factory=NamesProbe)
    pronouns: bool = True
    age: AgeProbe | None = Field(
        None, description="Off unless given: the graduation year is a structured field."
    )
    custom: list[CustomProbe] = Field(default_factory=list)


AttributionMethod = Literal["leave_one_out", "occlusion", "gradients"]
_LEAVE_ONE_OUT: list[AttributionMethod] = ["leave_one_out"]


class ScreenerAttributions(_Strict):
    """Which sections of an application move the score (auditor/screener/sections.py), and
    whether a name finding's effect runs through a section.

    Calls on top of the audit's, for A applications with S sections that have text:
    leave_one_out A x (1 + S); occlusion A x (1 + the section's words / window, summed);
    gradients none (a local torch sample screener only); and per name finding,
    2 x A x (2 + the number of text fields) to re-measure the effect with each field
    removed from both variants."""

    methods: list[AttributionMethod] = Field(
        default_factory=lambda: _LEAVE_ONE_OUT.copy(),
        max_length=3,
        description="Any of leave_one_out, occlusion, gradients (local torch sample only); "
        "[] turns attributions off.",
    )
    applications: int = Field(
        100, ge=1, le=_MAX_COUNT, description="The first N applications are attributed."
    )
    window: int = Field(8, ge=1, le=1000, description="Words deleted at a time (occlusion).")
    through_sections: bool = Field(
        True,
        description="Re-measure each name finding with each field removed from both variants.",
    )

    @field_validator("methods")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("name each method once")
        return v


class ScreenerSpec(_Strict):
    """A screener audit (issue 23): applications, the screener, the probes."""

    applications: str | None = Field(None, description="CSV or JSONL (default: data.path).")
    format: Literal["csv", "jsonl"] | None = None
    id_field: FieldName = "application_id"
    name_field: FieldName = "name"
    text_fields: list[FieldName] = Field(min_length=1)
    structured_fields: list[FieldName] = Field(default_factory=list)
    target: ScreenerTarget
    output: Literal["score", "decision", "rank"] = Field(
        "score", description="rank: lower is better (1 = first)."
    )
    selection: SelectionRule = Field(default_factory=lambda: SelectionRule(threshold=0.5))
    probes: ProbesSpec = Field(default_factory=ProbesSpec)
    repeats: int = Field(1, ge=1, le=100, description="Draws per variant (stochastic screeners).")
    max_applications: int | None = Field(None, ge=1, le=_MAX_COUNT)
    resamples: int = Field(10_000, ge=200, le=100_000, description="Paired bootstrap resamples.")
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="Family-wise error rate of the paired-effect findings."
    )
    attributions: ScreenerAttributions = Field(default_factory=ScreenerAttributions)


# columns of the variants frame a screener audit measures (auditor/screener/variants.py)
SCREENER_ID = "variant_id"
SCREENER_PROTECTED = ("sex", "race_ethnicity")


class AuditSpec(_Strict):
    """A validated audit spec. Build it with :func:`load_spec`."""

    name: str
    domain: Literal["credit", "hiring"]
    model: ModelSpec | None = None
    data: DataSpec
    columns: ColumnsSpec
    favorable: int | str | bool = 1
    # which outcome TPR/FPR/FNR/PPV call "positive": the favourable one (credit, hiring),
    # or the unfavourable one as risk scores do (COMPAS: "positive" = high risk)
    positive_outcome: Literal["favorable", "unfavorable"] = Field(
        "favorable",
        description="The outcome TPR/FPR/FNR/PPV treat as positive (unfavorable: risk scores).",
    )
    threshold: float = 0.5
    protected: list[str] = Field(
        description="Protected columns; an entry may be {column, category, values} "
        "(collected under protected_roles)."
    )
    protected_roles: dict[str, ProtectedRole] = Field(
        default_factory=dict,
        description="Column -> legal category and value map (from protected's mapping "
        "entries; columns without one take the category their name implies).",
    )
    geography: list[str] = Field(
        default_factory=list,
        description="Columns saying where each decision subject lives (ZIP, county); never "
        "model inputs, read only to find features that stand in for geography (every "
        "engine).",
    )
    jurisdictions: list[str] | None = Field(
        None,
        description="ISO 3166 codes (US, US-NY, GB, DE) or EU: where the decision subjects "
        "are and where the organisation operates. Packs outside them are not_applicable; "
        "absent: every listed pack applies (with a warning).",
    )
    protected_probabilities: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Probabilistic membership (e.g. BISG): attribute -> {group: column of "
        "probabilities}; each person counts in every group with its probability as weight.",
    )
    # written as `bands:` on a protected entry ({column: age, bands: {...}}), kept here by
    # attribute so that `protected` stays a list of names for everything that reads it
    protected_bands: dict[str, Bands] = Field(
        default_factory=dict,
        description="Numeric protected attributes cut into labelled bands (see auditor/bands.py).",
    )
    intersections: list[list[str]] = Field(default_factory=list)
    reference: Literal["highest"] | dict[str, str] = "highest"
    policies: list[str] = Field(default_factory=list)
    policy_paths: list[str] = Field(
        default_factory=list,
        description="Folders with an organisation's own packs (one sub-folder per pack).",
    )
    strata: list[str] = Field(
        default_factory=list,
        description="Segment columns (loan product, region, job family): groups are also "
        "compared within segments (Mantel-Haenszel ratio, CMH and Breslow-Day tests).",
    )
    controls: list[str] = Field(
        default_factory=list,
        description="Legitimate factors (credit score, DTI, product): the decision is "
        "regressed on group indicators and these columns (adjusted odds ratio, average "
        "marginal effect, residual SMD of the score, adjusted mean difference of "
        "columns.outcomes); every engine.",
    )
    cdd_by: str | None = Field(
        None,
        description="One categorical control whose levels are the strata of the conditional "
        "demographic disparity (Wachter et al. 2021).",
    )
    min_group_size: int = Field(30, ge=1, le=_MAX_COUNT)
    small_category_exclusion: SmallCategoryExclusion | None = None
    missing_protected: Literal["unknown", "error"] = "unknown"
    explain: ExplainSpec = Field(default_factory=ExplainSpec)
    seed: int = Field(0, ge=0, le=_MAX_SEED, description="Seed of every sample and bootstrap.")
    audit_date: date | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    engine: EngineSpec = Field(default_factory=EngineSpec)
    verdict: VerdictSpec = Field(default_factory=VerdictSpec)
    letters: LettersSpec | None = None
    training: TrainingSpec | None = None
    screener: ScreenerSpec | None = Field(
        None,
        description="A screener audit (issue 23): the screener is probed with paired "
        "variants of each application; no model: and no decision column.",
    )

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="<dict>")
    # False for specs from an untrusted source (web uploads): no module import, no pickle
    _code_allowed: bool = PrivateAttr(default=True)
    # modules the operator (never the spec's author) allowed model.module to import for
    # this spec: ``auditor audit --allow-module``; pickled with the spec to Spark workers
    _operator_modules: tuple[str, ...] = PrivateAttr(default=())
    # hosts the operator (never the spec's author) allowed a screener target to call for
    # this spec: ``auditor audit --allow-host`` (besides ``$AUDITOR_SCREENER_HOSTS``)
    _operator_hosts: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence_is_plain(cls, v: Any) -> Any:
        # the Python API may pass numpy scalars (converted) or objects (refused here, with
        # the key, instead of a serialisation error when the result is written)
        return plain_data(v, "evidence") if isinstance(v, Mapping) else v

    @model_validator(mode="before")
    @classmethod
    def _screener_defaults(cls, data: Any) -> Any:
        """A screener audit measures a frame of variants the tool builds: its data,
        columns and protected attributes are implied (written ones must match)."""
        if not isinstance(data, dict) or not isinstance(data.get("screener"), dict):
            return data
        out = dict(data)
        applications = data["screener"].get("applications")
        if "data" not in out and isinstance(applications, str):
            out["data"] = {"path": applications}
        out.setdefault("columns", {"id": SCREENER_ID, "decision": "selected", "score": "score"})
        if "protected" not in out:
            out["protected"] = list(SCREENER_PROTECTED)
            out.setdefault("intersections", [list(SCREENER_PROTECTED)])
        return out

    @model_validator(mode="before")
    @classmethod
    def _protected_entries(cls, data: Any) -> Any:
        """``protected`` entries written as mappings become a column plus its role and bands.

        An entry is a column name, or ``{column: NAME, category: …, values: {…}, bands:
        {edges: […], labels: […]}}`` (``name`` is accepted for ``column``): the legal
        category and value map go to ``protected_roles`` (issue 18), the bands to
        ``protected_bands`` (issue 17), so ``protected`` stays a list of column names for
        everything that reads it.
        """
        if not isinstance(data, dict) or not isinstance(data.get("protected"), list):
            return data
        entries = data["protected"]
        if not any(isinstance(e, dict) for e in entries):
            return data
        if "protected_bands" in data:
            raise ValueError(
                "protected_bands: write bands on the protected entry instead: "
                "protected: [{column: age, bands: {edges: [...], labels: [...]}}]"
            )
        roles = dict(data.get("protected_roles") or {})
        bands: dict[str, Any] = {}
        columns: list[Any] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                columns.append(entry)
                continue
            entry = dict(entry)
            if "name" in entry and "column" not in entry:
                entry["column"] = entry.pop("name")
            unknown = set(entry) - {"column", "category", "values", "bands"}
            column = entry.get("column")
            if unknown or not isinstance(column, str) or len(entry) == 1:
                raise ValueError(
                    f"protected.{i}: an entry is a column name, or a mapping with column "
                    "(text) and category, values and/or bands; got keys "
                    f"{sorted(map(str, entry))}"
                )
            columns.append(column)
            if "bands" in entry:
                bands[column] = entry.pop("bands")
            role = {k: v for k, v in entry.items() if k != "column"}
            if role:
                roles[column] = role
        out = {**data, "protected": columns}
        if roles:
            out["protected_roles"] = roles
        if bands:
            out["protected_bands"] = bands
        return out

    @field_validator("jurisdictions")
    @classmethod
    def _iso_codes(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [j for j in v if not TERRITORY_RE.match(j)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: not an ISO 3166 code (US, US-NY, GB, DE) or EU"
            )
        if not v:
            raise ValueError("name at least one jurisdiction, or leave the key out")
        return v

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                "must start with a letter or digit and use only letters, digits, '_', '.', '-'"
                " (at most 120 characters)"
            )
        return v

    @property
    def code_allowed(self) -> bool:
        """Whether loading this spec's model may import a module or unpickle a file."""
        return self._code_allowed

    def forbid_code(self) -> None:
        """Mark the spec as from an untrusted source: its model may run no code."""
        self._code_allowed = False

    @property
    def operator_modules(self) -> tuple[str, ...]:
        """Modules the operator allowed ``model.module`` to import for this spec (besides
        ``$AUDITOR_ALLOWED_MODULES``); see :meth:`allow_modules`."""
        return self._operator_modules

    def allow_modules(self, names: Iterable[str]) -> None:
        """Let this spec's ``model.module`` import ``names`` (modules or ``module:Class``),
        as ``auditor audit --allow-module`` does. Ignored for a spec from an untrusted
        source (:meth:`forbid_code`): such a spec imports nothing."""
        added = [n.strip() for n in names if n.strip()]
        self._operator_modules = tuple(dict.fromkeys((*self._operator_modules, *added)))

    @property
    def operator_hosts(self) -> tuple[str, ...]:
        """Hosts the operator allowed this spec's screener target to call (besides
        ``$AUDITOR_SCREENER_HOSTS``); see :meth:`allow_hosts`."""
        return self._operator_hosts

    def allow_hosts(self, hosts: Iterable[str]) -> None:
        """Let this spec's screener target call ``hosts`` (``host`` or ``host:port``), as
        ``auditor audit --allow-host`` does. Ignored for a spec from an untrusted source
        (:meth:`forbid_code`): such a spec calls nothing the settings do not allow."""
        if not self._code_allowed:
            return
        added = [h.strip().lower() for h in hosts if h.strip()]
        self._operator_hosts = tuple(dict.fromkeys((*self._operator_hosts, *added)))

    @property
    def source(self) -> str:
        """The file the spec came from, or ``<dict>``."""
        return self._source

    def resolve(self, path: str) -> Path:
        """Resolve a path from the spec against the spec file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self._base_dir / p

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data, paths as written."""
        data = self.model_dump(mode="json")
        # optional sections absent or at their default are left out, so digests stay stable
        # (the engine cannot change results)
        if self.engine == EngineSpec():
            data.pop("engine", None)
        if self.verdict == VerdictSpec():
            data.pop("verdict", None)
        elif self.verdict.family == "audit":
            data["verdict"].pop("family", None)  # the default: digests of older specs unchanged
        if data.get("letters") is None:
            data.pop("letters", None)
        if data.get("training") is None:
            data.pop("training", None)  # issue 22's section: digests of older specs unchanged
        else:  # its later keys, left out at their defaults: digests of older specs unchanged
            for key, default in _TRAINING_LATER_DEFAULTS.items():
                if data["training"].get(key, default) == default:
                    data["training"].pop(key, None)
        if data.get("screener") is None:
            data.pop("screener", None)  # issue 23's section: digests of older specs unchanged
        if data.get("positive_outcome") == "favorable":
            data.pop("positive_outcome")  # the default: digests of older specs unchanged
        # roles and bands go back on their protected entries, as written (absent when
        # unused, so digests of specs without them do not change)
        roles = data.pop("protected_roles", None) or {}
        bands = data.pop("protected_bands", None) or {}
        if roles or bands:
            data["protected"] = [
                {"column": a, **roles.get(a, {}), **({"bands": bands[a]} if a in bands else {})}
                if a in roles or a in bands
                else a
                for a in data["protected"]
            ]
        # directions go back on their outcome entries, as written (absent when unused, so
        # digests of specs with plain outcome names do not change)
        directions = data["columns"].pop("outcome_directions", None) or {}
        if directions:
            data["columns"]["outcomes"] = [
                {"name": o, "unfavorable": directions[o]} if o in directions else o
                for o in data["columns"]["outcomes"]
            ]
        if not data["columns"].get("outcomes"):
            data["columns"].pop("outcomes", None)  # newer key, unused: digests unchanged
        for key in ("jurisdictions", "geography", "controls", "cdd_by"):  # newer keys, unused
            if not data.get(key):
                data.pop(key, None)
        return data

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form of the spec."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def policy_folders(self) -> list[Path]:
        """The organisation's own pack folders, resolved against the spec's folder."""
        return [self.resolve(p) for p in self.policy_paths]

    def all_protected(self) -> list[str]:
        """Protected attributes: hard columns first, then probabilistic ones."""
        return [*self.protected, *self.protected_probabilities]

    def categories(self) -> dict[str, frozenset[str]]:
        """Grouping name -> the legal categories it carries (declared, else by name)."""
        from auditor.policy.roles import grouping_categories

        declared = {c: r.category for c, r in self.protected_roles.items()}
        return grouping_categories(self.all_protected(), self.intersections, declared)

    def intersection_names(self) -> list[str]:
        """Display names of the intersections, e.g. ``sex & race_ethnicity``."""
        return [" & ".join(combo) for combo in self.intersections]


def load_spec(source: str | Path | Mapping[str, Any], *, base_dir: Path | None = None) -> AuditSpec:
    """Load and validate an audit spec from a YAML file or a dict.

    Parameters
    ----------
    source
        Path to a YAML file, or the spec as a mapping.
    base_dir
        Folder that relative paths are resolved against (default: the YAML file's folder,
        or the current folder for a mapping).

    Raises
    ------
    SpecError
        Listing every problem found, each with the key it concerns.
    """
    name = "<dict>"
    if isinstance(source, Mapping):
        raw: Any = dict(source)
        folder = base_dir or Path.cwd()
    else:
        path = Path(source)
        name = str(path)
        raw = _read_yaml(path)
        folder = base_dir or path.resolve().parent
    if not isinstance(raw, dict):
        raise SpecError(f"{name}: the spec must be a YAML mapping of keys to values.")
    try:
        spec = AuditSpec.model_validate(raw)
    except ValidationError as exc:
        # every problem at once: the cross-field checks still run on the keys that are valid
        problems = _pydantic_problems(exc) + _partial_consistency_problems(raw, exc)
        raise SpecError(f"{name}: the audit spec is invalid.", problems=problems) from None
    spec._base_dir = folder
    spec._source = name
    problems = _consistency_problems(spec)
    if problems:
        raise SpecError(f"{name}: the audit spec is invalid.", problems=problems)
    return spec


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise SpecError(f"Spec file not found: {path}")
    if path.is_dir():
        raise SpecError(f"{path} is a folder; name the audit spec file (a .yaml file) in it.")
    try:
        text = read_yaml_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec file ({exc}).") from None
    except YamlLimitError as exc:
        raise SpecError(f"{path}: refused: {exc}.") from None
    try:
        return load_yaml_text(text)  # bounded SafeLoader: plain data only
    except YamlLimitError as exc:
        raise SpecError(f"{path}: refused: {exc}.") from None
    except ValueError as exc:  # e.g. an explicitly tagged !!timestamp that is no date
        raise SpecError(f"{path}: invalid value in the YAML ({exc}).") from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{path}: malformed YAML{where}: {problem}.") from None


SpecYamlLoader = BoundedSafeLoader
"""Kept for callers that imported it: the bounded loader of :mod:`auditor.safe_yaml`."""

# Stand-ins for required keys that failed validation, so that the cross-field checks can
# still run on the rest of the spec (checks that depend on a failed key are skipped).
_PLACEHOLDERS: dict[str, Any] = {
    "name": "placeholder",
    "domain": "credit",
    "data": {"path": "-"},
    "columns": {"id": "-"},
    "protected": ["-"],
}


def _partial_consistency_problems(raw: dict[str, Any], exc: ValidationError) -> list[str]:
    """Cross-field problems among the top-level keys that passed validation."""
    bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    patched = {k: v for k, v in raw.items() if k not in bad}
    patched.update({k: v for k, v in _PLACEHOLDERS.items() if k in bad})
    try:
        spec = AuditSpec.model_validate(patched)
    except ValidationError:  # pragma: no cover - defensive: the stand-ins are valid
        return []
    return _consistency_problems(spec, skip=frozenset(bad))


def _pydantic_problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; docs/reference/spec.md lists the keys)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        out.append(f"{loc}: {msg}")
    return out


def _probability_problems(spec: AuditSpec) -> list[str]:
    """Checks of ``protected_probabilities`` against ``protected`` and each other."""
    problems: list[str] = []
    if not spec.protected and not spec.protected_probabilities:
        problems.append(
            "protected: name at least one protected attribute (or give protected_probabilities)"
        )
    seen: dict[str, str] = {}
    for attr, groups in spec.protected_probabilities.items():
        where = f"protected_probabilities.{attr}"
        if attr in spec.protected:
            problems.append(
                f"{where}: '{attr}' is also listed under protected; an attribute is either a "
                "column of group labels or a set of probability columns, not both"
            )
        if len(groups) < 2:
            problems.append(f"{where}: needs at least two groups, got {sorted(groups)}")
        for group, column in groups.items():
            if column in seen:
                problems.append(
                    f"{where}.{group}: column '{column}' is already used for {seen[column]}"
                )
            seen[column] = f"{attr}={group}"
    return problems


def _adea_band_problems(spec: AuditSpec) -> list[str]:
    """A hiring audit's age bands must not span 40 (the ADEA comparison, issue 17)."""
    from auditor.metrics.adea import bands_problem

    if spec.domain != "hiring":
        return []
    cats = spec.categories()
    out = []
    for column, bands in spec.protected_bands.items():
        if cats.get(column) == frozenset({"age"}):
            problem = bands_problem(column, bands)
            if problem:
                out.append(problem)
    return out


MAX_OUTCOME_NAME = 64


def _controls_problems(spec: AuditSpec, protected: set[str]) -> list[str]:
    """``controls`` are business factors: never a protected attribute nor the outcome."""
    problems: list[str] = []
    cols = spec.columns
    roles = {"id": cols.id, "decision": cols.decision, "score": cols.score, "label": cols.label}
    if len(set(spec.controls)) != len(spec.controls):
        problems.append("controls: a column is listed twice")
    probability_columns = {
        c for groups in spec.protected_probabilities.values() for c in groups.values()
    }
    for column in spec.controls:
        if column in protected or column in probability_columns:
            problems.append(
                f"controls: '{column}' is a protected attribute; controls are legitimate "
                "business factors such as credit score, debt-to-income or loan product"
            )
        for role, name in roles.items():
            if name is not None and column == name:
                problems.append(
                    f"controls: '{column}' is the {role} column, not a factor behind the decision"
                )
    for column in cols.outcomes:
        if column in protected or column in probability_columns:
            problems.append(
                f"columns.outcomes: '{column}' is a protected attribute, not an outcome"
            )
        if column in spec.controls:
            problems.append(
                f"columns.outcomes: '{column}' is also a control; an outcome cannot explain itself"
            )
        for role in ("id", "decision", "label"):
            if column == roles[role]:
                problems.append(f"columns.outcomes: '{column}' is the {role} column")
        if len(column) > MAX_OUTCOME_NAME:
            # the record's metric is "adjusted_mean_difference:<column>" (stored, 100 chars)
            problems.append(
                f"columns.outcomes: '{column[:40]}…' is longer than {MAX_OUTCOME_NAME} "
                "characters; rename the column"
            )
    if len(set(cols.outcomes)) != len(cols.outcomes):
        problems.append("columns.outcomes: a column is listed twice")
    for column in sorted(set(cols.outcome_directions) - set(cols.outcomes)):
        problems.append(
            f"columns.outcome_directions: '{column}' is not one of columns.outcomes "
            f"{cols.outcomes}"
        )
    if spec.cdd_by is not None and spec.cdd_by not in spec.controls:
        problems.append(
            f"cdd_by: '{spec.cdd_by}' is not one of the controls {spec.controls}; name a "
            "categorical control (e.g. loan product) to stratify by"
        )
    return problems


def _consistency_problems(spec: AuditSpec, skip: frozenset[str] = frozenset()) -> list[str]:
    """Cross-field checks that pydantic cannot express per field.

    Checks that read a top-level key named in ``skip`` (one that failed validation and
    was replaced by a stand-in) are left out.
    """
    from auditor.policy.loader import available_packs  # local: policy imports spec types

    def ok(*keys: str) -> bool:
        return skip.isdisjoint(keys)

    problems: list[str] = []
    cols = spec.columns
    protected = set(spec.all_protected())
    if ok("protected") and len(set(spec.protected)) != len(spec.protected):
        problems.append("protected: an attribute is listed twice")
    for attr in sorted(protected) if ok("protected", "protected_probabilities") else []:
        if len(attr) > MAX_STORED_NAME:
            problems.append(
                f"protected: '{attr[:40]}…' is {len(attr)} characters; the audit store keeps "
                f"attribute names of up to {MAX_STORED_NAME} characters (rename the column)"
            )
    if ok("protected", "protected_probabilities"):
        problems += _probability_problems(spec)
    if ok("protected", "domain"):
        problems += _adea_band_problems(spec)
    seen_combos: dict[frozenset[str], int] = {}
    for i, combo in enumerate(spec.intersections if ok("intersections", "protected") else []):
        if len(combo) < 2:
            problems.append(f"intersections.{i}: needs at least two attributes, got {combo}")
        if len(set(combo)) != len(combo):
            problems.append(
                f"intersections.{i}: {combo} names an attribute twice; an intersection "
                "crosses different attributes"
            )
        name = " & ".join(combo)  # as the metrics name it
        if len(name) > MAX_STORED_NAME:
            problems.append(
                f"intersections.{i}: its name '{name[:40]}…' is {len(name)} characters; the "
                f"audit store keeps attribute names of up to {MAX_STORED_NAME} characters (rename "
                "the columns)"
            )
        key = frozenset(combo)
        if key in seen_combos:
            # the same cells twice would duplicate records and inflate Holm adjustments
            problems.append(
                f"intersections.{i}: {combo} repeats intersections.{seen_combos[key]} "
                f"{spec.intersections[seen_combos[key]]} (the order does not matter)"
            )
        else:
            seen_combos[key] = i
        if len([a for a in combo if a in spec.protected_probabilities]) > 1:
            problems.append(
                f"intersections.{i}: at most one attribute may come from "
                "protected_probabilities (a product of two probabilities would assume they "
                "are independent)"
            )
        for attr in combo:
            if attr not in protected:
                problems.append(
                    f"intersections.{i}: '{attr}' is not one of the protected attributes "
                    f"{sorted(protected)}"
                )
    for column in spec.protected_roles if ok("protected", "protected_roles") else []:
        if column not in protected:
            problems.append(
                f"protected_roles.{column}: not one of the protected attributes {sorted(protected)}"
            )
    if isinstance(spec.reference, dict) and ok("reference", "protected"):
        for attr in spec.reference:
            if attr not in protected:
                problems.append(
                    f"reference.{attr}: not one of the protected attributes {sorted(protected)}"
                )
    roles = {"id": cols.id, "decision": cols.decision, "score": cols.score, "label": cols.label}
    prob_columns = {
        c: attr for attr, groups in spec.protected_probabilities.items() for c in groups.values()
    }
    for feat in cols.features if ok("columns") else []:
        if feat in prob_columns:
            problems.append(
                f"columns.features: '{feat}' holds probabilities for the protected attribute "
                f"'{prob_columns[feat]}'; protected attributes never enter the model"
            )
        if feat in protected and ok("protected"):
            problems.append(
                f"columns.features: '{feat}' is a protected attribute; protected attributes "
                "never enter the model"
            )
        for role, col in roles.items():
            if col is not None and feat == col:
                problems.append(f"columns.features: '{feat}' is also the {role} column")
    if spec.training is not None and ok("training", "protected"):
        for feat in spec.training.features or []:
            if feat in protected or feat in prob_columns:
                problems.append(
                    f"training.features: '{feat}' is a protected attribute; protected "
                    "attributes never enter the model"
                )
    for column in spec.geography if ok("geography", "columns") else []:
        if column in cols.features:
            problems.append(
                f"geography: '{column}' is a model feature; geography columns are read only "
                "to find features that stand in for them (list the feature's source column)"
            )
    for column in spec.strata if ok("strata", "protected") else []:
        if column in protected:
            problems.append(
                f"strata: '{column}' is a protected attribute; segments are business "
                "categories such as product or region"
            )
    if ok("controls", "cdd_by", "protected", "columns"):
        problems += _controls_problems(spec, protected)
    if ok("columns") and len(set(cols.features)) != len(cols.features):
        problems.append("columns.features: a feature is listed twice")
    no_outcome = spec.model is None and cols.decision is None and cols.score is None
    if ok("model", "columns") and no_outcome:
        problems.append("columns: without a model, the data must have a decision or a score column")
    if ok("model", "columns") and spec.model is not None and not cols.features:
        problems.append("columns.features: a model needs the list of its input features")
    if spec.model is not None and spec.model.module and ":" not in spec.model.module:
        problems.append("model.module: expected 'package.module:ClassName'")
    if spec.model is not None and spec.model.kind != "torch" and spec.model.module:
        problems.append("model.module: only used for torch state dicts")
    extra = [spec.resolve(p) for p in spec.policy_paths] if ok("policy_paths") else []
    for i, folder in enumerate(extra):
        if not folder.is_dir():
            problems.append(f"policy_paths.{i}: folder not found: {folder}")
    known = available_packs(extra=[f for f in extra if f.is_dir()])
    for i, pack in enumerate(spec.policies if ok("policies") else []):
        if pack not in known:
            problems.append(
                f"policies.{i}: unknown policy pack '{pack}'; available: {', '.join(sorted(known))}"
            )
    if ok("threshold") and not 0.0 <= spec.threshold <= 1.0 and spec.model is not None:
        problems.append("threshold: must be between 0 and 1 for a model's probability score")
    if spec.screener is not None:
        problems += _screener_problems(spec)
    if spec.letters is not None and ok("letters", "columns", "protected"):
        features, protected_list = list(cols.features), list(spec.protected)
        problems += letters_problems(spec.letters, features, protected_list, spec.domain)
    return problems


def _screener_problems(spec: AuditSpec) -> list[str]:
    """A screener audit scores variants it builds: no model, its own columns."""
    sc = spec.screener
    if sc is None:
        return []
    problems: list[str] = []
    if spec.model is not None:
        problems.append("model: a screener audit scores through screener.target; remove model")
    if spec.domain not in ("hiring", "credit"):  # pragma: no cover - the Literal says so
        problems.append("domain: a screener audit is hiring (or credit)")
    cols = spec.columns
    expected = (SCREENER_ID, "selected", "score")
    if (cols.id, cols.decision, cols.score) != expected or cols.features or cols.label:
        problems.append(
            "columns: a screener audit measures the variants it builds; leave columns out "
            f"(they are id: {expected[0]}, decision: {expected[1]}, score: {expected[2]})"
        )
    extra = [a for a in spec.protected if a not in SCREENER_PROTECTED]
    if extra or spec.protected_probabilities:
        problems.append(
            f"protected: a screener audit's groups are the probed {list(SCREENER_PROTECTED)}; "
            f"{extra or 'protected_probabilities'} cannot be measured on variants"
        )
    if spec.letters is not None or spec.training is not None:
        problems.append("letters/training: not available for a screener audit")
    if spec.engine.kind != "local" or spec.engine.chunk_rows is not None:
        problems.append("engine: a screener audit runs in memory (engine: local, no chunk_rows)")
    fields = [sc.id_field, sc.name_field, *sc.text_fields, *sc.structured_fields]
    if len(set(fields)) != len(fields):
        problems.append(
            "screener: id_field, name_field, text_fields and structured_fields name a field "
            "twice"
        )
    if sc.applications is None and not spec.data.path:
        problems.append("screener.applications: name the applications file (or data.path)")
    threshold = sc.selection.threshold
    if sc.output == "rank" and threshold is not None and threshold < 1:
        problems.append(
            "screener.selection.threshold: a ranker's threshold is a rank (selected: rank at "
            "or below it, 1 = first); give one of at least 1, or top_share"
        )
    if sc.output == "decision" and sc.selection.top_share is not None:
        problems.append("screener.selection: a decision screener selects what it accepts")
    age = sc.probes.age
    if age is not None and age.field not in sc.structured_fields:
        problems.append(
            f"screener.probes.age.field: '{age.field}' is not one of screener."
            "structured_fields (the graduation year the probe rewrites)"
        )
    names = [c.name for c in sc.probes.custom]
    taken = {"name", "pronoun", "age", *names}
    if len(taken) != 3 + len(names) or len(set(names)) != len(names):
        problems.append(
            "screener.probes.custom: names must differ from each other and from "
            "name, pronoun and age"
        )
    if "gradients" in sc.attributions.methods and not (
        sc.target.kind == "torch" and sc.target.module is None
    ):
        problems.append(
            "screener.attributions.methods: gradients need a local torch sample screener "
            "(target kind: torch without module); use leave_one_out or occlusion"
        )
    if sc.probes.names is None and not sc.probes.pronouns:
        problems.append(
            "screener.probes: the standard tables need the names probe (or pronouns, with "
            "protected: [sex]); turn one on"
        )
    elif sc.probes.names is None and "race_ethnicity" in spec.protected:
        problems.append(
            "protected: without the names probe, race/ethnicity is not probed; write "
            "protected: [sex] (the pronoun probe's groups)"
        )
    return problems
