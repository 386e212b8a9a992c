"""``harness calls score`` on synthetic calls whose every time is known: turns and latency from
the audio (stereo, two mono files, G.711 at 8 kHz), sidecars in three formats, policies, not
applicable checks, refused calls beside graded ones, and the history store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.cli import main
from harness.recording import Recording

RATE = 24_000
CALLER = [(0.5, 2.0), (5.0, 6.0)]
AGENT = [(2.7, 4.0), (6.8, 8.0)]
"""Seconds. Voice-to-voice: 700 ms and 800 ms."""


def _tone(seconds: float, freq: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t)))


def channels(rate: int = RATE, length_s: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    caller, agent = np.zeros(int(length_s * rate)), np.zeros(int(length_s * rate))
    for x, spans, freq in ((caller, CALLER, 220.0), (agent, AGENT, 330.0)):
        for a, b in spans:
            x[int(a * rate): int(a * rate) + int((b - a) * rate)] = _tone(b - a, freq, rate)
    return caller, agent


def write_stereo(path: Path, rate: int = RATE, subtype: str = "PCM_16") -> Path:
    caller, agent = channels(rate)
    sf.write(path, np.stack([caller, agent], axis=1), rate, subtype=subtype)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


def trials(out: Path) -> dict[str, Path]:
    (run_dir,) = out.glob("calls-*")
    run = json.loads((run_dir / "run.json").read_text())
    return {t["scenario"]: run_dir / t["path"] for t in run["trials"]}


def verdicts(trial: Path) -> dict[str, dict]:
    return {v["kind"]: v for v in json.loads((trial / "verdicts.json").read_text())["verdicts"]}


def v2v(trial: Path) -> list[float]:
    rows = verdicts(trial)["latency"]["measured"]["per_turn"]
    return [r["voice_to_voice_ms"] for r in rows]


@pytest.mark.parametrize("rate, subtype", [(24_000, "PCM_16"), (16_000, "PCM_16"),
                                           (8_000, "ULAW"), (8_000, "ALAW")])
def test_a_stereo_call_is_graded_from_its_audio(tmp_path, capsys, rate, subtype):
    wav = write_stereo(tmp_path / "call-1.wav", rate, subtype)
    code, out, err = run_cli(["calls", "score", str(wav), "-o", str(tmp_path / "out")], capsys)
    assert code == 0, out + err
    trial = trials(tmp_path / "out")["call-1"]
    got = verdicts(trial)
    assert {k: v["status"] for k, v in got.items()} == {
        "turn_answered": "pass", "latency": "pass", "dead_air": "pass"}
    # the agent's onsets and the caller's ends are where the audio put them
    assert v2v(trial) == pytest.approx([700, 800], abs=15)
    meta = json.loads((trial / "meta.json").read_text())
    assert meta["target"] == "production"
    assert meta["call_intake"]["source"]["sample_rate"] == rate
    assert any("caller turns" in r for r in meta["call_intake"]["reconstructed"])
    frames = Recording.load(trial).frames
    assert {f.model_extra["source"] for f in frames} == {"audio"}
    assert (trial.parents[1] / "index.html").is_file()


def test_two_mono_files_are_one_call(tmp_path, capsys):
    sf.write(tmp_path / "c.wav", channels()[0], RATE)
    sf.write(tmp_path / "a.wav", channels(16_000)[1], 16_000)  # each file at its own rate
    code, out, err = run_cli(["calls", "score", f"{tmp_path / 'c.wav'},{tmp_path / 'a.wav'}",
                              "-o", str(tmp_path / "out")], capsys)
    assert code == 0, out + err
    assert v2v(trials(tmp_path / "out")["c"]) == pytest.approx([700, 800], abs=15)


def test_refused_calls_are_named_and_the_others_still_graded(tmp_path, capsys):
    good = write_stereo(tmp_path / "good.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    mono = tmp_path / "mono.wav"
    sf.write(mono, channels()[0], RATE)
    mismatched = write_stereo(tmp_path / "other.wav")
    (tmp_path / "other.json").write_text(json.dumps({"version": 1, "transcript": [
        {"speaker": "caller", "start_ms": 500, "end_ms": 2000, "text": "hello"},
        {"speaker": "agent", "start_ms": 2700, "end_ms": 95_000, "text": "hi"}]}))
    code, out, err = run_cli(["calls", "score", str(broken), str(good), str(mono),
                              str(mismatched), "-o", str(tmp_path / "out")], capsys)
    assert code == 2
    assert f"{broken}: cannot read audio" in err
    assert f"{mono}: 1 channel(s): a call needs a stereo file" in err
    assert (f"{tmp_path / 'other.json'}: transcript[1].end_ms: ends at 95,000 ms, after the end "
            "of the call's audio (9,000 ms)") in err
    assert "Traceback" not in err
    assert set(trials(tmp_path / "out")) == {"good"}
    assert verdicts(trials(tmp_path / "out")["good"])["latency"]["status"] == "pass"
    # no call readable: exit 2 and no run folder
    code, _, err = run_cli(["calls", "score", str(broken), str(mono), "-o",
                            str(tmp_path / "none")], capsys)
    assert code == 2 and not list((tmp_path / "none").glob("calls-*"))


def test_a_sidecar_gives_texts_and_tools_and_a_check_without_means_is_not_applicable(
        tmp_path, capsys):
    wav = write_stereo(tmp_path / "c1.wav")
    (tmp_path / "c1.json").write_text(json.dumps({
        "version": 1, "metadata": {"call_id": "CA123", "labels": ["eu"]},
        "transcript": [
            {"speaker": "caller", "start_ms": 500, "end_ms": 2000, "text": "Where is my order?"},
            {"speaker": "agent", "start_ms": 2700, "end_ms": 4000,
             "text": "Let me look that up. It ships on Monday."},
            {"speaker": "caller", "start_ms": 5000, "end_ms": 6000, "text": "Thanks"},
            {"speaker": "agent", "start_ms": 6800, "end_ms": 8000, "text": "Goodbye."}],
        "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "1"},
                        "result": {"eta": "Monday"}, "t_ms": 3000}]}))
    policy = tmp_path / "calls.yaml"
    policy.write_text("version: 1\nlabels: [production]\nchecks:\n"
                      "  - preamble: {}\n"
                      "  - transcript: {must_say: [Monday]}\n"
                      "  - entity_confirmed: {entity: order_id}\n"
                      "  - barge_in: {}\n")
    code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    trial = trials(tmp_path / "out")["c1"]
    got = verdicts(trial)
    assert got["preamble"]["status"] == "pass", got["preamble"]["summary"]
    assert got["transcript"]["status"] == "pass"
    for kind, why in (("entity_confirmed", "which caller turn gave the value"),
                      ("barge_in", "never spoke over the agent")):
        assert got[kind]["status"] == "not_applicable"
        assert got[kind]["summary"].startswith("not applicable: ") and why in got[kind]["summary"]
        assert got[kind]["measured"]["not_applicable"]
    # never a pass, and left out: the graded checks passed, so the call passed
    assert code == 0, out + err
    summary = json.loads((trial.parents[1] / "summary.json").read_text())
    rows = {r["kind"]: r for r in summary["expectations"]}
    assert rows["barge_in"]["not_applicable"] == 1 and rows["barge_in"]["rate"] is None
    assert rows["preamble"]["rate"] == 100.0
    meta = json.loads((trial / "meta.json").read_text())
    assert meta["call_id"] == "CA123" and "eu" in meta["call_intake"]["labels"]
    sources = {f.type: f.model_extra["source"] for f in Recording.load(trial).frames}
    assert sources["response.function_call_arguments.done"] == "sidecar"
    assert sources["response.output_audio.delta"] == "audio"
    # the report shows them apart, and says what was rebuilt and from what
    page = (trial.parents[1] / "pages" / "c1-trial-0.html").read_text()
    assert page.count('badge not_applicable">not applicable<') == 2
    index = (trial.parents[1] / "index.html").read_text()
    assert 'title="not applicable: left out of the rate">n/a<' in index
    assert 'id="call-intake"' in page and "caller turns: speech found on the caller channel" in page
    # re-scoring the folder keeps them not applicable
    code, _, _ = run_cli(["score", str(trial.parents[1])], capsys)
    assert verdicts(trial)["barge_in"]["summary"].startswith("not applicable: ")


def test_a_deepgram_transcript_is_a_sidecar(tmp_path, capsys):
    wav = write_stereo(tmp_path / "dg.wav")
    (tmp_path / "dg.json").write_text(json.dumps({
        "metadata": {"request_id": "req-1"},
        "results": {"utterances": [
            {"channel": 0, "start": 0.5, "end": 2.0, "transcript": "hello there"},
            {"channel": 1, "start": 2.7, "end": 4.0, "transcript": "How can I help?"},
            {"channel": 0, "start": 5.0, "end": 6.0, "transcript": "no thanks"},
            {"channel": 1, "start": 6.8, "end": 8.0, "transcript": "Goodbye."}]}}))
    policy = tmp_path / "calls.yaml"
    policy.write_text("checks:\n  - one_question: {}\n  - transcript: {must_not_say: [sorry]}\n")
    code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    assert code == 0, out + err
    trial = trials(tmp_path / "out")["dg"]
    turns = [f.event for f in Recording.load(trial).frames if f.type == "harness.turn.started"]
    assert [(t["text"], t["intent"]) for t in turns] == [("hello there", "other"),
                                                        ("no thanks", "deny")]
    assert json.loads((trial / "meta.json").read_text())["call_id"] == "req-1"


def test_a_bad_policy_is_located(tmp_path, capsys):
    wav = write_stereo(tmp_path / "c.wav")
    policy = tmp_path / "calls.yaml"
    policy.write_text("checks:\n  - latency: {max_ms: 1500}\n  - no_such_check: {}\nsample: 2\n")
    code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    assert code == 2
    assert f"{policy}:3:" in err and "unknown expectation kind 'no_such_check'" in err
    assert f"{policy}:4:" in err and "sample" in err
    assert not list((tmp_path / "out").glob("calls-*"))


def test_store_records_calls_under_their_label(tmp_path, capsys):
    wav = write_stereo(tmp_path / "c.wav")
    db = tmp_path / "history.db"
    code, out, err = run_cli(["calls", "score", str(wav), "-o", str(tmp_path / "out"),
                              "--store", str(db)], capsys)
    assert code == 0, out + err
    from harness.store import open_store

    with open_store(str(db)) as history:
        runs = history.runs()
    assert [r.label for r in runs] == ["production"]


def test_committed_schemas_and_the_example_policy_are_current():
    from harness.calls import calls_policy_schema_text, load_policy, sidecar_schema_text

    root = Path(__file__).resolve().parents[2]
    assert (root / "schemas" / "sidecar.schema.json").read_text() == sidecar_schema_text()
    assert (root / "schemas" / "calls.schema.json").read_text() == calls_policy_schema_text()
    policy, agent = load_policy(root / "examples" / "production" / "calls.yaml")
    assert agent is not None and agent.escalation_tools
    assert "confirmation_before_write" in {c.kind for c in policy.checks}


def test_a_graded_call_becomes_a_scenario_skeleton(tmp_path, capsys):
    import yaml

    wav = write_stereo(tmp_path / "c2.wav")
    (tmp_path / "c2.json").write_text(json.dumps({"version": 1, "transcript": [
        {"speaker": "caller", "start_ms": 500, "end_ms": 2000, "text": "Order 12345 please"},
        {"speaker": "agent", "start_ms": 2700, "end_ms": 4000, "text": "Let me check."},
        {"speaker": "caller", "start_ms": 5000, "end_ms": 6000, "text": "Yes."}],
        "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "12345"},
                        "result": {"status": "shipped"}, "t_ms": 3500}]}))
    root = Path(__file__).resolve().parents[2]
    policy = tmp_path / "calls.yaml"
    policy.write_text(f"agent: {root / 'agents' / 'support.yaml'}\nchecks:\n"
                      "  - latency: {max_ms: 500}\n  - turn_answered: {}\n")
    code, _, _ = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                          "-o", str(tmp_path / "out")], capsys)
    assert code == 1
    trial = trials(tmp_path / "out")["c2"]
    code, out, err = run_cli(["calls", "to-scenario", str(trial), "-o",
                              str(tmp_path / "scen")], capsys)
    assert code == 0, err
    scenario = yaml.safe_load((tmp_path / "scen" / "c2.yaml").read_text())
    assert scenario["expect"] == [{"latency": {"max_ms": 500.0, "metric": "voice_to_voice",
                                               "turns": "all"}}]
    assert [t.get("text") for t in scenario["turns"]] == ["Order 12345 please", "Yes."]
    assert scenario["turns"][1]["intent"] == "affirm"
    assert scenario["tools"] == {"lookup_order": [{"when": {"order_id": "12345"},
                                                   "returns": {"status": "shipped"}}]}
    clip, rate = sf.read(tmp_path / "scen" / scenario["turns"][0]["audio"])
    assert rate == RATE and abs(len(clip) / rate - (1.5 + 0.3)) < 0.05
    code, out, _ = run_cli(["validate", str(tmp_path / "scen" / "c2.yaml")], capsys)
    assert code == 0, out
    # a recording that is not a graded production call is refused, located
    code, _, err = run_cli(["calls", "to-scenario", str(tmp_path), "-o",
                            str(tmp_path / "x")], capsys)
    assert code == 2 and "meta.json" in err


def test_a_call_with_nothing_applicable_is_errored_not_passed(tmp_path, capsys):
    wav = write_stereo(tmp_path / "c3.wav")
    policy = tmp_path / "calls.yaml"
    policy.write_text("checks:\n  - preamble: {}\n  - barge_in: {}\n")
    code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    assert code == 3, out + err
    summary = json.loads((trials(tmp_path / "out")["c3"].parents[1] / "summary.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["errored"]


def test_an_older_not_applicable_still_reads_back_as_a_fail():
    from harness.scoring.verdict import Verdict

    old = Verdict.model_validate({"kind": "barge_in", "status": "not_applicable",
                                  "summary": "no interruption"})
    assert old.status == "fail" and old.summary.startswith("not graded")
    new = Verdict.model_validate({"kind": "barge_in", "status": "not_applicable",
                                  "summary": "not applicable: x",
                                  "measured": {"not_applicable": "x"}})
    assert new.status == "not_applicable" and not new.passed


def test_the_gates_judge_production_runs(tmp_path, capsys):
    """Two nights of the same six calls, the second with the agent 600 ms slower: the latency
    gate on the production label fires; the pass-rate gate does not."""
    db = str(tmp_path / "history.db")
    for night, delay_s in (("one", 0.0), ("two", 0.6)):
        folder = tmp_path / night
        folder.mkdir()
        for i in range(6):
            caller, agent = channels()
            shift = int((delay_s + 0.02 * i) * RATE)
            agent = np.concatenate([np.zeros(shift), agent[: len(agent) - shift]])
            sf.write(folder / f"call-{i}.wav", np.stack([caller, agent], axis=1), RATE)
        code, out, err = run_cli(["calls", "score", *map(str, sorted(folder.glob("*.wav"))),
                                  "-o", str(tmp_path / "out"), "--store", db], capsys)
        assert code == 0, out + err
    code, out, err = run_cli(["trend", "--store", db, "--label", "production", "-o",
                              str(tmp_path / "trend"), "--fail-on", "latency.p50:+10%",
                              "--fail-on", "pass_rate:-5%"], capsys)
    assert code == 1, out + err
    assert "regressed: latency.p50" in out and "+75" in out
    assert (tmp_path / "trend" / "trend.html").is_file()


def test_a_recorded_trial_folder_is_regraded_with_its_event_log(tmp_path, capsys):
    """A trial folder of a stored run (real events of the example suite against the local
    agent): its events.jsonl is read as the sidecar, through the harness's own timeline."""
    import importlib.util

    from harness.scoring.timeline import build_timeline

    script = Path(__file__).resolve().parents[1] / "fixtures" / "stored-run" / "stored_run.py"
    spec = importlib.util.spec_from_file_location("stored_run", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trial = next(t for t in module.extract(tmp_path / "stored")
                 if t.parent.name == "cancel-confirmed" and t.parents[1].name == "clean")
    live = build_timeline(Recording.load(trial))
    length_s = live.end_ms / 1000 + 1
    caller, agent = channels(length_s=length_s)
    sf.write(trial / "call.wav", np.stack([caller, agent], axis=1), RATE)
    code, out, err = run_cli(["calls", "score", str(trial), "-o", str(tmp_path / "out")], capsys)
    assert code in (0, 1), out + err
    graded = trials(tmp_path / "out")["cancel-confirmed"]
    meta = json.loads((graded / "meta.json").read_text())
    assert meta["call_intake"]["source"]["sidecar_format"] == "events.jsonl"
    got = build_timeline(Recording.load(graded))
    assert [(c.name, c.arguments) for c in got.function_calls] == [
        (c.name, c.arguments) for c in live.function_calls] != []


def test_the_policy_samples_calls_by_id(tmp_path, capsys):
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(12):
        write_stereo(folder / f"call-{i:02d}.wav")
    policy = tmp_path / "calls.yaml"
    policy.write_text("checks:\n  - turn_answered: {}\nsample: 0.5\n")
    args = ["calls", "score", *map(str, sorted(folder.glob("*.wav"))), "--policy", str(policy)]
    code, out, _ = run_cli([*args, "-o", str(tmp_path / "a")], capsys)
    graded = set(trials(tmp_path / "a"))
    assert code == 0 and 0 < len(graded) < 12
    assert out.count("not in the policy's sample") == 12 - len(graded)
    run_cli([*args, "-o", str(tmp_path / "b")], capsys)
    assert set(trials(tmp_path / "b")) == graded


def test_sidecars_from_a_folder_and_their_mistakes_located(tmp_path, capsys):
    sidecars = tmp_path / "sidecars"
    sidecars.mkdir()
    for name in ("ok", "notjson", "wrongfield"):
        write_stereo(tmp_path / f"{name}.wav")
    (sidecars / "ok.json").write_text(json.dumps({"version": 1, "tool_calls": []}))
    (sidecars / "notjson.json").write_text('{"version": 1,\n  "transcript": [}\n')
    (sidecars / "wrongfield.json").write_text(json.dumps({"version": 1, "transcript": [
        {"speaker": "customer", "start_ms": 0, "end_ms": 10, "text": "hi"}], "extra": 1}))
    policy = tmp_path / "calls.yaml"
    policy.write_text("checks:\n  - turn_answered: {}\n  - no_tool_call: {name: lookup_order}\n")
    code, out, err = run_cli(["calls", "score", *(str(tmp_path / f"{n}.wav") for n in
                                                  ("ok", "notjson", "wrongfield")),
                              "--sidecar-dir", str(sidecars), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    assert code == 2
    assert f"{sidecars / 'notjson.json'}:2:18: sidecar is not valid JSON: Expecting value" in err
    assert f"{sidecars / 'wrongfield.json'}: transcript[0].speaker: Input should be " in err
    assert f"{sidecars / 'wrongfield.json'}: extra: Extra inputs are not permitted" in err
    (ok,) = trials(tmp_path / "out").values()
    # an empty tool log is a tool log: no_tool_call is graded, and passes
    assert verdicts(ok)["no_tool_call"]["status"] == "pass"


def test_an_escalation_in_the_sidecar_is_the_escalation_tools_call(tmp_path, capsys):
    root = Path(__file__).resolve().parents[2]
    wav = write_stereo(tmp_path / "esc.wav")
    (tmp_path / "esc.json").write_text(json.dumps({"version": 1, "escalations": [
        {"t_ms": 7000, "reason": "caller asked for a person"}], "transcript": [
        {"speaker": "caller", "start_ms": 5000, "end_ms": 6000, "text": "A person, please."},
        {"speaker": "agent", "start_ms": 6800, "end_ms": 8000,
         "text": "I'm transferring you to a colleague now."}]}))
    policy = tmp_path / "calls.yaml"
    policy.write_text(f"agent: {root / 'agents' / 'support.yaml'}\n"
                      "checks:\n  - escalation: required\n")
    code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    got = verdicts(trials(tmp_path / "out")["esc"])["escalation"]
    assert got["status"] == "pass" and "escalate_to_human" in got["summary"], got["summary"]
    assert code == 0, out + err
    # without the agent's words a required hand-off cannot be graded
    (tmp_path / "esc.json").write_text(json.dumps({"version": 1, "escalations": [
        {"t_ms": 7000}]}))
    run_cli(["calls", "score", str(wav), "--policy", str(policy), "-o", str(tmp_path / "again")],
            capsys)
    again = verdicts(trials(tmp_path / "again")["esc"])["escalation"]
    assert again["status"] == "not_applicable" and "transcript" in again["summary"]


def test_a_transcription_endpoint_transcribes_calls_without_a_transcript(
        tmp_path, capsys, monkeypatch):
    """A loopback server that answers like /v1/audio/transcriptions: one request per turn with
    the key in its header only; what it heard grades the transcript check; a refused key stops
    the call (exit 3) and is quoted back to nobody."""
    from tests.transcription_endpoint import transcription_endpoint

    with transcription_endpoint() as (url, requests):
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-good-key")
        wav = write_stereo(tmp_path / "t.wav")
        policy = tmp_path / "calls.yaml"
        policy.write_text("transcribe: openai\ntranscribe_model: my-model\n"
                          "checks:\n  - transcript: {must_say: [thing number 3]}\n"
                          "  - language: {expected: en}\n")
        code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                                  "-o", str(tmp_path / "out")], capsys)
        assert code == 0, out + err
        assert len(requests) == 4  # two caller turns, two agent responses
        path, auth, body = requests[0]
        assert path == "/v1/audio/transcriptions" and auth == "Bearer sk-test-good-key"
        assert b'name="model"\r\n\r\nmy-model' in body and b"RIFF" in body
        trial = trials(tmp_path / "out")["t"]
        meta = json.loads((trial / "meta.json").read_text())
        assert "transcripts: the transcription endpoint (my-model)" in (
            meta["call_intake"]["reconstructed"])
        # an endpoint writes the language spoken: its words' language is graded
        assert verdicts(trial)["language"]["status"] == "pass"
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-wrong-key")
        code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                                  "-o", str(tmp_path / "refused")], capsys)
        assert code == 3 and "refused the key in OPENAI_API_KEY" in err
        assert "sk-test-wrong-key" not in err + out
        for path in (tmp_path / "out").rglob("*"):
            if path.is_file() and path.suffix in (".json", ".jsonl", ".html", ".xml"):
                assert "sk-test" not in path.read_text(errors="ignore"), path


