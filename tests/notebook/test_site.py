"""The static site, read as files: pages, maths, code from the package, links, safe output."""

from __future__ import annotations

import html
import inspect
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from mlnotebook.errors import UserError
from mlnotebook.notebook.registry import load_notebook, resolve_object
from mlnotebook.notebook.site import MARKER, build_site
from mlnotebook.notebook.site_maths import latex_to_mathml, protect_maths
from mlnotebook.notebook.site_search import GLOBAL_NAME, plain_text
from mlnotebook.optim.sgd import sgd_update
from tests.notebook.site_helpers import SVG, results_from, small_notebook


class _Targets(HTMLParser):
    """Collects (tag, attribute, value) for every href/src, and every id, of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.targets.append((tag, name, value))
            if name == "id" and value:
                self.ids.add(value)


def _parse(page: Path) -> _Targets:
    parser = _Targets()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _code_text(page: str) -> str:
    """The text of the page's code figures, tags removed without adding spaces."""
    blocks = re.findall(r'<figure class="source".*?</figure>', page, re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", "".join(blocks))).split())


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


@pytest.fixture(scope="module")
def builtin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("builtin") / "site"
    build_site(load_notebook(), out)
    return out


@pytest.fixture
def small(tmp_path: Path):
    notebook = small_notebook(tmp_path / "notes")
    return notebook, tmp_path / "site"


# ---- maths -----------------------------------------------------------------------------------


def test_maths_is_lifted_out_but_code_and_prices_are_not() -> None:
    text = "cost $5 and $6; `a $b$ c`; step $\\eta g$ and\n$$x^2$$\n```\n$y$\n```\n"
    protected, spans = protect_maths(text)
    assert [(s.tex, s.display) for s in spans] == [("\\eta g", False), ("x^2", True)]
    assert "cost $5 and $6" in protected
    assert "`a $b$ c`" in protected
    assert "```\n$y$\n```" in protected


def test_latex_becomes_mathml_with_the_tex_kept_as_annotation() -> None:
    mathml = latex_to_mathml("\\frac{a}{b} < c", display=True)
    assert mathml.startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"')
    assert "<mfrac>" in mathml
    assert '<annotation encoding="application/x-tex">\\frac{a}{b} &lt; c</annotation>' in mathml


def test_operator_names_latex2mathml_lacks_are_spelled_out() -> None:
    assert "<mo>arg</mo>" in latex_to_mathml("\\arg\\max_x f(x)")


def test_unknown_tex_command_is_a_user_error_naming_the_entry(small, tmp_path: Path) -> None:
    notebook, out = small
    beta = notebook.entries["beta"]
    beta.path.write_text(beta.path.read_text().replace("\\beta", "\\betta"))
    with pytest.raises(UserError, match=r"beta\.md: unknown TeX command \\betta"):
        build_site(load_notebook(builtin_dir=beta.path.parent), out)


# ---- the built-in notebook -------------------------------------------------------------------


def test_every_builtin_entry_has_a_page_listed_on_the_index(builtin_site: Path) -> None:
    notebook = load_notebook()
    index = _parse(builtin_site / "index.html")
    linked = {value for _, name, value in index.targets if name == "href"}
    for slug in notebook.entries:
        assert (builtin_site / "entries" / f"{slug}.html").is_file()
        assert f"entries/{slug}.html" in linked
    assert (builtin_site / "claims.html").is_file()
    assert (builtin_site / MARKER).is_file()


def test_equations_render_as_mathml_with_no_tex_left_behind(builtin_site: Path) -> None:
    notebook = load_notebook()
    for slug, entry in notebook.entries.items():
        page = (builtin_site / "entries" / f"{slug}.html").read_text(encoding="utf-8")
        assert "MLNBMATH" not in page
        if "$" in entry.sections().get("Equations", ""):
            assert '<math xmlns="http://www.w3.org/1998/Math/MathML"' in page, slug


def test_code_is_read_from_the_package_with_its_file_and_lines(builtin_site: Path) -> None:
    notebook = load_notebook()
    for slug, entry in notebook.entries.items():
        page = (builtin_site / "entries" / f"{slug}.html").read_text(encoding="utf-8")
        words, code = plain_text(page), _code_text(page)
        for link in entry.code:
            target = inspect.unwrap(resolve_object(link))
            lines, first = inspect.getsourcelines(target)
            module_file = Path(inspect.getsourcefile(target) or "").name
            assert re.search(rf"{module_file}:{first}-{first + len(lines) - 1}\b", words), link
            # The first and last source lines appear as text (highlighting only adds tags).
            for line in (lines[0], lines[-1]):
                assert " ".join(line.split()) in code, (slug, line)


def test_every_site_link_resolves_and_nothing_loaded_is_remote(builtin_site: Path) -> None:
    pages = {page: _parse(page) for page in _pages(builtin_site)}
    for page, parsed in pages.items():
        for tag, _attribute, value in parsed.targets:
            parts = urlsplit(value)
            if parts.scheme:
                # Only a plain anchor may point outside; a stylesheet or script may not.
                assert tag == "a" or value == "data:,", (page, value)
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.is_file(), (page.name, value)
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in pages[target].ids, (page.name, value)


def test_search_index_is_a_script_setting_a_global(builtin_site: Path) -> None:
    script = (builtin_site / "assets" / "search-index.js").read_text(encoding="utf-8")
    prefix = f"window.{GLOBAL_NAME} = "
    payload = script[script.index(prefix) + len(prefix) :].rstrip().rstrip(";")
    records = {record["slug"]: record for record in json.loads(payload)}
    assert set(records) == set(load_notebook().entries)
    assert "momentum" in records["momentum"]["names"]
    assert records["momentum"]["url"] == "entries/momentum.html"


# ---- a small notebook: links, figures, claims ------------------------------------------------


def test_entry_links_images_and_papers(small) -> None:
    notebook, out = small
    index = build_site(notebook, out)
    assert index == out / "index.html"
    alpha = (out / "entries" / "alpha.html").read_text(encoding="utf-8")
    assert 'href="beta.html#idea"' in alpha  # [Beta](beta.md#idea) points at the page
    assert 'src="../figures/alpha/loss.svg"' in alpha
    assert (out / "figures" / "alpha" / "loss.svg").read_text() == SVG
    assert "<code>$5</code>" in alpha  # a dollar in code is not maths
    assert 'href="https://arxiv.org/abs/1412.6980"' in alpha
    assert '<ul><li><a href="beta.html">Beta</a></li></ul>' in alpha  # related entries
    lines, first = inspect.getsourcelines(sgd_update)
    assert f"{first}def sgd_update(" in _code_text(alpha)  # line number, then the source
    assert f"mlnotebook/optim/sgd.py:{first}-{first + len(lines) - 1}" in alpha


def test_claims_show_measured_figures_status_and_experiment_svg(small) -> None:
    notebook, out = small
    entries = list(notebook.entries.values())
    figures = {"ratio": 0.25}
    experiment = notebook.entries["alpha"].claims[0].experiment
    build_site(notebook, out, results_from(entries, figures), {experiment: {"svg": {"c.svg": SVG}}})
    alpha = (out / "entries" / "alpha.html").read_text(encoding="utf-8")
    assert "<code>ratio</code> = 0.25 (holds <code>&lt; 0.5</code>)" in alpha
    assert '<span class="badge confirmed">confirmed</span>' in alpha
    assert (out / "figures" / "alpha" / "c.svg").read_text() == SVG
    assert 'src="../figures/alpha/c.svg"' in alpha
    overview = (out / "claims.html").read_text(encoding="utf-8")
    assert 'href="entries/alpha.html#claims"' in overview
    assert "Alpha halves the loss." in overview


def test_a_claim_measured_the_other_way_is_disputed(small) -> None:
    notebook, out = small
    build_site(notebook, out, results_from(list(notebook.entries.values()), {"ratio": 0.9}))
    alpha = (out / "entries" / "alpha.html").read_text(encoding="utf-8")
    assert '<span class="badge disputed">disputed</span>' in alpha
    assert "<td>contradicted</td>" in alpha


def test_without_results_claims_are_listed_as_not_measured(small) -> None:
    notebook, out = small
    build_site(notebook, out)
    assert '<span class="badge not-run">not measured</span>' in (out / "claims.html").read_text()


# ---- safe output -----------------------------------------------------------------------------


def test_refuses_a_non_empty_folder_that_is_not_a_build(small) -> None:
    notebook, out = small
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match=r"refusing to overwrite .*site.* no \.mlnotebook-site"):
        build_site(notebook, out)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def test_refuses_a_file_and_accepts_an_empty_folder(small) -> None:
    notebook, out = small
    out.write_text("not a folder")
    with pytest.raises(UserError, match="exists and is not a directory"):
        build_site(notebook, out)
    out.unlink()
    out.mkdir()
    assert build_site(notebook, out).is_file()


