"""The quick-start notebook in docs/ runs end to end and shows the audit's verdict."""

from __future__ import annotations

import os

import pytest

from tests._paths import REPO

nbformat = pytest.importorskip("nbformat", reason="the dev extra (nbclient) is not installed")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = REPO / "docs" / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs_and_shows_the_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    # the kernel is a child process: it must import this checkout's auditor
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    html = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    assert "Verdict: findings by status" in html[0]
    assert "<svg" in html[0]
    assert any("rule_id" in h for h in html[1:])  # the findings frame
    printed = "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    gap = float(printed.rsplit("pred_contrib: ", 1)[1].split()[0])
    assert gap <= 1e-10
