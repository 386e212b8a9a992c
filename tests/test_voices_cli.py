"""``harness voices`` through the real command: the list, samples, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import soundfile

HARNESS = Path(sys.executable).with_name("harness")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HARNESS, "voices", *args], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_the_list_has_at_least_forty_offline_voices_ready():
    listed = _run("--engine", "kokoro")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith("│ kokoro")]
    ready = [row for row in rows if row.rstrip("│ ").endswith("yes")]
    assert len(rows) == 54 and len(ready) >= 40, listed.stdout
    assert any("bm_george" in row and "British English, male" in row for row in rows)
    assert any("hf_alpha" in row and "Hindi accent, female" in row for row in rows)


def test_samples_are_written_for_the_voices_asked_for(tmp_path: Path):
    made = _run("--voice", "bf_emma", "--voice", "en-gb", "--sample", str(tmp_path),
                "--text", "Order eight, three, five.")
    assert made.returncode == 0, made.stderr
    for name in ("kokoro-bf_emma.wav", "espeak-en-gb.wav"):
        info = soundfile.info(str(tmp_path / name))
        assert info.samplerate == 24_000 and info.duration > 0.8, (name, info)


def test_an_unknown_voice_or_engine_is_one_line_and_exit_2():
    for args, message in ((["--voice", "zz_top"], "--voice: unknown voice 'zz_top'"),
                          (["--engine", "piper"],
                           "--engine: unknown engine 'piper'; expected one of kokoro, espeak, "
                           "openai")):
        refused = _run(*args)
        assert refused.returncode == 2 and refused.stderr.strip() == message, refused.stderr
        assert "Traceback" not in refused.stderr


def test_the_cloud_voices_are_listed_ready_only_with_a_key():
    without = _run("--engine", "openai")
    rows = [line for line in without.stdout.splitlines() if line.startswith("│ openai")]
    assert without.returncode == 0 and len(rows) == 11, without.stdout
    assert all("set OPENAI_API_KEY" in row for row in rows)
    with_key = subprocess.run([HARNESS, "voices", "--engine", "openai"], capture_output=True,
                              text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                           "COLUMNS": "200",
                                                           "OPENAI_API_KEY": "sk-listing"})
    rows = [line for line in with_key.stdout.splitlines() if line.startswith("│ openai")]
    assert len(rows) == 11 and all(row.rstrip("│ ").endswith("yes") for row in rows)
    assert "sk-listing" not in with_key.stdout
