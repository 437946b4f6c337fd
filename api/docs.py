"""``/docs`` (Swagger UI) and ``/redoc`` served from files installed with the API, never from a CDN.

FastAPI's own pages load Swagger UI and ReDoc from cdn.jsdelivr.net (and ReDoc its fonts from
Google): on a closed network they stay blank. This follows FastAPI's documented recipe
("Self-hosting JavaScript and CSS for docs"): the default pages are turned off (``docs_url=None,
redoc_url=None`` where the app is created), the assets are mounted, and FastAPI's own HTML
helpers render the two pages pointing at them. The assets are the ``static`` folder of the
``fastapi-offline`` package (Swagger UI's bundle and CSS, ReDoc's standalone bundle, a favicon),
so they are installed, pinned and licensed through ``uv.lock`` like any other dependency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs-static"
ASSETS_PACKAGE = ("fastapi_offline", "static")
# FastAPI's HTML helpers' arguments -> the package's files.
SWAGGER_ASSETS = {
    "swagger_js_url": "swagger-ui-bundle.js",
    "swagger_css_url": "swagger-ui.css",
    "swagger_favicon_url": "favicon.png",
}
REDOC_ASSETS = {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"}
# Swagger UI asks validator.swagger.io for a badge unless told not to.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# And the browser is told the pages load nothing from another origin: ReDoc's bundle still asks
# cdn.redoc.ly for its footer logo (and hides it when that fails), which this blocks outright.
# Inline script and styles are FastAPI's page and the two UIs' own; ReDoc searches in a blob: worker.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    )
)


def add_docs(app: FastAPI) -> None:
    """Mount the assets and add the two pages (the app must have been created without its own)."""
    app.mount(STATIC_URL, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-static")

    def page(
        request: Request,
        render: Callable[..., HTMLResponse],
        name: str,
        assets: dict[str, str],
        **options: Any,
    ) -> HTMLResponse:
        # Behind a proxy that serves the API under a prefix, every URL carries it (root_path).
        root = request.scope.get("root_path", "")
        urls = {argument: f"{root}{STATIC_URL}/{file}" for argument, file in assets.items()}
        response = render(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - {name}", **urls, **options
        )
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        parameters = {**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS}
        return page(
            request, get_swagger_ui_html, "Swagger UI", SWAGGER_ASSETS, swagger_ui_parameters=parameters
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(request, get_redoc_html, "ReDoc", REDOC_ASSETS, with_google_fonts=False)
