"""The application: routers, error handlers, and the lifespan of shared resources."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import db, ops
from app.auth.router import router as keys_router
from app.config import Settings, get_settings
from app.contact.router import router as contacts_router
from app.errors import install_error_handlers
from app.region.router import router as regions_router

log = logging.getLogger("jiaoying")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for the given settings (the environment's by default)."""
    settings = settings or get_settings()
    database = db.configure(settings.database_url, timeout_s=settings.db_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("jiaoying starting on %s", database.engine.url.render_as_string(hide_password=True))
        yield
        await database.engine.dispose()

    app = FastAPI(
        title="Jiaoying 叫应",
        summary="Early-warning dispatch: 预警 → 叫应 → 反馈, with a tamper-evident record.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(
        ops.RequestGuard, max_json_bytes=settings.max_json_bytes, max_import_bytes=settings.max_import_bytes
    )
    for router in (ops.router, keys_router, regions_router, contacts_router):
        app.include_router(router)
    return app


app = create_app()
