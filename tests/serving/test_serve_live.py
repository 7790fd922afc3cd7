"""A real uvicorn server: shutting down finishes the request in flight, and the page works in a
headless browser (Chromium driven by Playwright)."""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
import time

import httpx
import pytest
from net_support import live_server
from serving_support import CountingBundle, encode

from practica.serving import ServeSettings, create_app

CHROMIUM = "/usr/bin/chromium"


def test_shutdown_finishes_the_request_in_flight(cnn, digit_images):
    slow = CountingBundle(cnn, delay=1.0)
    answer = {}
    with live_server(create_app(slow, ServeSettings())) as (server, url):
        def post():
            answer["response"] = httpx.post(f"{url}/v1/predict",
                                            json={"inputs": [{"pixels": digit_images[0].tolist()}]}, timeout=10)

        client = threading.Thread(target=post)
        client.start()
        assert slow.running.wait(5), "the request never reached the model"
        server.should_exit = True  # what SIGTERM does
    client.join(10)
    assert answer["response"].status_code == 200
    assert answer["response"].json()["predictions"][0]["label"] in cnn.classes


def test_a_client_that_leaves_mid_body_is_counted_as_gone_not_as_a_server_error(cnn, caplog):
    caplog.set_level(logging.INFO, logger="practica.serving")
    with live_server(create_app(cnn, ServeSettings())) as (_, url):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n" + b'{"inputs": [{"pixels": [0, 0, 0')
            time.sleep(0.2)  # the request is being read
        for _ in range(100):  # the server notices the closed connection
            metrics = httpx.get(f"{url}/metrics").text
            if 'route="/v1/predict"' in metrics:
                break
            time.sleep(0.05)
        head = httpx.head(f"{url}/v1/health")
    assert 'practica_http_requests_total{route="/v1/predict",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "client closed the connection" in caplog.text
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}; install it with: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def test_page_shows_the_predictions_the_api_gives(cnn, digit_images, tmp_path, browser):
    png = tmp_path / "digit.png"
    png.write_bytes(encode(digit_images[0]))
    with live_server(create_app(cnn, ServeSettings())) as (_, url):
        expected = httpx.post(f"{url}/v1/predict",
                              json={"inputs": [{"image": base64.b64encode(png.read_bytes()).decode()}]})
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        page.wait_for_selector("#card dl")
        page.set_input_files("#file", str(png))
        page.wait_for_selector("#bars .bar")
        labels = page.locator("#bars .label").all_inner_texts()
        percents = page.locator("#bars .pct").all_inner_texts()
        card_text = page.inner_text("#card")
        version = page.inner_text("#version")
        page.screenshot(path="/tmp/serve_page.png", full_page=True)
        page.close()
    top = expected.json()["predictions"][0]["top_k"]
    assert labels == [t["label"] for t in top]
    assert percents[0] == f"{100 * top[0]['probability']:.1f}%"
    assert version == cnn.version and "validation accuracy" in card_text
    assert cnn.card["selection"]["reason"] in card_text
    assert all(r.startswith(url) for r in requests)  # nothing fetched from anywhere else


def test_page_asks_for_the_api_key(cnn, digit_images, tmp_path, browser):
    png = tmp_path / "digit.png"
    png.write_bytes(encode(digit_images[1]))
    with live_server(create_app(cnn, ServeSettings(api_key="s3cret"))) as (_, url):
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#key-box:not([hidden])")
        page.fill("#key", "s3cret")
        page.click("#key-form button")
        page.wait_for_selector("#card dl")
        page.set_input_files("#file", str(png))
        page.wait_for_selector("#bars .bar")
        assert page.is_hidden("#key-box") and page.is_hidden("#error")
        page.close()
