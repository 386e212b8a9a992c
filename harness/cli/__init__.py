"""The ``harness`` command: thin typer commands over the package API.

Every command exits by one contract (``harness.exit_codes``): 0 all passed, 1 some failed,
2 usage or invalid input, 3 some errored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._agent import agent_app
from harness.cli._calls import calls_app
from harness.cli._help import PLAIN_HELP
from harness.cli._personas import personas_app
from harness.cli._schema import schema
from harness.cli._voices import voices_app
from harness.errors import HarnessError, InputError, error_lines
from harness.exit_codes import exit_code

app = typer.Typer(
    name="harness",
    help="Evaluation and regression harness for realtime voice agents.",
    add_completion=False,
    pretty_exceptions_enable=False,
    **PLAIN_HELP,
)



def _print_version(value: bool) -> None:
    if value:
        from harness import __version__  # noqa: PLC0415

        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _harness(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Evaluation and regression harness for realtime voice agents."""


Target = Annotated[str, typer.Option(
    help="local (the reference agent), openai, azure, or a ws:// / wss:// URL; over WebRTC: "
         "local-webrtc, openai-webrtc, azure-webrtc or a webrtc+https://…/v1/realtime/calls "
         "URL; over SIP: local-sip, sip:USER@HOST:PORT, or tel:+NUMBER through the trunk file "
         "named by HARNESS_SIP_TRUNK.")]
AgentFile = Annotated[Path | None, typer.Option(
    help="Agent config file used instead of each scenario's own.")]
AudioFormat = Annotated[str | None, typer.Option(
    help="Audio format of both directions, set on each scenario's own agent config: "
         "audio/pcmu or audio/pcma (G.711 at 8 kHz, a telephone line), audio/pcm "
         "(24 kHz PCM16); beta names (g711_ulaw, ...) are accepted too.")]
Network = Annotated[str | None, typer.Option(
    help="Over WebRTC: delay, jitter and loss added on the harness's own RTP path, each way, "
         "e.g. delay=100ms,jitter=10ms,loss=2%.")]
Paths = Annotated[list[Path], typer.Argument(
    help="Scenario files or folders (folders are scanned for scenario YAML files).")]


@app.command(short_help="Check scenario files and agent configs; list every problem.")
def validate(paths: Paths) -> None:
    """Check scenario files (and agent configs named directly); every problem, one per line.

    Exit codes: 0 all valid, 2 some problem (each printed as file:line:col: field: message).
    """
    from harness.scenario.loader import validate_paths

    done = validate_paths(paths)
    typer.echo(f"{len(done)} file(s) valid:")
    for line in done:
        typer.echo(f"  {line}")


app.command(short_help="Print or write the JSON Schema of a file format.")(schema)


@app.command(short_help="Render each scenario's caller audio.")
def render(
    paths: Paths,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
) -> None:
    """Render each scenario's caller audio: clips, a preview of the caller stream, a manifest.

    Exit codes: 0 rendered, 2 usage or invalid input.
    """
    from harness.audio import render_suite

    typer.echo(str(render_suite(paths, out_dir)))


@app.command(short_help="Write seeded variants of scenarios: new IDs, voices, noise, pauses.")
def vary(
    paths: Paths,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder the variants go to.")],
    count: Annotated[int, typer.Option("-n", "--count", help="Variants per scenario.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same files.")] = 1,
    only: Annotated[list[str] | None, typer.Option(
        help="Vary only these: values, voices, noise, pauses (repeatable or comma-separated).")
    ] = None,
) -> None:
    """Write N seeded variants of each scenario that mean the same call (one substitution of
    every spelled ID everywhere; another voice, rate, noise bed and pauses). Exit codes: 0, 2.
    """
    from harness.scenario.vary import ASPECTS, write_variants

    aspects = [a.strip() for given in (only or []) for a in given.split(",") if a.strip()]
    written = write_variants(paths, output, n=count, seed=seed, aspects=aspects or ASPECTS)
    typer.echo(f"wrote {len(written)} scenario(s) to {output}")


