"""JUnit XML of a run: one testcase per scenario trial, failures carrying the verdicts' evidence."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path, PurePath
from typing import Any

from harness.report._trial import TrialOutcome
from harness.scoring.verdict import Verdict

JUNIT_FILE = "junit.xml"
# Characters XML 1.0 cannot carry (control characters a transcript or an error may hold).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def classname(trial: TrialOutcome) -> str:
    """Dotted name of the scenario file (``scenarios/cancel.yaml`` → ``scenarios.cancel``)."""
    shown = trial.scenario_file_display
    if not shown:
        return trial.scenario
    path = PurePath(shown)
    if path.is_absolute():
        path = PurePath(path.parent.name, path.name)
    parts = [p for p in path.with_suffix("").parts if p not in ("", ".", "..")]
    return ".".join(parts) or trial.scenario


def _verdict_text(v: Verdict) -> str:
    lines = [f"[{v.status}] {v.kind}: {v.summary}"]
    if v.measured:
        lines.append("  measured: " + ", ".join(f"{k}={val}" for k, val in v.measured.items()))
    for e in v.evidence:
        at = f"{e.t_ms / 1000:.2f} s " if e.t_ms is not None else ""
        turn = f"(turn {e.turn_index}) " if e.turn_index is not None else ""
        excerpt = f" — \"{e.excerpt}\"" if e.excerpt else ""
        lines.append(f"  - {at}{turn}{e.label}{excerpt}")
    return "\n".join(lines)


def write_junit(run_dir: Path, run: dict[str, Any], trials: list[TrialOutcome],
                pages: list[str]) -> Path:
    """Write ``RUN_DIR/junit.xml``; errored trials are ``<error>``, failed ones ``<failure>``."""
    failures = sum(t.outcome == "failed" for t in trials)
    errors = sum(t.outcome == "errored" for t in trials)
    total_time = sum(t.duration_s for t in trials)
    counts = {"tests": str(len(trials)), "failures": str(failures), "errors": str(errors),
              "skipped": "0", "time": f"{total_time:.3f}"}
    root = ET.Element("testsuites", {"name": "harness", **counts})
    suite = ET.SubElement(root, "testsuite", {
        "name": f"harness run {run.get('run_id', run_dir.name)}", **counts,
        "timestamp": str(run.get("started_at", "")), "hostname": socket.gethostname()})
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "target", "harness_version"):
        if run.get(key):
            ET.SubElement(props, "property", {"name": key, "value": str(run[key])})
    for t, page in zip(trials, pages, strict=True):
        attrs = {"classname": _xml(classname(t)), "name": _xml(t.label),
                 "time": f"{t.duration_s:.3f}"}
        if t.scenario_file_display:
            attrs["file"] = t.scenario_file_display
        case = ET.SubElement(suite, "testcase", attrs)
        if t.outcome == "errored":
            node = ET.SubElement(case, "error", {"message": _xml(t.error or "errored"),
                                                 "type": t.run_status})
            node.text = _xml("\n\n".join([t.error or ""] + [_verdict_text(v) for v in t.failing]))
        elif t.outcome == "failed":
            failing = t.failing
            node = ET.SubElement(case, "failure", {
                "message": _xml(f"{len(failing)} of {len(t.verdicts)} expectations failed: "
                                + "; ".join(f"{v.kind}: {v.summary}" for v in failing)),
                "type": "expectation"})
            node.text = _xml("\n\n".join(_verdict_text(v) for v in failing))
        ET.SubElement(case, "system-out").text = f"report: pages/{page}\nrecording: {t.rel_path}"
    out = run_dir / JUNIT_FILE
    ET.indent(root)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return out
