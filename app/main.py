"""The application: routers, error handlers, and the lifespan of shared resources."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import db, logs, ops, wiring
from app.ack.batcher import AckBatcher
from app.ack.router import router as ack_router
from app.audit.router import router as audit_router
from app.auth.router import router as keys_router
from app.broadcast.router import receipts_router as broadcast_receipts_router
from app.broadcast.router import router as loudspeakers_router
from app.call import tokens
from app.call.router import router as calls_router
from app.cap.router import CAP_PATH
from app.cap.router import router as cap_router
from app.config import Settings, get_settings
from app.contact.router import router as contacts_router
from app.department.router import router as departments_router
from app.duty.router import department_router as department_duty_router
from app.duty.router import router as duty_router
from app.errors import document_problems, install_error_handlers
from app.hazard.form_router import router as report_form_router
from app.hazard.link_router import router as hazard_link_router
from app.hazard.router import contact_router as contact_report_link_router
from app.hazard.router import router as hazards_router
from app.notify import gateway, providers
from app.notify.aliyun_router import router as aliyun_router
from app.notify.providers import make_dispatcher
from app.notify.router import gateway_router, kannel_router, warning_actions
from app.notify.router import router as dev_router
from app.policy.router import router as policies_router
from app.region.router import router as regions_router
from app.report.router import router as reports_router
from app.scheduler import Heartbeat
from app.warning.router import router as warnings_router
from app.web.router import router as console_router

log = logging.getLogger("jiaoying")


# Routes are matched in order, one by one: the address thousands press at once comes first.
ROUTERS = (
    ack_router,
    ops.router,
    keys_router,
    regions_router,
    contacts_router,
    policies_router,
    departments_router,
    loudspeakers_router,
    broadcast_receipts_router,
    duty_router,
    department_duty_router,
    hazards_router,
    hazard_link_router,
    report_form_router,
    contact_report_link_router,
    cap_router,  # before warnings_router, whose /{warning_id} paths would take /cap
    warnings_router,
    warning_actions,
    calls_router,
    dev_router,
    gateway_router,
    kannel_router,
    aliyun_router,
    audit_router,
    reports_router,
    console_router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for the given settings (the environment's by default)."""
    settings = settings or get_settings()
    providers.make_providers(settings)  # a provider setting that cannot work stops the start, with its reason
    database = wiring.configure(settings)
    app = FastAPI(
        title="Jiaoying 叫应",
        summary="Early-warning dispatch: 预警 → 叫应 → 反馈, with a tamper-evident record.",
        version="0.1.0",
        lifespan=_lifespan,
    )
    app.state.settings, app.state.database = settings, database
    install_error_handlers(app)
    document_problems(app)
    app.add_middleware(
        ops.RequestGuard,
        max_json_bytes=settings.max_json_bytes,
        max_import_bytes=settings.max_import_bytes,
        body_timeout_s=settings.body_timeout_s,
        import_timeout_s=settings.import_body_timeout_s,
        limits={CAP_PATH: settings.cap_max_bytes},
    )
    app.state.heartbeat = None
    app.state.ack_batcher = AckBatcher()
    app.state.receipts = gateway.receipt_groups()
    for router in ROUTERS:
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start: the key checked, the heartbeat started where the settings say; stop: all closed."""
    settings: Settings = app.state.settings
    database: db.Database = app.state.database
    logs.configure()
    tokens.check_secret()
    log.info("jiaoying starting on %s", database.engine.url.render_as_string(hide_password=True))
    heartbeat = None
    if settings.scheduler == "on":
        dispatcher = make_dispatcher(settings)
        await dispatcher.start()
        heartbeat = Heartbeat(dispatcher, settings)
        heartbeat.start()
    app.state.heartbeat = heartbeat
    # What exists now (modules, routes, the engine) lives as long as the process: freezing it
    # keeps full garbage collections from walking it again while a fan-out builds its rows.
    gc.freeze()
    yield
    if heartbeat is not None:
        await heartbeat.shutdown()
        await heartbeat.dispatcher.close()
    await app.state.ack_batcher.close()
    await app.state.receipts.close()
    await database.engine.dispose()


app = create_app()
