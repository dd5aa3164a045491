"""``GET /``: a small page drawing each target's actuals and forecast band (plain JS and SVG, no build step).

The files ship inside the package (``forecaster/api/static``) and are read once, on first request.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import HTMLResponse

__all__ = ["router"]

router = APIRouter(tags=["page"], include_in_schema=False)

_ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
# The page loads only its own files; the CSP makes a stray third-party script impossible.
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"


@lru_cache(maxsize=8)
def _asset(name: str) -> bytes:
    return resources.files("forecaster.api").joinpath("static", name).read_bytes()


@router.get("/", response_class=HTMLResponse)
def index() -> Response:
    return Response(
        _asset("index.html"), media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": _CSP}
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in _ASSETS:  # a fixed allow-list: no path from a request reaches the file system
        raise HTTPException(404, "no such file")
    return Response(_asset(name), media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=300"})
