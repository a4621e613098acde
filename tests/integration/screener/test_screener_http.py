"""Network screeners (issue 23): only operator-allowed hosts, retries, the cache, the record,
and the chat-completions parser. Real loopback HTTP servers on 127.0.0.1, no other host."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import AuditorError, ModelLoadError
from auditor.pipeline import run_audit
from auditor.report.render import render_html
from auditor.result import AuditResult
from auditor.screener.loopback import LoopbackServer
from auditor.screener.run import network_for, screen
from auditor.screener.sample import TEXT_FIELDS, generate_applications, write_applications
from auditor.screener.targets import Network, parse_score, template_fields
from auditor.screener.transport import ScreenerCallError
from auditor.spec import load_spec

runner = CliRunner()
THIS = "tests.integration.screener.test_screener_http"
"""This module, as an operator would allow it (the callable targets below live here)."""
FAST = {"rate_per_s": 1000, "timeout_s": 5, "backoff_s": 0.01}


def by_name(records: list[dict[str, object]]) -> list[float]:
    """A deterministic screener that reads only the name (works on JSON and on text)."""
    return [0.2 + 0.6 * (sum(map(ord, str(r.get("name")))) % 101) / 100 for r in records]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("screener-http")
    write_applications(generate_applications(6, seed=1), out, stem="apps")
    return out


def _spec(folder: Path, target: dict[str, Any], **screener: Any) -> dict[str, Any]:
    return {
        "name": "http-screener",
        "domain": "hiring",
        "policies": ["nyc_ll144"],
        "jurisdictions": ["US-NY"],
        "screener": {
            "applications": str(folder / "apps.csv"),
            "id_field": "id",
            "text_fields": list(TEXT_FIELDS),
            "target": target,
            "probes": {"names": {"per_group": 1}, "pronouns": True},
            "resamples": 500,
            **screener,
        },
    }


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("AUDITOR_SCREENER_HOSTS", raising=False)
    monkeypatch.delenv("AUDITOR_SCREENER_API_KEY", raising=False)
    monkeypatch.setenv("AUDITOR_SCREENER_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_a_host_the_operator_did_not_allow_exits_2_and_nothing_is_sent(
    folder: Path, isolated: Path
) -> None:
    with LoopbackServer(by_name) as server:
        url = server.score_url
        path = isolated / "spec.yaml"
        path.write_text(yaml.safe_dump(_spec(folder, {"kind": "http", "url": url})))
        result = runner.invoke(app, ["audit", str(path), "--no-store", "-q"])
        assert result.exit_code == 2, result.output
        assert "host '127.0.0.1'" in result.output
        assert "--allow-host 127.0.0.1" in result.output
        assert "Traceback" not in result.output
        assert server.requests == 0
        # the operator allows it for this run: the same spec now runs
        out = isolated / "out.json"
        ok = runner.invoke(
            app,
            [
                "audit",
                str(path),
                "--no-store",
                "-q",
                "--allow-host",
                "127.0.0.1",
                "--json",
                str(out),
            ],
        )
        assert ok.exit_code == 0, ok.output
        assert server.requests > 0
        sent = server.requests
    record = json.loads(out.read_text())["screener"]["record"]
    assert record["kind"] == "http"
    assert record["identity"]["url"] == url
    assert len(record["response_digests"]) == record["requests"] == sent


def test_a_spec_cannot_allow_a_host_and_an_upload_gets_no_operator_hosts(
    folder: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _spec(folder, {"kind": "http", "url": "http://127.0.0.1:9/score"})
    raw["screener"]["allow_hosts"] = ["127.0.0.1"]
    with pytest.raises(AuditorError, match="allow_hosts: unknown key"):
        load_spec(raw)
    monkeypatch.setenv("AUDITOR_SCREENER_HOSTS", "127.0.0.1")
    spec = load_spec(_spec(folder, {"kind": "http", "url": "http://127.0.0.1:9/score"}))
    assert network_for(spec).allowed_hosts == ("127.0.0.1",)
    spec.forbid_code()  # a web upload: neither the settings' hosts nor --allow-host apply
    spec.allow_hosts(["127.0.0.1"])
    assert network_for(spec).allowed_hosts == ()
    with pytest.raises(ScreenerCallError, match="not one the operator allowed"):
        screen(spec)


def test_replies_are_cached_by_digest_and_a_rerun_sends_nothing(
    folder: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITOR_SCREENER_HOSTS", "127.0.0.1")
    with LoopbackServer(by_name) as server:
        raw = _spec(folder, {"kind": "http", "url": server.score_url, "batch_size": 16, **FAST})
        first = run_audit(raw)
        sent = server.requests
        again = run_audit(raw)
        assert server.requests == sent  # every reply from the cache
    a, b = first.screener, again.screener
    assert a is not None
    assert b is not None
    assert a.record.requests == sent
    assert a.record.cache_hits == 0
    assert b.record.requests == 0
    assert b.record.cache_hits == sent
    assert a.record.response_digests == b.record.response_digests
    assert a.effects == b.effects


class Flaky:
    """Answers 503 (then 429) before letting requests through to a loopback server."""

    def __init__(self, failures: list[int], upstream: LoopbackServer) -> None:
        self.failures = list(failures)
        self.upstream = upstream
        self.seen = 0

    def __enter__(self) -> str:
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                flaky.seen += 1
                if flaky.failures:
                    status = flaky.failures.pop(0)
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                import urllib.request

                req = urllib.request.Request(
                    flaky.upstream.score_url, body, {"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=5) as resp:
                    data = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/score"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_429_and_5xx_are_retried_with_backoff_and_4xx_are_not(folder: Path) -> None:
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    with LoopbackServer(by_name) as upstream:
        direct = screen(
            load_spec(_spec(folder, {"kind": "http", "url": upstream.score_url, **FAST})),
            network=network,
        )
        flaky = Flaky([503, 429], upstream)
        with flaky as url:
            got = screen(
                load_spec(_spec(folder, {"kind": "http", "url": url, **FAST})), network=network
            )
        assert got.summary.record.retries == 2
        assert got.scored["score"].tolist() == direct.scored["score"].tolist()
        with Flaky([503] * 3, upstream) as url:
            target = {"kind": "http", "url": url, **FAST, "retries": 2}
            with pytest.raises(ScreenerCallError, match="HTTP 503 after 3 attempt"):
                screen(load_spec(_spec(folder, target)), network=network)
        refusing = Flaky([404], upstream)
        with refusing as url, pytest.raises(ScreenerCallError, match=r"HTTP 404.*not retried"):
            screen(load_spec(_spec(folder, {"kind": "http", "url": url, **FAST})), network=network)
        assert refusing.seen == 1


PROMPT = "Rate this application from 0 to 1.\nname: {name}\nsummary: {summary}"


def test_chat_target_gives_the_same_numbers_as_the_json_api(folder: Path) -> None:
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    with LoopbackServer(by_name, fields=["name", "summary"]) as server:
        chat = {
            "kind": "chat",
            "url": server.chat_url,
            "model": "loopback",
            "prompt": PROMPT,
            "system": "You screen resumes.",
            "score_pattern": r"^\s*([0-9.eE+-]+)\s*$",
            **FAST,
        }
        by_chat = screen(load_spec(_spec(folder, chat)), network=network)
        by_json = screen(
            load_spec(_spec(folder, {"kind": "http", "url": server.score_url, **FAST})),
            network=network,
        )
    assert by_chat.scored["score"].tolist() == by_json.scored["score"].tolist()
    assert by_chat.summary.effects == by_json.summary.effects
    identity = by_chat.summary.record.identity
    assert identity["prompt"] == PROMPT
    assert identity["model"] == "loopback"
    record = by_chat.summary.record
    # one digest per reply: every variant, then the section attributions' extra records
    assert len(record.response_digests) == record.requests > len(by_chat.scored)


def test_chat_parser_rejects_unparsable_replies_with_a_clear_message(folder: Path) -> None:
    assert parse_score(r"(?i)score\s*[:=]\s*([0-9.]+)", "Score: 0.75", "x") == 0.75
    with pytest.raises(ScreenerCallError) as info:
        parse_score(r"(?i)score\s*[:=]\s*([0-9.]+)", "I would hire this person.", "record 3")
    message = str(info.value)
    assert "record 3" in message
    assert "does not match" in message
    assert "I would hire this person." in message
    with pytest.raises(ScreenerCallError, match="not a number"):
        parse_score(r"score: (\w+)", "score: high", "record 1")
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    with LoopbackServer(by_name, fields=["name", "summary"]) as server:
        chat = {"kind": "chat", "url": server.chat_url, "model": "m", "prompt": PROMPT, **FAST}
        with pytest.raises(ScreenerCallError) as info:
            screen(load_spec(_spec(folder, chat)), network=network)
    assert "score_pattern" in str(info.value)
    assert "application" in str(info.value)


def test_prompt_templates_name_plain_fields_only(folder: Path) -> None:
    assert template_fields("Hi {name}, {{literal}} {summary}") == ["name", "summary"]
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    for prompt, problem in (
        ("{salary}", "'{salary}' is not one of the application's fields"),
        ("{name.__class__}", "must be a plain field name"),
        ("{name!r}", "must be a plain field name"),
    ):
        chat = {"kind": "chat", "url": "http://127.0.0.1:9/c", "model": "m", "prompt": prompt}
        with pytest.raises(ModelLoadError, match=problem.replace("{", r"\{").replace("}", r"\}")):
            screen(load_spec(_spec(folder, chat)), network=network)


def test_a_callable_from_a_module_the_operator_did_not_allow_is_refused(folder: Path) -> None:
    spec = load_spec(_spec(folder, {"kind": "callable", "function": "os:getcwd"}))
    with pytest.raises(ModelLoadError, match="'os' is not an allowed module"):
        screen(spec)


def test_repeats_of_a_stochastic_screener_are_separate_calls_with_a_consistency_summary(
    folder: Path, isolated: Path
) -> None:
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=isolated / "cache")
    with LoopbackServer(by_name, noise_sd=0.05, seed=2) as server:
        target = {"kind": "http", "url": server.score_url, "batch_size": 500, **FAST}
        got = screen(load_spec(_spec(folder, target, repeats=3)), network=network)
    scored = got.scored
    assert sorted(scored["repeat"].unique()) == [0, 1, 2]
    per_repeat = scored.pivot_table(
        index=["application_id", "probe", "variant"], columns="repeat", values="score"
    )
    assert (per_repeat[0] != per_repeat[1]).any()  # not served from one cached reply
    consistency = got.summary.consistency
    assert consistency["repeats"] == 3
    assert 0.02 < consistency["mean_sd"] < 0.08


def test_repeat_consistency_reaches_the_cli_summary_the_json_and_the_report(
    folder: Path, isolated: Path
) -> None:
    """Noise of SD 0.05 around scores from 0.2 to 0.8 with the cut at 0.5: the spread
    across repeats is about 0.05 and some decisions near the cut flip, but not most."""
    path = isolated / "spec.yaml"
    out = isolated / "out.json"
    with LoopbackServer(by_name, noise_sd=0.05, seed=3) as server:
        target = {"kind": "http", "url": server.score_url, "batch_size": 500, **FAST}
        path.write_text(yaml.safe_dump(_spec(folder, target, repeats=3)))
        ran = runner.invoke(
            app,
            ["audit", str(path), "--no-store", "--allow-host", "127.0.0.1", "--json", str(out)],
        )
    assert ran.exit_code == 0, ran.output
    cs = json.loads(out.read_text())["screener"]["consistency"]
    assert cs["repeats"] == 3
    assert 0.03 < cs["mean_sd"] < 0.07
    assert 0 < cs["decision_flip_share"] < 0.5
    assert f"scored 3 times each; score SD across repeats {cs['mean_sd']:.4f}" in ran.output
    assert f"decisions flip for {cs['decision_flip_share']:.1%} of variants" in ran.output
    html = render_html(AuditResult.from_dict(json.loads(out.read_text())))
    assert "Consistency across repeats" in html
    assert f"changed between repeats for {100 * cs['decision_flip_share']:.1f}%" in html


def test_jsonl_applications_give_the_csv_numbers_and_bad_files_name_the_row(
    folder: Path, tmp_path: Path
) -> None:
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    with LoopbackServer(by_name) as server:
        target = {"kind": "http", "url": server.score_url, **FAST}
        from_csv = screen(load_spec(_spec(folder, target)), network=network)
        from_jsonl = screen(
            load_spec(_spec(folder, target, applications=str(folder / "apps.jsonl"))),
            network=network,
        )
    assert from_jsonl.scored["score"].tolist() == from_csv.scored["score"].tolist()
    bad = tmp_path / "bad.jsonl"
    lines = (folder / "apps.jsonl").read_text().splitlines()
    bad.write_text("\n".join([lines[0], "{not json", *lines[1:]]))
    with pytest.raises(AuditorError, match=r"bad\.jsonl: line 2: not JSON"):
        screen(load_spec(_spec(folder, target, applications=str(bad))), network=network)
    gone = tmp_path / "gone.csv"
    gone.write_text("id,name\nA1,Jo Doe\n")
    with pytest.raises(AuditorError, match="application 1: field 'summary' is not in the file"):
        screen(load_spec(_spec(folder, target, applications=str(gone))), network=network)


def by_rank(records: list[dict[str, object]]) -> list[float]:
    """A ranker: 1 = best, from the same name-only score (lower rank is better)."""
    return [float(1 + round((1 - s) * 100)) for s in by_name(records)]


def test_a_rankers_ranks_select_the_top_share_and_report_top_k_exposure(folder: Path) -> None:
    target = {"kind": "callable", "function": f"{THIS}:by_rank"}
    raw = _spec(folder, target, output="rank", selection={"top_share": 0.3})
    spec = load_spec(raw)
    spec.allow_modules([THIS])
    got = screen(spec)
    names = got.scored[got.scored["probe"] == "name"]
    assert 0.25 <= names["selected"].mean() <= 0.45  # ties at the cut-off are all selected
    best = names.loc[names["selected"], "score"].max()
    assert best <= names.loc[~names["selected"], "score"].min()  # selected = lowest ranks
    assert (got.frame["score"] <= -1).all()  # the tables' score is the negated rank
    exposure = got.summary.exposure
    assert {x["attribute"] for x in exposure} >= {"sex", "race_ethnicity"}
    assert all(x["k"] == exposure[0]["k"] > 0 for x in exposure)
    for attribute in ("sex", "race_ethnicity"):
        rows = [x for x in exposure if x["attribute"] == attribute]
        # the groups' shares of the top k add up to the whole top k
        assert sum(x["pool_share"] * x["exposure_ratio"] for x in rows) == pytest.approx(1.0)
    bad = {**raw, "screener": {**raw["screener"], "selection": {"threshold": 0.5}}}
    with pytest.raises(AuditorError, match="a ranker's threshold is a rank"):
        load_spec(bad)


def test_a_rankers_top_k_exposure_reaches_the_cli_summary_and_the_report(
    folder: Path, isolated: Path
) -> None:
    target = {"kind": "callable", "function": f"{THIS}:by_rank"}
    path = isolated / "rank.yaml"
    out = isolated / "rank.json"
    raw = _spec(folder, target, output="rank", selection={"top_share": 0.3})
    path.write_text(yaml.safe_dump(raw))
    ran = runner.invoke(
        app,
        [
            "audit",
            str(path),
            "--no-store",
            "--allow-module",
            THIS,
            "--json",
            str(out),
        ],
    )
    assert ran.exit_code == 0, ran.output
    result = AuditResult.from_dict(json.loads(out.read_text()))
    assert result.screener is not None
    exposure = result.screener.exposure
    lowest = min(exposure, key=lambda x: x["exposure_ratio"])
    assert f"Top-{exposure[0]['k']} exposure (of {exposure[0]['pool_size']:,} name variants)" in (
        ran.output
    )
    assert f"{lowest['attribute']} = {lowest['group']} {lowest['exposure_ratio']:.3f}" in (
        ran.output
    )
    html = render_html(result)
    assert "Top-k exposure of the ranker" in html
    assert f"{lowest['exposure_ratio']:.3f}" in html


def test_only_the_specs_fields_are_sent_and_requests_keep_to_the_rate(folder: Path) -> None:
    import time

    seen: list[set[str]] = []

    def spy(records: list[dict[str, object]]) -> list[float]:
        seen.extend(set(r) for r in records)
        return by_name(records)

    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    with LoopbackServer(spy) as server:
        target = {"kind": "http", "url": server.score_url, **FAST, "batch_size": 4}
        target["rate_per_s"] = 40
        started = time.monotonic()
        got = screen(load_spec(_spec(folder, target)), network=network)
        took = time.monotonic() - started
    # the CSV also has years_experience and graduation_year: not listed, never sent
    assert seen
    assert all(keys == {"id", "name", *TEXT_FIELDS} for keys in seen)
    requests = got.summary.record.requests
    assert requests >= 20
    assert took >= (requests - 1) / 40


class Odd:
    """A server that redirects every request, or answers too late."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.seen = 0

    def __enter__(self) -> str:
        odd = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                odd.seen += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if odd.mode == "slow":
                    import time

                    time.sleep(1.0)
                self.send_response(307)
                self.send_header("Location", "http://example.org/score")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/score"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_redirects_are_refused_and_slow_replies_time_out(folder: Path) -> None:
    network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
    redirect = Odd("redirect")
    with redirect as url, pytest.raises(ScreenerCallError, match="redirect to 'http://example"):
        screen(load_spec(_spec(folder, {"kind": "http", "url": url, **FAST})), network=network)
    assert redirect.seen == 1
    slow = Odd("slow")
    target = {"kind": "http", "url": "", **FAST, "timeout_s": 0.2, "retries": 1}
    with slow as url, pytest.raises(ScreenerCallError, match=r"no reply within 0\.2 s after 2"):
        screen(load_spec(_spec(folder, {**target, "url": url})), network=network)
    assert slow.seen == 2


