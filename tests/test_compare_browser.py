"""The compare page in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium), network switched off, page opened from disk."""

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import torch

from landscape.compare import POINTS_CSS as POINTS
from landscape.compare import browser, click_point, open_page, screenshot
from landscape.io import checkpoint
from landscape.model.agent import Agent

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
HOSTILE = "<img src=x onerror=window.pwned=1>"


def toy_ckpt(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    agent = Agent.new("ToyTarget-v0", 2, 1, hidden=(8,), algo=("spo", "arpo", "barpo")[seed])
    with torch.no_grad():
        agent.actor.net[-1].weight.mul_(100.0)
    agent.obs_norm.count, agent.obs_norm.frozen = 1.0, True
    checkpoint.save(agent, path)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from landscape.compare import main

    d = tmp_path_factory.mktemp("compare")
    # hostile names and metadata (issue 12): every one must show as text, none may run (window.pwned stays unset)
    names = (f"{HOSTILE}spo", "__DATA__arpo", "__PLOTLY__barpo")
    ckpts = [toy_ckpt(d / f"{n}.pt", i) for i, n in enumerate(names)]
    raw = checkpoint.load_raw(ckpts[1])
    raw["algo"] = "<script>window.pwned=2</script><img src=x onerror=window.pwned=3>"
    torch.save(raw, ckpts[1])
    a = checkpoint.load(ckpts[0])
    theta = (a.space.flatten(a.actor) * 0.9).tolist()
    report = {
        "schema": "landscape.points/1",
        "points": [
            {
                "id": "F1",
                "label": "a FOSP from the finder",
                "theta": theta,
                "kind": "<b onmouseover=window.pwned=5>f</b>",
                HOSTILE: "</script><script>window.pwned=4</script> __DATA__ \u2028",
                "sticky": {"spo": {"fall_back": 0.1, "restarts": 10}, "arpo": {"fall_back": 0.7, "restarts": 10}},
            },
            {
                "id": "x",
                "of": "B",
                "curvature": {"spo": {"top": [3.5, 1.0]}, "arpo": {"top": [-0.25]}},
                "note": HOSTILE,
            },
        ],
    }
    (d / "report.json").write_text(json.dumps(report))
    out = d / "compare.html"
    main(
        [
            *map(str, ckpts),
            "--out",
            str(out),
            "--resolution",
            "5",
            "--episodes",
            "1",
            "--grad-episodes",
            "3",
            "--reports",
            str(d / "report.json"),
        ]
    )
    return out


def test_page_is_self_contained(page):
    html = page.read_text()
    assert not re.findall(r"<script[^>]*\bsrc=|<link[^>]*\bhref=", html)  # nothing loaded from elsewhere
    assert "Plotly" in html and len(html) > 3_000_000  # the plotly bundle is inline


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")
def test_page_in_headless_chromium_offline(page, tmp_path):
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By

    driver = browser(tempfile.mkdtemp(dir=tmp_path))
    try:
        open_page(driver, page)
        # plots rendered: a WebGL canvas in each 3D plot, SVG contour + point markers in the map
        for plot in ("surf-natural", "surf-adversarial"):
            assert driver.execute_script(
                f"const c = document.querySelector('#{plot} .gl-container canvas');"
                "return !!c && !!(c.getContext('webgl') || c.getContext('webgl2'));"
            )
        assert driver.find_elements(By.CSS_SELECTOR, "#map svg .contourlayer path")
        markers = driver.find_elements(By.CSS_SELECTOR, POINTS)
        assert len(markers) == 4  # A, B, C and the reported FOSP F1
        # every computed cell drawn with its one verdict (stationary / not / unresolved), in the legend
        drawn = driver.execute_script(
            "return Object.fromEntries(document.getElementById('map').data"
            ".filter(t => t.showlegend).map(t => [t.name, t.x.length]))"
        )
        cells = driver.execute_script(
            "return Object.fromEntries(Object.entries(D.verdicts.spo).map(([k, v]) => [k, v.x.length]))"
        )
        done = driver.execute_script("return D.grids.grad_natural.flat().filter(v => v !== null).length")
        assert (
            drawn == cells
            and set(drawn) == {"stationary", "not stationary", "unresolved"}
            and sum(drawn.values()) == done
        )

        # a click on a stationary point fills the details panel with its numbers
        data = driver.execute_script("return D.points")
        order = driver.execute_script("return D.points.filter(p => p.coords).map(p => D.points.indexOf(p))")
        click_point(driver, order.index(1))
        details = driver.find_element(By.ID, "details").text
        assert details.startswith("B:") and "arpo.pt" in details
        assert f"{data[1]['natural'][0]:.4g}"[:5] in details and "3.5" in details  # return and curvature report
        click_point(driver, order.index(3))
        assert (
            "F1" in driver.find_element(By.ID, "details").text and "0.1" in driver.find_element(By.ID, "details").text
        )

        # the objective toggle switches the map, the colouring and the per-objective columns
        driver.find_element(By.ID, "obj-arpo").click()
        assert "on" in driver.find_element(By.ID, "obj-arpo").get_attribute("class")
        assert driver.execute_script("return document.getElementById('map').data[0].z") == driver.execute_script(
            "return D.grids.adversarial"
        )
        assert "0.7" in driver.find_element(By.ID, "details").text  # F1's ARPO-objective stickiness

        # sortable table: the natural-return column, ascending then descending
        header = [h for h in driver.find_elements(By.CSS_SELECTOR, "#points th") if h.text.startswith("natural")][0]
        header.click()
        ids = [
            r.find_elements(By.TAG_NAME, "td")[0].text
            for r in driver.find_elements(By.CSS_SELECTOR, "#points tbody tr")
        ]
        assert ids == [p["id"] for p in sorted(data, key=lambda p: p["natural"][0])]
        [h for h in driver.find_elements(By.CSS_SELECTOR, "#points th") if h.text.startswith("natural")][0].click()
        ids2 = [
            r.find_elements(By.TAG_NAME, "td")[0].text
            for r in driver.find_elements(By.CSS_SELECTOR, "#points tbody tr")
        ]
        assert ids2 == ids[::-1]

        # linked 3D cameras: rotating the natural surface rotates the adversarial one
        driver.execute_script("Plotly.relayout('surf-natural', {'scene.camera': {eye: {x: 0.3, y: 2.0, z: 0.4}}})")
        time.sleep(0.5)
        eye = driver.execute_script("return document.getElementById('surf-adversarial').layout.scene.camera.eye")
        assert eye == pytest.approx({"x": 0.3, "y": 2.0, "z": 0.4})

        # linked hover: hovering a cell of one plot marks the same cell in the others
        x, y = driver.execute_script("return [D.x[1], D.y[3]]")
        driver.execute_script(
            f"document.getElementById('surf-adversarial').emit('plotly_hover', {{points: [{{x: {x}, y: {y}}}]}})"
        )
        time.sleep(0.3)
        nat = driver.execute_script(
            "const t = document.getElementById('surf-natural').data[2]; return [t.x[0], t.y[0], t.z[0]]"
        )
        assert nat == pytest.approx([x, y, driver.execute_script("return D.grids.natural[3][1]")])
        assert driver.execute_script("return document.getElementById('map').data[2].x[0]") == pytest.approx(x)

        # hostile names and metadata: shown as text everywhere, no script ran, no element was injected
        driver.execute_script("""for (let i = 0; i < D.points.length; i++) showDetails(i);
          document.querySelectorAll('#details *, #points td').forEach(
            el => el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})));""")
        time.sleep(0.3)  # a failed <img> fires onerror asynchronously
        assert driver.execute_script("return window.pwned") is None
        assert not driver.find_elements(By.CSS_SELECTOR, "body img, #details script, #points script")
        assert "__DATA__arpo vs __PLOTLY__barpo" in driver.find_element(By.TAG_NAME, "h1").text
        assert HOSTILE in driver.find_element(By.TAG_NAME, "h1").text
        assert "<script>window.pwned=2</script>" in driver.find_element(By.ID, "points").text
        driver.save_screenshot(str(tmp_path / "compare.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        sent = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        urls = [m["params"]["request"]["url"] for m in sent if m["method"] == "Network.requestWillBeSent"]
        assert page.resolve().as_uri() in urls
        assert not [u for u in urls if u.split(":", 1)[0] in ("http", "https", "ws", "wss")], urls
    finally:
        driver.quit()


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")
def test_screenshot(page, tmp_path):
    pytest.importorskip("selenium")
    png = screenshot(page, tmp_path / "shot.png", point=1, objective="arpo")
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20_000
