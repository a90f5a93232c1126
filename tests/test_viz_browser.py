"""The interactive page in a real browser: headless Chromium, driven by playwright, loads the
file from disk with the network off and no request leaving the page; a click collapses a
module box, a hover shows the statistics, the search finds a parameter, the colour switch
repaints, and a screenshot is not blank."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import autotensor as at
import nn

CHROMIUM = os.environ.get("AUTOTENSOR_CHROMIUM", "/usr/bin/chromium")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright (the browser driver) is not installed"
)
pytestmark = [
    pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed"),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (Debian: chromium)"
    ),
]
pytest.importorskip("graphviz", reason="the graphviz Python package is not installed")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.encoder(x).relu())


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    at.manual_seed(0)
    model = Net()
    with at.viz.trace(module=model):
        loss = model(at.randn(4, 5)).pow(2).mean()
    loss.backward()
    text = at.viz.html(loss, module=model, show_values=True, show_grads=True)
    path = tmp_path_factory.mktemp("page") / "net.html"
    path.write_text(text, encoding="utf-8")
    return path, model


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_page_offline_collapse_hover_search_colours_screenshot(page_file, browser, tmp_path):
    path, model = page_file
    ctx = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
    requests: list[str] = []

    def route(r):
        requests.append(r.request.url)
        if r.request.url == path.as_uri():
            r.continue_()
        else:
            r.abort()

    ctx.route("**/*", route)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("body[data-ready='1']", timeout=5000)
    assert requests == [path.as_uri()]  # the file itself and nothing else

    # collapse the encoder box: its nodes leave the DOM; a second click brings them back
    n0 = pg.locator("g.node").count()
    cid = pg.evaluate(
        "[...document.querySelectorAll('g.cluster')].find(c => "
        "c.querySelector('text').textContent.startsWith('encoder')).id"
    )
    pg.click(f"#{cid} > text", force=True)
    n1 = pg.locator("g.node").count()
    assert n1 < n0
    assert "click to open" in pg.text_content(f"#{cid} > text")
    pg.click(f"#{cid} > text", force=True)
    assert pg.locator("g.node").count() == n0

    # hover a parameter: the tooltip shows its full statistics
    w = model.encoder[0].weight
    leaf = pg.evaluate(
        "(() => { const D = JSON.parse(document.getElementById('viz-data').textContent);"
        " return Object.keys(D.units).find(k => D.units[k].title === 'encoder.0.weight'); })()"
    )
    pg.hover(f"#{leaf}")
    tip = pg.inner_text("#tip")
    assert "encoder.0.weight  (parameter)" in tip
    assert "(8, 5) float32" in tip
    assert f"|grad| {at.viz.fmt(float(np.linalg.norm(w.grad.numpy())))}" in tip
    assert f"mean {at.viz.fmt(float(w.detach().numpy().astype(np.float64).mean()))}" in tip
    # an op: bytes saved for backward and the line of code that created it
    op = pg.evaluate(
        "(() => { const D = JSON.parse(document.getElementById('viz-data').textContent);"
        " return Object.keys(D.units).find(k => D.units[k].title.startsWith('Tanh')); })()"
    )
    pg.hover(f"#{op}")
    tip = pg.inner_text("#tip")
    assert "saved for backward:" in tip
    assert "test_viz_browser.py" not in tip or "created at:" in tip
    assert "created at:" in tip and "forward" in tip  # Net.forward made the Tanh's input

    # search: a parameter by name is highlighted, and only it
    pg.fill("#search", "head.weight")
    assert pg.inner_text("#count") == "1 match"
    hits = pg.evaluate("[...document.querySelectorAll('g.node.hit')].map(e => e.id)")
    assert len(hits) == 1
    assert pg.evaluate(f"document.getElementById('{hits[0]}').textContent").count("head.weight")

    # colour switch: the relative scale repaints nodes and swaps the legend
    before = pg.evaluate(
        f"document.querySelector('#{leaf}').querySelector('polygon, path').getAttribute('fill')"
    )
    pg.check("input[value=relative]")
    assert pg.evaluate("document.body.dataset.scale") == "relative"
    assert pg.is_visible("#legend-relative") and not pg.is_visible("#legend-absolute")
    fills = pg.evaluate(
        "[...document.querySelectorAll('g.node')].map(g => "
        "g.querySelector('polygon, path').getAttribute('fill'))"
    )
    after = pg.evaluate(
        f"document.querySelector('#{leaf}').querySelector('polygon, path').getAttribute('fill')"
    )
    data = pg.evaluate("JSON.parse(document.getElementById('viz-data').textContent).paint")
    assert after == data["relative"][leaf][0] and before == data["absolute"][leaf][0]
    assert len(set(fills)) > 2

    shot = tmp_path / "page.png"
    pg.screenshot(path=str(shot), full_page=True)
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    img = mpimg.imread(str(shot))
    assert img.shape[0] > 200 and img.shape[1] > 200
    assert float(img[..., :3].var()) > 1e-3  # not a blank page
    assert not errors
    ctx.close()