def test_an_uploaded_screener_spec_cannot_call_out_run_code_or_read_outside_the_root(
    folder: Path, tmp_path: Path
) -> None:
    import shutil

    from auditor.web.uploads import load_uploaded_spec

    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(folder / "apps.csv", root / "apps.csv")
    for target, problem in (
        ({"kind": "http", "url": "http://127.0.0.1:9/s"}, "cannot make the server call"),
        (
            {"kind": "chat", "url": "http://127.0.0.1:9/c", "model": "m", "prompt": "{name}"},
            "cannot make the server call",
        ),
        (
            {"kind": "callable", "function": "auditor.screener.sample:score_records"},
            "cannot name a function",
        ),
        ({"kind": "torch", "path": "m", "module": "pkg.mod:Net"}, "cannot name code"),
    ):
        raw = _spec(folder, target, applications="apps.csv")
        with pytest.raises(AuditorError, match=problem):
            load_uploaded_spec(yaml.safe_dump(raw).encode(), "s.yaml", root)
    inside = _spec(folder, {"kind": "torch", "path": "m"}, applications="apps.csv")
    assert load_uploaded_spec(yaml.safe_dump(inside).encode(), "s.yaml", root).screener
    outside = _spec(folder, {"kind": "torch", "path": "m"})  # an absolute path elsewhere
    with pytest.raises(AuditorError, match=r"screener\.applications: .* resolves outside"):
        load_uploaded_spec(yaml.safe_dump(outside).encode(), "s.yaml", root)
    escape = _spec(folder, {"kind": "torch", "path": "../m"}, applications="apps.csv")
    with pytest.raises(AuditorError, match=r"screener\.target\.path: .* resolves outside"):
        load_uploaded_spec(yaml.safe_dump(escape).encode(), "s.yaml", root)


