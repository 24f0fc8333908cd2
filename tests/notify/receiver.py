"""A gateway for tests: a real HTTP server on 127.0.0.1 (uvicorn in a thread) that records what the
webhook provider posts, checks its signatures, and fails or goes away on request; and what the
gateway tests share (its secret, signed callbacks, the messages of a warning)."""

import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from httpx import AsyncClient
from sqlalchemy import select

from app.db import session_scope
from app.models.notify import Message
from app.notify import webhook
from tests.ports import free_port, serve_in_thread, stop_serving

SECRET = "gateway-secret"


async def signed_post(client: AsyncClient, path: str, document: Any, **headers: str) -> Any:
    """A callback signed as a gateway signs it, with SECRET."""
    body = orjson.dumps(document)
    return await client.post(path, content=body, headers={**webhook.signed_headers(SECRET, body), **headers})


async def messages_of(warning_id: str) -> list[Message]:
    async with session_scope() as session:
        query = select(Message).where(Message.warning_id == warning_id).order_by(Message.id)
        return list(await session.scalars(query))


@dataclass
class Receiver:
    secret: str
    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)  # every message, batches flattened
    bodies: list[Any] = field(default_factory=list)  # every request body as posted
    bad_signatures: int = 0
    fail_next: int = 0  # answer this many requests with 500
    # What to answer for a message, by a substring of its phone number: (status, error).
    answers: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/messages"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/messages")
        async def messages(request: Request) -> Response:
            body = await request.body()
            headers = request.headers
            if not webhook.verify(
                self.secret, headers.get("x-jiaoying-timestamp"), headers.get("x-jiaoying-signature"), body
            ):
                self.bad_signatures += 1
                return Response(status_code=401)
            if self.fail_next > 0:
                self.fail_next -= 1
                return Response("overloaded", status_code=500)
            document = orjson.loads(body)
            self.bodies.append(document)
            batch = document.get("messages", [document])
            results = []
            for message in batch:
                status, error = next(
                    (answer for digits, answer in self.answers.items() if digits in message["to"]), ("accepted", None)
                )
                results.append({"message_id": message["message_id"], "status": status, "error": error})
                if status == "accepted":
                    self.received.append(message)
            return Response(orjson.dumps({"results": results}), media_type="application/json")

        return app

    def start(self) -> "Receiver":
        self.server, self.thread = serve_in_thread(self.app(), self.port, "the test gateway")
        return self

    def stop(self) -> None:
        """Go away: connections are refused until start() is called again (same port)."""
        stop_serving(self.server, self.thread)
        self.server = self.thread = None

    def ids(self) -> list[str]:
        return [message["message_id"] for message in self.received]
