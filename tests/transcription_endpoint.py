"""A loopback server that answers like ``/v1/audio/transcriptions``, for the tests of the
transcription endpoint's clients (production calls, SIP calls)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

GOOD_KEY = "sk-test-good-key"
WRONG_KEY = "sk-test-wrong-key"


@contextmanager
def transcription_endpoint(heard: str = "you said thing number {n}"
                           ) -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """(its ``/v1`` base URL, the requests it got as (path, Authorization, body)). It answers
    :data:`GOOD_KEY` with ``heard`` (``{n}``: the request's number, from 1) and any other key
    with 401 and an error that quotes :data:`WRONG_KEY`."""
    requests: list[tuple[str, str, bytes]] = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((self.path, self.headers["Authorization"], body))
            if self.headers["Authorization"] != f"Bearer {GOOD_KEY}":
                answer, status = {"error": {"message": f"bad key {WRONG_KEY}"}}, 401
            else:
                answer, status = {"text": heard.format(n=len(requests))}, 200
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", requests
    finally:
        server.shutdown()
