"""An alert hub for tests: a real HTTP server on 127.0.0.1 (http.server in a thread) serving Atom and
RSS feeds and CAP documents, counting what is fetched, failing a path on request."""

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] += 1
                status, media_type, body = server.routes.get(path, (404, "text/plain", b"not here"))
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, media_type: str = "application/cap+xml", status: int = 200) -> str:
        self.routes[path] = (status, media_type, body)
        return self.url(path)

    def fail(self, path: str, status: int = 500) -> None:
        _, media_type, body = self.routes[path]
        self.routes[path] = (status, media_type, body)

    def heal(self, path: str) -> None:
        _, media_type, body = self.routes[path]
        self.routes[path] = (200, media_type, body)

    def start(self) -> "FeedServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def atom(*entries: tuple[str, str | None, bytes | None]) -> bytes:
    """An Atom feed of (id, link, inline alert) entries, newest first as hubs list them."""
    items = []
    for entry_id, link, inline in entries:
        href = f'<link rel="alternate" type="application/cap+xml" href={quoteattr(link)}/>' if link else ""
        alert = inline.decode().split("?>", 1)[-1] if inline else ""  # without its XML declaration
        content = f'<content type="text/xml">{alert}</content>' if inline else ""
        items.append(f"<entry><id>{escape(entry_id)}</id><title>预警</title>{href}{content}</entry>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>urn:test:hub</id><title>预警信息</title>{''.join(items)}</feed>"
    ).encode()


def rss(*items: tuple[str, str]) -> bytes:
    """An RSS 2.0 feed of (guid, link) items; links may be relative to the feed."""
    body = "".join(
        f"<item><title>预警</title><link>{escape(link)}</link><guid>{escape(guid)}</guid></item>"
        for guid, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>hub</title>{body}</channel></rss>'.encode()
