"""The `jiaoying` command: serve, run the scheduler, migrate, import regions and contacts, manage
keys, and a one-command demo. Settings come from the same JIAOYING_* variables as the service.

Exit codes: 0 done, 1 refused (bad input; the reason is printed), 2 wrong usage.
"""

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any

from app.errors import AppError
from app.region.builtin import BUILTIN_REGIONS, builtin_filter, spooled

OPERATOR = "命令行"  # the actor of what the command line does, on the record


class Progress:
    """A file read line by line, with a progress bar on stderr (when it is a terminal)."""

    def __init__(self, file: IO[bytes], size: int, label: str) -> None:
        self.file, self.size, self.label = file, max(size, 1), label
        self.done = 0
        self.shown = -1.0
        self.tty = sys.stderr.isatty()
        self.passes = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        self.passes += 1
        self.done = 0
        return self.file.seek(offset, whence)

    def __iter__(self) -> Iterator[bytes]:
        for line in self.file:
            self.done += len(line)
            share = self.done / self.size
            if self.tty and share - self.shown >= 0.01:
                self.shown = share
                step = "检查" if self.passes <= 1 else "写入"
                bar = "#" * int(share * 30)
                sys.stderr.write(f"\r{self.label} {step} [{bar:<30}] {share:4.0%}")
                sys.stderr.flush()
            yield line
        if self.tty:
            sys.stderr.write("\n")

    def close(self) -> None:
        self.file.close()


async def with_session(work: Callable[[Any], Awaitable[Any]]) -> Any:
    from app import db, wiring
    from app.config import get_settings

    # A county's languages count in imports as in the API; a `replace` import cancels the calls of
    # those it takes off the roster.
    database = wiring.configure(get_settings())
    try:
        async with db.session_scope() as session:
            return await work(session)
    finally:
        await database.engine.dispose()


def operator() -> Any:
    from app.auth.service import Principal

    return Principal(name=OPERATOR, role="admin")


def import_regions(args: argparse.Namespace) -> None:
    from app.db import utc_now
    from app.importing import Upload
    from app.region import importer

    if args.builtin:
        file, size, sha256 = spooled(BUILTIN_REGIONS, builtin_filter(args.builtin))
        label = f"regions {args.builtin}"
    else:
        file, size, sha256 = spooled(Path(args.file))
        label = Path(args.file).name
    upload = Upload(file=Progress(file, size, label), size=size, sha256=sha256)  # type: ignore[arg-type]
    started = time.monotonic()
    result = asyncio.run(
        with_session(lambda session: importer.import_regions(session, upload, actor=OPERATOR, now=utc_now()))
    )
    upload.close()
    print(f"regions: {result.created:,} created, {result.updated:,} updated in {time.monotonic() - started:.1f} s")


def import_contacts(args: argparse.Namespace) -> None:
    from app.contact import importer
    from app.db import utc_now
    from app.importing import Upload

    file, size, sha256 = spooled(Path(args.file))
    upload = Upload(file=Progress(file, size, Path(args.file).name), size=size, sha256=sha256)  # type: ignore[arg-type]
    result = asyncio.run(
        with_session(
            lambda session: importer.import_contacts(
                session, upload, principal=operator(), replace=args.replace, now=utc_now()
            )
        )
    )
    upload.close()
    print("contacts: " + ", ".join(f"{value:,} {name}" for name, value in result.__dict__.items()))


def keys(args: argparse.Namespace) -> None:
    from app.auth import service as auth_service
    from app.db import utc_now

    if args.action == "create":

        async def create(session: Any) -> tuple[Any, str]:
            key, token = await auth_service.create_key(
                session, name=args.name, role=args.role, region_code=args.region, actor=OPERATOR
            )
            return key, token

        key, token = asyncio.run(with_session(create))
        print(f"key {key.id} ({key.role}{', ' + key.region_code if key.region_code else ''}) for {key.name}")
        print(f"token (shown once): {token}")
    elif args.action == "list":
        found = asyncio.run(with_session(lambda session: auth_service.list_keys(session, limit=1000, cursor=None)))
        for key in found:
            state = "revoked" if key.revoked_at else "active"
            print(f"{key.id}  {key.role:<12} {key.region_code or '全国':<12} {state:<8} {key.name}")
    else:
        revoke = auth_service.revoke_key
        revoked = asyncio.run(
            with_session(lambda session: revoke(session, key_id=args.id, actor=OPERATOR, now=utc_now()))
        )
        print(f"key {revoked.id} revoked")