def likes_sql(records: list[dict[str, object]]) -> list[float]:
    """Reads one signal: whether the skills mention SQL."""
    return [0.7 if "SQL" in str(r.get("skills") or "") else 0.3 for r in records]


def test_a_custom_probe_swaps_its_text_and_measures_the_effect(folder: Path) -> None:
    target = {"kind": "callable", "function": f"{THIS}:likes_sql"}
    custom = {"name": "sql", "find": "SQL", "variants": {"with SQL": "SQL", "without": "COBOL"}}
    spec = load_spec(_spec(folder, target, probes={"names": {"per_group": 1}, "custom": [custom]}))
    spec.allow_modules([THIS])
    got = screen(spec)
    (effect,) = [e for e in got.summary.effects if e.probe == "sql"]
    assert (effect.group, effect.reference) == ("without", "with SQL")
    assert effect.mean_difference == pytest.approx(-0.4)
    apps = got.scored[got.scored["probe"] == "sql"]["application_id"].nunique()
    assert effect.applications == apps > 0  # only applications that mention SQL
    # a constant difference has an interval of zero width; whether it is a finding is up to
    # the sign-flip test, whose exact p-value is 2 / 2**n at best
    assert effect.ci_high < 0
    assert effect.p_value == pytest.approx(2 / 2**apps)
    level = 1 - got.summary.interval_level
    assert effect.finding == (effect.p_value < level)
    names = [e for e in got.summary.effects if e.probe == "name"]
    assert names
    assert not any(e.finding for e in names)  # the name is not read
