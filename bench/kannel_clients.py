"""Which HTTP client to send SMS through Kannel with: Kannel takes one text per request, so the
provider keeps many requests in flight, and the client's own cost per request decides the rate.

    python bench/kannel_clients.py [--messages 3000] [--runs 3]

Starts Kannel (bearerbox, smsbox and fakesmsc as the SMSC, from Debian's packages) on loopback and
sends the same sendsms GETs (UTF-8 Chinese text, dlr-mask=31, a dlr-url) with httpx and, when it
is installed, aiohttp, at 8, 32 and 64 requests in flight. Prints requests/s taken by Kannel,
medians of several runs. Kannel and the client share the machine's two cores.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.notify.smsc import INSTALLED, Kannel

TEXT = "【叫应】暴雨橙色预警：艾维尔沟村，立即转移低洼地带人员。收到请点 https://jiaoying.example/ack/AbCdEfGhIjKlMnOpQrStUvWxYz01"


def query(kannel: Kannel, number: int) -> dict[str, str]:
    return {"username": "jiaoying", "password": "sendsms-password", "to": f"+86139{number:08d}", "text": TEXT,
            "charset": "UTF-8", "coding": "2", "dlr-mask": "31",
            "dlr-url": f"http://127.0.0.1:9/dlr?id=m{number}&type=%d"}  # fmt: skip


async def with_httpx(kannel: Kannel, count: int, in_flight: int) -> float:
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    gate = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(number: int) -> None:
            async with gate:
                response = await client.get(kannel.url, params=query(kannel, number))
                assert response.status_code == 202, response.text

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - started)


async def with_aiohttp(kannel: Kannel, count: int, in_flight: int) -> float:
    import aiohttp

    gate = asyncio.Semaphore(in_flight)
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(number: int) -> None:
            async with gate, session.get(f"{kannel.url}?{urlencode(query(kannel, number))}") as response:
                await response.read()
                assert response.status == 202

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not INSTALLED:
        raise SystemExit("needs Debian's kannel and kannel-extras")
    clients = {"httpx": with_httpx}
    try:
        import aiohttp  # noqa: F401

        clients["aiohttp"] = with_aiohttp
    except ImportError:
        print("aiohttp is not installed: httpx only")
    with tempfile.TemporaryDirectory() as folder:
        kannel = Kannel(Path(folder), callbacks="http://127.0.0.1:9/api/v1/providers/kannel/x").start()
        try:
            time.sleep(1)
            print(f"kannel clients: {args.messages:,} sendsms requests per run, medians of {args.runs} runs")
            for in_flight in (8, 32, 64):
                for name, run in clients.items():
                    rates = [asyncio.run(run(kannel, args.messages, in_flight)) for _ in range(args.runs)]
                    print(f"  {name:<8} {in_flight:>3} in flight: {statistics.median(rates):,.0f} requests/s "
                          f"(runs {', '.join(f'{rate:,.0f}' for rate in rates)})", flush=True)  # fmt: skip
        finally:
            kannel.stop()


if __name__ == "__main__":
    main()
