"""The HTTP API a web shop calls: the app's answers as JSON, over the same artifacts (api/store.py).

    create_app(store, keys, origins) -> a FastAPI app; `python -m api` serves it with uvicorn.

It starts closed: every /v1 route needs `Authorization: Bearer <key>` (401 without a valid one,
also when no key exists yet; 403 without the scope or for a data set the key is not given; 429
past the key's rate), checked by `Guard` before any body is read, and bodies past their limit are
refused (413) from Content-Length or while they stream. `no_auth` (python -m api --no-auth, on
loopback only) lets this machine in without a key, never a request that came through a proxy.
Answers are JSON only: nothing a caller sent is put into HTML. Unknown ids and data sets are 404,
bad input 422, each with the app's one-line message in `detail`. CPU work (decoding a photo, the
model, loading an artifact) runs in worker threads, never on the event loop.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

import settings
from api import metrics
from api.keys import Key, Keys
from api.store import Store, default
from common.errors import ArtifactError, InputError
from common.netguard import is_loopback
from common.redact import redact, redacted_logging
from embed.batcher import Busy
from shop.demos import DEFAULTS

MAX_K = 100
MAX_BODY = 64 * 1024  # bytes of any request but a photo upload
MAX_UPLOAD_BODY = settings.MAX_IMAGE_BYTES + 256 * 1024  # the photo and its form fields
UPLOADS = ("/v1/visual-search",)
FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")
SERVE_ENV = "VITRINE_API_SERVE"  # python -m api --workers N: the settings each worker builds its app from
log = logging.getLogger("vitrine.api")
VISUAL_FILTERS = ("gender", "masterCategory", "articleType", "category")


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN is no number in JSON


_SERVED: dict[int, tuple] = {}  # id(result) -> (weak reference to it, what it answers from)


def _served(result, make):
    """What a loaded result answers from, made once per result (a reload brings a new result and
    so a new one; the old one's goes with it): lookups by id in dicts, not a pandas filter per
    request (4 ms -> microseconds, bench/api_load.py). Results are dataclasses (unhashable), so
    they are keyed by id and checked by a weak reference."""
    found = _SERVED.get(id(result))
    if found is not None and found[0]() is result:
        return found[1]
    made = make(result)
    key = id(result)
    _SERVED[key] = (weakref.ref(result, lambda _ref, key=key: _SERVED.pop(key, None)), made)
    return made


def _next_to_table(rules) -> dict[str, list[str]]:
    return rules.lookup_json()["recommendations"]


def _similar_table(result) -> tuple[dict, dict]:
    names = {str(k): (v if isinstance(v, str) else None) for k, v in result.products.set_index("item")["name"].items()}
    table = result.neighbours.sort_values(["item", "rank"], kind="stable")
    lists = {}
    for item, similar, score, count in zip(table["item"], table["similar_item"], table["score"], table["co_count"]):
        lists.setdefault(str(item), []).append({"id": str(similar), "name": names.get(str(similar)),
                                                "score": _number(score), "co_count": int(count)})
    return names, lists


def _plain(value):
    """A table cell as JSON has it: text as text, numbers as numbers, missing as null."""
    if isinstance(value, str) or value is None:
        return value
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


def forwarded(headers) -> bool:
    """The request came through a proxy (it says whom for): it is not this machine's own."""
    return any(name.lower() in FORWARDED for name, _ in headers)


class Guard:
    """ASGI middleware in front of every route: who calls (key, scope, rate) is decided from the
    headers, before the body is read, for every path but the `public` ones (health, readiness,
    docs when on), so a route added later is closed too; then the body is held to its limit
    (Content-Length, and counted while it streams). The key found is left in
    `scope["state"]["key"]` for the routes."""

    def __init__(self, app, keys: Keys, no_auth: bool = False, public: frozenset[str] = frozenset()):
        self.app, self.keys, self.no_auth, self.public = app, keys, no_auth, public

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"] not in self.public:  # no route takes one: closed
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path not in self.public:  # every other path, known or not, needs a key first
            refused = self._caller(scope)
            if refused is not None:
                return await refused(scope, receive, send)
        limit = MAX_UPLOAD_BODY if path in UPLOADS else MAX_BODY
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(limit)(scope, receive, send)
        seen, over = 0, False

        async def counted():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _BodyTooLarge()
            return message

        started = False

        async def guarded_send(message):
            nonlocal started
            if over and not started:  # whatever the route made of a cut body, the answer is 413
                started = True
                response = _too_large(limit)
                return await response(scope, _no_body, send)
            if over:
                return None
            if message["type"] == "http.response.start":
                started = True
            return await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(limit)(scope, _no_body, send)

    def _caller(self, scope):
        """None when the request may go on (its key in scope["state"]), else the refusal."""
        headers = scope["headers"]
        if self.no_auth:
            if forwarded(headers):
                return _refuse(403, "This API was started with --no-auth, which serves only this machine; "
                                    "this request came through a proxy. Serve it with keys (python -m api add-key).")
            if not is_loopback(dict(headers).get(b"host", b"").decode("latin-1")):  # DNS rebinding: a page
                # of another site, its name now pointing at 127.0.0.1, would read the data from a browser here
                return _refuse(403, "This API was started with --no-auth, which answers only requests addressed "
                                    "to localhost or 127.0.0.1. Serve it with keys (python -m api add-key).")
            scope.setdefault("state", {})["key"] = None
            return None
        header = dict(headers).get(b"authorization", b"").decode("latin-1")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        key = self.keys.check(token)
        if key is None:
            return _refuse(401, "A valid API key is needed: Authorization: Bearer <key> "
                                "(make one with python -m api add-key).", {"WWW-Authenticate": "Bearer"})
        path = scope["path"]  # /v1/admin, /v1/admin/..., /v1/admin-x and anything outside /v1/ are the admin's
        scope_needed = "read" if path.startswith("/v1/") and not path.startswith("/v1/admin") else "admin"
        if not key.allows(scope_needed):
            return _refuse(403, f"Key {key.name!r} has scope {key.scope!r}; this needs {scope_needed!r}.")
        wait = self.keys.take(key)
        if wait > 0:
            return _refuse(429, f"Key {key.name!r} is past its rate of {key.rate:g} requests per second.",
                           {"Retry-After": str(max(1, round(wait)))})
        scope.setdefault("state", {})["key"] = key
        return None


class _BodyTooLarge(Exception):
    pass


async def _no_body():
    return {"type": "http.disconnect"}


def _refuse(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _too_large(limit: int) -> JSONResponse:
    return _refuse(413, f"The request body is larger than {limit / 1024 ** 2:.2f} MB, this route's limit.",
                   {"Connection": "close"})


def _key(request: Request) -> Key | None:
    return request.scope.get("state", {}).get("key")


def _may_read(request: Request, kind: str, dataset: str | None) -> None:
    """403 unless the caller's key may read this data set (a key without `datasets` reads all)."""
    key = _key(request)
    name = dataset or default(kind)
    if key is not None and not key.reads(name):
        raise HTTPException(403, f"Key {key.name!r} may not read data set {name!r}.")


def create_app(store: Store, keys: Keys, origins: list[str] | None = None, *, warm: tuple[str, ...] = (),
               no_auth: bool = False, docs: bool = False) -> FastAPI:
    """The API over `store`; `warm` kinds are loaded in the background at start (readyz waits for
    them); `docs`: /docs and /openapi.json (off by default: a map of the API for anyone)."""
    redacted_logging("uvicorn", "uvicorn.error", "uvicorn.access")  # here, so each --workers process has it
    app = FastAPI(title="Vitrine API", version="1",
                  description="Recommendations and visual search for a shop's pages, from Vitrine's artifacts.",
                  docs_url="/docs" if docs else None, redoc_url=None, openapi_url="/openapi.json" if docs else None)
    public = {"/healthz", "/readyz"} | ({"/docs", "/openapi.json"} if docs else set())
    app.add_middleware(Guard, keys=keys, no_auth=no_auth, public=frozenset(public))
    if origins:  # outside the guard: it answers a browser's preflight, and a 401 carries its headers
        app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(metrics.Measured)  # outermost: the guard's refusals are counted too
    metrics.start()
    state: dict[str, Any] = {"ready": not warm, "error": None}

    def warm_up() -> None:
        try:
            for kind in warm:
                store.get(kind)
            state["ready"] = True
        except Exception as exc:  # noqa: BLE001 - the log and /v1/admin/status report it
            state["error"] = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])  # /v1/admin/status shows it
            log.error("Loading at start failed: %s", state["error"])

    if warm:
        threading.Thread(target=warm_up, name="vitrine-api-warm", daemon=True).start()

    def get(kind: str, dataset: str | None):
        try:
            return store.get(kind, dataset)
        except LookupError as exc:
            raise HTTPException(404, exc.args[0] if exc.args else str(exc)) from None
        except ArtifactError as exc:
            log.error("%s of %s cannot be served: %s", kind, dataset or default(kind), exc)
            raise HTTPException(503, f"The {kind} of data set {dataset or default(kind)!r} cannot be served now; "
                                     "an admin key sees why at /v1/admin/status.") from None

    async def quick(kind: str, dataset: str | None):
        """For the lookups that are served from the event loop: the loaded result straight away,
        or (first use, past the poll interval) loaded in a worker thread."""
        found = store.peek(kind, dataset)
        return found if found is not None else await run_in_threadpool(get, kind, dataset)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return JSONResponse({"detail": str(exc).splitlines()[0]}, status_code=404)

    @app.get("/healthz", tags=["ops"])
    def healthz():
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz():
        """The artifacts are loaded and the image model is warm (503 until then). What is loaded,
        and why something failed, is for admin keys: /v1/admin/status."""
        return JSONResponse({"ready": state["ready"]}, status_code=200 if state["ready"] else 503)

    @app.get("/v1/datasets", tags=["data sets"])
    def datasets(request: Request):
        """The data sets this key may read (the demo sets, then the shop's workspaces), each with
        the parts it has, as `?dataset=` takes them; the default of each endpoint is marked."""
        key = _key(request)
        defaults: dict[str, list[str]] = {}
        for part, name in DEFAULTS.items():
            defaults.setdefault(name, []).append(part)
        return {"datasets": [
            {"name": ds.name, "label": ds.label, "demo": ds.is_demo, "parts": list(ds.parts),
             "default_for": defaults.get(ds.name, [])}
            for ds in store.datasets() if key is None or key.reads(ds.name)]}

    @app.get("/v1/next-to", tags=["basket rules"])
    async def next_to(request: Request,
                      item: str = Query(..., description="the item, as the lookup is keyed (names may hold '/')"),
                      dataset: str | None = None):
        """The items to show next to `item`: its own rules, topped up with best sellers; an item
        the baskets never held gets the default list (`default: true`), as the lookup table does."""
        _may_read(request, "rules", dataset)
        rules = await quick("rules", dataset)
        shown = _served(rules, _next_to_table).get(item)
        if shown:
            return {"item": item, "recommendations": shown, "default": False}
        return {"item": item, "recommendations": list(rules.default_recommendation), "default": True}

    @app.get("/v1/similar-products", tags=["similar products"])
    async def similar_products(request: Request, id: str, k: int = Query(5, ge=1, le=MAX_K),
                               dataset: str | None = None):
        """The k products bought with product `id`, best first (EASE's lists by default, or the
        similarity the data set was built with)."""
        _may_read(request, "products", dataset)
        names, lists = _served(await quick("products", dataset), _similar_table)
        if id not in names:
            raise HTTPException(404, f"unknown product id {id!r}")
        return {"id": id, "name": names[id], "similar": lists.get(id, [])[:k]}

    @app.get("/v1/customers/similar", tags=["similar customers"])
    def customers_similar(request: Request, id: str, k: int = Query(10, ge=1, le=MAX_K),
                          dataset: str | None = None):
        """The k customers who buy most like customer `id` (cosine), with the products they share."""
        from recommend.similar_customers.model import neighbours

        _may_read(request, "customers", dataset)
        near = neighbours(get("customers", dataset).result, id, k)
        return {"id": id, "similar": [{"id": r.id, "similarity": _number(r.score),
                                       "shared_items": int(r.shared_items)} for r in near.itertuples()]}

    @app.get("/v1/customers/recommendations", tags=["similar customers"])
    def customers_recommendations(request: Request, id: str, k: int = Query(10, ge=1, le=MAX_K),
                                  dataset: str | None = None):
        """What to recommend to customer `id`, best first; `reason` is the app's sentence and
        `because` what it comes from (`because_of`): the customer's own products that add most to
        it (EASE, the default), or the nearest customers who bought it (user-user)."""
        from recommend.similar_customers.model import answer, neighbours

        _may_read(request, "customers", dataset)
        customers = get("customers", dataset)
        recs = answer(customers.result, id, k)
        near = None  # the neighbours, looked up only for a recommendation that comes from them (user-user)
        out = []
        for r in recs.itertuples():
            if r.because:
                because, of = list(r.because), "products"
            else:
                near = neighbours(customers.result, id)["id"].tolist() if near is None else near
                because, of = [n for n in near if r.id in customers.bought.get(n, ())], "customers"
            out.append({"id": r.id, "name": r.name if isinstance(r.name, str) else None, "score": _number(r.score),
                        "reason": r.why, "because": because, "because_of": of})
        return {"id": id, "recommendations": out}

    @app.get("/v1/similar-items", tags=["similar items"])
    def similar_items(request: Request, id: str, k: int = Query(10, ge=1, le=MAX_K), dataset: str | None = None):
        """The k items (movies, or any rated items) rated most alike item `id`."""
        from recommend.similar_movies.model import answer

        _may_read(request, "items", dataset)
        rows = answer(get("items", dataset), id, k)  # the recommender reads the id (InputError: 404)
        return {"id": id, "similar": [
            {"id": str(r.id), "title": r.title, "similarity": _number(r.score),
             "ratings": int(r.n_ratings), "mean_rating": _number(r.mean_rating)} for r in rows.itertuples()]}

    @app.post("/v1/visual-search", tags=["visual search"])
    async def visual_search(request: Request,
                            image: UploadFile = File(..., description="a photo: JPEG, PNG, WebP, HEIC, AVIF..."),
                            k: int = Form(settings.TOP_K, ge=1, le=MAX_K), dataset: str | None = Form(None),
                            gender: list[str] | None = Form(None), masterCategory: list[str] | None = Form(None),
                            articleType: list[str] | None = Form(None), category: list[str] | None = Form(None)):
        """The k catalogue products most like the photo, with their scores; the app's image checks
        (a file that is not a usable picture is 422 with the app's message)."""
        _may_read(request, "visual", dataset)
        visual = await quick("visual", dataset)
        filters = {"gender": gender, "masterCategory": masterCategory, "articleType": articleType,
                   "category": category}
        try:
            # a place among the searches in before any decoding: a crowd past it is refused at once, and
            # the waiting searches never hold all the worker threads the other routes need
            with visual.engine.batcher.slot():
                data = await image.read(settings.MAX_IMAGE_BYTES + 1)
                results = await run_in_threadpool(_visual_results, visual, data, k, filters)
        except InputError as exc:
            raise HTTPException(422, str(exc).splitlines()[0]) from None
        except Busy as exc:  # the image model's queue is full: come back, rather than wait in a pile
            metrics.REFUSED.inc()
            raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
        except TimeoutError as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
        return {"results": results}

    @app.post("/v1/admin/reload", tags=["ops"])
    def reload():
        """Load every artifact again (a rebuild is also picked up by itself within the poll
        interval); per artifact, what was reloaded and what failed (the old version serves on)."""
        return store.reload()

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def prometheus():
        """Prometheus's text format (api/metrics.py): an admin key, like every path outside /v1/."""
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/v1/admin/status", tags=["ops"])
    def status():
        """What is loaded (with each artifact's version) and what failed, with why; `worker`: the
        process that answered (with --workers N, each has its own)."""
        return {"ready": state["ready"], "start_error": state["error"], "worker": os.getpid(), **store.status()}

    return app


