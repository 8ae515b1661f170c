"""``fashionret-search serve``: an index and the run that made it as an HTTP service (FastAPI on uvicorn).

Endpoints (the model, the index and its faiss index are loaded once, at start):

* ``GET /api/health`` -- ``{"status": "ok", "items", "model", "similarity", "embedder", "backends"}``;
* ``POST /api/search`` -- either a multipart upload (field ``image``; optional form fields ``k``,
  ``backend``, ``attribute``) or a JSON body ``{"embedding": [D floats], "k", "backend", "attribute"}``;
  answers ``{"results": [{"rank", "item", "label", "path", "score", "image_url"}], "k", "backend",
  "similarity", "embedder"}`` (``score``: cosine similarity, or Euclidean distance for Euclidean runs);
* ``GET /api/items/{i}/image`` -- the gallery image of item ``i`` (only files the index lists are served);
* ``GET /`` -- the page: drop a photo (or pick one), see the top-k grid.

A bad request gets a 4xx status with ``{"detail": "<one sentence>"}``. Handlers are plain functions, which
FastAPI runs in its thread pool, so requests are served concurrently (the embedder and the memory-mapped index
are read-only). The service binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import io
import logging
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from fashionret.serve.backends import available
from fashionret.serve.backends import search as backend_search
from fashionret.serve.embed import read_rgb
from fashionret.serve.embedder import QueryEmbedder
from fashionret.serve.index import GalleryIndex, SearchIndexError, distances
from fashionret.serve.items import item_name
from fashionret.serve.page import PAGE
from fashionret.serve.run import load_run
from fashionret.serve.safety import EMBED_SLOTS, check_declared_pixels, parse_json_body, served_image
from fashionret.serve.vectors import is_vectors_index

MAX_UPLOAD_BYTES = 20 * 2**20
MAX_K = 100
#: seconds an upload waits for an embedding slot before a 503
EMBED_WAIT_S = 30
#: the deepest result a request may page to ("more" on the page: ``offset``)
MAX_OFFSET = 900
access_log = logging.getLogger("fashionret.access")


def _bounded_int(name: str, value: Any, default: int, lo: int, hi: int) -> int:
    """A request's integer field (a form sends strings), or a 422 with one sentence."""
    try:
        out = int(value if value not in (None, "") else default)
    except (TypeError, ValueError):
        raise HTTPException(422, f"{name} must be an integer from {lo} to {hi}, got {value!r}") from None
    if not lo <= out <= hi:
        raise HTTPException(422, f"{name} must be an integer from {lo} to {hi}, got {out}")
    return out