@app.command(short_help="Run scenarios, score the calls, write the reports.")
def run(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders (default: the example suite in scenarios/).")] = None,
    target: Target = "local",
    agent: AgentFile = None,
    audio_format: AudioFormat = None,
    trials: Annotated[int, typer.Option(help="Trials per scenario.")] = 1,
    concurrency: Annotated[int, typer.Option(help="Calls at the same time.")] = 4,
    fault: Annotated[list[str] | None, typer.Option(
        help="Fault of the local agent, e.g. no_preamble or added_latency_ms=400 (repeatable).")
    ] = None,
    network: Network = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where run folders go (each run gets its own).")] = Path("reports"),
    store: Annotated[str | None, typer.Option(
        help="Record the run in this history store: a SQLite file (e.g. reports/history.db) or "
             "a SQLAlchemy URL.")] = None,
    label: Annotated[str | None, typer.Option(
        help="Label of the stored run (e.g. nightly, main); trends and baselines follow it.")
    ] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes (or Ray actors) the trials are spread over, each with its own event "
             "loop and, for the local target, its own agent.")] = None,
    executor: Annotated[str, typer.Option(
        help="local (processes on this machine) or ray (a Ray cluster).")] = "local",
    address: Annotated[str | None, typer.Option(
        help="The Ray cluster's address (with --executor ray).")] = None,
    ship_recordings: Annotated[bool, typer.Option(
        help="Ray workers write to their own disks and send each finished trial back through "
             "Ray's object store (with --executor ray, when the nodes share no file system).")
    ] = False,
    vary: Annotated[int | None, typer.Option(help="Run N variants of each scenario instead "
                                             "(harness vary; written under --output).")] = None,
    vary_seed: Annotated[int, typer.Option(help="Seed of --vary.")] = 1,
    voices: Annotated[str | None, typer.Option(help="Run the suite once per caller voice "
                      "(af_heart,bm_george,espeak:en-gb) and compare them.")] = None,
    caller_model: Annotated[str | None, typer.Option(
        help="The model that plays persona scenarios' callers, e.g. gpt-4.1-mini (default: "
             "HARNESS_CALLER_MODEL).")] = None,
    caller_url: Annotated[str | None, typer.Option(
        help="The caller model's OpenAI-compatible API base (default: HARNESS_CALLER_URL, "
             "else https://api.openai.com/v1).")] = None,
    replay_callers: Annotated[Path | None, typer.Option(
        help="Speak the persona lines recorded in this run folder again, in order, instead "
             "of asking the caller model.")] = None,
) -> None:
    """Run scenarios against a target, score the calls and write the HTML/JUnit/JSON reports.

    Exit codes: 0 all passed, 1 some failed, 2 usage or invalid input, 3 some errored (or the
    store could not be used: the run's files are written all the same).
    """
    from harness import api
    from harness.report.console import RunProgress

    if vary is not None:
        from harness.scenario.vary import write_variants

        paths = write_variants(paths or [api.DEFAULT_SUITE], output / f"varied-s{vary_seed}",
                               n=vary, seed=vary_seed)

    if voices is not None:
        from harness.cli._voices import run_voice_matrix

        run_voice_matrix(voices, paths or [], target=target, agent=agent, trials=trials,
                         concurrency=concurrency, faults=fault or [], audio_format=audio_format,
                         output=output, refused={"--store": store, "--workers": workers,
                                                 "--network": network, "--address": address,
                                                 "--executor": None if executor == "local"
                                                 else executor})
    options = api.RunOptions(
        target=target, agent=agent, audio_format=audio_format, trials=trials,
        concurrency=concurrency, faults=tuple(fault or ()), workers=workers, executor=executor,
        address=address, ship_recordings=ship_recordings, network=network,
        caller_model=caller_model, caller_url=caller_url, replay_callers=replay_callers)

    def run_with_progress() -> api.RunOutcome:
        with RunProgress() as progress:
            return api.run(paths or None, options, out_dir=output, on_progress=progress)

    _summarise(run_with_progress, store=store, label=label)


