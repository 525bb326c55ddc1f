"""Makes asv's published HTML work without internet access (as on hosts that
reach only package registries, and in CI).

asv's index.html loads jQuery, flot 0.8.3 and its time, selection and
categories plugins, Bootstrap and two helpers from CDNs. This copies Debian's
packaged copies (apt-get install libjs-jquery libghc-js-flot-data
libjs-bootstrap libjs-jquery-stupidtable) into HTML_DIR/vendor and points
index.html at them. The flot must be the 0.8 line the page is written for:
Debian's libjs-jquery-flot is flot 4, whose own legend and axis-label code
draws asv's legend as a black box and its axis labels twice, so flot comes from
libghc-js-flot-data (flot 0.8.3 as Haskell's js-flot bundles it), and its
version is checked against the page's CDN address. Two helpers have no Debian
package and are left out: blueimp-md5 (the regressions page's ignore list) and
flot-orderbars (bars side by side); graphs need neither.

    python scripts/asv_offline_html.py .asv/html && asv preview
"""
import os
import re
import shutil
import sys

from bwbench.results import atomic_write

DEBIAN = "/usr/share/javascript"
FLOT = "/usr/share/haskell-js-flot"
VENDOR = {  # CDN file name -> Debian's copy (None: left out)
    "jquery-3.3.1.min.js": f"{DEBIAN}/jquery/jquery.min.js",
    "jquery.flot.min.js": f"{FLOT}/jquery.flot.min.js",
    "jquery.flot.time.min.js": f"{FLOT}/jquery.flot.time.min.js",
    "jquery.flot.selection.min.js": f"{FLOT}/jquery.flot.selection.min.js",
    "jquery.flot.categories.min.js": f"{FLOT}/jquery.flot.categories.min.js",
    "jquery.flot.orderBars.js": None, "md5.min.js": None,
    "stupidtable.min.js": f"{DEBIAN}/jquery-stupidtable/stupidtable.min.js",
    "bootstrap.min.js": f"{DEBIAN}/bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": f"{DEBIAN}/bootstrap/css/bootstrap.min.css",
}
CDN_TAG = re.compile(r'<(script|link)[^>]*(?:src|href)="(https://[^"]*/([^/"]+))"[^>]*>(?:</script>)?')
FLOT_VERSION = re.compile(r"/flot/([0-9.]+)/")   # in the CDN address, e.g. .../libs/flot/0.8.3/jquery.flot.min.js


def check_flot_version(url: str, copy: str) -> None:
    """Refuses a flot copy whose header names another version than the page's CDN address."""
    wanted = FLOT_VERSION.search(url)
    with open(copy) as f:
        header = f.read(200)
    if wanted and f"version {wanted.group(1)}." not in header:
        sys.exit(f"asv_offline_html: asv's page wants flot {wanted.group(1)}; {copy} is another version")


def localise(html_dir: str) -> None:
    os.makedirs(os.path.join(html_dir, "vendor"), exist_ok=True)

    def replace(match):
        kind, url, name = match.groups()
        if name not in VENDOR:
            sys.exit(f"asv_offline_html: unknown CDN file {name}; update VENDOR")
        if VENDOR[name] is None:
            return ""
        check_flot_version(url, VENDOR[name])
        shutil.copy(VENDOR[name], os.path.join(html_dir, "vendor", name))
        if kind == "link":
            return f'<link rel="stylesheet" href="vendor/{name}">'
        return f'<script src="vendor/{name}"></script>'

    index = os.path.join(html_dir, "index.html")
    with open(index) as f:
        page = f.read()
    with atomic_write(index) as f:
        f.write(CDN_TAG.sub(replace, page))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/asv_offline_html.py HTML_DIR")
    localise(sys.argv[1])
