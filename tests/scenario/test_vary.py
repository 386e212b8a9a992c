"""``harness vary``: seeded variants of scenarios that keep what each call means."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from harness import cli
from harness.scenario import load_scenario
from harness.scenario.loader import merged_scenario_data
from harness.scenario.values import FIRST_NAMES, LAST_NAMES
from harness.scenario.vary import variant, write_variants
from harness.spoken import find_readbacks, normalize_value
from harness.spoken.dates import said_dates

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
CLINIC = ROOT / "examples" / "clinic" / "scenarios"
DESK = ROOT / "tests" / "fixtures" / "vary" / "agent.yaml"
CALLBACK = """name: callback
description: A patient asks for a call-back and gives a name, a date of birth and a number.
agent: @AGENT@
turns:
  - say: "Hi, this is Maria Lopez, I'd like a call-back."
    entity: {name: "Maria Lopez"}
  - say: "My date of birth is March fourteenth, nineteen eighty-five."
    entity: {date_of_birth: "1985-03-14"}
  - say: "That's the fourteenth of March, yes. Lopez is spelled L, O, P, E, Z."
    entity: {surname: "Lopez"}
  - say: "Call me on 555-0142, or at work on five five five, zero one nine eight."
    entity: {phone: "555-0142", work_phone: "5550198"}
  - say: "My old card says 03/14/1985 and my order number is eight, three, five, two, one."
tools:
  find_patient:
    - when: {name: "Maria Lopez", date_of_birth: "1985-03-14"}
      returns: {found: true, patient: "Maria Lopez", born: "1985-03-14"}
    - error: patient_not_found
  book_callback:
    - when: {surname: "Lopez", phone: "555-0142"}
      returns: {booked: true}
    - error: invalid_number
expect:
  - tool_called:
      name: find_patient
      arguments: {name: "Maria Lopez", date_of_birth: "1985-03-14"}
  - tool_called: {name: book_callback, arguments: {surname: "Lopez", phone: "555-0142"}}
  - transcript: {must_say: ["Maria"]}