def test_rebuild_replaces_a_previous_build_and_leaves_no_temporary_folders(small) -> None:
    notebook, out = small
    build_site(notebook, out)
    (out / "entries" / "stale.html").write_text("from an older build")
    build_site(notebook, out)
    assert not (out / "entries" / "stale.html").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["notes", "site"]


def test_a_failed_build_leaves_the_previous_site_untouched(small) -> None:
    notebook, out = small
    build_site(notebook, out)
    before = (out / "index.html").read_text()
    alpha = notebook.entries["alpha"]
    alpha.path.write_text(alpha.path.read_text().replace("sgd:sgd_update", "sgd:no_such_thing"))
    with pytest.raises(UserError, match=r"alpha\.md: code link .*no_such_thing"):
        build_site(load_notebook(builtin_dir=alpha.path.parent), out)
    assert (out / "index.html").read_text() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["notes", "site"]


def test_a_remote_image_is_refused(small) -> None:
    notebook, out = small
    beta = notebook.entries["beta"]
    beta.path.write_text(beta.path.read_text() + "\n![x](https://example.org/x.png)\n")
    with pytest.raises(UserError, match=r"beta\.md: image 'https://example.org/x.png' is remote"):
        build_site(load_notebook(builtin_dir=beta.path.parent), out)
