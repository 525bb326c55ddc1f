"""The documentation site (docs/): it builds with no warning, the command-line
reference holds every subcommand and flag of the parser with its help, and the
built pages open in headless Chromium with every image loaded and no error.
The site is built once for the module."""
import argparse
import html
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from bwbench.cli import build_parser
from test_asv_workflow import chromium

pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")
pytest.importorskip("myst_parser", reason="the docs extra is not installed: pip install -e '.[docs]'")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ("index.html", "reference/cli.html", "results/index.html")

# Injected first into a copy of a page: records console.error calls, uncaught errors and resources that fail
# to load, and once the page has loaded writes them and each image's natural width into <pre id="docs-check">.
PROBE = """<script>
(function () {
  var problems = [], loaded = false;
  function report() {
    if (!loaded) return;
    var out = document.getElementById("docs-check") || document.body.appendChild(document.createElement("pre"));
    out.id = "docs-check";
    out.textContent = JSON.stringify({problems: problems, images: Array.prototype.map.call(document.images,
      function (img) { return {src: img.currentSrc || img.src, width: img.naturalWidth}; })});
  }
  function record(text) { problems.push(String(text)); report(); }
  var error = console.error;
  console.error = function () { record(Array.prototype.join.call(arguments, " ")); error.apply(console, arguments); };
  window.addEventListener("error", function (event) {
    var target = event.target;
    record(target && target !== window ? "failed to load " + (target.src || target.href) : event.message);
  }, true);
  window.addEventListener("unhandledrejection", function (event) { record("unhandled rejection: " + event.reason); });
  window.addEventListener("load", function () { loaded = true; report(); });
})();
</script>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """sphinx-build -W of docs/ into a temporary folder: (the finished process, the HTML folder)."""
    out = tmp_path_factory.mktemp("docs") / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           os.path.join(ROOT, "docs"), str(out)], capture_output=True, text=True, timeout=600)
    return done, out


@pytest.fixture(scope="module")
def html_dir(site):
    done, out = site
    if done.returncode:
        pytest.fail(f"sphinx-build failed:\n{done.stderr[-3000:]}")
    return out


def test_the_docs_build_with_no_warning(site):
    done, out = site
    assert done.returncode == 0, done.stderr[-3000:]   # -W: any warning fails the build
    assert all((out / page).is_file() for page in PAGES)


class _Text(HTMLParser):
    """The text of a page, and the text of each <code> element in it."""

    def __init__(self):
        super().__init__()
        self.parts, self.codes, self._depth = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "code":
            self._depth += 1
            self.codes.append("")

    def handle_endtag(self, tag):
        if tag == "code":
            self._depth -= 1

    def handle_data(self, data):
        self.parts.append(data)
        if self._depth:
            self.codes[-1] += data


def _parsers(parser, prog="bwbench"):
    """(prog, parser) for the parser and every subcommand's, recursively."""
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_the_cli_reference_has_every_subcommand_and_flag_with_its_help(html_dir):
    page = _Text()
    page.feed((html_dir / "reference" / "cli.html").read_text())
    text = " ".join("".join(page.parts).split())
    tokens = {token for code in page.codes for token in re.split(r"[\s,]+", code)}
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 5
    for prog, parser in parsers:
        assert prog in text
        assert prog.split()[-1] in tokens
        for action in parser._actions + [choice for action in parser._actions
                                         for choice in getattr(action, "_choices_actions", ())]:
            assert set(action.option_strings) <= tokens, (prog, action.option_strings)
            if action.help and action.help != argparse.SUPPRESS:
                words = " ".join((action.help % {**vars(action), "prog": prog}).replace("`", "").split())
                assert words in text, (prog, action.dest, words)


def _browser():
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (.ci/run does)")
        pytest.skip("needs chromium")
    return browser


def probe(page) -> dict:
    """Opens a copy of page (beside it, so its links resolve) with PROBE injected in headless Chromium:
    {'problems': [console errors, uncaught errors, failed loads], 'images': [{'src', 'width'}]}."""
    source = page.read_text()
    assert "<head>" in source
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(source.replace("<head>", "<head>" + PROBE, 1))
    dom = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="docs-check">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not report from {page}:\n{dom[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_the_probe_sees_a_broken_image_and_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<html><head></head><body><img src="missing.png"><script>console.error("boom")</script>'
                    "</body></html>")
    seen = probe(page)
    assert seen["images"] == [{"src": (tmp_path / "missing.png").as_uri(), "width": 0}]
    assert "boom" in seen["problems"] and any("missing.png" in p for p in seen["problems"])


@pytest.mark.parametrize("page", PAGES)
def test_a_built_page_loads_every_image_with_no_error(html_dir, page):
    seen = probe(html_dir / page)
    assert seen["problems"] == []
    assert all(image["width"] > 0 for image in seen["images"]), seen["images"]
    if page.startswith("results"):
        assert seen["images"], "the results page shows no figure"
