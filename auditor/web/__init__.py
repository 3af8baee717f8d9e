"""The local web app: annotation campaigns, browse, dashboard (``auditor serve``).

Starlette on uvicorn: Starlette is a small ASGI toolkit (what FastAPI is built on) whose plain request/response
routes, middleware and test client are all this app needs; server-rendered jinja2 pages (already a dependency for
the reports) keep the pages usable without JavaScript and the JSON API is a handful of routes, so FastAPI's
pydantic request models would add import time and nothing we use.
"""

from __future__ import annotations

__all__ = ["create_app", "serve", "LOOPBACK"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(store, **kwargs):
    from ._app import create_app as _create

    return _create(store, **kwargs)


def serve(store, *, host: str = "127.0.0.1", port: int = 8765, n_boot: int = 1000, on_ready=None) -> None:
    """Serve the app on ``host:port`` until interrupted. Bound to loopback, only loopback Host headers are
    accepted (a DNS-rebinding page cannot reach the app)."""
    import uvicorn

    from ._security import configure_logging

    allowed = ["127.0.0.1", "localhost", "[::1]", "::1"] if host in LOOPBACK else None
    app = create_app(store, allowed_hosts=allowed, n_boot=n_boot)
    configure_logging()
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets=None):
            await original(sockets=sockets)
            if server.started:
                on_ready()

        server.startup = startup
    server.run()
