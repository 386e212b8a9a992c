"""``render_suite`` (``harness render``): clips, preview, manifests, byte-identical output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.audio import clear_memory_cache, detect_speech, render_suite, synthesize

RATE = 24_000
MS = RATE // 1000

SCENARIO = """\
name: audio-suite-test
caller: {voice: en-us, words_per_minute: 170}
noise: {kind: pink, snr_db: 30, seed: 2}
turns:
  - say: "Hi, it's about my order."
  - say: "It's eight, three, five."
    cut_off: {after_text: "It's eight, three,"}
  - say: ["It's eight, three,", {pause_ms: 700}, "five."]
  - audio: clip.wav
    text: "Yes, please."
  - play: {noise: hold_music, ms: 1200, level_db: -6}
  - silence_ms: 800
    noise: none
expect:
  - turn_answered: {}
"""


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "call.yaml").write_text(SCENARIO)
    speech = synthesize("Yes, please.", voice="en-gb", sample_rate=16_000)
    sf.write(folder / "clip.wav", np.concatenate([np.zeros(1600, np.int16), speech]), 16_000)
    return folder


def _audio_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def test_render_writes_clips_preview_and_manifest(suite_dir: Path, tmp_path: Path) -> None:
    result = render_suite([suite_dir], tmp_path / "out", cache_dir=tmp_path / "cache")
    out = tmp_path / "out" / "audio-suite-test"
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == result.manifest
    assert "rendered 1 scenario(s), 6 clips" in str(result)
    turns = manifest["turns"]
    assert [t["kind"] for t in turns] == ["say", "say", "say", "audio", "play", "silence"]
    for t in turns:
        data, rate = sf.read(out / t["file"], dtype="int16")
        assert rate == RATE and data.ndim == 1
        assert len(data) == pytest.approx(t["duration_ms"] * MS, abs=1)
        if t["speech_onset_ms"] is not None:
            onset, end = detect_speech(data, RATE)
            assert (onset, end) == (t["speech_onset_sample"], t["speech_end_sample"])
    cut, paused = turns[1], turns[2]
    assert cut["cut_off"] and cut["spoken_text"] == "It's eight, three,"
    assert abs(cut["speech_end_ms"] - paused["pauses_ms"][0][0]) < 30  # same words, same end
    assert len(paused["pauses_ms"]) == 1
    assert paused["pauses_ms"][0][1] - paused["pauses_ms"][0][0] == pytest.approx(700, abs=0.1)
    assert turns[3]["text"] == "Yes, please."
    assert turns[5]["bed"] is None and turns[0]["bed"]["kind"] == "pink"

    # The preview is the stream: each turn's speech sits where the manifest says, over the bed.
    preview, rate = sf.read(out / "preview.wav", dtype="int16")
    first = turns[0]
    start = round(first["preview"]["start_ms"] * MS)
    clip, _ = sf.read(out / first["file"], dtype="int16")
    residue = preview[start:start + len(clip)].astype(np.int32) - clip
    assert np.sqrt(np.mean(residue.astype(np.float64) ** 2)) < 0.1 * np.sqrt(
        np.mean(clip.astype(np.float64) ** 2))  # only the quiet bed is left
    assert np.abs(preview[: start - MS]).max() > 0  # the bed plays before the first turn
    assert len(preview) > sum(t["duration_ms"] for t in turns) * MS  # gaps for the agent


def test_render_twice_gives_byte_identical_audio(suite_dir: Path, tmp_path: Path) -> None:
    render_suite([suite_dir], tmp_path / "a", cache_dir=tmp_path / "cache")
    clear_memory_cache()
    render_suite([suite_dir], tmp_path / "b", cache_dir=tmp_path / "cache")  # from the cache
    clear_memory_cache()
    render_suite([suite_dir], tmp_path / "c", cache_dir=tmp_path / "fresh")  # cache cleared
    a, b, c = (_audio_files(tmp_path / x) for x in "abc")
    assert a and a == b == c
    assert ((tmp_path / "a" / "manifest.json").read_bytes()
            == (tmp_path / "c" / "manifest.json").read_bytes())


def test_harness_render_command_in_a_new_process(suite_dir: Path, tmp_path: Path) -> None:
    render_suite([suite_dir], tmp_path / "here", cache_dir=tmp_path / "cache")
    env_cache = str(tmp_path / "other-cache")
    proc = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "render", str(suite_dir),
         "-o", str(tmp_path / "there")],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HARNESS_AUDIO_CACHE": env_cache})
    assert proc.returncode == 0, proc.stderr
    assert "rendered 1 scenario(s)" in proc.stdout
    assert _audio_files(tmp_path / "here") == _audio_files(tmp_path / "there")
    assert list(Path(env_cache).rglob("*.npz"))


def test_render_of_a_bad_clip_is_one_clear_message(suite_dir: Path, tmp_path: Path) -> None:
    (suite_dir / "clip.wav").write_bytes(b"not a wav file at all")
    proc = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "render", str(suite_dir),
         "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HARNESS_AUDIO_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 2  # invalid input
    assert "Traceback" not in proc.stderr
    assert "clip.wav" in proc.stderr
