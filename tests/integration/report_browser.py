# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Open report.html in headless Chromium (Debian package ``chromium``): console errors, the rendered table, a
screenshot, and a standard-library PNG reader to tell that the screenshot is not blank.

Console errors are captured from inside the page: a probe script is put first in a copy of the page; it records
uncaught errors, ``console.error`` calls and Content-Security-Policy violations, drives the host table (next
page, sort by kills) and writes what it saw into attributes of ``<html>``, which ``--dump-dom`` returns.
Chromium's own stderr is kept as a second channel.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) { errors.push("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) { errors.push("rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) { errors.push("csp: " + e.blockedURI); });
  var original = console.error;
  console.error = function () { errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments); };
  window.addEventListener("load", function () {
    var root = document.documentElement;
    var rows = function () { return document.querySelectorAll("#host-rows tr").length; };
    var info = function () { return (document.getElementById("page-info") || {}).textContent || ""; };
    try {
      root.setAttribute("data-rows", rows());
      root.setAttribute("data-page", info());
      root.setAttribute("data-row-cells", JSON.stringify(Array.prototype.map.call(
        document.querySelectorAll("#host-rows tr"), function (tr) {
          return Array.prototype.map.call(tr.cells, function (td) { return td.textContent; }); })));
      var next = document.getElementById("next");
      if (next) { next.click(); }
      root.setAttribute("data-page-after-next", info());
      var kills = document.querySelector("th[data-key=kills]");
      if (kills) { kills.click(); }
      var first = document.querySelector("#host-rows tr td");
      root.setAttribute("data-first-after-sort", first ? first.textContent : "");
      root.setAttribute("data-dom-nodes", document.getElementsByTagName("*").length);
    } catch (e) { errors.push("probe: " + e); }
    root.setAttribute("data-errors", JSON.stringify(errors));
  });
}());
</script>"""


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args, timeout):
    with tempfile.TemporaryDirectory(prefix="oomguard-chromium-") as profile:
        started = time.perf_counter()
        completed = subprocess.run(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return completed, time.perf_counter() - started


class PageCheck:
    """What the probe saw: ``errors``, ``rows`` in the table and their ``row_cells``, page texts, ``dom_nodes``,
    ``stderr`` console lines."""

    def __init__(self, attributes, console_lines, seconds):
        self.errors = json.loads(attributes.get("data-errors", '["the probe did not run"]'))
        self.rows = int(attributes.get("data-rows", "-1"))
        self.page = attributes.get("data-page", "")
        self.page_after_next = attributes.get("data-page-after-next", "")
        self.first_after_sort = attributes.get("data-first-after-sort", "")
        self.dom_nodes = int(attributes.get("data-dom-nodes", "-1"))
        # the cells of each row of the host table's first page, as shown before any click
        self.row_cells = json.loads(attributes.get("data-row-cells", "[]"))
        self.console_lines = console_lines
        self.seconds = seconds


def check_page(html_path, timeout=120):
    """Load a probed copy of ``html_path`` and return a PageCheck."""
    html_path = Path(html_path)
    page = html_path.read_text(encoding="utf-8")
    probed = html_path.with_name(html_path.stem + ".probe.html")
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    try:
        completed, seconds = _run(
            ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], timeout
        )
    finally:
        probed.unlink()
    match = re.search(r"<html([^>]*)>", completed.stdout)
    attributes = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', match.group(1))) if match else {}
    attributes = {key: value.replace("&quot;", '"').replace("&amp;", "&") for key, value in attributes.items()}
    console = [line for line in completed.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return PageCheck(attributes, console, seconds)


def screenshot(html_path, png_path, width=1400, height=2000, timeout=120):
    """Take a screenshot of the page; returns the seconds Chromium took."""
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    completed, seconds = _run(
        [f"--window-size={width},{height}", f"--screenshot={png_path}", Path(html_path).resolve().as_uri()], timeout
    )
    if not png_path.exists():
        raise RuntimeError(f"chromium wrote no screenshot: {completed.stderr[-2000:]}")
    return seconds


def read_png(path):
    """(width, height, rows of RGB(A) pixel tuples) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    offset, idat, header = 8, [], None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        offset += 12 + length
    width, height, depth, color, _compression, _filter, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, color type {color}, interlace {interlace})")
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - upper_left
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                line[i] = (line[i] + predictor) & 0xFF
        rows.append([tuple(line[x : x + channels]) for x in range(0, stride, channels)])
        previous = line
    return width, height, rows


def blankness(path):
    """(distinct colours, share of the most common colour) over the whole screenshot."""
    _width, _height, rows = read_png(path)
    counts = {}
    for row in rows:
        for pixel in row:
            counts[pixel] = counts.get(pixel, 0) + 1
    total = sum(counts.values())
    return len(counts), max(counts.values()) / float(total)
