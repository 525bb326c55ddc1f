"""asv end to end, as a newcomer runs it: a throwaway clone with two commits,
the suite (a quick subset) run on both under two machine names, `asv publish`,
the published data checked, the roofline rebuilt from asv's results, and the
HTML rendered by headless Chromium. Slow (minutes: asv builds its own
virtualenv from PyPI); CI runs it."""
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from asv_offline_html import VENDOR, localise  # noqa: E402
MACHINES = ("alpha", "beta")
BENCHMARKS = ["-b", "RooflineCeilings", "-b", "time_encoder_pass"]

pytestmark = pytest.mark.slow


def run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A clone with two commits, the subset run under two machines, published."""
    tmp = tmp_path_factory.mktemp("asv")
    repo, home = tmp / "repo", tmp / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    asv = [sys.executable, "-m", "asv"]
    run(["git", "clone", "-q", ROOT, str(repo)], tmp, env)
    run(["git", "checkout", "-qB", "main"], repo, env)   # asv.conf.json follows `main`, whatever branch ROOT is on
    with open(repo / "README.md", "a") as f:
        f.write("\nA second commit for the asv workflow test.\n")
    run(["git", "commit", "-qam", "second commit"], repo, env)
    for machine in MACHINES:
        run([sys.executable, "scripts/asv_machine.py", "--machine", machine], repo, env)
        run([*asv, "run", "--quick", "--machine", machine, *BENCHMARKS, "HEAD~2..HEAD"], repo, env)
    run([*asv, "publish"], repo, env)
    return repo, env


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


def test_html_graph_page_renders_in_headless_chromium(published, tmp_path):
    repo, env = published
    browser = chromium()
    if browser is None or not all(os.path.exists(path) for path in VENDOR.values() if path):
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and Debian's libjs packages (.ci/run does)")
        pytest.skip("needs chromium, libjs-jquery, libjs-jquery-flot, libjs-bootstrap, libjs-jquery-stupidtable")
    localise(str(repo / ".asv" / "html"))  # asv's page loads its scripts from CDNs; this host has no internet
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo / ".asv" / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/#roofline.RooflineCeilings.track_gbps"
        flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                 "--window-size=1400,900"]
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        shot = tmp_path / "asv-graph.png"
        subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    finally:
        server.shutdown()
    assert "flot-base" in dom, "no graph canvas in the rendered page"
    assert "roofline.RooflineCeilings.track_gbps" in dom
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
    if os.environ.get("BWBENCH_SCREENSHOT"):
        shutil.copy(shot, os.environ["BWBENCH_SCREENSHOT"])