def project_root() -> Path:
    """Where alembic.ini and migrations/ are: beside the package (a checkout), or the working folder
    (an installed package, as in the container image)."""
    for folder in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (folder / "alembic.ini").exists():
            return folder
    raise AppError("No alembic.ini found: run `jiaoying migrate` from the folder that holds migrations/.")


def migrate(_: argparse.Namespace) -> None:
    from alembic import command
    from alembic.config import Config

    from app.config import get_settings

    root = project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", get_settings().database_url)
    command.upgrade(config, "head")


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, workers=args.workers, proxy_headers=True)


def worker(_: argparse.Namespace) -> None:
    from app import worker as scheduler_only

    scheduler_only.main()


def demo(args: argparse.Namespace) -> None:
    from app import demo as tour

    tour.run(port=args.port, county=args.county, answer=args.answer, gateway_port=args.gateway_port)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="jiaoying", description="叫应: early-warning dispatch.")
    commands = main.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the API and pages (the scheduler too unless JIAOYING_SCHEDULER=off)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    run.set_defaults(handler=serve)
    commands.add_parser("worker", help="run the scheduler alone, without the API").set_defaults(handler=worker)
    commands.add_parser("migrate", help="migrate the database to this version").set_defaults(handler=migrate)

    regions = commands.add_parser("regions", help="the region tree").add_subparsers(dest="action", required=True)
    load = regions.add_parser("import", help="import a regions CSV (code,name,level,parent_code), or the built-in one")
    source = load.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="a CSV file, or .csv.gz")
    source.add_argument("--builtin", metavar="PREFIX", help="the national table shipped inside: e.g. 65 for Xinjiang")
    load.set_defaults(handler=import_regions)

    contacts = commands.add_parser("contacts", help="the roster").add_subparsers(dest="action", required=True)
    roster = contacts.add_parser("import", help="import contacts (name,phone,region_code,role,rank,channels,...)")
    roster.add_argument("file")
    roster.add_argument("--replace", metavar="CODE", help="also deactivate this subtree's contacts not in the file")
    roster.set_defaults(handler=import_contacts)

    key = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = key.add_parser("create", help="create a key; its token is printed once")
    create.add_argument("--name", required=True, help="the person who will hold it (the actor on the record)")
    create.add_argument("--role", required=True, choices=["admin", "duty_officer", "auditor"])
    create.add_argument("--region", help="limit it to a region's subtree (a code)")
    create.set_defaults(handler=keys)
    key.add_parser("list", help="list keys").set_defaults(handler=keys)
    revoke = key.add_parser("revoke", help="revoke a key")
    revoke.add_argument("id")
    revoke.set_defaults(handler=keys)

    tour = commands.add_parser("demo", help="a county, a roster, a simulated gateway and a warning, on SQLite")
    tour.add_argument("--port", type=int, default=8000)
    tour.add_argument("--gateway-port", type=int, help="the simulated gateway's port (default: --port + 100)")
    tour.add_argument("--county", default="650107", help="the county to load (default 达坂城区, Urumqi)")
    tour.add_argument("--answer", type=float, default=0.6, help="share of people the simulator answers for")
    tour.set_defaults(handler=demo)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.handler(args)
    except AppError as exc:
        print(f"jiaoying: {exc.detail}", file=sys.stderr)
        for error in getattr(exc, "errors", None) or []:
            print(f"  {json.dumps(error, ensure_ascii=False)}", file=sys.stderr)
        return 1
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"jiaoying: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