"""
"""A caller who gives a name, a date of birth and phone numbers in the forms people use (written
out by each test: a scenario file under tests/ would be collected as a call to make)."""


def _main(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    return exit_.value.code or 0


def test_twenty_valid_variants_that_differ_and_the_same_command_writes_the_same_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = SCENARIOS / "order-status.yaml"
    for out in ("one", "two"):
        assert _main("vary", str(source), "-n", "20", "--seed", "1", "-o",
                     str(tmp_path / out)) == 0
    assert "wrote 20 scenario(s)" in capsys.readouterr().out
    one = sorted((tmp_path / "one").glob("*.yaml"))
    two = sorted((tmp_path / "two").glob("*.yaml"))
    assert len(one) == 20 and [p.name for p in one] == [p.name for p in two]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two, strict=True))

    scenarios = [load_scenario(p) for p in one]
    ids = {s.turns[1].entity["order_id"] for s in scenarios}
    voices = {s.caller.voice for s in scenarios}
    rates = {s.caller.words_per_minute for s in scenarios}
    beds = {(s.noise.kind, s.noise.seed, s.noise.snr_db) for s in scenarios}
    assert len(ids) == 20 and "83521" not in ids
    assert len(voices) >= 4 and len(rates) >= 10 and len(beds) == 20
    # the value said is the value labelled, looked up and expected
    for s in scenarios:
        [value] = s.turns[1].entity.values()
        assert find_readbacks(s.turns[1].say) == [value]
        [tool_called] = [e for e in s.expect if e.kind == "tool_called"]
        assert tool_called.params.arguments == {"order_id": value}
        [answer, _default] = s.tools["lookup_order"]
        assert answer.when == {"order_id": value}

    other_seed = write_variants([source], tmp_path / "three", n=20, seed=2)
    assert {load_scenario(p).turns[1].entity["order_id"] for p in other_seed} != ids


def _variants(path: Path, n: int = 10, **kw: object) -> list[dict]:
    data = merged_scenario_data(path)
    return [variant(data, seed=7, index=i, **kw) for i in range(1, n + 1)]


def test_a_caller_varies_among_the_voices_of_its_own_engine() -> None:
    from harness.kokoro import VOICES as KOKORO_VOICES  # noqa: PLC0415

    data = merged_scenario_data(SCENARIOS / "order-status.yaml")
    assert data["caller"]["voice"] in KOKORO_VOICES
    kokoro = {variant(data, seed=1, index=i)["caller"]["voice"] for i in range(1, 21)}
    assert kokoro <= set(KOKORO_VOICES) and len(kokoro) >= 4
    data["caller"]["voice"] = "en-gb"  # an espeak-ng caller stays an espeak-ng caller
    espeak = {variant(data, seed=1, index=i)["caller"]["voice"] for i in range(1, 21)}
    assert all(v.startswith("en") for v in espeak) and len(espeak) >= 4
    # a caller given by accent keeps it (voice and accent together would not load)
    del data["caller"]["voice"]
    data["caller"]["accent"] = "hindi"
    assert "voice" not in variant(data, seed=1, index=1)["caller"]


def test_a_cut_off_still_cuts_the_id_after_the_same_digits(tmp_path: Path) -> None:
    for path in write_variants([SCENARIOS / "cut-off-order-id.yaml"], tmp_path, n=10, seed=3):
        s = load_scenario(path)
        cut, full = s.turns[1], s.turns[2]
        assert cut.say.startswith(cut.cut_off.after_text)
        [value] = full.entity.values()
        [heard_cut] = find_readbacks(cut.cut_off.after_text)
        assert heard_cut == value[:3] and value != "83521"
        assert find_readbacks(cut.say) == [value]


def test_a_correction_still_changes_the_same_digit() -> None:
    for data in _variants(SCENARIOS / "digit-correction.yaml"):
        first, corrected = data["turns"][0], data["turns"][1]
        a, b = first["entity"]["order_id"], corrected["entity"]["order_id"]
        assert [i for i in range(5) if a[i] != b[i]] == [3], (a, b)
        assert find_readbacks(first["say"]) == [a] and find_readbacks(corrected["say"]) == [b]
        answers = {str(m.get("when", {}).get("order_id")) for m in data["tools"]["lookup_order"]}
        assert b in answers and "83571" not in answers


def test_letters_dashes_emails_and_pauses_keep_their_shape() -> None:
    for data in _variants(SCENARIOS / "spelled-id-with-dash.yaml"):
        value = data["turns"][0]["entity"]["order_id"]
        assert value[:2].isalpha() and value[:2].isupper() and value[2] == "-"
        assert value[3:].isdigit() and value != "AB-1234"
        assert find_readbacks(data["turns"][0]["say"]) == [normalize_value(value)]
    for data in _variants(SCENARIOS / "update-email-spelled.yaml"):
        [email] = [t["entity"]["email"] for t in data["turns"] if "email" in t.get("entity", {})]
        local, _, domain = email.partition("@")
        assert domain == "mail.com" and len(local) == 4 and local != "john"
    pauses = {data["turns"][0]["say"][1]["pause_ms"]
              for data in _variants(SCENARIOS / "mid-sentence-pause.yaml")}
    assert len(pauses) >= 8 and all(1000 <= p <= 3000 for p in pauses), pauses


def test_a_date_said_as_words_gets_a_new_date_and_only_the_asked_aspects_change() -> None:
    dates = set()
    for data in _variants(CLINIC / "book-confirmed.yaml"):
        [call] = [e["tool_called"] for e in data["expect"] if "tool_called" in e]
        born = call["arguments"]["date_of_birth"]
        [said] = said_dates(data["turns"][2]["say"])
        assert (said.year, said.month, said.day) == tuple(map(int, born.split("-")))
        assert re.fullmatch(r"My date of birth is the [a-z -]+ of [A-Z][a-z]+, [a-z -]+\.",
                            data["turns"][2]["say"])
        [answer, _error] = data["tools"]["book_appointment"]
        assert answer["when"] == {"patient_id": call["arguments"]["patient_id"],
                                  "date_of_birth": born}
        assert call["arguments"]["patient_id"] != "5830184"
        dates.add(born)
    assert len(dates) == 10 and "1985-03-04" not in dates
    source = merged_scenario_data(SCENARIOS / "noisy-caller.yaml")
    for data in _variants(SCENARIOS / "noisy-caller.yaml", aspects=["voices"]):
        assert [t.get("say") for t in data["turns"]] == [t.get("say") for t in source["turns"]]
        assert data["tools"] == source["tools"] and data["noise"] == source["noise"]
        assert data["caller"] != source["caller"]
        # a turn's own slower rate is scaled with the caller's
        factor = data["caller"]["words_per_minute"] / source["caller"]["words_per_minute"]
        assert data["turns"][0]["voice"]["words_per_minute"] == pytest.approx(130 * factor, abs=1)
    for data in _variants(SCENARIOS / "noisy-caller.yaml", aspects=["noise"]):
        assert data["noise"]["kind"] == source["noise"]["kind"] == "babble"
        assert abs(data["noise"]["snr_db"] - source["noise"]["snr_db"]) <= 3.0
        assert data["noise"]["snr_db"] >= 10.0


def _callback(folder: Path) -> Path:
    path = folder / "callback.yaml"
    path.write_text(CALLBACK.replace("@AGENT@", str(DESK)), encoding="utf-8")
    return path


def _loaded_variants(tmp_path: Path, n: int, seed: int) -> list[Path]:
    """Variants of the name, date and phone scenario written twice: the same bytes both
    times."""
    source = _callback(tmp_path)
    one = write_variants([source], tmp_path / "one", n=n, seed=seed)
    two = write_variants([source], tmp_path / "two", n=n, seed=seed)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    return one


def test_a_name_gets_another_name_said_spelled_labelled_mocked_and_expected(
        tmp_path: Path) -> None:
    names = set()
    for path in _loaded_variants(tmp_path, n=8, seed=4):
        s = load_scenario(path)
        full = s.turns[0].entity["name"]
        first, last = full.split()
        assert first in FIRST_NAMES and last in LAST_NAMES
        assert s.turns[0].say == f"Hi, this is {full}, I'd like a call-back."
        assert s.turns[2].entity == {"surname": last}
        assert s.turns[2].say.endswith(f"{last} is spelled {', '.join(last.upper())}.")
        [found, _error] = s.tools["find_patient"]
        assert found.when["name"] == found.returns["patient"] == full
        [booked, _error] = s.tools["book_callback"]
        assert booked.when["surname"] == last
        [find_call, book_call] = [e.params for e in s.expect if e.kind == "tool_called"]
        assert find_call.arguments["name"] == full and book_call.arguments["surname"] == last
        [must] = [e.params for e in s.expect if e.kind == "transcript"]
        assert must.must_say == [first]
        names.add(full)
    assert len(names) >= 6 and "Maria Lopez" not in names


def test_a_date_gets_another_date_in_each_form_it_was_said(tmp_path: Path) -> None:
    born_dates = set()
    for path in _loaded_variants(tmp_path, n=8, seed=4):
        s = load_scenario(path)
        born = s.turns[1].entity["date_of_birth"]
        new = date.fromisoformat(born)
        month = new.strftime("%B")
        assert re.fullmatch(rf"My date of birth is {month} [a-z-]+, nineteen [a-z-]+\.",
                            s.turns[1].say)
        assert re.match(rf"That's the [a-z -]+ of {month}, yes\.", s.turns[2].say)
        assert f"My old card says {new:%m/%d/%Y} and" in s.turns[4].say
        for turn in (s.turns[1], s.turns[2]):
            assert [(d.month, d.day) for d in said_dates(turn.say)] == [(new.month, new.day)]
        [found, _error] = s.tools["find_patient"]
        assert found.when["date_of_birth"] == found.returns["born"] == born
        [find_call, _book] = [e.params for e in s.expect if e.kind == "tool_called"]
        assert find_call.arguments["date_of_birth"] == born
        born_dates.add(born)
    assert len(born_dates) == 8 and "1985-03-14" not in born_dates


def test_a_phone_number_keeps_its_grouping_and_a_dialable_start(tmp_path: Path) -> None:
    phones = set()
    for path in _loaded_variants(tmp_path, n=8, seed=4):
        s = load_scenario(path)
        phone, work = s.turns[3].entity["phone"], s.turns[3].entity["work_phone"]
        assert re.fullmatch(r"[2-9]\d\d-\d{4}", phone) and re.fullmatch(r"[2-9]\d{6}", work)
        assert find_readbacks(s.turns[3].say) == [phone, work]
        assert s.turns[3].say.startswith(f"Call me on {phone}, or at work on ")
        [booked, _error] = s.tools["book_callback"]
        [_find, book_call] = [e.params for e in s.expect if e.kind == "tool_called"]
        assert booked.when["phone"] == book_call.arguments["phone"] == phone
        # the order number beside the numeric date is still an identifier, varied on its own
        [order] = [v for v in find_readbacks(s.turns[4].say) if "/" not in v]
        assert len(order) == 5 and order != "83521"
        phones.add(phone)
    assert len(phones) >= 6 and "555-0142" not in phones

    scenario = tmp_path / "intl.yaml"
    scenario.write_text(f"""name: intl
