"""The documentation site: it builds with ``--strict``, its generated references are what the code
generates today, and every relative link of the README and the docs leads somewhere."""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from harness.scenario import agent_config_reference_markdown, scenario_reference_markdown
from harness.scoring import expectation_reference_markdown

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = load_hooks()

GENERATED = [
    ("scenario-reference", "scenario-reference", scenario_reference_markdown),
    ("agent-config-reference", "agent-configs", agent_config_reference_markdown),
    ("expectation-reference", "expectations", expectation_reference_markdown),
    ("comparison-reference", "compare", HOOKS.comparison_reference_markdown),
]
"""(marker, page, generator) of every generated block of the docs."""


def nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for item in nav:
        for value in item.values() if isinstance(item, dict) else [item]:
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def page_text(page_html: str) -> str:
    """The words of a built page's article, without tags, entities or extra spaces."""
    article = page_html.split("<article", 1)[1].split("</article>", 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", article)).split())


def markdown_pieces(markdown: str) -> list[str]:
    """The text a reader sees of generated Markdown, piece by piece in order: each heading,
    paragraph line and table cell (each part of a cell split by ``<br>``), without markup."""
    pieces: list[str] = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line or re.fullmatch(r"[|\s-]+", line):
            continue
        parts = re.split(r"(?<!\\)\|", line.strip("|")) if line.startswith("|") else [line]
        for part in parts:
            for piece in part.replace("\\|", "|").split("<br>"):
                piece = " ".join(re.sub(r"^#+ |`|\*\*", "", piece.strip()).split())
                if piece:
                    pieces.append(piece)
    return pieces


def test_the_site_builds_strictly_and_quickly(docs_build) -> None:
    assert docs_build.returncode == 0, docs_build.output
    assert "WARNING" not in docs_build.output, docs_build.output
    assert docs_build.seconds < 60, f"mkdocs build took {docs_build.seconds:.1f} s"


def test_every_nav_page_exists_and_is_built(docs_build) -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = nav_pages(config["nav"])
    assert "index.md" in pages and "statistics.md" in pages and "architecture.md" in pages
    for page in pages:
        assert (DOCS / page).is_file(), page
        stem = page.removesuffix(".md")
        built = docs_build.site / ("" if stem == "index" else stem) / "index.html"
        assert built.is_file(), page
    written = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert written == set(pages), "every page of docs/ is in the nav, and only those"


@pytest.mark.parametrize(("marker", "page", "generator"), GENERATED,
                         ids=[g[0] for g in GENERATED])
def test_the_built_page_holds_what_the_generator_produces(docs_build, marker, page,
                                                          generator) -> None:
    source = (DOCS / f"{page}.md").read_text(encoding="utf-8")
    assert f"<!-- {marker}:start -->" in source and f"<!-- {marker}:end -->" in source
    filled = HOOKS.fill(source)
    assert generator().strip() in filled

    text = page_text(docs_build.page(page))
    at = 0
    for piece in markdown_pieces(generator()):
        found = text.find(piece, at)
        assert found >= 0, f"{page}: {piece!r} is missing (or out of order) on the built page"
        at = found + len(piece)


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or else the classes and functions the module defines without a ``_``."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, value in vars(module).items() if not name.startswith("_")
            and callable(value) and getattr(value, "__module__", None) == module.__name__]


def test_the_api_pages_document_every_public_name(docs_build) -> None:
    for page in sorted((DOCS / "api").glob("*.md")):
        (module,) = re.findall(r"^::: (harness[\w.]*)$", page.read_text(encoding="utf-8"), re.M)
        names = public_names(importlib.import_module(module))
        built = docs_build.page(f"api/{page.stem}")
        missing = [n for n in names if f'id="{module}.{n}"' not in built]
        assert missing == [], f"{module}: no entry for {missing}"


# --------------------------------------------------------------------------- links

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings, as GitHub and MkDocs both write them."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.M):
        text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
        anchors.add(re.sub(r"\s", "-", text))
    return anchors


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


MARKDOWN_FILES = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=[str(p.relative_to(REPO))
                                                      for p in MARKDOWN_FILES])
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for link in relative_links(path):
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(f"{link}: no file {file}")
        elif anchor and file.suffix == ".md" \
                and anchor not in heading_anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{link}: no heading #{anchor} in {file.name}")
    assert broken == []


def test_the_readme_links_into_the_docs() -> None:
    links = {link.partition("#")[0] for link in relative_links(REPO / "README.md")}
    for page in ("docs/index.md", "docs/scenarios.md", "docs/scenario-reference.md",
                 "docs/agent-configs.md", "docs/expectations.md", "docs/pytest.md",
                 "docs/nightly.md", "docs/compare.md", "docs/statistics.md", "docs/scale.md",
                 "docs/local-agent.md", "docs/benchmarks.md", "docs/architecture.md",
                 "docs/report.png"):
        assert page in links, page
