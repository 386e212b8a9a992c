"""The package's layers hold: import-linter's contracts pass, no module imports itself through a
cycle, and scoring and reports load without the runner, the agent or the network library."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_import_linter_contracts_are_kept():
    # the contracts live in pyproject.toml ([tool.importlinter]); CI runs them through this test
    proc = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", "--no-logo"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout and "KEPT" in proc.stdout


def _ignored_edges() -> set[tuple[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    edges: set[tuple[str, str]] = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "acyclic_siblings":
            for expression in contract.get("ignore_imports", []):
                importer, imported = (part.strip() for part in expression.split("->"))
                edges.add((importer, imported))
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle_through_a_package_init():
    edges = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p"}, "q": {"p"}}
    assert _cycles(edges) == [["p", "p.a", "p.b"]]
    assert _cycles({"p": {"p.a"}, "p.a": set()}) == []


def test_no_module_imports_itself_through_a_cycle():
    # Module by module, package __init__ files included (import-linter's acyclic contract
    # compares siblings, so a submodule importing its own package's __init__ would slip by).
    graph = grimp.build_graph("harness")
    ignored = _ignored_edges()
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m)
                 if i.startswith("harness") and (m, i) not in ignored}
             for m in graph.modules if m.startswith("harness")}
    assert _cycles(edges) == []


def test_scoring_and_reports_load_without_runner_agent_or_websockets():
    code = ("import sys, harness.scoring, harness.report, harness.recording;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'websockets'"
            " or m.startswith(('harness.runner', 'harness.agent', 'harness.realtime.client'))))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_architecture_document_names_every_layer_of_the_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"]
                 if c["type"] == "layers"]
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = doc.split("## The layers and their contracts", 1)[1].split("\n## ", 1)[0]
    names = [name.strip() for layer in layers for name in layer.split("|")]
    assert [n for n in names if f"`{n}`" not in table] == []
    # newcomers find it: the README links it and the docs site lists it
    assert "](docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Architecture: architecture.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_nothing_points_to_a_design_document_outside_the_repository():
    # users cannot open it: the project says things in its own words or links its own docs
    pointer = "DESIGN" + " §"
    found = []
    for folder in ("harness", "docs", "schemas", "scenarios", "agents", "bench", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".json", ".yaml", ".j2", ".html", ".js", ".css"}:
                text = path.read_text(encoding="utf-8", errors="replace")
                if pointer in text or "DESIGN" + ".md" in text:
                    found.append(str(path.relative_to(ROOT)))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    site = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert found == [] and pointer not in readme and pointer not in site


MAX_MODULE_LINES = 500


def test_no_module_is_over_the_size_limit():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "harness").rglob("*.py")}
    assert len(sizes) > 50
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}