def test_the_language_of_a_call_the_local_recogniser_wrote_is_not_graded(tmp_path, capsys):
    """The local recogniser decodes every call as English, so its words cannot show which
    language the agent spoke: the language check is not applicable with the reason, never a
    pass, even when the agent spoke Spanish. The other checks are graded from the same words."""
    from harness.audio import speak

    caller = speak("Hello, I would like to check on my order, please.", "en-us").samples
    agent = speak("Claro que sí, con mucho gusto le ayudo con su pedido ahora mismo.",
                  "es").samples
    silence = np.zeros(RATE, dtype=np.int16)
    left = np.concatenate([silence, caller, silence, np.zeros(len(agent), np.int16), silence])
    right = np.concatenate([silence, np.zeros(len(caller), np.int16), silence, agent, silence])
    sf.write(tmp_path / "es.wav", np.stack([left, right], axis=1), RATE, subtype="PCM_16")
    policy = tmp_path / "calls.yaml"
    policy.write_text("checks:\n  - language: {expected: en}\n  - one_question: {}\n")
    code, out, err = run_cli(["calls", "score", str(tmp_path / "es.wav"), "--policy",
                              str(policy), "-o", str(tmp_path / "out")], capsys)
    trial = trials(tmp_path / "out")["es"]
    got = verdicts(trial)
    assert got["language"]["status"] == "not_applicable", got["language"]["summary"]
    assert "writes only en whatever was spoken" in got["language"]["summary"]
    assert got["one_question"]["status"] in ("pass", "fail")  # graded from the same words
    frames = [f for f in Recording.load(trial).frames
              if f.type == "response.output_audio_transcript.done"]
    assert frames and all(f.model_extra["written_only_in"] == "en" for f in frames)


def test_latency_split_by_tool_calls_needs_a_tool_log(tmp_path, capsys):
    # From audio alone no turn is known to have called a tool: latency over tool turns (or
    # plain ones) is not applicable with its reason, latency over all turns is graded.
    wav = write_stereo(tmp_path / "c.wav")
    policy = tmp_path / "calls.yaml"
    policy.write_text("version: 1\nchecks:\n"
                      "  - latency: {p50_ms: 2000, turns: tool}\n"
                      "  - latency: {max_ms: 3000}\n")
    code, out, err = run_cli(["calls", "score", str(wav), "--policy", str(policy),
                              "-o", str(tmp_path / "out")], capsys)
    trial = trials(tmp_path / "out")["c"]
    got = json.loads((trial / "verdicts.json").read_text())["verdicts"]
    split, whole = [v for v in got if v["kind"] == "latency"]
    assert split["status"] == "not_applicable" and "no tool log" in split["summary"]
    assert whole["status"] == "pass", whole["summary"]
    assert code == 0, out + err
