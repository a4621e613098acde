"""Mutation fuzzing of PyTorch model files (run in a child process by test_model_fuzz.py).

TorchScript archives and state dicts of auditor's own ``TabularMLP`` get 1-4 random
bytes replaced; each mutant must load (and score a row) or be refused with a
:class:`ModelLoadError` naming the file. A native crash kills this process, which the
parent test reports with the mutation named in ``current.txt``::

    PYTHONPATH=$PWD .venv/bin/python tests/torch_fuzz.py --count 2000 --seed 3 --out /tmp/tf
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

from auditor.errors import ModelLoadError
from auditor.models.mlp import TabularMLP
from auditor.models.torch_adapter import TorchAdapter
from auditor.spec import ModelSpec

FEATURES = ("a", "b", "c", "d")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = TabularMLP(len(FEATURES), hidden=(8,))
    torch.jit.save(torch.jit.script(model), str(out / "model.ts"))
    torch.save(model.state_dict(), str(out / "model.pt"))
    specs = {
        "model.ts": ModelSpec(path="m", kind="torch"),
        "model.pt": ModelSpec(
            path="m", kind="torch", module="auditor.models.mlp:TabularMLP",
            init={"n_features": len(FEATURES), "hidden": [8]},
        ),
    }  # fmt: skip
    rng = random.Random(args.seed)
    tally: dict[str, int] = {}
    failures: list[str] = []
    for i in range(args.count):
        name = list(specs)[i % 2]
        data = bytearray((out / name).read_bytes())
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = out / f"mutant-{name}"
        path.write_bytes(bytes(data))
        (out / "current.txt").write_text(f"mutation {i} of {name}\n", encoding="utf-8")
        try:
            TorchAdapter.load(path, specs[name], FEATURES)
            outcome = "loaded"
        except ModelLoadError as exc:
            outcome = "refused" if str(path) in str(exc) else "BADMESSAGE"
        except Exception as exc:  # a traceback for the user: the test fails on it
            outcome = f"UNCAUGHT {type(exc).__name__}"
            failures.append(f"mutation {i} of {name}: {type(exc).__name__}: {exc}"[:300])
        tally[outcome] = tally.get(outcome, 0) + 1
    (out / "current.txt").write_text("done\n", encoding="utf-8")
    print(json.dumps({"count": args.count, "tally": tally, "failures": failures[:20]}))
    return 0 if not failures and "BADMESSAGE" not in tally else 1


if __name__ == "__main__":
    sys.exit(main())
