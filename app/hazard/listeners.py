"""What a report listens for in the engine below (app.call.hooks): answers to its calls move it
on, and calls cancelled because their person left the roster have it called anew. The app and the
worker register these once."""

from app.call import hooks
from app.hazard import answers, reroute


def register() -> None:
    hooks.on_answer(answers.on_answered)
    hooks.on_cancel(reroute.on_cancelled)
