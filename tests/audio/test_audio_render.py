"""Rendering scenarios: SNR, cut-offs, pauses, clips, play turns, beds, errors, determinism."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from harness.audio import (
    CALLER_SPEECH_LEVEL_DB,
    active_speech_level,
    clear_memory_cache,
    detect_speech,
    render_scenario,
    speak,
    synthesize,
)
from harness.errors import InputError
from harness.scenario.models import Scenario

RATE = 24_000
MS = RATE // 1000


def make_scenario(turns: list[dict[str, Any]], source: Path | None = None,
                  **fields: Any) -> Scenario:
    """A scenario from Python data, as the loader builds it from YAML (paths absolute)."""
    scenario = Scenario.model_validate({"name": "audio-test", "turns": turns,
                                        "expect": [{"turn_answered": {}}], **fields})
    scenario.source = source
    return scenario


def _measured_snr(clean: np.ndarray, mixed: np.ndarray) -> float:
    """Caller active level minus the bed's active level, both measured on the mix."""
    noise = mixed.astype(np.float64) - clean.astype(np.float64)
    return active_speech_level(clean, RATE) - active_speech_level(noise, RATE)


def _mix(clean: np.ndarray, bed_chunk: np.ndarray) -> np.ndarray:
    return np.clip(clean.astype(np.int32) + bed_chunk, -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- SNR


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_mixed_turn_has_the_requested_snr(kind: str, snr_db: float, cache_dir: Path) -> None:
    scenario = make_scenario([{"say": "Hi, I need to check the status of my order, please."}],
                             noise={"kind": kind, "snr_db": snr_db, "seed": 3})
    script = render_scenario(scenario, cache_dir)
    turn = script.turns[0]
    start = 5 * RATE + 123  # anywhere in the stream
    mixed = _mix(turn.samples, script.bed(0).chunk(start, turn.duration_samples))
    assert _measured_snr(turn.samples, mixed) == pytest.approx(snr_db, abs=0.5)


@pytest.mark.parametrize("kind", ["brown", "hold_music", "tv", "side_conversation"])
def test_bed_level_over_a_whole_loop_matches_the_snr(kind: str, cache_dir: Path) -> None:
    # Kinds whose level swings within a few seconds (music, a single talker) hold their SNR
    # over the loop; the caller's level is measured here, independently of the renderer.
    scenario = make_scenario([{"say": "Eight three five two one."}, {"say": "Yes, please."}],
                             noise={"kind": kind, "snr_db": 12.0, "seed": 5})
    script = render_scenario(scenario, cache_dir)
    caller = active_speech_level(np.concatenate([t.samples for t in script.turns]), RATE)
    assert script.caller_level_db == pytest.approx(caller, abs=1e-6)
    bed = script.bed(None)
    loop = bed.chunk(0, bed.loop.size)
    assert caller - active_speech_level(loop, RATE) == pytest.approx(12.0, abs=0.5)


def test_turn_noise_override_and_none(cache_dir: Path) -> None:
    scenario = make_scenario(
        [{"say": "Hello there."},
         {"say": "It is loud here.", "noise": {"kind": "white", "snr_db": 3, "seed": 2}},
         {"say": "Now it is quiet.", "noise": "none"}],
        noise={"kind": "pink", "snr_db": 30, "seed": 1})
    script = render_scenario(scenario, cache_dir)
    assert script.bed(0) is script.bed(None) and script.bed(0).kind == "pink"
    assert script.bed(1).kind == "white"
    assert script.bed(1).level_db == pytest.approx(script.caller_level_db - 3)
    assert script.bed(None).level_db == pytest.approx(script.caller_level_db - 30)
    assert script.bed(2).silent
    assert not script.bed(2).chunk(1000, 480).any()


def test_no_noise_means_a_silent_bed(cache_dir: Path) -> None:
    script = render_scenario(make_scenario([{"say": "Hello."}]), cache_dir)
    chunk = script.bed(None).chunk(0, 480)
    assert chunk.dtype == np.int16 and chunk.shape == (480,) and not chunk.any()


def test_bed_is_endless_and_chunks_join_up(cache_dir: Path) -> None:
    scenario = make_scenario([{"say": "Hello."}], noise={"kind": "pink", "snr_db": 20, "seed": 4})
    bed = render_scenario(scenario, cache_dir).bed(None)
    size = bed.loop.size
    whole = bed.chunk(size - 1000, 3000)  # across the loop's seam
    pieces = np.concatenate([bed.chunk(size - 1000 + i, 480) for i in range(0, 3000, 480)])
    assert np.array_equal(whole, pieces[:3000])
    assert np.array_equal(bed.chunk(7 * size + 55, 480), bed.chunk(55, 480))
    assert bed.chunk(0, 3 * size).size == 3 * size  # longer than the loop
    # The seam is as smooth as the rest of the noise (no click where the loop wraps).
    steps = np.abs(np.diff(bed.loop.astype(np.int32)))
    assert abs(int(bed.loop[0]) - int(bed.loop[-1])) <= np.percentile(steps, 99.9)


# --------------------------------------------------------------------------- cut-offs


@pytest.mark.parametrize("text, prefix", [
    ("It's eight, three, five, two, one.", "It's eight, three,"),
    ("My order number is eight, three, five.", "My order number is eight,"),
    ("Well, I think so, but let me check.", "Well, I think so,"),
])
def test_cut_off_length_matches_the_prefix_within_30_ms(text: str, prefix: str,
                                                        cache_dir: Path) -> None:
    scenario = make_scenario([{"say": text, "cut_off": {"after_text": prefix}}, {"say": text}])
    script = render_scenario(scenario, cache_dir)
    cut, full = script.turns
    assert cut.cut_off and not full.cut_off
    assert cut.spoken_text == prefix
    alone = synthesize(prefix)  # the prefix said on its own ends where the cut should be
    prefix_end = detect_speech(alone, RATE)[1]
    assert abs(cut.speech_end_sample - prefix_end) <= 30 * MS
    assert cut.duration_samples <= cut.speech_end_sample + 1 + 2 * MS  # ends abruptly
    # It is the full utterance's audio, stopped (not a new, complete utterance).
    keep = cut.duration_samples - 4 * MS
    assert np.array_equal(cut.samples[:keep], full.samples[:keep])
    assert full.speech_end_sample > cut.speech_end_sample + 300 * MS


def test_cut_off_inside_a_word_stops_mid_word(cache_dir: Path) -> None:
    text = "It's eight, three, five, two, one."
    script = render_scenario(make_scenario([
        {"say": text, "cut_off": {"after_text": "It's eight, thr"}},
        {"say": text, "cut_off": {"after_text": "It's eight,"}},
        {"say": text, "cut_off": {"after_text": "It's eight, three,"}}]), cache_dir)
    mid, before, after = script.turns
    assert mid.spoken_text == "It's eight, thr"
    # Between the end of "eight," and the end of "three,", well clear of both.
    assert before.duration_samples + 60 * MS < mid.duration_samples
    assert mid.duration_samples < after.duration_samples - 60 * MS


def test_after_text_matches_words_whatever_the_case_and_punctuation(cache_dir: Path) -> None:
    text = "It's eight, three, five, two, one."
    script = render_scenario(make_scenario([
        {"say": text, "cut_off": {"after_text": "It's eight, three,"}},
        {"say": text, "cut_off": {"after_text": "its EIGHT three"}}]), cache_dir)
    exact, loose = script.turns
    assert np.array_equal(exact.samples, loose.samples)
    assert loose.spoken_text == "It's eight, three,"


def test_cut_off_at_ms_and_fraction(cache_dir: Path) -> None:
    text = "Hi, can you check order eight three five two one for me?"
    script = render_scenario(make_scenario([
        {"say": text}, {"say": text, "cut_off": {"at_ms": 900}},
        {"say": text, "cut_off": {"fraction": 0.5}}]), cache_dir)
    full, at_ms, half = script.turns
    onset, end = full.speech_onset_sample, full.speech_end_sample
    assert at_ms.duration_samples == onset + 900 * MS
    assert half.duration_samples == pytest.approx(onset + 0.5 * (end + 1 - onset), abs=1)
    assert text.startswith(at_ms.spoken_text) and 0 < len(at_ms.spoken_text) < len(text) // 2
    assert text.startswith(half.spoken_text)
    assert len(at_ms.spoken_text) < len(half.spoken_text) < len(text)


def test_after_text_not_in_the_text_is_an_input_error(cache_dir: Path, tmp_path: Path) -> None:
    scenario = make_scenario([{"say": "Hello there.", "cut_off": {"after_text": "Goodbye"}}],
                             source=tmp_path / "s.yaml")
    with pytest.raises(InputError) as info:
        render_scenario(scenario, cache_dir)
    assert info.value.field == "turns[0].cut_off.after_text"
    assert "'Goodbye' is not in the turn's text" in info.value.message


# --------------------------------------------------------------------------- pauses


def test_mid_turn_pause_is_silence_of_the_scripted_length(cache_dir: Path) -> None:
    scenario = make_scenario([{"say": ["My order number is eight, three,", {"pause_ms": 1500},
                                       "five, two, one."]}])
    turn = render_scenario(scenario, cache_dir).turns[0]
    assert len(turn.pauses) == 1
    start, end = turn.pauses[0]
    assert end - start == 1500 * MS
    assert not turn.samples[start:end].any()
    before = detect_speech(turn.samples[:start], RATE)
    after = detect_speech(turn.samples[end:], RATE)
    assert abs(before[1] - (start - 1)) <= 20 * MS  # speech runs up to the pause …
    assert after[0] <= 20 * MS  # … and resumes right after it
    assert turn.speech_onset_sample < start and turn.speech_end_sample > end
    assert turn.spoken_text == "My order number is eight, three, five, two, one."
    assert turn.pauses_ms == [(start / MS, end / MS)]


def test_cut_off_after_a_pause_keeps_the_pause(cache_dir: Path) -> None:
    scenario = make_scenario([{"say": ["I need to change,", {"pause_ms": 800}, "my email address."],
                               "cut_off": {"after_text": "change, my"}}])
    turn = render_scenario(scenario, cache_dir).turns[0]
    (start, end), = turn.pauses
    assert end - start == 800 * MS and turn.duration_samples > end
    assert turn.spoken_text == "I need to change, my"


# --------------------------------------------------------------------------- clips


def _write_clip(path: Path, rate: int, channels: int, lead_ms: int, tail_ms: int,
                subtype: str = "PCM_16") -> tuple[int, int]:
    """A WAV with known padding around real speech; returns the speech span at 24 kHz."""
    speech = synthesize("Hi, I want to check on my order.", sample_rate=rate).astype(np.float64)
    audible = np.flatnonzero(np.abs(speech) >= 64)
    lead, tail = lead_ms * rate // 1000, tail_ms * rate // 1000
    mono = np.concatenate([np.zeros(lead), speech, np.zeros(tail)]) / 32768
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    sf.write(path, data, rate, subtype=subtype)
    return ((lead + audible[0]) * RATE // rate, (lead + audible[-1]) * RATE // rate)


@pytest.mark.parametrize("rate, channels, subtype", [
    (16_000, 2, "PCM_16"), (8_000, 1, "PCM_16"), (44_100, 1, "FLOAT"), (48_000, 3, "PCM_24")])
def test_recorded_clip_of_any_rate_and_channels(rate: int, channels: int, subtype: str,
                                                tmp_path: Path, cache_dir: Path) -> None:
    clip = tmp_path / "clip.wav"
    onset, end = _write_clip(clip, rate, channels, lead_ms=300, tail_ms=450, subtype=subtype)
    scenario = make_scenario([{"audio": str(clip), "text": "Hi, I want to check on my order."}])
    turn = render_scenario(scenario, cache_dir).turns[0]
    assert turn.kind == "audio" and turn.samples.dtype == np.int16
    total_s = sf.info(clip).frames / rate
    assert turn.duration_samples == pytest.approx(total_s * RATE, abs=2)
    assert abs(turn.speech_onset_sample - onset) <= 20 * MS
    assert abs(turn.speech_end_sample - end) <= 20 * MS
    assert turn.spoken_text == "Hi, I want to check on my order."


def test_channels_are_averaged(tmp_path: Path, cache_dir: Path) -> None:
    t = np.arange(RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 300 * t)
    sf.write(tmp_path / "lr.wav", np.stack([tone, np.zeros_like(tone)], axis=1), RATE)
    turn = render_scenario(make_scenario([{"audio": str(tmp_path / "lr.wav")}]), cache_dir).turns[0]
    assert np.abs(turn.samples).max() == pytest.approx(0.25 * 32768, rel=0.01)


@pytest.mark.parametrize("content, problem", [
    (b"RIFF\x10\x00\x00\x00WAVEjunkjunk", "cannot read audio"),
    (b"just some text, not audio", "cannot read audio"),
    (b"", "cannot read audio"),
    (None, "audio file not found"),
])
def test_unreadable_clip_is_a_clear_input_error(content: bytes | None, problem: str,
                                                 tmp_path: Path, cache_dir: Path) -> None:
    clip = tmp_path / "broken.wav"
    if content is not None:
        clip.write_bytes(content)
    scenario = make_scenario([{"audio": str(clip)}], source=tmp_path / "calls.yaml")
    with pytest.raises(InputError) as info:
        render_scenario(scenario, cache_dir)
    error = info.value
    assert error.location == str(tmp_path / "calls.yaml") and error.field == "turns[0].audio"
    assert str(clip) in error.message and problem in error.message
    assert "Traceback" not in error.format()


def test_zero_length_clip_is_an_input_error(tmp_path: Path, cache_dir: Path) -> None:
    sf.write(tmp_path / "empty.wav", np.zeros(0), 8000)
    with pytest.raises(InputError, match="no samples"):
        render_scenario(make_scenario([{"audio": str(tmp_path / "empty.wav")}]), cache_dir)


# --------------------------------------------------------------------------- other turns


@pytest.mark.parametrize("noise", ["hold_music", "tv", "side_conversation", "brown"])
def test_play_turn_level_and_length(noise: str, cache_dir: Path) -> None:
    scenario = make_scenario([{"say": "Hold on a second."},
                              {"play": {"noise": noise, "ms": 3000, "level_db": -8, "seed": 2}}])
    script = render_scenario(scenario, cache_dir)
    play = script.turns[1]
    assert play.kind == "play" and not play.addressed and play.duration_samples == 3000 * MS
    assert play.speech_onset_sample is None and play.speech_end_sample is None
    assert active_speech_level(play.samples, RATE) == pytest.approx(
        script.caller_level_db - 8, abs=1.5)  # a 3 s excerpt of a loop set at that level


def test_play_turn_from_a_wav(tmp_path: Path, cache_dir: Path) -> None:
    _write_clip(tmp_path / "talk.wav", 8000, 1, 100, 100)
    scenario = make_scenario([{"say": "Sorry, one moment."},
                              {"play": {"file": str(tmp_path / "talk.wav"), "ms": 5000,
                                        "level_db": -3}}])
    script = render_scenario(scenario, cache_dir)
    play = script.turns[1]
    assert play.duration_samples == 5000 * MS  # the clip loops to fill the time
    assert active_speech_level(play.samples, RATE) == pytest.approx(
        script.caller_level_db - 3, abs=1.0)


def test_silence_turn_and_caller_level(cache_dir: Path) -> None:
    script = render_scenario(make_scenario([{"say": "Hello."}, {"silence_ms": 2500}]), cache_dir)
    silence = script.turns[1]
    assert silence.kind == "silence" and silence.duration_samples == 2500 * MS
    assert not silence.samples.any() and silence.speech_onset_sample is None
    # Synthesised speech is set to the nominal telephone level.
    assert script.caller_level_db == pytest.approx(CALLER_SPEECH_LEVEL_DB, abs=0.5)


def test_per_turn_voice_and_unknown_voice(cache_dir: Path, tmp_path: Path) -> None:
    script = render_scenario(make_scenario([
        {"say": "Check my order."},
        {"say": "Check my order.", "voice": {"voice": "en-gb", "words_per_minute": 220}}]),
        cache_dir)
    assert script.turns[1].duration_samples < 0.9 * script.turns[0].duration_samples
    scenario = make_scenario([{"say": "Hi."}], caller={"voice": "xx-nowhere"},
                             source=tmp_path / "v.yaml")
    with pytest.raises(InputError) as info:
        render_scenario(scenario, cache_dir)
    assert info.value.field == "caller.voice" and "unknown voice" in info.value.message


# --------------------------------------------------------------------------- determinism


def _fingerprint(script) -> list[bytes]:
    beds = [script.bed(None).loop.tobytes()] + [b.loop.tobytes() for b in script.turn_beds.values()]
    return [t.samples.tobytes() for t in script.turns] + beds


def test_renders_are_identical_cold_warm_and_after_a_cache_clear(tmp_path: Path) -> None:
    scenario = make_scenario(
        [{"say": ["Order eight three,", {"pause_ms": 400}, "five."]},
         {"say": "Cancel it, please.", "cut_off": {"fraction": 0.6}},
         {"play": {"noise": "side_conversation", "ms": 1000}}],
        noise={"kind": "babble", "snr_db": 10, "seed": 11})
    first = _fingerprint(render_scenario(scenario, tmp_path / "a"))
    assert _fingerprint(render_scenario(scenario, tmp_path / "a")) == first  # warm (memory)
    clear_memory_cache()
    assert _fingerprint(render_scenario(scenario, tmp_path / "a")) == first  # warm (disk)
    assert list((tmp_path / "a").rglob("*.npz"))
    clear_memory_cache()
    assert _fingerprint(render_scenario(scenario, tmp_path / "b")) == first  # cold, new cache


def test_seeds_change_the_bed(cache_dir: Path) -> None:
    beds = [render_scenario(make_scenario([{"say": "Hi."}],
                                          noise={"kind": "pink", "snr_db": 20, "seed": s}),
                            cache_dir).bed(None).loop for s in (1, 2)]
    assert not np.array_equal(beds[0], beds[1])


def test_after_text_on_a_recorded_clip_is_cut_near_the_prefix(tmp_path: Path,
                                                               cache_dir: Path) -> None:
    text = "Hi, I want to check on my order."
    _write_clip(tmp_path / "clip.wav", 16_000, 1, 200, 200)  # says the text, 200 ms padding
    recorded = speak(text, "en-us", 165, 16_000)
    truth_16k = next(w.sample for w in recorded.words if recorded.text[w.start:].startswith("to"))
    truth = (3200 + truth_16k) * RATE // 16_000  # "want" ends where "to" starts
    scenario = make_scenario([{"audio": str(tmp_path / "clip.wav"), "text": text,
                               "cut_off": {"after_text": "Hi, I want"}}])
    turn = render_scenario(scenario, cache_dir).turns[0]
    assert turn.cut_off and turn.spoken_text == "Hi, I want"
    # An estimate from the synthesised text (here the clip's own voice, so it lands close).
    assert abs(turn.duration_samples - truth) < 30 * MS


def _make_slowly(marks: str) -> dict[str, np.ndarray]:
    with open(marks, "a") as f:
        f.write("made\n")
    time.sleep(0.6)
    return {"samples": np.arange(10, dtype=np.int16)}


def _render_in_child(root: str, marks: str) -> None:
    from harness.audio._cache import RenderCache
    from harness.audio._render import _cached

    arrays = _cached(RenderCache(root), "tts", {"text": "one clip"}, lambda: _make_slowly(marks))
    assert arrays["samples"].tolist() == list(range(10))


def test_processes_rendering_one_clip_make_it_once(tmp_path: Path) -> None:
    """Test workers or run workers rendering the same suite into one cache: the second process
    waits for the clip the first is making instead of making it again."""
    marks = tmp_path / "marks"
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_render_in_child, args=(str(tmp_path / "cache"), str(marks)))
                for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    assert [child.exitcode for child in children] == [0, 0, 0]
    assert marks.read_text() == "made\n"


def test_the_render_cache_is_the_users_not_the_checkouts(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """One cache per machine user, shared by checkouts and installs (entries are keyed by what
    shapes them); ``HARNESS_AUDIO_CACHE`` names another."""
    from harness.audio._cache import CACHE_ENV, RenderCache, default_cache_dir

    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "voice-harness" / "audio"
    assert RenderCache().root == default_cache_dir()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "voice-harness" / "audio"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