agent: {DESK}
turns:
  - say: "Please call +1 415 555 0144 for Lopez."
    entity: {{mobile: "+1 415 555 0144"}}
expect:
  - tool_called: {{name: book_callback, arguments: {{phone: "+1 415 555 0144"}}}}
""")
    for path in write_variants([scenario], tmp_path / "intl", n=20, seed=9):
        s = load_scenario(path)
        mobile = s.turns[0].entity["mobile"]
        # the country code stays; the area code and the exchange never start with 0 or 1
        assert re.fullmatch(r"\+1 [2-9]\d\d [2-9]\d\d \d{4}", mobile), mobile
        assert s.expect[0].params.arguments == {"phone": mobile}
        assert s.turns[0].say == f"Please call {mobile} for Lopez."


def test_a_name_or_date_that_is_no_value_of_the_call_stays_as_written(tmp_path: Path) -> None:
    scenario = tmp_path / "plain.yaml"
    scenario.write_text(f"""name: plain
agent: {DESK}
turns:
  - say: "Hi, Maria Lopez here, my order is eight, three, five, two, one."
    entity: {{order_id: "83521"}}
  - say: "I ordered it on 03/14/2024, the fourteenth of March, for Maria."
tools:
  find_patient: {{returns: {{found: true, doctor: "Maria Lopez"}}}}
