"""Put Debian's Chromium where Playwright looks for its own, for the PDF export of written answers.

nbconvert's WebPDF exporter (which otter's HTML exporter uses) starts "Playwright's Chromium" and has no setting
for another browser; Playwright's download is out of these machines' reach. Playwright finds a browser by its
revision's folder under ``PLAYWRIGHT_BROWSERS_PATH`` (default ``~/.cache/ms-playwright``): linking Debian's
binary into those folders is what ``playwright install chromium`` would have put there. Gradescope's image gets
Playwright's own Chromium from otter's setup.sh.

Usage: ``python -m instructor.playwright_chromium /usr/bin/chromium``
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import playwright

# The executable's place inside each revision's folder, as Playwright 1.5x lays out its Linux downloads.
LAYOUT = {
    "chromium": "chrome-linux64/chrome",
    "chromium-headless-shell": "chrome-headless-shell-linux64/chrome-headless-shell",
}


def browsers_dir() -> pathlib.Path:
    """Where Playwright looks for its browsers."""
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    return pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "ms-playwright"


def link(chromium: pathlib.Path) -> list[pathlib.Path]:
    """Link ``chromium`` as each Chromium build this Playwright expects; return the links."""
    manifest = pathlib.Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    made = []
    for browser in json.loads(manifest.read_text())["browsers"]:
        inside = LAYOUT.get(browser["name"])
        if inside is None:
            continue
        folder = browser["name"].replace("-", "_") + "-" + browser["revision"]
        target = browsers_dir() / folder / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(chromium)
        made.append(target)
    return made


if __name__ == "__main__":
    for path in link(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/chromium")):
        print(f"[install] {path} -> Debian's chromium")
