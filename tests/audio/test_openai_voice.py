"""The openai caller voice against a real loopback HTTP server that answers like
``/v1/audio/speech`` (with speech synthesised by espeak-ng): the request it gets, the render
cache that makes a second render free, a refused key (exit 3, the key in no file) and a missing
one (exit 2 naming the variable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness.audio import _tts, clear_memory_cache, detect_speech, render_scenario, speak
from harness.scenario.models import Scenario

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")
KEY = "sk-test-speech-KEY-0451"


class SpeechEndpoint:
    """POST /v1/audio/speech: PCM16 at 24 kHz (or a WAV) of the input, spoken by espeak-ng;
    401 with OpenAI's error body, which quotes the key, for any other key."""

    def __init__(self, key: str = KEY, wav: bool = False):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers["Authorization"],
                                       **body})
                given = self.headers["Authorization"].removeprefix("Bearer ")
                if given != key:
                    self._answer(401, "application/json", json.dumps({"error": {
                        "message": f"Incorrect API key provided: {given}.",
                        "type": "invalid_request_error", "code": "invalid_api_key"}}).encode())
                    return
                pcm = speak(body["input"], "en-us", 165, 24_000).samples
                if wav:
                    import io

                    import soundfile
                    out = io.BytesIO()
                    soundfile.write(out, pcm, 24_000, format="WAV", subtype="PCM_16")
                    self._answer(200, "audio/wav", out.getvalue())
                else:
                    self._answer(200, "audio/pcm", pcm.astype("<i2").tobytes())

            def _answer(self, status: int, kind: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> SpeechEndpoint:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _scenario(**caller: object) -> Scenario:
    return Scenario.model_validate({
        "name": "cloud", "caller": {"engine": "openai", **caller},
        "turns": [{"say": "My order number is eight, three, five, two, one.",
                   "cut_off": {"after_text": "My order number"}},
                  {"say": "Thanks, that's all."}],
        "expect": [{"turn_answered": {}}]})


@pytest.mark.parametrize("wav", [False, True])
def test_render_asks_the_endpoint_once_and_the_cache_answers_after(tmp_path, monkeypatch, wav):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with SpeechEndpoint(wav=wav) as endpoint:
        monkeypatch.setenv("OPENAI_BASE_URL", endpoint.base_url)
        scenario = _scenario(voice="ash", instructions="hesitant, a little out of breath")
        script = render_scenario(scenario, cache_dir=tmp_path)
        assert len(endpoint.requests) == 2
        first = endpoint.requests[0]
        assert first == {"path": "/v1/audio/speech", "auth": f"Bearer {KEY}",
                         "model": "gpt-4o-mini-tts", "voice": "ash",
                         "input": "My order number is eight, three, five, two, one.",
                         "response_format": "pcm",
                         "instructions": "hesitant, a little out of breath"}
        whole = speak("Thanks, that's all.", "en-us", 165, 24_000).samples
        second = script.turns[1]
        # the endpoint's speech, brought to the caller level: the same duration as what it sent
        assert second.samples.size == whole.size and detect_speech(second.samples, 24_000)
        # cut after "My order number", from word starts spread over the speech: well short
        cut = script.turns[0]
        assert cut.cut_off and cut.spoken_text == "My order number"
        assert 0.15 < cut.duration_ms / 1000 < 0.6 * len(first["input"]) / 14
        # a second render, with nothing remembered in this process, costs no request
        clear_memory_cache()
        _tts._memory.clear()
        again = render_scenario(scenario, cache_dir=tmp_path)
        assert len(endpoint.requests) == 2
        assert np.array_equal(again.turns[1].samples, second.samples)
        # another style is another clip
        render_scenario(_scenario(voice="ash", instructions="calm"), cache_dir=tmp_path)
        assert len(endpoint.requests) == 4
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def _write_suite(tmp_path: Path) -> Path:
    path = tmp_path / "cloud.yaml"
    path.write_text(f"name: cloud-caller\nagent: {ROOT / 'agents' / 'support.yaml'}\n"
                    "caller: {engine: openai, voice: coral}\n"
                    "turns:\n  - say: \"Hi, I want to check on my order.\"\n"
                    "expect:\n  - turn_answered: {}\n")
    return path


def _harness_run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [str(HARNESS), "run", str(_write_suite(tmp_path)), "-o", str(tmp_path / "reports")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**clean, "HARNESS_AUDIO_CACHE": str(tmp_path / "cache"), **env})


def test_a_refused_key_errors_the_run_and_reaches_no_file(tmp_path):
    wrong = "sk-wrong-key-NEVER-WRITTEN-77"
    with SpeechEndpoint() as endpoint:
        proc = _harness_run(tmp_path, {"OPENAI_API_KEY": wrong,
                                       "OPENAI_BASE_URL": endpoint.base_url})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    said = (f"the speech endpoint {endpoint.base_url}/audio/speech refused the key in "
            "OPENAI_API_KEY (HTTP 401: Incorrect API key provided: ….)")
    assert said in " ".join(proc.stderr.split())
    (trial,) = json.loads(next(tmp_path.rglob("run.json")).read_text())["trials"]
    assert (trial["status"], trial["error"]) == ("errored", said)
    assert wrong not in proc.stdout + proc.stderr
    assert len(endpoint.requests) == 1  # one clip, asked for once
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"run.json", "index.html", "summary.json"} <= {p.name for p in files}
    assert not [p for p in files if wrong.encode() in p.read_bytes()]


def test_no_key_is_a_usage_error_naming_the_variable(tmp_path):
    proc = _harness_run(tmp_path, {})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "OPENAI_API_KEY: the openai caller voice needs an API key: set OPENAI_API_KEY" \
        in proc.stderr
    assert not list((tmp_path / "reports").rglob("meta.json"))