@app.command(short_help="Load-test a target: concurrent callers on a ramp.")
def load(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders: the callers' scenarios, round robin "
             "(default: the example suite).")] = None,
    ramp: Annotated[str, typer.Option(
        help="START:END:DURATION[:STEPS] (a linear ramp, e.g. 10:200:300s) or LEVELS:HOLD "
             "(e.g. 10,50,100:60s).")] = "2,4,8:30s",
    target: Target = "local",
    jitter_limit_ms: Annotated[float, typer.Option(
        help="The harness's own pacing jitter p99 above which a level's latencies are not "
             "trusted.")] = 5.0,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where load test folders go.")] = Path("reports"),
) -> None:
    """Load-test a target: concurrent callers on a ramp; latency and errors per level."""
    from harness.load import run_load
    from harness.load.console import print_load

    outcome = run_load(paths or None, ramp=ramp, target=target, jitter_limit_ms=jitter_limit_ms,
                       out_dir=output,
                       on_progress=lambda p: typer.echo(
                           f"{p.concurrency} concurrent calls ({p.calls_done} done, "
                           f"{p.errors} errored so far)", err=True)
                       if p.kind == "level_started" else None)
    print_load(outcome)


@app.command(short_help="Re-render a run folder's reports.")
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (with run.json).")],
    rescore: Annotated[bool, typer.Option(help="Score every trial again first.")] = False,
) -> None:
    """Re-render a run folder's reports (unscored trials are scored first); exit code as run."""
    from harness import api

    _summarise(lambda: api.report(run_dir, rescore=rescore))


def _summarise(produce: Callable[[], Any], *, store: str | None = None,
               label: str | None = None) -> None:
    """Print a run's summary table (or its one error), record it in ``store`` when given, and
    exit with the run's exit code (3 when the store could not be used)."""
    from harness import api
    from harness.report.console import print_error, print_summary

    try:
        outcome = produce()
    except HarnessError as exc:
        print_error(exc)
        raise typer.Exit(api.exit_code(exc)) from None
    print_summary(outcome)
    code = api.exit_code(outcome)
    if store is not None:
        from harness.nightly import store_outcome
        from harness.store.console import print_stored

        stored = store_outcome(outcome, store, label)
        print_stored(stored.info, stored.error)
        if stored.error is not None:
            code = max(code, api.EXIT_ERRORED)
    raise typer.Exit(code)


FailOn = Annotated[list[str] | None, typer.Option(
    "--fail-on", help="Regression gate, e.g. pass_rate:-5%, latency.p95:+10%, "
                      "kind.preamble.pass_rate:-0.02, scenario.NAME.pass_rate:-0.2 (repeatable).")]
Baseline = Annotated[str, typer.Option(
    help="What the gates compare with: previous (the last run with the same label), median:N "
         "(the median of the last N) or a run id.")]
Consecutive = Annotated[int, typer.Option(
    help="Declare a regression only when it holds in this many runs in a row.")]
StoreOption = Annotated[str | None, typer.Option(
    "--store", envvar="HARNESS_STORE",
    help="History store: a SQLite file or a SQLAlchemy URL (default reports/history.db).")]


