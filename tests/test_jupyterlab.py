"""Chapter notebooks in a real JupyterLab with jupyterlab-myst: MyST renders, {eval} shows live values.

Starts JupyterLab on loopback, opens chapter 1 in headless Chromium, runs all cells and reads the rendered
markdown; then looks at chapter 1's three-plane viewer (``ipyniivue``) in the output: a canvas that draws the
case, with the tumour overlay in red. Marked ``browser``: run by CI, skipped outside CI when no browser can be
had. ``COURSE_SCREENSHOTS=DIR`` keeps a screenshot of the viewer there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/part1_imaging/01_mri_volumes.ipynb"
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    settings = tmp_path_factory.mktemp("lab-settings")
    user_settings = {  # render every cell (no windowing), and no news pop-up over the page
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for plugin, values in user_settings.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    workdir = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(ROOT / "notebooks", workdir / "notebooks")
    shutil.copytree(ROOT / "course_utils", workdir / "course_utils")  # for the dropdowns' literalinclude paths
    port = _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "COURSE_STATIC_FIGURES": "0"}
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={workdir}",
         f"--LabApp.user_settings_dir={settings}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def _canvas_pixels(png: bytes) -> tuple[int, int, int, int]:
    """Return width, height, the pixels brighter than black and the red ones of a PNG screenshot."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    lit = int(((r + g + b) > 30).sum())
    red = int(((r > g + 60) & (r > b + 60)).sum())
    return rgb.shape[1], rgb.shape[0], lit, red


def test_chapter_one_renders_myst_and_live_values(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{lab}/lab/tree/{NOTEBOOK}")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-MarkdownCell"))
    time.sleep(2)
    browser.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']").click()
    browser.find_element(By.XPATH, "//div[contains(@class,'lm-Menu-itemLabel') and text()='Run All Cells']").click()

    def finished(d):
        prompts = d.execute_script(
            "return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(p => p.innerText)")
        return prompts and all(p.strip() not in ("[ ]:", "[*]:") for p in prompts)

    WebDriverWait(browser, 240, poll_frequency=2).until(finished)
    time.sleep(3)
    text = browser.execute_script("return document.querySelector('.jp-Notebook').innerText")
    assert "Error" not in text.split("Exercises")[0], "a cell raised"
    for raw in ("{eval}", "{glue", "{dropdown}", "{admonition}", "```"):
        assert raw not in text.replace("\u200b", ""), f"MyST shown raw: {raw}"
    assert "squashed by a factor of 2.5" in text  # {eval} resolved in the live kernel
    assert "Not for clinical use" in text and "Solution" in text
    assert "not attempted yet" in text

    # The three-plane viewer (ipyniivue) drew the case and its tumour in the notebook's output.
    from selenium.webdriver.common.action_chains import ActionChains

    def viewer_canvas(d):
        found = d.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output canvas")
        return found[0] if found else False

    canvas = WebDriverWait(browser, 60).until(viewer_canvas)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    time.sleep(3)  # NiiVue loads the volumes asynchronously
    first = canvas.screenshot_as_png
    if os.environ.get("COURSE_SCREENSHOTS"):
        folder = Path(os.environ["COURSE_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "jupyterlab_ch01_viewer.png").write_bytes(first)
    w, h, lit, red = _canvas_pixels(first)
    assert w > 100 and h > 100 and lit > 0.05 * w * h and red > 50, (w, h, lit, red)
    # a click in the first (axial) panel moves the crosshair there, and the other two planes follow it
    ActionChains(browser).move_to_element_with_offset(canvas, -w // 2 + w // 12, -h // 8).click().perform()
    time.sleep(1)
    assert canvas.screenshot_as_png != first, "clicking in the viewer changed no pixel"