class SearchService:
    """What the app holds: the index (shards mapped once), the run's query embedder, the faiss index."""

    def __init__(self, index_dir: str | Path, embedder: str = "auto", run: str | None = None, model: bool = True):
        self.index = GalleryIndex.open(index_dir)
        self.index.require_complete()
        self.embedder: QueryEmbedder | None = None
        # model=False (benchmarks on vectors without a run), or an index of vectors: embeddings and items only
        if model and not is_vectors_index(self.index.meta):
            self.run = load_run(run or self.index.meta["embedder"]["checkpoint"], what="--run")
            self.index.check_embedder(self.run.describe())
            self.embedder = QueryEmbedder(self.run, embedder)
        for i in range(self.index.num_shards):  # map every shard now, not inside concurrent requests
            self.index.shard(i)
        self.backends = available(self.index)
        if "faiss" in self.backends:  # read now, not inside the first request
            from fashionret.serve.approx import load_approx

            load_approx(self.index)
        self.dim = int(self.index.shard(0).shape[-1])

    def health(self) -> dict[str, Any]:
        emb = self.index.meta["embedder"]
        return {
            "status": "ok",
            "items": self.index.live_count(),
            "model": emb["model"],
            "similarity": emb["similarity"],
            "embedder": self.embedder.engine if self.embedder else None,
            "backends": self.backends,
            "attribute_names": self.index.meta.get("attribute_names") or [],
            "attribute_conditioned": bool(emb.get("attribute_conditioned")),
        }

    def _offset(self, offset: Any) -> int:
        return _bounded_int("offset", offset, 0, 0, MAX_OFFSET)

    def _options(self, k: Any, backend: Any, attribute: Any) -> tuple[int, str, int | None]:
        k = _bounded_int("k", k, 10, 1, MAX_K)
        backend = backend or ("faiss" if "faiss" in self.backends else "exact")  # engine: only when asked
        if backend not in self.backends:
            raise HTTPException(422, f"backend must be one of {', '.join(self.backends)}, got {backend!r}")
        try:
            attr = self.index.attribute_id(attribute if attribute not in ("", None) else None)
        except SearchIndexError as err:
            raise HTTPException(422, str(err)) from None
        return k, backend, attr

    def search(self, q: torch.Tensor, k: int, backend: str, attr: int | None, offset: int = 0) -> dict[str, Any]:
        """Results ``offset + 1 .. offset + k`` (the page's "more" asks for the next ``k``)."""
        t0 = time.perf_counter()
        top, scores = backend_search(self.index, q, offset + k, attribute=attr, backend=backend)
        shown = distances(q, scores, self.index.similarity)
        results = []
        for r in range(offset, top.shape[1]):
            i = int(top[0, r])
            item = self.index.items[i]
            results.append(
                {
                    "rank": r + 1,
                    "item": i,
                    "item_id": item_name(item),
                    "label": item.get("label"),
                    "path": item.get("path"),
                    "score": float(shown[0, r]),
                    "image_url": f"/api/items/{i}/image" if item.get("path") else None,
                }
            )
        return {
            "results": results,
            "k": k,
            "offset": offset,
            "more": top.shape[1] == offset + k and offset + k <= MAX_OFFSET and offset + k < self.index.live_count(),
            "backend": backend,
            "similarity": self.index.similarity,
            "embedder": self.embedder.engine if self.embedder else None,
            "search_ms": round(1000 * (time.perf_counter() - t0), 3),
        }

    def search_image(
        self, data: bytes, name: str, k: Any, backend: Any, attribute: Any, offset: Any = 0
    ) -> dict[str, Any]:
        k, backend, attr = self._options(k, backend, attribute)
        offset = self._offset(offset)
        if self.embedder is None:
            raise HTTPException(422, "this service was started without a model: send an embedding")
        if not data:
            raise HTTPException(400, f"the upload {name!r} is empty: send an image file (JPEG, PNG, ...)")
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the upload {name!r} has {len(data)} bytes, more than {MAX_UPLOAD_BYTES}")
        try:
            check_declared_pixels(data, name)  # from the header, before any pixel is decoded
        except ValueError as err:
            raise HTTPException(413, str(err)) from None
        if not EMBED_SLOTS.acquire(timeout=EMBED_WAIT_S):  # at most MAX_CONCURRENT_EMBEDDINGS at once
            raise HTTPException(503, f"the service is busy embedding other uploads: try again in {EMBED_WAIT_S} s")
        try:
            try:
                image = read_rgb(io.BytesIO(data))
            except ValueError:
                raise HTTPException(400, f"the upload {name!r} is not a readable image (JPEG, PNG, ...)") from None
            q = self.embedder.embed_images([image], attr)
        finally:
            EMBED_SLOTS.release()
        if q.ndim == 3:  # attribute-conditioned model without an attribute
            raise HTTPException(422, "this index was made by an attribute-conditioned model: send attribute")
        return self.search(q, k, backend, attr, offset)

    def search_embedding(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or ("embedding" not in body and "item" not in body):
            raise HTTPException(
                400, 'send {"embedding": [floats], "k": 10} or {"item": N} as JSON, or an image as multipart field'
            )
        k, backend, attr = self._options(body.get("k"), body.get("backend"), body.get("attribute"))
        offset = self._offset(body.get("offset"))
        if "item" in body:  # "more like this": a gallery item's own stored vector
            return self.search(self._item_vector(body["item"], attr), k, backend, attr, offset)
        try:
            q = torch.tensor(np.asarray(body["embedding"], dtype=np.float32)).reshape(1, -1)
        except (TypeError, ValueError):
            raise HTTPException(422, f"embedding must be a list of {self.dim} numbers") from None
        if q.shape[1] != self.dim or not bool(torch.isfinite(q).all()):
            raise HTTPException(422, f"embedding must be a list of {self.dim} finite numbers, got {q.shape[1]} values")
        return self.search(q, k, backend, attr, offset)

    def _item_vector(self, item: Any, attr: int | None) -> torch.Tensor:
        n = len(self.index)
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < n:
            raise HTTPException(422, f"item must be an item number from 0 to {n - 1}, got {item!r}")
        removed = self.index.removed()
        if removed is not None and removed[item]:
            raise HTTPException(404, f"item {item} was removed from this index")
        size = self.index.shard_size
        row = torch.tensor(np.array(self.index.shard(item // size)[item % size]))
        return (row[attr] if attr is not None else row).reshape(1, -1)


def create_app(service: SearchService) -> FastAPI:
    app = FastAPI(title="fashionret search", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return service.health()

    @app.post("/api/search")
    async def search(request: Request):
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise HTTPException(400, "the form has no file field 'image': upload the photo as 'image'")
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            args = (data, upload.filename or "image", form.get("k"), form.get("backend"), form.get("attribute"))
            args += (form.get("offset"),)
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(service.search_image, *args)
        raw = await request.body()
        if len(raw) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the body has {len(raw)} bytes, more than {MAX_UPLOAD_BYTES}")
        try:
            body = parse_json_body(raw)
        except ValueError as err:
            raise HTTPException(400, f"{err}: send JSON or an image as a multipart upload") from None
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(service.search_embedding, body)

    @app.get("/api/items/{item}/image")
    def item_image(item: int):
        if not 0 <= item < len(service.index):
            raise HTTPException(404, f"item {item} is not in this index ({len(service.index)} items)")
        if not service.index.items[item].get("path"):
            raise HTTPException(404, f"item {item} has no image (its index was made from vectors)")
        try:
            path = served_image(service.index, item)  # a decodable image under the index's image root, only
        except LookupError as err:
            raise HTTPException(404, str(err)) from None
        return FileResponse(path)

    @app.middleware("http")
    async def log_request(request: Request, call_next):
        """One access-log line per request: client, method, path, status, milliseconds (never a body)."""
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            client = request.client.host if request.client else "-"
            ms = 1000 * (time.perf_counter() - t0)
            access_log.info('%s "%s %s" %d %.1f ms', client, request.method, request.url.path, status, ms)

    @app.exception_handler(HTTPException)
    async def one_sentence(request: Request, exc: HTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    return app


def serve(index_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, embedder: str = "auto", run=None) -> int:
    """Load once, bind, serve until stopped (Ctrl-C / SIGTERM)."""
    import uvicorn

    service = SearchService(index_dir, embedder=embedder, run=run)
    app = create_app(service)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    actual = sock.getsockname()[1]
    h = service.health()
    print(
        f"serving {service.index.root} ({h['items']} items, model={h['model']}, embedder {h['embedder']}, "
        f"backends {'/'.join(h['backends'])}) at http://{host}:{actual}/ -- Ctrl-C stops it",
        flush=True,
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    access_log.setLevel(logging.INFO)  # the service's own access log (uvicorn's is off: one line per request)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