@app.command(short_help="Run k trials per scenario, store them, apply the gates.")
def nightly(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders (default: the example suite in scenarios/).")] = None,
    trials: Annotated[int, typer.Option(help="Trials per scenario.")] = 5,
    label: Annotated[str, typer.Option(help="Label of the stored run.")] = "nightly",
    store: StoreOption = None,
    fail_on: FailOn = None,
    baseline: Baseline = "previous",
    consecutive: Consecutive = 1,
    last: Annotated[int, typer.Option(help="Runs shown in the trend report.")] = 30,
    target: Target = "local",
    agent: AgentFile = None,
    audio_format: AudioFormat = None,
    concurrency: Annotated[int, typer.Option(help="Calls at the same time.")] = 4,
    fault: Annotated[list[str] | None, typer.Option(
        help="Fault of the local agent, e.g. added_latency_ms=600 (repeatable).")] = None,
    network: Network = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where run folders and trend.html go.")] = Path("reports"),
) -> None:
    """Run the suite k times per scenario, store it, render the trend report, apply the gates.

    Without --fail-on the gates are pass_rate:-5% and latency.p95:+10%. Exit codes: 0 no
    regression, 1 a gate regressed, 2 usage or invalid input, 3 trials errored or the store
    could not be used.
    """
    from harness import api
    from harness.nightly import nightly as run_nightly
    from harness.report.console import RunProgress, print_error, print_summary
    from harness.store.console import print_gates, print_stored

    try:
        with RunProgress() as progress:
            outcome = run_nightly(
                paths or None, api.RunOptions(
                    target=target, agent=agent, audio_format=audio_format, trials=trials,
                    concurrency=concurrency, faults=tuple(fault or ()), network=network),
                label=label, store=store, fail_on=fail_on, baseline=baseline,
                consecutive=consecutive, last=last, out_dir=output, on_progress=progress)
    except HarnessError as exc:
        print_error(exc)
        raise typer.Exit(api.exit_code(exc)) from None
    print_summary(outcome.run)
    print_stored(outcome.stored.info, outcome.stored.error)
    if outcome.trend is not None:
        if outcome.trend.gates is not None:
            print_gates(outcome.trend.gates)
        typer.echo(f"trend:  {outcome.trend.trend_html}")
    raise typer.Exit(outcome.exit_code)


@app.command(short_help="Render the trend report of stored runs; apply the gates.")
def trend(
    store: StoreOption = None,
    label: Annotated[str | None, typer.Option(help="Only runs with this label.")] = None,
    last: Annotated[int, typer.Option(help="The newest N runs.")] = 30,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder of trend.html (and its assets).")] = Path("reports"),
    fail_on: FailOn = None,
    baseline: Baseline = "previous",
    consecutive: Consecutive = 1,
    run: Annotated[str | None, typer.Option(
        help="Run the gates judge (id or label; default: the newest stored run).")] = None,
) -> None:
    """Render the trend report of stored runs (static, offline HTML); with --fail-on, apply the
    regression gates to the newest run.

    Exit codes: 0 no regression, 1 a gate regressed, 2 usage or invalid input, 3 the store
    could not be used.
    """
    from harness import api
    from harness.nightly import trend as render
    from harness.report.console import print_error
    from harness.store.console import print_gates

    try:
        outcome = render(store, output, label=label, last=last, fail_on=fail_on,
                         baseline=baseline, consecutive=consecutive, run=run)
    except HarnessError as exc:
        print_error(exc)
        raise typer.Exit(api.exit_code(exc)) from None
    if outcome.gates is not None:
        print_gates(outcome.gates)
    typer.echo(f"trend: {outcome.trend_html}")
    raise typer.Exit(outcome.exit_code)


@app.command(short_help="Re-score every recording of a run folder.")
def score(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (with run.json).")],
) -> None:
    """Re-score every recording of a run folder and rewrite its verdicts.json files.

    Exit codes: 0 all passed, 1 some failed, 2 usage or invalid input, 3 a scorer broke.
    """
    from harness.scoring import score_run, score_run_summary

    try:
        results = score_run(run_dir)
    except HarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exit_code(error=exc)) from None
    lines, code = score_run_summary(results)
    for line in lines:
        typer.echo(line)
    raise typer.Exit(code)


