"""The HTTP API a web shop calls: the app's answers as JSON, over the same artifacts (api/store.py).

    create_app(store, keys, origins) -> a FastAPI app; `python -m api` serves it with uvicorn.

Every /v1 route needs `Authorization: Bearer <key>` when keys are configured (401 without a
valid one, 403 without the scope, 429 past the key's rate). Answers are JSON only: nothing a
caller sent is put into HTML. Unknown ids and data sets are 404, bad input 422, each with the
app's one-line message in `detail`.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

import settings
from api.keys import Key, Keys
from api.store import Store
from common.errors import ArtifactError, InputError

MAX_K = 100
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


def create_app(store: Store, keys: Keys, origins: list[str] | None = None, *, warm: tuple[str, ...] = ()) -> FastAPI:
    """The API over `store`; `warm` kinds are loaded in the background at start (readyz waits for them)."""
    app = FastAPI(title="Vitrine API", version="1",
                  description="Recommendations and visual search for a shop's pages, from Vitrine's artifacts.")
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    state: dict[str, Any] = {"ready": not warm, "error": None}

    def warm_up() -> None:
        try:
            for kind in warm:
                store.get(kind)
            state["ready"] = True
        except Exception as exc:  # noqa: BLE001 - readyz reports it
            state["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]

    if warm:
        threading.Thread(target=warm_up, name="vitrine-api-warm", daemon=True).start()

    def caller(scope: str):
        def check(request: Request) -> Key | None:
            if not keys.required:
                return None
            header = request.headers.get("authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else None
            key = keys.check(token)
            if key is None:
                raise HTTPException(401, "A valid API key is needed: Authorization: Bearer <key> "
                                         "(make one with python -m api add-key).", {"WWW-Authenticate": "Bearer"})
            if not key.allows(scope):
                raise HTTPException(403, f"Key {key.name!r} has scope {key.scope!r}; this needs {scope!r}.")
            wait = keys.take(key)
            if wait > 0:
                raise HTTPException(429, f"Key {key.name!r} is past its rate of {key.rate:g} requests per second.",
                                    {"Retry-After": str(max(1, round(wait)))})
            return key
        return check

    read, admin = Depends(caller("read")), Depends(caller("admin"))

    def get(kind: str, dataset: str | None):
        try:
            return store.get(kind, dataset)
        except LookupError as exc:
            raise HTTPException(404, str(exc).strip("'\"")) from None
        except ArtifactError as exc:
            raise HTTPException(503, str(exc).splitlines()[0]) from None

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
        """The artifacts are loaded and the image model is warm (503 until then)."""
        body = {"ready": state["ready"], "loaded": store.loaded()}
        if state["error"]:
            body["error"] = state["error"]
        return JSONResponse(body, status_code=200 if state["ready"] else 503)

    @app.get("/v1/next-to", tags=["basket rules"])
    async def next_to(item: str = Query(..., description="the item, as the lookup is keyed (names may hold '/')"),
                      dataset: str | None = None, _: Key | None = read):
        """The items to show next to `item`: its own rules, topped up with best sellers; an item
        the baskets never held gets the default list (`default: true`), as the lookup table does."""
        rules = await quick("rules", dataset)
        shown = _served(rules, _next_to_table).get(item)
        if shown:
            return {"item": item, "recommendations": shown, "default": False}
        return {"item": item, "recommendations": list(rules.default_recommendation), "default": True}

    @app.get("/v1/similar-products", tags=["similar products"])
    async def similar_products(id: str, k: int = Query(5, ge=1, le=MAX_K), dataset: str | None = None,
                               _: Key | None = read):
        """The k products bought with product `id`, best first (EASE's lists by default, or the
        similarity the data set was built with)."""
        names, lists = _served(await quick("products", dataset), _similar_table)
        if id not in names:
            raise HTTPException(404, f"unknown product id {id!r}")
        return {"id": id, "name": names[id], "similar": lists.get(id, [])[:k]}

    @app.get("/v1/customers/similar", tags=["similar customers"])
    def customers_similar(id: str, k: int = Query(10, ge=1, le=MAX_K), dataset: str | None = None,
                          _: Key | None = read):
        """The k customers who buy most like customer `id` (cosine), with the products they share."""
        from recommend.similar_customers.model import answer

        near, _recs = answer(get("customers", dataset).result, id, k)
        return {"id": id, "similar": [{"id": r.neighbour, "similarity": _number(r.similarity),
                                       "shared_items": int(r.shared_items)} for r in near.itertuples()]}

    @app.get("/v1/customers/recommendations", tags=["similar customers"])
    def customers_recommendations(id: str, k: int = Query(10, ge=1, le=MAX_K), dataset: str | None = None,
                                  _: Key | None = read):
        """What to recommend to customer `id`, best first; `reason` is the app's sentence and
        `because` what it comes from (`because_of`): the customer's own products that add most to
        it (EASE, the default), or the nearest customers who bought it (user-user)."""
        from recommend.similar_customers.model import answer

        customers = get("customers", dataset)
        near, recs = answer(customers.result, id)
        neighbours = near["neighbour"].tolist()
        out = []
        for r in recs.head(k).itertuples():
            if r.because:
                because, of = list(r.because), "products"
            else:
                because, of = [n for n in neighbours if r.item in customers.bought.get(n, ())], "customers"
            out.append({"id": r.item, "name": r.name if isinstance(r.name, str) else None, "score": _number(r.score),
                        "reason": r.why, "because": because, "because_of": of})
        return {"id": id, "recommendations": out}

    @app.get("/v1/similar-items", tags=["similar items"])
    def similar_items(id: str, k: int = Query(10, ge=1, le=MAX_K), dataset: str | None = None,
                      _: Key | None = read):
        """The k items (movies, or any rated items) rated most alike item `id`."""
        from recommend.similar_movies.model import answer

        result = get("items", dataset)
        ids = result.movies["movieId"]
        item: Any = id
        if ids.dtype.kind in "iu":
            if not id.isdigit():
                raise HTTPException(404, f"unknown item id {id!r}")
            item = int(id)
        rows = answer(result, item, k)
        return {"id": id, "similar": [
            {"id": str(r.similar_movieId), "title": r.title, "similarity": _number(r.similarity),
             "ratings": int(r.n_ratings), "mean_rating": _number(r.mean_rating)} for r in rows.itertuples()]}

    @app.post("/v1/visual-search", tags=["visual search"])
    async def visual_search(image: UploadFile = File(..., description="a photo: JPEG, PNG, WebP, HEIC, AVIF..."),
                            k: int = Form(settings.TOP_K, ge=1, le=MAX_K), dataset: str | None = Form(None),
                            gender: list[str] | None = Form(None), masterCategory: list[str] | None = Form(None),
                            articleType: list[str] | None = Form(None), category: list[str] | None = Form(None),
                            _: Key | None = read):
        """The k catalogue products most like the photo, with their scores; the app's image checks
        (a file that is not a usable picture is 422 with the app's message)."""
        from embed import index as visual_index

        engine = get("visual", dataset)
        data = await image.read(settings.MAX_IMAGE_BYTES + 1)
        filters = {"gender": gender, "masterCategory": masterCategory, "articleType": articleType,
                   "category": category}
        active = {name: values for name, values in filters.items() if values and name in engine.index.items}
        mask = visual_index.filter_mask(engine.index.items, **active) if active else None
        try:
            hits = engine.search(data, k, mask=mask)
        except InputError as exc:
            raise HTTPException(422, str(exc).splitlines()[0]) from None
        columns = [c for c in hits.columns if c not in ("rank", "id", "score", "file", "sha256", "etag", "last_modified")]
        return {"results": [{"id": str(row["id"]), "score": _number(row["score"]),
                             **{c: _plain(row[c]) for c in columns}} for _, row in hits.iterrows()]}

    @app.post("/v1/admin/reload", tags=["ops"])
    def reload(_: Key | None = admin):
        """Load every artifact again (a rebuild is also picked up by itself within the poll interval)."""
        return {"reloaded": store.reload()}

    return app
