"""``fashionret-search serve``: the service as a user starts it (the console script, from an empty directory),
then an API test with a real HTTP client, a bounded loopback load test, and the page in headless Chromium.

Artefacts (the page screenshot, the load report) go to ``$FASHIONRET_TEST_ARTEFACTS`` or
``<checkout>/logs/test_artefacts/``; the tests print where."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from fashionret.cli.search import main as search_main
from tests.serve.conftest import BIN

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def artefacts() -> Path:
    root = Path(
        os.environ.get("FASHIONRET_TEST_ARTEFACTS") or Path(__file__).resolve().parents[2] / "logs" / "test_artefacts"
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="module")
def catalogue(inshop_root, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    for p in sorted((inshop_root / "Img").rglob("*_1_front.jpg"))[:12]:  # folder per item, as a shop keeps them
        (folder / p.parent.name).mkdir()
        shutil.copy(p, folder / p.parent.name / p.name)
    return folder


def photos(catalogue: Path) -> list[Path]:
    return sorted(catalogue.rglob("*.jpg"))


@pytest.fixture(scope="module")
def served(trained_run, catalogue, tmp_path_factory):
    """``(base URL, index folder)`` of a running ``fashionret-search serve --index IDX --port 0``."""
    cwd = tmp_path_factory.mktemp("serve_cwd")
    idx = cwd / "catalogue.idx"
    assert search_main(["index", "--run", str(trained_run), "--images", str(catalogue), "--out", str(idx),
                        "--shard-size", "5", "--no-progress"]) == 0  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(cwd)}
    proc = subprocess.Popen(
        [str(BIN / "fashionret-search"), "serve", "--index", str(idx), "--port", "0"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines: list[str] = []
    log: list[str] = []
    for stream, sink in ((proc.stdout, lines), (proc.stderr, log)):
        threading.Thread(target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")), daemon=True).start()
    deadline = time.monotonic() + 240
    while not any("serving" in ln for ln in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"serve did not start: {''.join(log)[-3000:]}")
        time.sleep(0.2)
    line = next(ln for ln in lines if "serving" in ln)
    assert " at http://127.0.0.1:" in line, line  # localhost unless told otherwise
    url = line.split(" at ")[1].split()[0].rstrip("/")
    yield url, idx, log
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_api(served, catalogue):
    url, idx, log = served
    with httpx.Client(base_url=url, timeout=60) as c:
        health = c.get("/api/health").json()
        assert health["status"] == "ok" and health["items"] == 12 and health["model"] == "sn"
        assert health["backends"] == ["exact", "faiss"] and health["embedder"] in ("torch", "onnx")
        photo = photos(catalogue)[4]
        r = c.post("/api/search", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}, data={"k": "5"})
        assert r.status_code == 200, r.text
        res = r.json()
        assert len(res["results"]) == 5 and res["results"][0]["path"] == str(photo.resolve())
        assert res["results"][0]["item_id"] == photo.parent.name  # the item's folder names it
        assert res["results"][0]["score"] == pytest.approx(1.0, abs=1e-5)
        scores = [h["score"] for h in res["results"]]
        assert scores == sorted(scores, reverse=True)
        # an embedding: a stored gallery row finds its own item first, with both backends alike
        row = np.load(idx / "shard_00001.npy")[2]  # item 7
        lists = {}
        for backend in ("exact", "faiss"):
            r = c.post("/api/search", json={"embedding": row.tolist(), "k": 12, "backend": backend})
            assert r.status_code == 200, r.text
            lists[backend] = [h["item"] for h in r.json()["results"]]
        assert lists["exact"][0] == 7 and lists["exact"] == lists["faiss"] and sorted(lists["exact"]) == list(range(12))
        img = c.get(res["results"][1]["image_url"])
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert img.content == Path(res["results"][1]["path"]).read_bytes()
        # bad requests: a 4xx and one sentence
        bad = [
            (c.post("/api/search", files={"image": ("notes.txt", b"not an image", "text/plain")}), 400,
             "the upload 'notes.txt' is not a readable image (JPEG, PNG, ...)"),
            (c.post("/api/search", files={"image": ("empty.jpg", b"", "image/jpeg")}), 400,
             "the upload 'empty.jpg' is empty: send an image file (JPEG, PNG, ...)"),
            (c.post("/api/search", json={"embedding": [0.1] * 3}), 422,
             "embedding must be a list of 16 finite numbers, got 3 values"),
            (c.post("/api/search", json={"embedding": row.tolist(), "k": 0}), 422,
             "k must be an integer from 1 to 100, got 0"),
            (c.post("/api/search", json={"embedding": row.tolist(), "backend": "magic"}), 422,
             "backend must be one of exact, faiss, got 'magic'"),
            (c.post("/api/search", json={"k": 3}), 400,
             'send {"embedding": [floats], "k": 10} or {"item": N} as JSON, or an image as multipart field'),
            (c.post("/api/search", json={"item": 12}), 422, "item must be an item number from 0 to 11, got 12"),
            (c.post("/api/search", json={"item": 1, "offset": -1}), 422,
             "offset must be an integer from 0 to 900, got -1"),
            (c.get("/api/items/12/image"), 404, "item 12 is not in this index (12 items)"),
        ]  # fmt: skip
        for resp, status, detail in bad:
            assert (resp.status_code, resp.json()["detail"]) == (status, detail)
        # "more like this" and paging: item 7's own vector, then the next page continues the same list
        first = c.post("/api/search", json={"item": 7, "k": 4}).json()
        second = c.post("/api/search", json={"item": 7, "k": 4, "offset": 4}).json()
        assert [h["item"] for h in first["results"] + second["results"]] == lists["exact"][:8]
        assert [h["rank"] for h in second["results"]] == [5, 6, 7, 8] and second["more"]
    # one access-log line per request (method, path, status, time), bodies never logged
    deadline = time.monotonic() + 10
    while not any('"POST /api/search" 422' in ln for ln in log) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any('"GET /api/health" 200' in ln for ln in log), log[-5:]
    assert any('"POST /api/search" 422' in ln and " ms" in ln for ln in log), log[-5:]


def test_bounded_load_on_loopback(served, catalogue):
    """240 requests from 8 concurrent clients (embeddings and uploads): all answered, each the right list."""
    url, idx, _ = served
    rows = np.concatenate([np.load(p) for p in sorted(idx.glob("shard_*.npy"))])
    photo = photos(catalogue)[0]
    data = photo.read_bytes()

    local = threading.local()

    def one(i: int) -> tuple[float, bool]:
        if not hasattr(local, "client"):  # one keep-alive connection per client thread
            local.client = httpx.Client(base_url=url, timeout=120)
        c = local.client
        t0 = time.perf_counter()
        if i % 6 == 5:
            r = c.post("/api/search", files={"image": (photo.name, data, "image/jpeg")}, data={"k": "10"})
            ok = r.status_code == 200 and r.json()["results"][0]["path"] == str(photo.resolve())
        else:
            r = c.post("/api/search", json={"embedding": rows[i % 12].tolist(), "k": 10})
            ok = r.status_code == 200 and r.json()["results"][0]["item"] == i % 12
        return time.perf_counter() - t0, ok

    n, workers = 240, 8
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        out = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat = np.array([t for t, _ in out]) * 1000
    assert all(ok for _, ok in out)
    report = (
        f"fashionret-search serve, loopback load: {n} requests ({n // 6} image uploads, {n - n // 6} embeddings), "
        f"{workers} concurrent clients, 12-item index: {n / wall:.1f} requests/s, latency p50 "
        f"{np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms (load average "
        f"{os.getloadavg()[0]:.1f})"
    )
    (artefacts() / "search_service_load.txt").write_text(report + "\n")
    print("\n" + report + f"\nreport: {artefacts() / 'search_service_load.txt'}")


@pytest.mark.slow
def test_page_in_headless_chromium(served, catalogue):
    """A person's path: open the page, pick a photo, see the top-k grid with the photo's own item first."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()) and not os.environ.get("FASHIONRET_REQUIRE_BROWSER"):
        pytest.skip("no /usr/bin/chromium + chromedriver (apt-get install chromium chromium-driver; .ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _, log = served
    profile = artefacts() / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1200,900"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's script errors, read at the end
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=opts)
    try:
        gone = photos(catalogue)[-1]
        gone.unlink()  # the catalogue lost a photo since indexing (no later test of this module uses it)
        driver.get(url + "/")
        WebDriverWait(driver, 30).until(lambda d: "12 items" in d.find_element(By.ID, "about").text)
        photo = photos(catalogue)[3]
        driver.find_element(By.ID, "k").clear()
        driver.find_element(By.ID, "k").send_keys("6")
        driver.find_element(By.ID, "file").send_keys(str(photo))
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .hit")) == 6)
        hits = driver.find_elements(By.CSS_SELECTOR, "#grid .hit")
        assert [h.get_attribute("data-rank") for h in hits] == ["1", "2", "3", "4", "5", "6"]
        assert hits[0].get_attribute("data-path") == str(photo.resolve())
        assert "#1 cosine 1.0000" in hits[0].text
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script(
                "return [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"
            )
        )
        assert "top 6 (faiss search" in driver.find_element(By.ID, "status").text
        # each result names its item (its folder); a click searches again with that item
        names = [h.get_attribute("data-item-id") for h in hits]
        assert names[0] == photo.parent.name and all(n and n != "-" for n in names)
        assert hits[0].text.startswith(photo.parent.name)
        hits[2].click()
        WebDriverWait(driver, 60).until(lambda d: f"query: item {names[2]}" in d.find_element(By.ID, "query").text)
        WebDriverWait(driver, 60).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .hit")[0].get_attribute("data-item-id") == names[2]
        )
        # "more" continues the list; an image that cannot be served becomes a box saying so, never a broken image
        driver.find_element(By.ID, "more").click()
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .hit")) == 12)
        ranks = [h.get_attribute("data-rank") for h in driver.find_elements(By.CSS_SELECTOR, "#grid .hit")]
        assert ranks == [str(r) for r in range(1, 13)] and not driver.find_element(By.ID, "more").is_displayed()
        WebDriverWait(driver, 60).until(lambda d: "image unavailable" in d.find_element(By.ID, "grid").text)
        shot = artefacts() / "search_page.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"\nscreenshot of the search page: {shot}")
        # the photo deleted at the start is a grey box saying so; every other image is shown
        assert "image unavailable" in driver.find_element(By.ID, "grid").text
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script(
                "return [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"
            )
        )
        assert any('"GET /api/items/' in ln and '/image" 404' in ln for ln in log)
        errors = [e for e in driver.get_log("browser") if e["source"] == "javascript"]
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header declares ``width`` x ``height`` (the pixels are never there)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def test_hostile_requests_get_a_4xx_sentence(served):
    """A ~150-megapixel PNG of a few hundred bytes (under PIL's bomb limit), deep JSON, a huge integer: each one
    4xx sentence from the running service, which then still answers."""
    url, idx, _ = served
    row = np.load(idx / "shard_00000.npy")[0].tolist()
    with httpx.Client(base_url=url, timeout=60) as c:
        bomb = _png_declaring(12_000, 12_500)
        assert len(bomb) < 1000
        cases = [
            (c.post("/api/search", files={"image": ("big.png", bomb, "image/png")}), 413,
             "the upload 'big.png' declares 12000x12500 pixels (150 megapixels), more than the service's limit of "
             "40 megapixels: send a smaller image"),
            (c.post("/api/search", content=b"[" * 100_000 + b"]" * 100_000,
                    headers={"content-type": "application/json"}), 400,
             "the JSON body is nested 100000 levels deep, more than 16: send JSON or an image as a multipart upload"),
            (c.post("/api/search", content=b'{"embedding": [1], "k": 1' + b"0" * 5000 + b"}",
                    headers={"content-type": "application/json"}), 400,
             "the JSON body holds an integer of 5001 digits, more than 32: send JSON or an image as a multipart "
             "upload"),
            (c.post("/api/search", content=b'{"embedding": [1e999, 2]}', headers={"content-type": "application/json"}),
             422, "embedding must be a list of 16 finite numbers, got 2 values"),
            (c.post("/api/search", content=b'{"embedding": ', headers={"content-type": "application/json"}), 400,
             "the body is not valid JSON (Expecting value at line 1, column 15): send JSON or an image as a "
             "multipart upload"),
        ]  # fmt: skip
        for resp, status, detail in cases:
            assert (resp.status_code, resp.json()["detail"]) == (status, detail)
        ok = c.post("/api/search", json={"embedding": row, "k": 3})
        assert ok.status_code == 200 and ok.json()["results"][0]["item"] == 0


def test_concurrent_embeddings_are_bounded(served, catalogue):
    """16 uploads at once: never more than MAX_CONCURRENT_EMBEDDINGS embeddings in flight, every one answered."""
    from fashionret.serve.safety import MAX_CONCURRENT_EMBEDDINGS
    from fashionret.serve.service import SearchService

    _, idx, _ = served
    service = SearchService(idx, model=False)
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    class Counting:  # stands in for the run's embedder: counts how many embed at once
        engine = "torch"

        def embed_images(self, images, attr):
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            return torch.zeros(1, service.dim)

    import torch

    service.embedder = Counting()
    photo = photos(catalogue)[0].read_bytes()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: service.search_image(photo, "p.jpg", 3, "exact", None), range(16)))
    assert len(answers) == 16 and all(len(a["results"]) == 3 for a in answers)
    assert state["most"] == MAX_CONCURRENT_EMBEDDINGS
