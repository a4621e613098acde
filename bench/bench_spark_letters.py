"""Letters of a Spark audit (``local[2]``) against the in-memory path, same data and model.

Trains the demo credit model, writes its 1,000 applicants as Parquet (row groups of 250:
four partitions), stores one in-memory audit and one Spark audit (each with its own
database), then times ``issue_letters`` for every adverse decision on each: in memory from
the stored decisions, and with Spark from the data (the session is already started by
the Spark audit, so its startup is not in the letters' time). Then checks every record
and PDF equal.

The in-memory path renders on ``--workers`` processes (default 2: both paths then use the
machine's two cores; Spark ``local[2]`` runs two tasks).

Run: ``.venv/bin/python bench/bench_spark_letters.py [--workers 2]`` (needs the ``spark``
extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
import yaml

from auditor.demo import prepare_credit
from auditor.engine.spark import spark_session
from auditor.letters.service import issue_letters
from auditor.service import perform_audit
from auditor.store import open_store


def main() -> None:
    """Print the time of each path and whether the letters are equal."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "models").mkdir()
        case = prepare_credit(tmp / "models", seed=0)
        spec = yaml.safe_load(case.spec_path.read_text())
        frame = pd.read_csv(case.spec_path.parent / spec["data"]["path"])
        frame.to_parquet(tmp / "credit.parquet", row_group_size=250)
        spec["data"] = {"path": str(tmp / "credit.parquet")}
        spec["model"]["path"] = str(case.spec_path.parent / spec["model"]["path"])
        spec["explain"] = {**spec.get("explain", {}), "quality": {"enabled": False}}
        session = spark_session("local[2]")
        session.conf.set("spark.sql.files.maxPartitionBytes", "16384")
        parts = session.read.parquet(str(tmp / "credit.parquet")).rdd.getNumPartitions()
        print(f"{len(frame)} rows, {parts} partitions")
        letters, times = {}, {}
        for name, engine in (("in memory", {}), ("spark", {"engine": {"kind": "spark"}})):
            url = f"sqlite:///{tmp / (name.replace(' ', '_') + '.db')}"
            audit_id = perform_audit({**spec, **engine}, database_url=url).result.audit_id
            with open_store(url) as store:
                start = time.perf_counter()
                workers = args.workers if name == "in memory" else 1
                letters[name] = issue_letters(store, audit_id, workers=workers)
                took = times[name] = time.perf_counter() - start
            print(f"{name}: {len(letters[name])} letters in {took:.1f} s", flush=True)
        a, b = letters["in memory"], letters["spark"]
        same = len(a) == len(b) and all(
            x.record == y.record and x.html == y.html and x.pdf == y.pdf
            for x, y in zip(a, b, strict=True)
        )
        print(f"ratio Spark / in memory: {times['spark'] / times['in memory']:.2f}")
        print("records, HTML and PDFs equal:", same)
        session.stop()


if __name__ == "__main__":
    main()
