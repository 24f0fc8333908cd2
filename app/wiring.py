"""The engine's listeners on the layers below it, registered once by every entry point (create_app,
the worker, the command line): a person leaving the roster has their open calls cancelled
(contact.hooks), and answers to and cancellations of calls about hazard reports move the reports
on (call.hooks). See docs/ARCHITECTURE.md: a layer below takes what it needs from above as a
callback, registered here."""

from app.call import service as call_service
from app.contact import hooks as contact_hooks
from app.hazard import listeners as hazard_listeners


def register() -> None:
    contact_hooks.on_leave(call_service.cancel_open_calls_of)
    hazard_listeners.register()