HIDDEN = ("rank", "id", "score", "file", "sha256", "etag", "last_modified")


def _visual_results(visual, data: bytes, k: int, filters: dict) -> list[dict]:
    """Decode, embed and search (in a worker thread: seconds of CPU for a large photo); for a
    shop's catalogue each result also says what is often bought with it and what its basket
    rules show next to it, as the app's Visual search does (shop/visual.py)."""
    from embed import index as visual_index
    from shop.visual import product_name

    engine, extra = visual.engine, visual.bought_with
    active = {name: values for name, values in filters.items() if values and name in engine.index.items}
    mask = visual_index.filter_mask(engine.index.items, **active) if active else None
    hits = engine.search(data, k, mask=mask)
    columns = [c for c in hits.columns if c not in HIDDEN]
    results = []
    for _, row in hits.iterrows():
        result = {"id": str(row["id"]), "score": _number(row["score"]), **{c: _plain(row[c]) for c in columns}}
        if extra is not None:
            result["bought_with"] = [{"id": i, "name": n} for i, n in extra.products(result["id"])]
            result["next_to"] = extra.next_to(result["id"], product_name(row, result["id"]))
        results.append(result)
    return results


def from_environment() -> FastAPI:
    """The app of one uvicorn worker (python -m api --workers N), from the settings the command
    put in $VITRINE_API_SERVE (paths and flags, never a key)."""
    from pathlib import Path

    from api.buckets import SharedBuckets
    from api.keys import KeyFile

    config = json.loads(os.environ[SERVE_ENV])
    store = Store(Path(config["artifacts"]), poll_seconds=config["poll_seconds"],
                  visual_batch_max=config["visual_batch_max"])
    keys = KeyFile(Path(config["keys_file"]), buckets=SharedBuckets(config["buckets"]))  # one rate for all workers
    return create_app(store, keys, config["origins"], warm=tuple(config["warm"]),
                      no_auth=config["no_auth"], docs=config["docs"])
