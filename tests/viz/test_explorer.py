"""The graph explorer (one self-contained HTML file): its data (values, adjoints, summaries),
that it loads nothing from the network, the CLI, and, in a real headless chromium driven by
Selenium, that folding a scope, hovering a node, searching and switching views change the page
without console errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphdl as gd
from graphdl.viz import dot as dotmod

pytestmark = pytest.mark.skipif(not dotmod.dot_available(), reason="Graphviz dot not installed")


def _approx(value):  # the page shows 6 significant digits
    return pytest.approx(value, rel=1e-5)


def _data(page: str) -> dict:
    raw = re.search(r'<script id="gd-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))


@pytest.fixture
def lecture():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    with gd.name_scope("body"):
        f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    return x1, x2, f


def test_page_is_self_contained_with_values_and_adjoints(lecture, tmp_path):
    x1, x2, f = lecture
    path = gd.render(f, tmp_path / "g.html", wrt=True, at={"x1": 2.0, x2: 5.0})
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1
    assert not re.search(r"\bsrc=|<link|https://|//cdn", page)  # nothing fetched
    data = _data(page)
    nodes = data["nodes"]
    assert nodes[f"n{f.id}"]["value"]["value"] == _approx(np.log(2) + 10 - np.sin(5))
    assert nodes[f"n{x1.id}"]["adjoint"]["value"] == _approx(5.5)  # 1/x1 + x2
    assert nodes[f"n{x2.id}"]["adjoint"]["value"] == _approx(2 - np.cos(5))
    assert nodes[f"n{f.id}"]["origin"].startswith("test_explorer.py:")
    assert nodes[f"n{f.id}"]["scope"] == "body" and nodes[f"n{f.id}"]["side"] == "forward"
    backward = [n for n in nodes.values() if n["side"] == "backward"]
    assert backward and all(n["scope"] in ("∂body", "") for n in backward)
    assert {"cluster_body", "cluster_back_body"} <= set(data["clusters"])


def test_array_values_are_summarized(tmp_path):
    X = gd.matrix("X", shape=(None, 3))
    W = gd.shared(np.arange(6.0).reshape(3, 2), name="W")
    cost = gd.sum(gd.tanh(X @ W))
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    page = gd.render(cost, tmp_path / "a.html", wrt=[W], at={"X": x}).read_text("utf-8")
    nodes = _data(page)["nodes"]
    hidden = np.tanh(x @ np.arange(6.0).reshape(3, 2))
    entry = next(n for n in nodes.values() if n["op"] == "tanh")["value"]
    assert entry["shape"] == [4, 2] and sum(entry["hist"]) == 8
    assert entry["min"] == _approx(hidden.min()) and entry["max"] == _approx(
        hidden.max())
    assert entry["mean"] == _approx(hidden.mean())
    assert entry["norm"] == _approx(np.linalg.norm(hidden))
    grad = nodes[f"n{W.id}"]["adjoint"]  # dW = Xᵀ (1 - tanh²)
    expected = x.T @ (1 - hidden ** 2)
    assert grad["shape"] == [3, 2] and grad["max"] == _approx(expected.max())


def test_bad_at_values_are_named(lecture, tmp_path):
    x1, _x2, f = lecture
    with pytest.raises(ValueError, match=r"'z'.*no input of the graph.*x1, x2"):
        gd.render(f, tmp_path / "g.html", at={"z": 1.0})
    X = gd.matrix("X", shape=(None, 3))
    with pytest.raises(ValueError, match=r"shape \(2, 2\), expected f64\[\?,3\]"):
        gd.render(gd.sum(X), tmp_path / "g.html", at={"X": np.ones((2, 2))})


def test_trace_rows_link_to_the_explorer_of_the_trace(lecture, tmp_path):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5}, mode="reverse")
    page = gd.render(t, tmp_path / "t.html").read_text("utf-8")
    nodes = _data(page)["nodes"]  # the trace's inputs give the values, its sweep the adjoints
    assert nodes[f"n{x1.id}"]["value"]["value"] == 2.0
    assert nodes[f"n{x1.id}"]["adjoint"]["value"] == _approx(5.5)
    tables = t.to_html(explorer="t.html")
    links = re.findall(r'<a href="t\.html#(n\d+)"', tables)
    assert len(links) == len(t.rows) and set(links) <= set(nodes)
    assert f"n{f.id}" in links and "<a " not in t.to_html()  # no links unless asked


def test_cli_writes_the_explorer(tmp_path):
    script = tmp_path / "model.py"
    script.write_text("import graphdl as gd\nx = gd.scalar('x')\nwith gd.name_scope('sq'):\n"
                      "    loss = x * x\noutputs = loss\n")
    out = tmp_path / "g.html"
    done = subprocess.run([sys.executable, "-m", "graphdl.cli.main", "render", str(script),
                           "-o", str(out), "--grad", "--at", "x=3"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    nodes = _data(out.read_text("utf-8"))["nodes"]
    assert [n["adjoint"]["value"] for n in nodes.values()
            if n["kind"] == "input" and "adjoint" in n] == [6.0]  # d(x²)/dx at 3
    done = subprocess.run([sys.executable, "-m", "graphdl.cli.main", "render", str(script),
                           "-o", str(out), "--at", "x"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2 and "NAME=VALUE" in done.stderr and "Traceback" not in done.stderr


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium and chromedriver are not installed "
                    "(apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def test_explorer_in_a_real_browser(lecture, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    x1, x2, f = lecture
    path = gd.render(f, tmp_path / "g.html", wrt=True, at={"x1": 2.0, "x2": 5.0})
    browser = _browser()
    try:
        browser.set_page_load_timeout(15)
        browser.get(path.resolve().as_uri())  # file://, no server, no network

        def hidden(ident: str) -> bool:
            g = browser.find_element(By.CSS_SELECTOR, f'g.node[data-gd="{ident}"]')
            return "gd-hidden" in g.get_attribute("class")

        member = f"n{f.id}"
        assert not hidden(member)
        # click the scope's frame: its nodes fold away, the label says so; again: back
        frame = browser.find_element(By.CSS_SELECTOR,
                                     'g.cluster[data-gd-scope="cluster_body"] > text')
        frame.click()
        assert hidden(member)
        assert "folded" in frame.text
        assert "1 folded" in browser.find_element(By.ID, "gd-status").text
        frame.click()
        assert not hidden(member)
        # hover a node: the panel shows its op, type, source line, value and adjoint
        node = browser.find_element(By.CSS_SELECTOR, f'g.node[data-gd="n{x1.id}"]')
        ActionChains(browser).move_to_element(node).perform()
        panel = browser.find_element(By.ID, "gd-info").text
        assert "op: input" in panel and "type: f64[]" in panel
        assert "value: 2" in panel and "adjoint: 5.5" in panel and "test_explorer.py:" in panel
        # search highlights the matching nodes
        browser.find_element(By.ID, "gd-search").send_keys("sin")
        hits = browser.find_elements(By.CSS_SELECTOR, "g.node.gd-hit")
        assert hits and "match" in browser.find_element(By.ID, "gd-status").text
        # primal only: every node of the backward sweep is hidden
        browser.find_element(By.CSS_SELECTOR, '#gd-view option[value="primal"]').click()
        backward = browser.execute_script(
            "const d = JSON.parse(document.getElementById('gd-data').textContent);"
            "return Object.keys(d.nodes).filter(k => d.nodes[k].side === 'backward');")
        assert backward and all(hidden(ident) for ident in backward)
        assert not hidden(member)
        # a trace row's link opens the page with its node selected and described
        browser.get(path.resolve().as_uri() + f"#n{x2.id}")
        assert "gd-selected" in browser.find_element(
            By.CSS_SELECTOR, f'g.node[data-gd="n{x2.id}"]').get_attribute("class")
        assert "name: x2" in browser.find_element(By.ID, "gd-info").text
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        browser.quit()
