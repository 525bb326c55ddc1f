"""Makes asv's published HTML work without internet access (as on hosts that
reach only package registries, and in CI).

asv's index.html loads jQuery, flot, Bootstrap and two helpers from CDNs.
This copies Debian's packaged copies (apt-get install libjs-jquery
libjs-jquery-flot libjs-bootstrap libjs-jquery-stupidtable) into
HTML_DIR/vendor and points index.html at them. Debian's flot (4.x) is one
bundle with the time, selection and categories plugins inside. Two helpers
have no Debian package and are left out: blueimp-md5 (the regressions page's
ignore list) and flot-orderbars (bars side by side); graphs need neither.

    python scripts/asv_offline_html.py .asv/html && asv preview
"""
import os
import re
import shutil
import sys

from bwbench.results import atomic_write

DEBIAN = "/usr/share/javascript"
VENDOR = {  # CDN file name -> Debian's copy (None: left out)
    "jquery-3.3.1.min.js": f"{DEBIAN}/jquery/jquery.min.js",
    "jquery.flot.min.js": f"{DEBIAN}/jquery-flot/jquery.flot.min.js",
    "jquery.flot.time.min.js": None, "jquery.flot.selection.min.js": None,
    "jquery.flot.categories.min.js": None,  # inside Debian's flot bundle
    "jquery.flot.orderBars.js": None, "md5.min.js": None,
    "stupidtable.min.js": f"{DEBIAN}/jquery-stupidtable/stupidtable.min.js",
    "bootstrap.min.js": f"{DEBIAN}/bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": f"{DEBIAN}/bootstrap/css/bootstrap.min.css",
}
CDN_TAG = re.compile(r'<(script|link)[^>]*(?:src|href)="https://[^"]*/([^/"]+)"[^>]*>(?:</script>)?')


def localise(html_dir: str) -> None:
    os.makedirs(os.path.join(html_dir, "vendor"), exist_ok=True)

    def replace(match):
        kind, name = match.groups()
        if name not in VENDOR:
            sys.exit(f"asv_offline_html: unknown CDN file {name}; update VENDOR")
        if VENDOR[name] is None:
            return ""
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
