"""The sample text screener: hashed bag-of-words per resume section -> one logit -> a score.

Small on purpose (a linear model over hashed tokens trains in about a second on a CPU) and
deterministic (stable CRC32 hashing, seeded training, no dropout). Each text section has its own
block of weights, so a section's contribution to the logit is exact and can be read off, and
gradients per section are meaningful.

Two things keep the *clean* sample screener clean by construction, so that the only effect an
audit can find in the pair of sample screeners is the injected one:

* the tokenizer drops gendered pronouns and titles (``PRONOUN_STOP_WORDS``) and year-like
  numbers (1900-2099: graduation years are what the age probe rewrites);
* the name field is not an input of the clean screener at all.

The injected screener adds a ``name`` section whose weights are *fixed*, not learned: every
token of a penalised name (see :mod:`auditor.screener.sample`) lowers the logit by exactly
``name_penalty``, and every other name token by nothing. Name tokens carry their position
(``first:latoya``, ``last:smalls``) so a surname that is also a first name is told apart, and
are hashed to the full 32-bit CRC range, so penalised and unpenalised names in the shipped
tables never share a bucket (checked when the screener is built).

Saved as a state dict (``weights.pt``, read with ``weights_only=True``) plus ``config.json``;
nothing is pickled.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from auditor.errors import DataValidationError, ModelLoadError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
FORMAT = "auditor-sample-screener/1"

PRONOUN_STOP_WORDS = frozenset(
    [
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "they",
        "them",
        "their",
        "theirs",
        "themself",
        "themselves",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "sir",
        "madam",
    ]
)
_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#]*")
_YEAR = re.compile(r"(19|20)\d\d")


def tokens(text: object) -> list[str]:
    """Lower-case word tokens of ``text`` (None / non-text -> none), stop words and years out."""
    if not isinstance(text, str):
        return []
    return [
        t
        for t in _TOKEN.findall(text.lower())
        if t not in PRONOUN_STOP_WORDS and not _YEAR.fullmatch(t)
    ]


def bucket(token: str, buckets: int) -> int:
    """Stable hash bucket (CRC32: the same in every process, unlike ``hash``)."""
    return zlib.crc32(token.encode("utf-8")) % buckets


@dataclass(frozen=True)
class ScreenerConfig:
    """Everything needed to rebuild the module before its state dict is loaded."""

    text_fields: tuple[str, ...]
    numeric_fields: tuple[str, ...]
    buckets: int = 4096
    name_field: str | None = None  # set only on a screener that reads the name
    name_buckets: int = 2**32  # the full CRC32 range: the name block is stored sparsely
    name_penalty: float = 0.0  # logit lowered per penalised name token (documented effect)
    penalised_groups: tuple[str, ...] = ()  # e.g. ("Female", "Black or African American")
    threshold: float = 0.5  # a score at or above it is "selected"
    description: str = ""
    training: dict[str, object] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: Path) -> ScreenerConfig:
        try:
            raw = json.loads(text)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format is {raw.get('format')!r}, expected {FORMAT!r}")
            raw["text_fields"] = tuple(raw["text_fields"])
            raw["numeric_fields"] = tuple(raw["numeric_fields"])
            raw["penalised_groups"] = tuple(raw.get("penalised_groups", ()))
            return cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ModelLoadError(f"{source}: not a sample screener config ({exc})") from exc


class Batch:
    """Hashed bags of one batch of records: per section, flat token buckets + offsets."""

    def __init__(self, config: ScreenerConfig, records: Sequence[Mapping[str, object]]) -> None:
        self.sections: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for section in config.text_fields:
            self.sections[section] = _bags(
                (tokens(r.get(section)) for r in records), config.buckets
            )
        if config.name_field is not None:
            self.sections["name"] = _bags(
                (name_tokens(r.get(config.name_field)) for r in records), config.name_buckets
            )
        self.numeric = torch.tensor(
            [[_number(r, f) for f in config.numeric_fields] for r in records],
            dtype=torch.float32,
        ).reshape(len(records), len(config.numeric_fields))


def _bags(docs: Iterable[list[str]], buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    # a token counts once per section (presence, not frequency): repeated words add nothing,
    # and a name token's fixed weight is applied exactly once
    flat: list[int] = []
    offsets: list[int] = []
    for doc in docs:
        offsets.append(len(flat))
        flat.extend(sorted({bucket(t, buckets) for t in doc}))
    return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


def _number(record: Mapping[str, object], name: str) -> float:
    value = record.get(name)
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        where = f"application {record.get('id')!r}" if "id" in record else "an application"
        raise DataValidationError(
            f"{where}: field {name!r} must be a finite number for the sample screener, "
            f"got {value!r}"
        )
    return number


class SampleScreener(nn.Module):
    """Linear logit over per-section hashed bags plus scaled numeric fields."""

    def __init__(self, config: ScreenerConfig) -> None:
        super().__init__()
        self.config = config
        self.sections = nn.ModuleDict(
            {s: nn.EmbeddingBag(config.buckets, 1, mode="sum") for s in config.text_fields}
        )
        for bag in self.sections.values():
            assert isinstance(bag, nn.EmbeddingBag)
            nn.init.zeros_(bag.weight)
        self.numeric = nn.Linear(len(config.numeric_fields), 1, bias=True)
        nn.init.zeros_(self.numeric.weight)
        nn.init.zeros_(self.numeric.bias)
        # the injected name effect: the (sorted) buckets of penalised name tokens, fixed and
        # never trained; each one present lowers the logit by config.name_penalty
        self.register_buffer("penalised_buckets", torch.zeros(0, dtype=torch.long))

    def section_logits(
        self, batch: Batch, weights: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Each section's additive contribution to the logit (``numeric`` holds the bias).

        ``weights`` optionally gives a per-token multiplier for a section (the same shape as
        its flat buckets): 1 everywhere reproduces the plain bag, and its gradient is input x
        gradient for that section."""
        out: dict[str, torch.Tensor] = {}
        for name, bag in self.sections.items():
            flat, offsets = batch.sections[name]
            per = None if weights is None else weights.get(name)
            out[name] = bag(flat, offsets, per_sample_weights=per).squeeze(-1)
        if "name" in batch.sections:
            flat, offsets = batch.sections["name"]
            penalised = self.penalised_buckets
            assert isinstance(penalised, torch.Tensor)
            hit = torch.isin(flat, penalised).to(torch.float32)
            values = -self.config.name_penalty * hit
            if weights is not None and "name" in weights:
                values = values * weights["name"]
            out["name"] = _segment_sum(values, offsets, len(batch.numeric))
        scale = torch.tensor(NUMERIC_SCALE, dtype=torch.float32)
        out["numeric"] = self.numeric(batch.numeric / scale).squeeze(-1)
        return out

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits, one per record."""
        return torch.stack(list(self.section_logits(batch).values())).sum(dim=0)


# years of experience are divided by this before the linear layer (keeps Adam's steps even)
NUMERIC_SCALE = 10.0


def _segment_sum(values: torch.Tensor, offsets: torch.Tensor, rows: int) -> torch.Tensor:
    ends = torch.cat([offsets[1:], torch.tensor([values.numel()], dtype=torch.long)])
    lengths = (ends - offsets).clamp(min=0)
    index = torch.repeat_interleave(torch.arange(rows), lengths)
    return torch.zeros(rows, dtype=values.dtype).index_add(0, index, values)


def name_tokens(name: object) -> list[str]:
    """``"Latoya Smalls"`` -> ``["first:latoya", "last:smalls"]`` (middle names ignored)."""
    words = tokens(name)
    if not words:
        return []
    return [f"first:{words[0]}"] + ([f"last:{words[-1]}"] if len(words) > 1 else [])


def set_name_penalty(model: SampleScreener, penalised_tokens: Iterable[str]) -> None:
    """Fix the name block: each of ``penalised_tokens`` lowers the logit by the penalty."""
    buckets = sorted({bucket(t, model.config.name_buckets) for t in penalised_tokens})
    model.penalised_buckets = torch.tensor(buckets, dtype=torch.long)


def train(
    model: SampleScreener,
    records: Sequence[Mapping[str, object]],
    labels: Sequence[int],
    *,
    seed: int,
    epochs: int = 150,
    learning_rate: float = 0.1,
    l2: float = 1e-4,
) -> float:
    """Full-batch Adam on the logistic loss; returns the final training loss."""
    with one_thread():
        return _train(model, records, labels, seed, epochs, learning_rate, l2)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread inside the block, the caller's thread count restored after.

    The sample screeners' training is tiny full-batch work: several threads on a busy
    machine made each step 10 to 40x slower (measured), and one thread gives
    the same numbers whatever the machine. Every training of a sample screener goes
    through :func:`train`, so this is the one place that sets it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(
    model: SampleScreener,
    records: Sequence[Mapping[str, object]],
    labels: Sequence[int],
    seed: int,
    epochs: int,
    learning_rate: float,
    l2: float,
) -> float:
    torch.manual_seed(seed)
    batch = Batch(model.config, records)
    target = torch.tensor(list(labels), dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        optimiser.zero_grad()
        logits = model(batch)
        loss = loss_fn(logits, target) + l2 * sum((p**2).sum() for p in params)
        loss.backward()
        optimiser.step()
    model.eval()
    return float(loss.detach())


def save(model: SampleScreener, folder: Path) -> Path:
    """Write ``config.json`` and ``weights.pt`` into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(model.config.to_json() + "\n", encoding="utf-8")
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    return folder


def load(path: Path) -> SampleScreener:
    """Rebuild a saved screener from its folder (or its ``config.json``)."""
    folder = path.parent if path.name == CONFIG_FILE else path
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise ModelLoadError(f"sample screener file {needed} is missing")
    config = ScreenerConfig.from_json(config_path.read_text(encoding="utf-8"), config_path)
    model = SampleScreener(config)
    try:
        state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
        penalised = state.get("penalised_buckets")
        if isinstance(penalised, torch.Tensor):  # its length is the number of penalised names
            model.penalised_buckets = torch.zeros_like(penalised)
        model.load_state_dict(state)
    except Exception as exc:  # torch raises several types for a bad or mismatched file
        raise ModelLoadError(
            f"{weights_path}: not the state dict of this screener ({str(exc).splitlines()[0]})"
        ) from exc
    model.eval()
    return model


def predict(model: SampleScreener, records: Sequence[Mapping[str, object]]) -> list[float]:
    """Scores in (0, 1), one per record, in order."""
    if not records:
        return []
    with torch.no_grad():
        return [float(v) for v in torch.sigmoid(model(Batch(model.config, records)))]