expect:
  - transcript: {{must_say: ["Maria"]}}
""")
    for path in write_variants([scenario], tmp_path / "out", n=5, seed=2):
        s = load_scenario(path)
        [order] = s.turns[0].entity.values()
        assert s.turns[0].say.startswith("Hi, Maria Lopez here, my order is ")
        assert find_readbacks(s.turns[0].say) == [order] and order != "83521"
        assert s.turns[1].say == "I ordered it on 03/14/2024, the fourteenth of March, for Maria."
        assert s.tools["find_patient"].returns == {"found": True, "doctor": "Maria Lopez"}
        assert s.expect[0].params.must_say == ["Maria"]


def test_only_values_varies_names_dates_and_phones_and_only_voices_leaves_them(
        tmp_path: Path) -> None:
    callback = _callback(tmp_path)
    source = merged_scenario_data(callback)
    for data in _variants(callback, n=3, aspects=["values"]):
        assert "caller" not in data and "noise" not in data
        changed = [t["entity"] != s["entity"] for t, s in zip(data["turns"], source["turns"],
                                                                strict=True) if "entity" in s]
        assert changed == [True, True, True, True]
    for data in _variants(callback, n=3, aspects=["voices"]):
        assert [t.get("say") for t in data["turns"]] == [t.get("say") for t in source["turns"]]
        assert data["tools"] == source["tools"] and data["expect"] == source["expect"]


def test_the_whole_example_suite_and_the_clinic_vary_into_valid_scenarios(tmp_path: Path) -> None:
    written = write_variants([SCENARIOS, CLINIC], tmp_path, n=3, seed=11)
    sources = [p for p in [*SCENARIOS.glob("[!_]*.yaml"), *CLINIC.glob("[!_]*.yaml")]]
    assert len(written) == 3 * len(sources)
    names = {load_scenario(p).name for p in written}
    assert len(names) == len(written)


def test_bad_options_exit_2_with_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = str(SCENARIOS / "order-status.yaml")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [(["-n", "0", "-o", str(tmp_path / "a")], "at least 1"),
             (["--only", "colour", "-o", str(tmp_path / "b")], "unknown aspect 'colour'"),
             (["-o", str(a_file)], "expected a folder")]
    for args, message in cases:
        assert _main("vary", source, *args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nturns: [{say: hi}]\nexpect: [{latency: {max_ms: -1}}]\n")
    assert _main("vary", str(bad), "-o", str(tmp_path / "c")) == 2
    assert "bad.yaml:3" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_run_vary_runs_the_variants_and_keeps_them(tmp_path: Path) -> None:
    import asyncio  # noqa: PLC0415
    import json  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "tests" / "runner"))
    from scripted import Behaviour, ScriptedServer  # noqa: PLC0415 - a test double's module

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(f"""name: tiny
agent: {ROOT / "agents" / "support.yaml"}
turns:
  - say: "My number is four, two, nine."
    entity: {{order_id: "429"}}
