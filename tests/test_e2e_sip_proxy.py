"""A SIP call through an independent proxy: Debian's kamailio, started on loopback with a
record-routing configuration, stands between the harness and the local agent's SIP endpoint.
The harness dials the proxy; the INVITE is relayed, the agent answers, the ACK and the BYE follow
the route set both ends learnt from ``Record-Route`` (RFC 3261 §16.6, §12.1), and the call is
graded like any other, its tool calls seen through the harness's webhook endpoint."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness import api
from harness.agent import start_local_agent_for
from harness.scenario import load_agent_config

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ORDER_STATUS = ROOT / "scenarios" / "order-status.yaml"
MODULES = next(iter(sorted(Path("/usr/lib").glob("*/kamailio/modules"))), Path("/usr/lib/kamailio"))
"""Debian's kamailio modules (under the machine's multiarch folder)."""

KAMAILIO_CFG = """\
#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias=127.0.0.1:{port}

mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
{auth_module}
modparam("rr", "enable_full_lr", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            xlog("L_NOTICE", "in-dialog $rm routed\\n");
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("INVITE")) {{
        {auth}
        record_route();
    }}
    xlog("L_NOTICE", "relaying $rm to the agent\\n");
    $du = "sip:127.0.0.1:{agent_port}";
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""


