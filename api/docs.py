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

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs-static"
ASSETS_PACKAGE = ("fastapi_offline", "static")
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

    def asset(request: Request, name: str) -> str:
        # Behind a proxy that serves the API under a prefix, every URL carries it (root_path).
        return f"{request.scope.get('root_path', '')}{STATIC_URL}/{name}"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return same_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url(request),
                title=f"{app.title} - Swagger UI",
                swagger_js_url=asset(request, "swagger-ui-bundle.js"),
                swagger_css_url=asset(request, "swagger-ui.css"),
                swagger_favicon_url=asset(request, "favicon.png"),
                swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS},
            )
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return same_origin_only(
            get_redoc_html(
                openapi_url=openapi_url(request),
                title=f"{app.title} - ReDoc",
                redoc_js_url=asset(request, "redoc.standalone.js"),
                redoc_favicon_url=asset(request, "favicon.png"),
                with_google_fonts=False,
            )
        )


def same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