@app.command(short_help="Compare agent variants scenario by scenario.")
def compare(
    items: Annotated[list[str] | None, typer.Argument(
        help="Finished runs to compare (run folders, RUN#VARIANT, or with --store run ids or "
             "labels); with --config/--variant/--set/--base: scenario files or folders to run "
             "(default: the example suite).", show_default=False)] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Comparison file: scenarios, base config, variants, trials.")
    ] = None,
    variant: Annotated[list[str] | None, typer.Option(
        help="A variant: NAME=AGENT_CONFIG_FILE, or NAME for the base config (repeatable; the "
             "first is the baseline).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override of a variant on the base config: NAME.KEY=VALUE with KEY one of "
                      "instructions, instructions_file, model, voice, turn_detection, tools, "
                      "local_profile, faults, audio_format, target, caller (VALUE read as "
                      "YAML; repeatable).")] = None,
    base: Annotated[Path | None, typer.Option(
        help="Agent config the variants start from (default: the scenarios' own).")] = None,
    trials: Annotated[int | None, typer.Option(
        help="Trials per scenario and variant (default 5, or the comparison file's).")] = None,
    concurrency: Annotated[int, typer.Option(help="Calls at the same time.")] = 4,
    target: Target = "local",
    store: Annotated[str | None, typer.Option(
        help="History database URL: compare stored runs (ids or labels) instead of folders.")
    ] = None,
    fail_if_worse: Annotated[bool, typer.Option(
        "--fail-if-worse", help="Exit 1 when a candidate is significantly worse on any metric.")
    ] = False,
    fail_if_worse_on: Annotated[list[str] | None, typer.Option(
        help="Exit 1 when a candidate is significantly worse on one of these metrics "
             "(comma-separated or repeated), e.g. preamble,voice_to_voice_ms; they become "
             "the primary metrics unless --primary names others.")] = None,
    primary: Annotated[list[str] | None, typer.Option(
        help="Primary metrics, corrected together (Holm); the others are exploratory "
             "(default: passed,voice_to_voice_ms).")] = None,
    plan: Annotated[list[str] | None, typer.Option(
        help="METRIC:DIFFERENCE, e.g. voice_to_voice_ms:+200 or passed:-10%: how many trials "
             "per scenario would detect it with 80% power (repeatable).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where the run folder goes (live), or the report folder "
                               "(finished runs; default: reports/compare-…).")] = None,
) -> None:
    """Compare agent variants scenario by scenario: run them (interleaved, the same caller
    audio), or compare finished runs; per metric better / worse / no detectable difference
    (with the smallest difference this size detects) / cannot be detected at this size / not
    read (an exploratory metric whose own test rejects while no primary metric differs).

    Exit codes: 0 done, 1 the --fail-if-worse gate failed, 2 usage or invalid input,
    3 some trials errored.
    """
    from harness import api
    from harness import compare as cmp
    from harness.compare.console import print_comparison
    from harness.report.console import RunProgress, print_error

    gate: bool | list[str] | None = list(fail_if_worse_on) if fail_if_worse_on else (
        True if fail_if_worse else None)
    live = bool(config or variant or set_ or base)

    def produce() -> cmp.CompareOutcome:
        if not live:
            if trials is not None:
                raise InputError("--trials applies to a comparison that runs variants; finished "
                                 "runs keep their trials", field="--trials")
            return cmp.compare_runs(items or [], out_dir=output, fail_if_worse=gate, store=store,
                                    primary=primary, plan=plan)
        if store is not None:
            raise InputError("--store compares stored runs; it cannot be combined with "
                             "variants to run", field="--store")
        file_spec = cmp.load_comparison(config) if config is not None else None
        spec = cmp.spec_from_options(
            variants=list(variant or []), overrides=list(set_ or []), base=base,
            scenarios=[Path(p) for p in items or []], trials=trials, file_spec=file_spec)
        with RunProgress() as progress:
            return cmp.run_comparison(
                spec, api.RunOptions(target=target, concurrency=concurrency),
                out_dir=output or Path("reports"), fail_if_worse=gate, on_progress=progress,
                primary=primary, plan=plan)

    try:
        outcome = produce()
    except HarnessError as exc:
        print_error(exc)
        raise typer.Exit(exit_code(error=exc)) from None
    print_comparison(outcome)
    raise typer.Exit(outcome.exit_code)


app.add_typer(agent_app, name="agent")
app.add_typer(voices_app, name="voices")
app.add_typer(calls_app, name="calls")
app.add_typer(personas_app, name="personas")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs a command; a HarnessError becomes its message and exit code."""
    try:
        app(args=argv, prog_name="harness")
    except HarnessError as exc:
        # Printed without the report package, whose statistics stack takes a second to import:
        # a refused file is answered at once.
        for line in error_lines(exc):
            typer.secho(line, fg="red", err=True)
        sys.exit(exit_code(error=exc))
