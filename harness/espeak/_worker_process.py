"""A speech-synthesis worker process: espeak-ng through pyttsx3's binding, one fork per utterance.

espeak-ng keeps synthesis state in C statics (the pitch-flutter phase, the wave phase) that carry
from one utterance to the next, so the same text rendered twice in one process comes out different.
This worker loads the library once and never synthesises itself: each request is served by a
forked child that starts from that pristine state, speaks one utterance and exits. That makes
every clip a function of (text, voice, rate) alone, at the cost of a fork (about a millisecond).

It runs as a plain script (no ``harness`` import, so forks stay small) and talks over its
stdin/stdout with length-prefixed frames: a JSON request in; a JSON header, then raw PCM, out.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import sys
import traceback
from typing import Any, BinaryIO

from pyttsx3.drivers import _espeak

FRAME = struct.Struct(">I")


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        part = stream.read(n - len(data))
        if not part:
            return None
        data += part
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return FRAME.pack(len(head)) + head + FRAME.pack(len(payload)) + payload


def _voices() -> list[dict[str, Any]]:
    out = []
    for v in _espeak.ListVoices(None):
        out.append({"identifier": v.identifier.decode(), "name": v.name.decode(),
                    "languages": v.languages[1:].decode(errors="replace")})
    variants = _espeak.ListVoices(_espeak.VOICE(languages=b"variant"))
    out.extend({"identifier": v.identifier.decode(), "name": v.name.decode(),
                "languages": "variant"} for v in variants)
    return out


def _speak(request: dict[str, Any]) -> bytes:
    """Synthesise one utterance (runs in a fresh child); returns the response frame."""
    chunks: list[bytes] = []
    words: list[list[int]] = []

    def on_audio(wav: Any, n_samples: int, events: Any) -> int:
        i = 0
        while events[i].type != _espeak.EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _espeak.EVENT_WORD:
                # text_position is 1-based, in characters of the UTF-8 input.
                words.append([event.text_position - 1, event.length, event.sample])
            i += 1
        if n_samples > 0:
            chunks.append(ctypes.string_at(wav, n_samples * 2))
        return 0

    _espeak.SetSynthCallback(on_audio)
    status = _espeak.SetVoiceByName(request["voice"].encode())
    if status != _espeak.EE_OK:
        return _frame({"ok": False, "error": f"espeak-ng has no voice {request['voice']!r}"})
    _espeak.SetParameter(_espeak.RATE, int(request["words_per_minute"]), 0)
    _espeak.SetParameter(_espeak.PITCH, int(request.get("pitch", 50)), 0)
    _espeak.Synth(request["text"].encode(), flags=_espeak.CHARS_UTF8)
    _espeak.Synchronize()
    pcm = b"".join(chunks)
    return _frame({"ok": True, "sample_rate": SAMPLE_RATE, "words": words}, pcm)


def _serve_forked(request: dict[str, Any]) -> bytes:
    """Run ``_speak`` in a forked child and collect its response through a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            response = _speak(request)
        except Exception:  # the child must answer whatever happens, then exit
            response = _frame({"ok": False, "error": traceback.format_exc(limit=3)})
        _write_all(write_fd, response)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        response = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not response:
        return _frame({"ok": False, "error": f"synthesis process ended with status {status}"})
    return response


def main() -> None:
    stdin, stdout_fd = sys.stdin.buffer, sys.stdout.fileno()
    while True:
        size = _read_exact(stdin, FRAME.size)
        if size is None:
            return
        body = _read_exact(stdin, FRAME.unpack(size)[0])
        if body is None:
            return
        request = json.loads(body)
        if request["op"] == "speak":
            response = _serve_forked(request)
        elif request["op"] == "info":
            response = _frame({"ok": True, "espeak_version": _espeak.Info().decode(),
                               "sample_rate": SAMPLE_RATE, "voices": _voices()})
        else:
            response = _frame({"ok": False, "error": f"unknown op {request['op']!r}"})
        _write_all(stdout_fd, response)


# Synchronous mode: espeak-ng renders inside Synth() on the calling thread, so a forked child
# (which has no other threads) can synthesise safely.
SAMPLE_RATE = _espeak.Initialize(_espeak.AUDIO_OUTPUT_SYNCHRONOUS, 500)
if SAMPLE_RATE <= 0:
    sys.stderr.write("espeak-ng could not be initialised\n")
    sys.exit(3)

if __name__ == "__main__":
    main()