expect:
  - no_tool_call: {{name: cancel_order}}
""")

    async def run() -> subprocess.CompletedProcess[str]:
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", "from harness.cli import main; main()",
                                 "run", str(scenario), "--target", srv.url, "--vary", "2",
                                 "--vary-seed", "5", "-o", str(tmp_path / "out")],
                capture_output=True, text=True, timeout=300)

    done = asyncio.run(run())
    assert done.returncode == 0, done.stdout + done.stderr
    varied = sorted((tmp_path / "out" / "varied-s5").glob("*.yaml"))
    assert [p.name for p in varied] == ["tiny-s5-01.yaml", "tiny-s5-02.yaml"]
    [run_json] = (tmp_path / "out").glob("run-*/run.json")
    names = {t["scenario"] for t in json.loads(run_json.read_text())["trials"]}
    assert names == {"tiny-s5-01", "tiny-s5-02"}


def test_every_kokoro_voice_a_variant_may_speak_with_ends_where_its_speech_does() -> None:
    """The caller's speech end is where latency is measured from. A voice whose clips end in
    noise the speech end takes for speech (``bm_fable``: 0.3-1.2 s at about -42 dBFS) would make
    an agent that answers on time seem to answer while the caller still speaks."""
    import numpy as np
    import webrtcvad

    from harness.audio._speech import detect_speech
    from harness.kokoro._engine import speak
    from harness.scenario.vary import KOKORO_ENGLISH_VOICES

    def last_voiced(pcm: np.ndarray) -> float:
        vad, frame = webrtcvad.Vad(2), 160  # 20 ms at 8 kHz
        narrow = pcm[: pcm.size // 3 * 3].reshape(-1, 3).mean(axis=1).astype(np.int16)
        voiced = [i + frame for i in range(0, narrow.size - frame, frame)
                  if vad.is_speech(narrow[i:i + frame].tobytes(), 8000)]
        return 3 * voiced[-1] / 24_000

    def overhang(voice: str) -> float:
        said = speak("The order number is six, two, three, four, seven.", voice).samples
        pcm = (np.clip(said, -1, 1) * 32767).astype(np.int16)
        span = detect_speech(pcm, 24_000)
        assert span is not None
        return span[1] / 24_000 - last_voiced(pcm)

    assert overhang("bm_fable") > 0.3  # the fault this guards against is still told apart
    late = {v: round(overhang(v), 2) for v in KOKORO_ENGLISH_VOICES}
    assert all(s < 0.2 for s in late.values()), late
