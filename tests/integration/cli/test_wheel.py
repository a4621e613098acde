"""The built wheel carries templates, policies and sample data, and audits from a clean venv."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests._paths import REPO


@pytest.mark.slow
def test_wheel_installs_and_runs_an_audit(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("auditor-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # install the wheel itself (no dependencies: those come from this venv, appended to
    # sys.path after the fresh venv's own site-packages, without its editable finder)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: wheel-check\ndomain: hiring\n"
        f"data: {{path: {REPO / 'sample_data' / 'hiring.csv'}}}\n"
        "columns: {id: applicant_id, decision: hired}\n"
        "protected: [sex, race_ethnicity]\nintersections: [[sex, race_ethnicity]]\n"
        "policies: [nyc_ll144, eeoc_ugesp]\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.check_output(
        [
            py,
            "-c",
            "import auditor, auditor._resources as r; print(auditor.__file__); "
            "print(r.templates_dir()); print(r.policies_dir())",
        ],
        text=True,
        cwd=tmp_path,
        env=env,
    ).split()
    assert all(str(site) in w for w in where), where
    res = subprocess.run(
        [
            py,
            "-m",
            "auditor",
            "audit",
            str(spec),
            "--no-store",
            "--json",
            "r.json",
            "--pdf",
            "r.pdf",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert '"NYC-LL144-5-301-IMPACT-RATIO"' in (tmp_path / "r.json").read_text()
