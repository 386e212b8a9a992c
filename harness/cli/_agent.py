"""``harness agent``: the local reference agent as a server of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._help import PLAIN_HELP
from harness.errors import InputError

agent_app = typer.Typer(help="The local reference agent.", **PLAIN_HELP)


@agent_app.command("serve", short_help="Serve the local reference agent until interrupted.")
def agent_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
    agent: Annotated[Path | None, typer.Option(
        help="Agent config (agents/*.yaml): serve its local_profile with its tool flags "
             "(write, escalation, wait).")] = None,
    profile: Annotated[str | None, typer.Option(
        help="Agent profile name or YAML file, without an agent config (no tool is then a "
             "write, escalation or wait tool).")] = None,
    fault: Annotated[list[str] | None, typer.Option(
        help="Fault(s) for every session, e.g. ignore_barge_in or added_latency_ms=400; "
             "sessions add their own with ?faults=... in the URL.")] = None,
    webrtc: Annotated[bool, typer.Option(
        help="Serve WebRTC calls too (POST an SDP offer to the second URL printed; needs the "
             "webrtc extra).")] = False,
    sip: Annotated[int | None, typer.Option(
        help="Answer SIP calls on this UDP port too (0: a free one), at sip:agent@HOST:PORT: "
             "G.711 audio, tools called as webhooks. Needs --agent.")] = None,
    sip_tls_cert: Annotated[Path | None, typer.Option(
        help="With --sip: answer SIP over TLS too (sips:agent@HOST:PORT) with this certificate "
             "chain (PEM); SRTP offers are answered with SRTP.")] = None,
    sip_tls_key: Annotated[Path | None, typer.Option(
        help="The private key (PEM) of --sip-tls-cert.")] = None,
    sip_tls_port: Annotated[int, typer.Option(
        help="The TCP port of SIP over TLS (0: a free one).")] = 0,
    tools_url: Annotated[str | None, typer.Option(
        help="Over SIP: the tool endpoint a call's tools are POSTed to ({URL}/tools/NAME); a "
             "call's X-Harness-Tools header overrides it.")] = None,
    realtime_webhook: Annotated[str | None, typer.Option(
        help="With --sip: behave as the OpenAI Realtime API's SIP interface. Each call rings "
             "and a signed realtime.call.incoming webhook goes to this URL (secret from "
             "OPENAI_WEBHOOK_SECRET); the call is accepted, rejected or hung up through the "
             "REST API at the http://HOST:PORT/v1 URL printed, and followed on its sideband "
             "(the WebSocket URL with ?call_id=rtc_...).")] = None,
    realtime_api_port: Annotated[int, typer.Option(
        help="With --realtime-webhook: the TCP port of the REST API (0: a free one).")] = 0,
) -> None:
    """Serve the local reference agent (Realtime GA protocol) until interrupted.

    Exit codes: 0 stopped, 2 usage or invalid input (an unknown fault, a port that cannot be
    used, a bad agent config).
    """
    from harness.agent import agent_config_options, serve_forever
    from harness.agent.server import sip_session
    from harness.scenario import load_agent_config

    if agent is not None and profile is not None:
        raise InputError("give --agent or --profile, not both", field="--profile")
    if sip is not None and agent is None and realtime_webhook is None:
        raise InputError("a SIP call has no client to configure the agent: give --agent "
                         "(agents/*.yaml) with --sip", field="--sip")
    tls = None
    if sip_tls_cert is not None or sip_tls_key is not None:
        if sip is None or sip_tls_cert is None or sip_tls_key is None:
            raise InputError("SIP over TLS needs --sip, --sip-tls-cert and --sip-tls-key",
                             field="--sip-tls-cert")
        from harness.agent.sip_server import server_tls_context

        tls = (sip_tls_port, server_tls_context(str(sip_tls_cert), str(sip_tls_key)))
    realtime_calls = None
    if realtime_webhook is not None:
        if sip is None:
            raise InputError("realtime calls are SIP calls: give --sip PORT with "
                             "--realtime-webhook", field="--realtime-webhook")
        from harness.agent.realtime_calls import RealtimeCalls

        realtime_calls = RealtimeCalls.from_env(realtime_webhook)
    config = load_agent_config(agent) if agent is not None else None
    options = agent_config_options(config) if config is not None else {
        "profile": profile or "support_desk"}
    serve_forever(host, port, faults=fault,
                  announce=lambda url: typer.echo(f"local agent listening on {url}", err=True),
                  webrtc=webrtc,
                  sip=None if sip is None else (
                      sip, sip_session(config) if config is not None else {}, tools_url),
                  sip_tls=tls, realtime_calls=realtime_calls, api_port=realtime_api_port,
                  **options)
