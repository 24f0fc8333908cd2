"""What every process does first with its settings (create_app, the worker, the command line): the
database, the county's message catalogs and the links' key are configured from them, and the
engine's listeners are registered on the layers below it: a person leaving the roster has their
open calls cancelled (contact.hooks), and answers to and cancellations of calls about hazard
reports move the reports on (call.hooks). See docs/ARCHITECTURE.md: a layer below takes what it
needs from above as a callback, registered here."""

from app import db, i18n
from app.call import service as call_service
from app.call import tokens
from app.config import Settings
from app.contact import hooks as contact_hooks
from app.hazard import listeners as hazard_listeners


def register() -> None:
    """The engine's listeners on the layers below (the heartbeat registers them too)."""
    contact_hooks.on_leave(call_service.cancel_open_calls_of)
    hazard_listeners.register()


def configure(settings: Settings) -> db.Database:
    """The process's database, catalogs and links' key from its settings, and the listeners."""
    database = db.configure(settings.database_url, timeout_s=settings.db_timeout_s)
    i18n.configure(settings.catalog_dir)
    tokens.configure(settings)
    register()
    return database