TRUNK_AUTH = """\
if (!pv_proxy_authenticate("$fd", "{password}", "0")) {{
            proxy_challenge("$fd", "0");
            exit;
        }}
        if ($au != "ci") {{
            sl_send_reply("403", "Forbidden");
            exit;
        }}
        consume_credentials();
        xlog("L_NOTICE", "trunk user $au calls $rU;$(ru{{uri.params}}) as $fU ($fn)\\n");"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Until kamailio answers an OPTIONS on its port (it replies 404 from the script)."""
    probe = ("OPTIONS sip:probe@127.0.0.1:{p} SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:{q};branch=z9hG4bKprobe{n}\r\n"
             "Max-Forwards: 70\r\nTo: <sip:probe@127.0.0.1>;tag=x\r\n"
             "From: <sip:test@127.0.0.1>;tag=probe\r\nCall-ID: probe{n}\r\n"
             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        n = 0
        while time.monotonic() < deadline:
            assert proc.poll() is None, "kamailio exited"
            n += 1
            s.sendto(probe.format(p=port, q=s.getsockname()[1], n=n).encode(),
                     ("127.0.0.1", port))
            try:
                if s.recv(4096).startswith(b"SIP/2.0"):
                    return
            except TimeoutError:
                continue
    raise AssertionError("kamailio did not answer on its port")


@pytest.fixture
def kamailio(tmp_path: Path):
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    assert Path(binary).exists(), "kamailio is not installed (setup.sh installs it)"

    def start(agent_port: int, *, password: str | None = None
              ) -> tuple[int, subprocess.Popen[str]]:
        """Kamailio relaying to the agent; with ``password``, a trunk's edge: each INVITE
        challenged (407) until it proves user ``ci``'s password."""
        port = _free_udp_port()
        cfg = tmp_path / "kamailio.cfg"
        auth = "" if password is None else TRUNK_AUTH.format(password=password)
        cfg.write_text(KAMAILIO_CFG.format(
            port=port, agent_port=agent_port, modules=MODULES, auth=auth,
            auth_module="" if password is None else 'loadmodule "auth.so"\n'))
        runtime = tmp_path / "run"
        runtime.mkdir()
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stderr[-2000:]
        proc = subprocess.Popen([binary, "-f", str(cfg), "-DD", "-E", "-n", "1",
                                 "-Y", str(runtime), "-P", str(runtime / "kamailio.pid")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        _wait_listening(port, proc)
        return port, proc

    started: list[subprocess.Popen[str]] = []
    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _verdicts(trial: Path) -> dict[str, dict[str, Any]]:
    raw = json.loads((trial / "verdicts.json").read_text())
    return {v["kind"]: v for v in (raw["verdicts"] if isinstance(raw, dict) else raw)}


def test_a_call_through_kamailio_is_routed_answered_and_graded(kamailio, tmp_path: Path) -> None:
    config = load_agent_config(ROOT / "agents" / "support.yaml")
    with start_local_agent_for(config) as handle:
        agent_uri = handle.sip_uri_for(config)
        agent_port = int(agent_uri.rsplit(":", 1)[1])
        port, proxy = kamailio(agent_port)
        outcome = api.run([ORDER_STATUS], target=f"sip:agent@127.0.0.1:{port}",
                          out_dir=tmp_path / "runs")
        endpoint = handle.agent._sip
        assert endpoint is not None
        ended = list(endpoint.ended)
    proxy.terminate()
    log, _ = proxy.communicate(timeout=10)
    trial = next(outcome.run_dir.glob("*/trial-0"))
    meta = json.loads((trial / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["transport"] == "sip", meta.get("error")
    # the agent was reached through the proxy: kamailio relayed the INVITE, and the ACK and BYE
    # came back to it by the route set (the agent's answer carried its Record-Route)
    assert "relaying INVITE to the agent" in log, log[-3000:]
    assert "in-dialog ACK routed" in log, log[-3000:]
    assert "in-dialog BYE routed" in log, log[-3000:]
    lines = [(x["dir"], x["line"].split(" sip:")[0]) for x in meta["sip"]["signalling"]]
    assert lines[0] == ("sent", "INVITE")
    assert ("received", "SIP/2.0 200 OK") in lines and ("sent", "ACK") in lines
    assert lines[-2:] == [("sent", "BYE"), ("received", "SIP/2.0 200 OK")]
    assert len(ended) == 1 and ended[0].answered
    # tools came through the webhook endpoint the trial served, past the proxy
    frames = [json.loads(line) for line in (trial / "events.jsonl").read_text().splitlines()]
    calls = [f for f in frames if f["type"] == "response.function_call_arguments.done"]
    assert [(c["event"]["name"], json.loads(c["event"]["arguments"]), c["source"])
            for c in calls] == [("lookup_order", {"order_id": "83521"}, "webhook")]
    verdicts = _verdicts(trial)
    assert verdicts["tool_called"]["status"] == "pass", verdicts["tool_called"]["summary"]
    assert verdicts["preamble"]["status"] == "pass", verdicts["preamble"]["summary"]


PASSWORD = "pw-DO-NOT-LEAK-trunk"


def test_a_number_through_a_trunk_that_challenges_is_answered_and_graded(
        kamailio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tel:`` through a trunk file: kamailio as the trunk's edge challenges the INVITE (407),
    takes the digest of the password the file points to, sees the number and the caller ID, and
    relays the call to the agent; the password reaches no file of the run."""
    config = load_agent_config(ROOT / "agents" / "support.yaml")
    with start_local_agent_for(config) as handle:
        agent_port = int(handle.sip_uri_for(config).rsplit(":", 1)[1])
        port, proxy = kamailio(agent_port, password=PASSWORD)
        trunk = tmp_path / "trunk.yaml"
        trunk.write_text(f"proxy: sip:127.0.0.1:{port}\nusername: ci\npassword_env: TRUNK_PW\n"
                         "caller_id: '+15550100123'\ndisplay_name: Harness CI\n")
        monkeypatch.setenv("HARNESS_SIP_TRUNK", str(trunk))
        monkeypatch.setenv("TRUNK_PW", PASSWORD)
        outcome = api.run([ORDER_STATUS], target="tel:+1-555-010-0199", out_dir=tmp_path / "runs")
    proxy.terminate()
    log, _ = proxy.communicate(timeout=10)
    trial = next(outcome.run_dir.glob("*/trial-0"))
    meta = json.loads((trial / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["transport"] == "sip", meta.get("error")
    assert meta["target"] == "tel:+15550100199 via 127.0.0.1:" + str(port)
    assert "trunk user ci calls +15550100199;user=phone as +15550100123 (\"Harness CI\")" in log, \
        log[-3000:]
    lines = [x["line"] for x in meta["sip"]["signalling"]]
    assert "SIP/2.0 407 Proxy Authentication Required" in lines, lines
    assert [line.split(" sip:")[0] for line in lines].count("INVITE") == 2  # challenged once
    assert "SIP/2.0 200 OK" in lines
    verdicts = _verdicts(trial)
    assert verdicts["tool_called"]["status"] == "pass", verdicts["tool_called"]["summary"]
    for path in outcome.run_dir.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
