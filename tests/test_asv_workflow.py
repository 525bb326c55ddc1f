"""asv end to end, as a newcomer runs it: the project card's first command on a
fresh clone (the whole suite, quick); a throwaway clone with two commits, the
suite (a quick subset) run on both under two machine names, `asv publish`, the
published data checked, the roofline rebuilt from asv's results, and the HTML
rendered by headless Chromium. Slow (minutes: asv builds its own virtualenv
from PyPI); CI runs it. Each clone is of the committed HEAD."""
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from asv_offline_html import VENDOR, localise  # noqa: E402
ASV = [sys.executable, "-m", "asv"]
MACHINES = ("alpha", "beta")
BENCHMARKS = ["-b", "RooflineCeilings", "-b", "time_encoder_pass"]
# The graph's top-left corner in a 1400x900 window, where asv's page draws the legend (flot's "nw")
LEGEND_CORNER = (200, 100, 500, 260)

pytestmark = pytest.mark.slow


def run(args, cwd, env):
    """Runs a command that must succeed; returns its stdout and stderr together."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def fresh_clone(tmp):
    """A clone of ROOT's committed HEAD on branch main (asv.conf.json follows `main`, whatever branch ROOT is
    on), and an environment whose HOME (asv's machine file) is a new folder."""
    repo, home = tmp / "repo", tmp / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    run(["git", "clone", "-q", ROOT, str(repo)], tmp, env)
    run(["git", "checkout", "-qB", "main"], repo, env)
    return repo, env


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A clone with two commits, the subset run under two machines, published."""
    repo, env = fresh_clone(tmp_path_factory.mktemp("asv"))
    with open(repo / "README.md", "a") as f:
        f.write("\nA second commit for the asv workflow test.\n")
    run(["git", "commit", "-qam", "second commit"], repo, env)
    for machine in MACHINES:
        run([sys.executable, "scripts/asv_machine.py", "--machine", machine], repo, env)
        run([*ASV, "run", "--quick", "--machine", machine, *BENCHMARKS, "HEAD~2..HEAD"], repo, env)
    run([*ASV, "publish"], repo, env)
    return repo, env


def test_a_fresh_clone_runs_the_whole_suite_without_a_failure(tmp_path):
    """`asv machine --yes && asv run --quick HEAD^!`, exactly: exit 0, and each benchmark whose extra asv's
    environment lacks (mpi4py for the interconnect) is skipped, not failed."""
    repo, env = fresh_clone(tmp_path)
    run([*ASV, "machine", "--yes"], repo, env)
    output = run([*ASV, "run", "--quick", "HEAD^!"], repo, env)
    assert "interconnect.Interconnect.track_pingpong_us" in output
    assert [line for line in output.splitlines() if "failed" in line.lower()] == []


def test_published_data_has_both_machines_both_commits_and_units(published):
    repo, _ = published
    index = json.loads((repo / ".asv" / "html" / "index.json").read_text())
    assert set(MACHINES) <= set(index["machines"])
    assert "avx" in index["machines"]["alpha"]["cpu"] or "sse2" in index["machines"]["alpha"]["cpu"]
    assert len(index["revision_to_hash"]) >= 2
    units = {name: bench["unit"] for name, bench in index["benchmarks"].items()}
    assert units["roofline.RooflineCeilings.track_gbps"] == "GB/s"
    assert units["roofline.RooflineCeilings.track_gflops"] == "GFLOP/s"
    assert units["roofline.RooflineCeilings.track_threads"] == "threads"
    assert units["transformer.BertBaseEncoder.time_encoder_pass_seq128"] == "seconds"
    graphs = [str(p) for p in (repo / ".asv" / "html" / "graphs").rglob("roofline.RooflineCeilings.track_gbps.json")]
    for machine in MACHINES:
        assert any(f"machine-{machine}" in path for path in graphs)


def test_roofline_from_asv_overlays_both_machines(published, tmp_path):
    repo, env = published
    out = tmp_path / "fig"
    done = subprocess.run([sys.executable, "-m", "bwbench", "roofline", "--from-asv", str(repo / ".asv" / "results"),
                           "--machine", "alpha", "--machine", "beta", "--out", str(out)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "alpha @" in done.stdout and "beta @" in done.stdout and "DRAM" in done.stdout
    assert (out / "roofline.png").read_bytes()[:4] == b"\x89PNG"
    missing = subprocess.run([sys.executable, "-m", "bwbench", "roofline", "--from-asv", str(repo / ".asv" / "results"),
                              "--machine", "gamma", "--out", str(out)], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "no asv results for machine 'gamma'" in missing.stderr


def render(html_dir, shot) -> str:
    """Serves html_dir and opens its roofline graph in headless Chromium: the rendered DOM, and a screenshot
    into shot."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/#roofline.RooflineCeilings.track_gbps"
        flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                 "--window-size=1400,900"]
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    finally:
        server.shutdown()
    return dom


def near_black_share(png, box) -> float:
    """The share of the pixels inside box (left, top, right, bottom) that are black or nearly."""
    with Image.open(png) as image:
        counts = image.convert("L").crop(box).histogram()
    return sum(counts[:40]) / sum(counts)


def test_html_graph_page_renders_in_headless_chromium(published, tmp_path):
    repo, env = published
    if chromium() is None or not all(os.path.exists(path) for path in VENDOR.values() if path):
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and Debian's JavaScript packages (.ci/run does)")
        pytest.skip("needs chromium, libjs-jquery, libghc-js-flot-data, libjs-bootstrap, libjs-jquery-stupidtable")
    localise(str(repo / ".asv" / "html"))  # asv's page loads its scripts from CDNs; this host has no internet
    shot = tmp_path / "asv-graph.png"
    dom = render(repo / ".asv" / "html", shot)
    assert "flot-base" in dom, "no graph canvas in the rendered page"
    assert "roofline.RooflineCeilings.track_gbps" in dom
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
    # as asv's page draws them with flot 0.8: the legend an HTML table, the axis labels once (on the canvas);
    # flot 4 draws its own SVG axis labels beside asv's and the legend as a black box over the lines
    assert 'class="legendLabel"' in dom and "axisLabels" not in dom
    assert near_black_share(shot, LEGEND_CORNER) < 0.02, "the legend is a solid dark block"
    if os.environ.get("BWBENCH_SCREENSHOT"):
        shutil.copy(shot, os.environ["BWBENCH_SCREENSHOT"])
