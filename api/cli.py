"""The `skupix` command line: serve, worker, keys, ingest, pull, render, profiles, platforms, migrate, sweep,
edge-usage."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from registry.settings import Settings

if TYPE_CHECKING:
    from registry.db import Database

cli = typer.Typer(help="skupix: shared product-media registry and image CDN.", no_args_is_help=True,
                  add_completion=False)
keys_cli = typer.Typer(help="Manage API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
console = Console(stderr=True)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".tif", ".tiff"}
# Amazon's naming: SKU.MAIN.jpg, SKU.PT01.jpg … SKU.PT08.jpg, SKU.SWCH.jpg. Other names upload without a SKU.
DEFAULT_PATTERN = r"^(?P<sku>.+)\.(?P<slot>MAIN|PT\d{1,2}|SWCH)$"

ServerOption = Annotated[str, typer.Option("--server", envvar="SKUPIX_URL", help="API base URL")]
KeyOption = Annotated[str, typer.Option("--key", envvar="SKUPIX_API_KEY", help="API key (Bearer)")]


def _settings() -> Settings:
    return Settings()


_T = TypeVar("_T")


def _need_key(key: str) -> None:
    """Exit with a clear message when no API key was given."""
    if not key:
        console.print("[red]an API key is needed: --key or SKUPIX_API_KEY[/red]")
        raise typer.Exit(2)


def _ask(server: str, call: Callable[[], _T]) -> _T:
    """One API call of a command; a clear message and exit status 1 when it fails."""
    import httpx

    from api.client import ApiFailure

    try:
        return call()
    except ApiFailure as exc:
        console.print(f"[red]{exc.code}: {exc.message}[/red]")
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {server}: {exc}[/red]")
        raise typer.Exit(1) from exc


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (needs PostgreSQL when > 1)")] = 1,
    server: Annotated[str, typer.Option(help="HTTP server: uvicorn (httptools, with the hotlink fast lane) or "
                                             "granian (zero-copy sends of large files)")] = "uvicorn",
    access_log: Annotated[bool, typer.Option(help="one JSON line per request on stderr")] = True,
) -> None:
    """Run the API (embedded default: SQLite + local folder + in-process tasks)."""
    settings = _settings()
    if workers > 1 and settings.resolved_database_url.startswith("sqlite") and settings.embedded_tasks:
        console.print("[yellow]several API processes on SQLite with in-process tasks: using 1[/yellow]")
        workers = 1
    if server not in ("granian", "uvicorn"):
        console.print(f"[red]--server is granian or uvicorn, not {server!r}[/red]")
        raise typer.Exit(2)
    # Worker processes build their own Settings: the environment carries the choice to them.
    os.environ["SKUPIX_ACCESS_LOG"] = "true" if access_log else "false"
    console.print(f"skupix serving on http://{host}:{port}  data: {settings.data_dir.resolve()}")
    if server == "granian":
        from granian.constants import Interfaces
        from granian.server import Server

        Server("api.app:create_served_app", address=host, port=port, interface=Interfaces.ASGI, workers=workers,
               factory=True, log_access=False, websockets=False).serve()
        return
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                http="api.fastlane:FastLaneProtocol", log_level="info", proxy_headers=True,
                forwarded_allow_ips="*", access_log=False)


@cli.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 2,
    beat: Annotated[bool, typer.Option(help="also run the outbox sweeper schedule (run in one worker only)")] = False,
    loglevel: Annotated[str, typer.Option(help="log level")] = "info",
    name: Annotated[str, typer.Option(help="Celery node name; default skupix-<pid>@<host>, unique per "
                                           "process (RabbitMQ refuses two workers with one name)")] = "",
) -> None:
    """Run a Celery worker for rendering (needs SKUPIX_BROKER_URL)."""
    settings = _settings()
    if settings.embedded_tasks:
        console.print("[red]SKUPIX_BROKER_URL is empty: embedded mode runs tasks inside `skupix serve`[/red]")
        raise typer.Exit(2)
    from workers.celery_app import QUEUE, configure

    app = configure(settings)  # the worker processes' runtimes use these same settings
    argv = ["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}", "-Q", QUEUE,
            "--without-gossip", "--without-mingle", f"--hostname={name or f'skupix-{os.getpid()}@%h'}"]
    if beat:
        argv.append("--beat")
    app.worker_main(argv)


@cli.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from registry.db import Database

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    database.dispose()
    console.print("schema is up to date")


@cli.command()
def sweep() -> None:
    """Republish outbox jobs that never reached a worker (runs once)."""
    from registry.jobs.service import sweep as sweep_jobs
    from workers.bootstrap import close_runtime, create_runtime

    rt = create_runtime(_settings(), role="cli")
    try:
        count = sweep_jobs(rt)
        wait = getattr(rt.publisher, "wait_idle", None)
        if callable(wait):
            wait(600)
    finally:
        close_runtime(rt)
    console.print(f"republished {count} job(s)")


@cli.command("edge-usage")
def edge_usage(
    log: Annotated[Path, typer.Argument(help="the edge's usage log (SKUPIX_EDGE_USAGE_LOG)")],
    state: Annotated[Path | None, typer.Option(help="where the read position is kept; default LOG.position")] = None,
    follow: Annotated[bool, typer.Option(help="keep reading every --interval seconds")] = False,
    interval: Annotated[float, typer.Option(help="seconds between reads with --follow")] = 10.0,
) -> None:
    """Add the hits the nginx edge answered from its cache to the usage counts (the API counts the rest)."""
    from registry.usage.edge import ingest
    from workers.bootstrap import close_runtime, create_runtime

    position = state or log.with_name(log.name + ".position")
    rt = create_runtime(_settings(), role="cli")
    try:
        while True:
            if log.exists():
                counts = ingest(rt, log, position)
                if counts.lines or not follow:
                    console.print(f"{counts.lines} line(s) read, {counts.counted} cache hit(s) counted"
                                  + (f", {counts.unreadable} unreadable" if counts.unreadable else ""))
            elif not follow:
                console.print(f"[red]no log at {log}[/red]")
                raise typer.Exit(1)
            if not follow:
                return
            time.sleep(interval)
    finally:
        close_runtime(rt)


@contextmanager
def _key_database() -> Iterator[Database]:
    """The configured database, migrated; a registry error ends the command with exit code 2."""
    from registry.db import Database
    from registry.errors import RegistryError

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    try:
        yield database
    except RegistryError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    finally:
        database.dispose()


def _expiry(days: int | None) -> datetime | None:
    from registry.models import utcnow

    return utcnow() + timedelta(days=days) if days else None


@keys_cli.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="tenant name (created if new)")],
    kind: Annotated[str, typer.Option(help="brand, merchant or platform")] = "merchant",
    label: Annotated[str, typer.Option(help="what the key is for")] = "",
    expires_in_days: Annotated[int | None, typer.Option(help="the key expires after this many days")] = None,
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    from registry.tenants.service import issue_key

    with _key_database() as database:
        issued = issue_key(database, tenant, kind, label=label, expires_at=_expiry(expires_in_days))
    console.print(f"key for tenant {issued.tenant_name!r} ({issued.tenant_kind}); store it now, it is not shown again:")
    print(issued.plain)


@keys_cli.command("list")
def keys_list(tenant: Annotated[str, typer.Option(help="tenant name")]) -> None:
    """List a tenant's keys (id, prefix, label, created, expires, last used, revoked); never the keys."""
    from registry.tenants.usecases import keys_of_tenant

    with _key_database() as database:
        infos = keys_of_tenant(database, tenant)
    table = Table(title=f"keys of {tenant}")
    for column in ("id", "prefix", "label", "created", "expires", "last used", "state"):
        table.add_column(column, no_wrap=column != "label")
    for info in infos:
        state = "active" if info.active else ("revoked" if info.revoked_at else "expired")
        table.add_row(info.id, info.prefix + "…", info.label, f"{info.created_at:%Y-%m-%d %H:%M}",
                      f"{info.expires_at:%Y-%m-%d}" if info.expires_at else "-",
                      f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "-", state)
    Console(width=max(Console().width, 150)).print(table)  # ids stay whole, to be copied into revoke


@keys_cli.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="key id (key_…), from `skupix keys list`")]) -> None:
    """Revoke a key; every API process refuses it from its next request."""
    from registry.tenants.usecases import revoke_any_key

    with _key_database() as database:
        revoke_any_key(database, key_id)
    console.print(f"revoked {key_id}")


@keys_cli.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="key id (key_…) to replace")],
    expires_in_days: Annotated[int | None, typer.Option(help="the new key expires after this many days")] = None,
) -> None:
    """Replace a key: prints the new key once (last line); the old one is revoked."""
    from registry.tenants.usecases import rotate_any_key

    with _key_database() as database:
        info, plain = rotate_any_key(database, key_id, _expiry(expires_in_days))
    console.print(f"{key_id} revoked; new key {info.id}; store it now, it is not shown again:")
    print(plain)


@dataclass
class IngestSummary:
    """Counts and bytes of an ingest run."""

    new: int = 0
    exact: int = 0
    near: int = 0
    failed: int = 0
    bytes_total: int = 0
    bytes_saved: int = 0
    errors: list[str] = field(default_factory=list)


def slot_from_name(stem: str, pattern: re.Pattern[str]) -> tuple[str | None, str | None, int | None]:
    """SKU, role and position from a file name stem, per the ingest pattern."""
    found = pattern.match(stem)
    if not found:
        return None, None, None
    groups = found.groupdict()
    sku = groups.get("sku")
    slot = (groups.get("slot") or "").upper()
    role, position = groups.get("role"), groups.get("position")
    if slot == "MAIN":
        return sku, "main", 0
    if slot == "SWCH":
        return sku, "swatch", 0
    if slot.startswith("PT"):
        number = int(slot[2:])
        if number < 1:
            raise ValueError(f"{slot} is not a slot: gallery pictures are numbered from PT01")
        return sku, "gallery", number - 1
    if not sku:
        return None, None, None
    return sku, role or "main", int(position) if position else None


@cli.command()
def ingest(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="folder of pictures")],
    server: ServerOption = "http://127.0.0.1:8000",
    key: KeyOption = "",
    pattern: Annotated[str, typer.Option(help="regex on the file name stem with groups sku and slot "
                                                  "(MAIN, PTnn, SWCH) or role/position")] = DEFAULT_PATTERN,
    no_sku: Annotated[bool, typer.Option("--no-sku", help="upload without SKU slots")] = False,
    concurrency: Annotated[int, typer.Option(help="parallel uploads")] = 4,
    gs1: Annotated[bool, typer.Option("--gs1", help="brand import: GS1 names <GTIN>_<type><facing><angle><state>"
                                                    " map pictures to catalogue products and slots")] = False,
    manifest: Annotated[Path | None, typer.Option(help="brand import: CSV with columns file, gtin and "
                                                       "role/position or facet")] = None,
) -> None:
    """Upload every picture in a folder, with a progress bar and a dedup summary."""
    from api.client import ApiFailure, SkupixClient

    _need_key(key)
    if gs1 or manifest is not None:
        _official_ingest(folder, server, key, manifest, concurrency)
        return
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        console.print(f"[red]bad --pattern: {exc}[/red]")
        raise typer.Exit(2) from exc
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    summary = IngestSummary()
    client = SkupixClient(server, key)

    def send(path: Path) -> tuple[Path, int, dict[str, object] | None, str | None]:
        try:
            sku, role, position = (None, None, None) if no_sku else slot_from_name(path.stem, compiled)
            size = path.stat().st_size
            return path, size, client.upload(path, sku, role, position), None
        except ApiFailure as exc:
            return path, 0, None, f"{exc.code}: {exc.message}"
        except Exception as exc:  # a vanished file, a refused connection: reported per file, the run goes on
            return path, 0, None, f"{type(exc).__name__}: {exc}"

    columns = (TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[name]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("ingest", total=len(files), name="")
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(send, path) for path in files]
            for future in as_completed(futures):
                path, size, answer, error = future.result()
                if error or answer is None:
                    summary.failed += 1
                    summary.errors.append(f"{path.name}: {error}")
                else:
                    summary.bytes_total += size
                    kind = str(answer.get("dedup"))
                    setattr(summary, kind, getattr(summary, kind, 0) + 1)
                    if kind == "exact":
                        summary.bytes_saved += size
                progress.update(task, advance=1, name=path.name[:40])
    client.close()
    table = Table(title=f"ingested {len(files)} file(s) from {folder}")
    for column in ("new", "exact", "near", "failed", "bytes uploaded", "bytes saved"):
        table.add_column(column, justify="right")
    table.add_row(str(summary.new), str(summary.exact), str(summary.near), str(summary.failed),
                  _human(summary.bytes_total), _human(summary.bytes_saved))
    console.print(table)
    for line in summary.errors[:20]:
        console.print(f"[red]{line}[/red]")
    print(json.dumps({"new": summary.new, "exact": summary.exact, "near": summary.near, "failed": summary.failed,
                      "bytes_total": summary.bytes_total, "bytes_saved": summary.bytes_saved}))
    if summary.failed:
        raise typer.Exit(1)


def _human(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{count} B"


@cli.command()
def pull(
    platform: Annotated[str, typer.Option(help="amazon, taobao, shopify, web, …")],
    out: Annotated[Path, typer.Option(help="folder to write into")],
    sku: Annotated[str, typer.Option(help="the SKU")] = "",
    pack: Annotated[str, typer.Option(help="a brand pack as BRAND/PACK (instead of --sku)")] = "",
    version: Annotated[str, typer.Option(help="pack version number, or latest")] = "latest",
    server: ServerOption = "http://127.0.0.1:8000",
    key: KeyOption = "",
) -> None:
    """Download a SKU's listing images, or a brand pack, for a platform, with a progress bar and a manifest."""
    import httpx

    from api.client import ApiFailure, SkupixClient

    _need_key(key)
    if bool(sku) == bool(pack):
        console.print("[red]give either --sku or --pack BRAND/PACK[/red]")
        raise typer.Exit(2)
    if pack:
        _pull_pack(pack, version, platform, out, server, key)
        return
    with closing(SkupixClient(server, key)) as client:
        listing = _ask(server, lambda: client.listing(sku, platform))
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            console.print(f"[red]cannot write into {out}: {exc.strerror or exc}[/red]")
            raise typer.Exit(1) from exc
        slots = listing["slots"]
        manifest, failures = [], []
        with Progress(TextColumn("[bold]pull"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[name]}"), console=console) as progress:
            task = progress.add_task("pull", total=len(slots), name="")
            for slot in slots:
                target = out / slot["file_name"]
                try:
                    data = client.download(slot["url"])
                    _write_whole(target, data)
                    manifest.append({**slot, "bytes": len(data), "path": target.name})
                except ApiFailure as exc:
                    failures.append(f"{target.name}: {exc.code}: {exc.message}")
                except (httpx.HTTPError, OSError) as exc:
                    failures.append(f"{target.name}: {type(exc).__name__}: {exc}")
                progress.update(task, advance=1, name=target.name)
    try:
        _write_whole(out / "manifest.json", json.dumps(
            {"sku": listing["sku"], "platform": platform, "files": manifest, "failed": failures},
            ensure_ascii=False, indent=2).encode())
    except OSError as exc:
        failures.append(f"manifest.json: {exc.strerror or exc}")
    console.print(f"wrote {len(manifest)} of {len(slots)} file(s) to {out}")
    for line in failures:
        console.print(f"[red]{line}[/red]")
    if failures:
        raise typer.Exit(1)


def _write_whole(target: Path, data: bytes) -> None:
    """Write a file so that it is either absent or complete, never half-written."""
    partial = target.with_name(target.name + ".part")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


catalog_cli = typer.Typer(help="A brand's product catalogue.", no_args_is_help=True)
cli.add_typer(catalog_cli, name="catalog")


@catalog_cli.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="UTF-8 CSV: sku, gtin, title, attributes")],
    server: ServerOption = "http://127.0.0.1:8000",
    key: KeyOption = "",
) -> None:
    """Import products from a CSV: every line or none; errors are listed by line."""
    import httpx

    from api.client import ApiFailure, SkupixClient

    _need_key(key)
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        console.print(f"[red]{file} is not UTF-8 (byte {exc.start}); save it as UTF-8[/red]")
        raise typer.Exit(2) from exc
    with closing(SkupixClient(server, key)) as client:
        try:
            report = client.import_catalog(text)
        except ApiFailure as exc:
            console.print(f"[red]{exc.code}: {exc.message}[/red]")
            for error in exc.details.get("errors", [])[:200]:
                where = f"line {error.get('line')}: {error.get('field') or '-'}"
                console.print(f"[red]{where}: {error.get('message')}[/red]")
            raise typer.Exit(1) from exc
        except httpx.HTTPError as exc:
            console.print(f"[red]cannot reach {server}: {exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(f"imported {report['created']} new and {report['updated']} updated product(s)")
    print(json.dumps(report))


@dataclass(frozen=True)
class OfficialFile:
    """A picture of a brand folder mapped to a product slot."""

    path: Path
    gtin: str
    role: str | None
    position: int | None
    facet: str | None


def plan_gs1(files: list[Path]) -> tuple[list[OfficialFile], list[str]]:
    """Map GS1-named files to slots per product; names that are not GS1 or fail the check digit are errors."""
    from registry.catalog.gtin import Gs1Name, parse_gs1_name, slots_for
    from registry.errors import InvalidInput

    by_gtin: dict[str, list[tuple[Gs1Name, Path]]] = {}
    errors = []
    for path in files:
        try:
            name = parse_gs1_name(path.stem)
        except InvalidInput as exc:
            errors.append(f"{path.name}: {exc.message}")
            continue
        by_gtin.setdefault(name.gtin, []).append((name, path))
    planned = []
    for gtin, named in sorted(by_gtin.items()):
        paths: dict[Gs1Name, Path] = {}
        for name, path in named:
            paths.setdefault(name, path)  # the first file of a name wins; the others are reported
        if len(paths) < len(named):
            errors.extend(f"{path.name}: another file of {gtin} has the same facet and suffix" for name, path in named
                          if paths[name] is not path)
        for name, role, position in slots_for(list(paths)):
            planned.append(OfficialFile(paths[name], gtin, role, position, name.facet))
    return planned, errors


def plan_manifest(folder: Path, manifest: Path) -> tuple[list[OfficialFile], list[str]]:
    """Map files to products and slots from a CSV (file, gtin, and role/position or facet)."""
    import csv

    errors = []
    planned = []
    with manifest.open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            line = record.get("file") or ""
            path = (folder / line).resolve()
            if not line or folder.resolve() not in path.parents or not path.is_file():
                errors.append(f"{manifest.name}: file {line!r} is not a picture in {folder}")
                continue
            position = (record.get("position") or "").strip()
            planned.append(OfficialFile(path, (record.get("gtin") or "").strip(), (record.get("role") or None),
                                        int(position) if position.isdigit() else None, record.get("facet") or None))
    return planned, errors


def _official_ingest(folder: Path, server: str, key: str, manifest: Path | None, concurrency: int) -> None:
    """Upload a brand's official pictures into catalogue product slots (GS1 names or a CSV manifest)."""
    from api.client import ApiFailure, SkupixClient

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    planned, errors = plan_manifest(folder, manifest) if manifest else plan_gs1(files)
    done = 0
    with closing(SkupixClient(server, key)) as client:
        def send(item: OfficialFile) -> str | None:
            try:
                client.official_upload(item.path, item.gtin, item.role, item.position, item.facet)
                return None
            except ApiFailure as exc:
                return f"{item.path.name}: {exc.code}: {exc.message}"
            except Exception as exc:  # a vanished file, a refused connection: reported per file
                return f"{item.path.name}: {type(exc).__name__}: {exc}"

        columns = (TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[name]}"))
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("ingest", total=len(planned), name="")
            # every file names its slot (role and position) itself, so the order of uploads does not matter
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                futures = {pool.submit(send, item): item for item in planned}
                for future in as_completed(futures):
                    error = future.result()
                    if error:
                        errors.append(error)
                    else:
                        done += 1
                    progress.update(task, advance=1, name=futures[future].path.name[:40])
    for line in errors[:50]:
        console.print(f"[red]{line}[/red]")
    print(json.dumps({"uploaded": done, "failed": len(errors)}))
    if errors:
        raise typer.Exit(1)


def _sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _pull_pack(pack: str, version: str, platform: str, out: Path, server: str, key: str) -> None:
    """Download a pack version for a platform: resumable, checksummed, a second run downloads nothing."""
    import csv
    import io

    import httpx

    from api.client import ApiFailure, SkupixClient

    brand, slash, name = pack.rpartition("/")
    if not slash or not brand or not name:
        console.print("[red]--pack is BRAND/PACK[/red]")
        raise typer.Exit(2)
    downloaded, skipped, failures = 0, 0, []
    with closing(SkupixClient(server, key)) as client:
        manifest = _ask(server, lambda: client.pack_manifest(brand, name, version, platform))
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            console.print(f"[red]cannot write into {out}: {exc.strerror or exc}[/red]")
            raise typer.Exit(1) from exc
        files = manifest["files"]
        with Progress(TextColumn("[bold]pull"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[name]}"),
                      console=console) as progress:
            task = progress.add_task("pull", total=len(files), name="")
            for item in files:
                target = out / item["file"]
                if target.name != item["file"] or item["file"] in ("manifest.json", "manifest.csv"):
                    failures.append(f"{item['file']}: refused: not a plain file name")
                    continue
                partial = target.with_name(target.name + ".part")
                if target.is_file() and target.stat().st_size == item["size"] and _sha256_of(target) == item["sha256"]:
                    partial.unlink(missing_ok=True)
                    skipped += 1
                    progress.update(task, advance=1, name=target.name)
                    continue
                try:
                    with partial.open("ab") as handle:
                        resumed_at = handle.tell()
                        client.stream_to(item["url"], handle, resumed_at)
                    if resumed_at and _sha256_of(partial) != item["sha256"]:
                        # the kept part was no prefix of this file (damaged, another version): fetch it whole once
                        with partial.open("wb") as handle:
                            client.stream_to(item["url"], handle, 0)
                    if _sha256_of(partial) != item["sha256"]:
                        partial.unlink(missing_ok=True)  # a bad resume: the next run starts this file over
                        raise ValueError("checksum mismatch")
                    os.replace(partial, target)
                    downloaded += 1
                except ApiFailure as exc:
                    failures.append(f"{target.name}: {exc.code}: {exc.message}")
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    failures.append(f"{target.name}: {type(exc).__name__}: {exc}")
                progress.update(task, advance=1, name=target.name)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["sku", "gtin", "slot", "file", "size", "sha256"])
    for item in files:
        writer.writerow([item["sku"], item["gtin"], item["slot"], item["file"], item["size"], item["sha256"]])
    try:
        _write_whole(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        _write_whole(out / "manifest.csv", table.getvalue().encode())
    except OSError as exc:
        failures.append(f"manifest: {exc.strerror or exc}")
    console.print(f"{pack} v{manifest.get('version')} for {platform}: {downloaded} downloaded, {skipped} already "
                  f"there, {len(failures)} failed")
    for line in failures:
        console.print(f"[red]{line}[/red]")
    print(json.dumps({"downloaded": downloaded, "skipped": skipped, "failed": len(failures)}))
    if failures:
        raise typer.Exit(1)


profiles_cli = typer.Typer(help="Render profiles: the built-ins, published ones and your own.", no_args_is_help=True)
cli.add_typer(profiles_cli, name="profiles")
platforms_cli = typer.Typer(help="Platforms (slot role → profile): the built-ins, published ones and your own.",
                            no_args_is_help=True)
cli.add_typer(platforms_cli, name="platforms")
# the keys of a definition file that describe the profile or platform rather than belong to its body
_HEADER_KEYS = ("name", "display_name", "namespace")


@dataclass(frozen=True)
class _Kind:
    """What differs between the profile and platform commands: the API path, the body key, the name key."""

    path: str
    body: str
    name_key: str


PROFILES, PLATFORMS = _Kind("profiles", "definition", "name"), _Kind("platforms", "roles", "platform")


def read_definition(file: Path, body_key: str) -> dict[str, object]:
    """A profile or platform file (TOML, or JSON by its `.json` suffix) as {name?, display_name?, namespace?,
    body_key: {...}}; the body may also be the file's other top-level keys. ValueError says what is wrong."""
    import tomllib

    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file} is not UTF-8 (byte {exc.start}); save it as UTF-8") from exc
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{file} is not valid {'JSON' if file.suffix.lower() == '.json' else 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a table (an object)")
    header = {k: data[k] for k in _HEADER_KEYS if k in data}
    rest = {k: v for k, v in data.items() if k not in _HEADER_KEYS}
    body = rest.pop(body_key) if body_key in rest else rest
    if rest and body is not rest:
        raise ValueError(f"{file}: put every field under [{body_key}]; also found {', '.join(sorted(rest))}")
    if not isinstance(body, dict) or not body:
        raise ValueError(f"{file} has no {body_key}")
    return {**header, body_key: body}


def _registry_call(kind: _Kind, server: str, key: str, method: str, tail: str = "",
                   body: dict[str, object] | None = None, anonymous: bool = False) -> object:
    from urllib.parse import quote

    from api.client import SkupixClient

    if not anonymous:
        _need_key(key)
    path = f"/v1/{kind.path}" + "".join(f"/{quote(part, safe='')}" for part in tail.split("/") if part)
    with closing(SkupixClient(server, key)) as client:
        if anonymous and not key:
            client.http.headers.pop("Authorization", None)  # the catalogue is public
        return _ask(server, lambda: client.call(method, path, body))


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _list(kind: _Kind, server: str, key: str, mine: bool, as_json: bool) -> None:
    found = _registry_call(kind, server, key, "GET", anonymous=True)
    rows = [r for r in found if isinstance(r, dict) and (r.get("yours") or not mine)] if isinstance(found, list) else []
    if as_json:
        _print_json(rows)
        return
    table = Table(kind.name_key, "state", "version", "display name",
                  "box" if kind is PROFILES else "roles", title=f"{len(rows)} {kind.path}")
    for row in rows:
        state = ("built-in" if row.get("built_in") else "retired" if row.get("retired")
                 else "published" if row.get("published") else "private")
        shape = (f"{row.get('width')}x{row.get('height')} {row.get('fit')} {row.get('format')}" if kind is PROFILES
                 else ", ".join(f"{r}={p}" for r, p in dict(row.get("roles") or {}).items()))
        table.add_row(str(row[kind.name_key]), state, str(row.get("version", 1)), str(row.get("display_name", "")),
                      shape)
    Console().print(table)


def _create(kind: _Kind, file: Path, name: str | None, namespace: str | None, display_name: str | None,
            server: str, key: str) -> None:
    try:
        data = read_definition(file, kind.body)
    except ValueError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    for field_name, given in (("name", name), ("namespace", namespace), ("display_name", display_name)):
        if given is not None:
            data[field_name] = given
    if "name" not in data:
        data["name"] = file.stem  # square.toml defines NAMESPACE~square
    _print_json(_registry_call(kind, server, key, "POST", body=data))


def _version(kind: _Kind, name: str, file: Path, display_name: str | None, server: str, key: str) -> None:
    try:
        data = read_definition(file, kind.body)
    except ValueError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    body: dict[str, object] = {kind.body: data[kind.body]}
    if display_name is not None or "display_name" in data:
        body["display_name"] = display_name if display_name is not None else data["display_name"]
    _print_json(_registry_call(kind, server, key, "POST", f"{name}/versions", body))


NameArgument = Annotated[str, typer.Argument(help="NAMESPACE~NAME, or a built-in's name")]
FileArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a TOML or .json file")]
MineOption = Annotated[bool, typer.Option("--mine", help="only the ones you defined")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
NewName = Annotated[str | None, typer.Option(help="NAME (default: the file's `name`, else its stem)")]
NamespaceOption = Annotated[str | None, typer.Option(help="your namespace, chosen with your first definition")]
DisplayOption = Annotated[str | None, typer.Option(help="any UTF-8 text")]


@profiles_cli.command("list")
def profiles_list(mine: MineOption = False, as_json: JsonOption = False, server: ServerOption = "http://127.0.0.1:8000",
                  key: KeyOption = "") -> None:
    """The built-in profiles, every published one and (with a key) your own."""
    _list(PROFILES, server, key, mine, as_json)


@profiles_cli.command("show")
def profiles_show(name: NameArgument, server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """One profile with every version, as JSON."""
    _print_json(_registry_call(PROFILES, server, key, "GET", name, anonymous=True))


@profiles_cli.command("create")
def profiles_create(file: FileArgument, name: NewName = None, namespace: NamespaceOption = None,
                    display_name: DisplayOption = None, server: ServerOption = "http://127.0.0.1:8000",
                    key: KeyOption = "") -> None:
    """Define a profile from a file: the built-ins' fields, under [definition] or at the top level."""
    _create(PROFILES, file, name, namespace, display_name, server, key)


@profiles_cli.command("version")
def profiles_version(name: NameArgument, file: FileArgument, display_name: DisplayOption = None,
                     server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """Add a version of your profile from a file (the complete definition)."""
    _version(PROFILES, name, file, display_name, server, key)


@profiles_cli.command("publish")
def profiles_publish(name: NameArgument, server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """Let every tenant see and use your profile (cannot be undone)."""
    _print_json(_registry_call(PROFILES, server, key, "POST", f"{name}/publish"))


@profiles_cli.command("retire")
def profiles_retire(name: NameArgument, server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """Stop your profile rendering anything new (stored variants keep being served)."""
    _print_json(_registry_call(PROFILES, server, key, "POST", f"{name}/retire"))


@platforms_cli.command("list")
def platforms_list(mine: MineOption = False, as_json: JsonOption = False,
                   server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """The built-in platforms, every published one and (with a key) your own."""
    _list(PLATFORMS, server, key, mine, as_json)


@platforms_cli.command("show")
def platforms_show(name: NameArgument, server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """One platform with every version's slot map, as JSON."""
    _print_json(_registry_call(PLATFORMS, server, key, "GET", name, anonymous=True))


@platforms_cli.command("create")
def platforms_create(file: FileArgument, name: NewName = None, namespace: NamespaceOption = None,
                     display_name: DisplayOption = None, server: ServerOption = "http://127.0.0.1:8000",
                     key: KeyOption = "") -> None:
    """Define a platform from a file: role = profile under [roles] or at the top level (main is required)."""
    _create(PLATFORMS, file, name, namespace, display_name, server, key)


@platforms_cli.command("version")
def platforms_version(name: NameArgument, file: FileArgument, display_name: DisplayOption = None,
                      server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """Add a version of your platform from a file (the complete slot map)."""
    _version(PLATFORMS, name, file, display_name, server, key)


@platforms_cli.command("publish")
def platforms_publish(name: NameArgument, server: ServerOption = "http://127.0.0.1:8000",
                      key: KeyOption = "") -> None:
    """Let every tenant see and use your platform (cannot be undone; its profiles must be published)."""
    _print_json(_registry_call(PLATFORMS, server, key, "POST", f"{name}/publish"))


@platforms_cli.command("retire")
def platforms_retire(name: NameArgument, server: ServerOption = "http://127.0.0.1:8000", key: KeyOption = "") -> None:
    """Stop your platform serving new listings, reports and pulls."""
    _print_json(_registry_call(PLATFORMS, server, key, "POST", f"{name}/retire"))


def main() -> None:
    """Entry point of the `skupix` command."""
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


@cli.command()
def stats(
    days: Annotated[int, typer.Option(help="the last N days")] = 30,
    server: ServerOption = "http://127.0.0.1:8000",
    key: KeyOption = "",
) -> None:
    """Your usage: hotlink hits per day, per asset and per SKU, referring sites, what deduplication saved;
    for a brand key also how far its catalogue and pack pictures went among other shops."""
    from api.client import SkupixClient

    _need_key(key)
    with closing(SkupixClient(server, key)) as client:
        found = _ask(server, lambda: client.stats(days))
    out = Console(width=max(Console().width, 150))  # GTINs and asset ids stay whole
    out.print(f"since {found['since']}: {found['hits']:,} hotlink hits from {found['sites']} sites; "
              f"{found['uploads_deduplicated']} of {found['uploads']} uploads deduplicated, "
              f"{found['storage_saved_bytes'] / 1e6:.1f} MB saved, about "
              f"{found['design_minutes_avoided'] / 60:.1f} h of design work avoided", soft_wrap=True)
    peak = max((day["hits"] for day in found["by_day"]), default=0)
    for day in found["by_day"]:
        bar = "█" * (round(40 * day["hits"] / peak) if peak else 0)
        out.print(f"{day['day']}  {bar} {day['hits']:,}")
    table = Table("asset", "hits", "sites", "SKUs", "shops")
    for asset in found["assets"]:
        other = asset.get("other_sites", 0)  # other shops' sites on a shared picture: a count, never named
        sites = ", ".join([*asset["sites"], *([f"{other} other site(s)"] if other else [])])
        table.add_row(asset["asset_id"], f"{asset['hits']:,}", sites, ", ".join(asset["skus"]),
                      str(asset.get("shops", "")))
    out.print(table)
    if found.get("skus"):
        by_sku = Table("SKU", "pictures", "hits", "sites")
        for sku in found["skus"]:
            by_sku.add_row(sku["sku"], str(sku["pictures"]), f"{sku['hits']:,}", str(sku["sites"]))
        out.print(by_sku)
    brand = found.get("brand")
    if brand:
        out.print(f"your brand's {brand['pictures']} pictures: used by {brand['shops']} other shops, "
                  f"{brand['hits']:,} hits from {brand['sites']} sites; {brand['uploads_deduplicated']} uploads "
                  f"deduplicated onto them ({brand['storage_saved_bytes'] / 1e6:.1f} MB saved), "
                  f"{brand['linked_pictures']} shown through pack links, about "
                  f"{brand['design_minutes_avoided'] / 60:.1f} h of design work avoided", soft_wrap=True)
        products = Table("GTIN", "product", "pictures", "shops", "hits", "deduplicated", "linked", "design h")
        for item in brand["products"]:
            products.add_row(item["gtin"], item["title"] or item["sku"], str(item["pictures"]), str(item["shops"]),
                             f"{item['hits']:,}", str(item["uploads_deduplicated"]), str(item["linked_pictures"]),
                             f"{item['design_minutes_avoided'] / 60:.1f}")
        out.print(products)
        packs = Table("pack", "followers", "shops linking")
        for pack in brand["packs"]:
            packs.add_row(pack["name"], str(pack["followers"]), str(pack["shops_linking"]))
        out.print(packs)


@cli.command()
def render(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="pictures to render")],
    out: Annotated[Path, typer.Option(help="folder to write into")],
    platform: Annotated[str | None, typer.Option(help="render every profile this platform uses")] = None,
    profile: Annotated[list[str] | None, typer.Option(help="render this profile (repeatable)")] = None,
    jobs: Annotated[int, typer.Option(help="files rendered in parallel (processes); 1 = one at a time")] = 1,
) -> None:
    """Render local files for a platform or profile without uploading, and print compliance verdicts."""
    from concurrent.futures import Executor, ProcessPoolExecutor

    from api.local_render import FileResult, profiles_for, render_file
    from processing.profiles import load_catalog
    from workers.bootstrap import decode_limits

    if (platform is None) == (not profile):
        console.print("[red]give exactly one of --platform or --profile[/red]")
        raise typer.Exit(2)
    settings = _settings()
    try:
        chosen = profiles_for(load_catalog(settings.profiles_file), platform, profile or [])
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    limits = decode_limits(settings)
    out.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    columns = (TextColumn("[bold]render"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[name]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("render", total=len(files), name="")
        if jobs <= 1:
            for path in files:
                results.append(render_file(path, chosen, limits, out))
                progress.update(task, advance=1, name=path.name[:40])
        else:
            pool: Executor = ProcessPoolExecutor(max_workers=jobs)
            with pool:
                futures = {pool.submit(render_file, path, chosen, limits, out): path for path in files}
                for future in as_completed(futures):
                    results.append(future.result())
                    progress.update(task, advance=1, name=futures[future].name[:40])
    table = Table(title=f"rendered {len(files)} file(s) into {out}")
    for column in ("file", "profile", "verdict", "size", "bytes", "problems"):
        table.add_column(column)
    counts = {"pass": 0, "warn": 0, "fail": 0, "failed_files": 0}
    for result in sorted(results, key=lambda r: r.file):
        if result.error:
            counts["failed_files"] += 1
            table.add_row(Path(result.file).name, "—", "[red]unreadable[/red]", "", "", result.error)
        for outcome in result.outcomes:
            counts[outcome.verdict] += 1
            colour = {"pass": "green", "warn": "yellow", "fail": "red"}[outcome.verdict]
            size = f"{outcome.width}×{outcome.height}" if outcome.width else "not produced"
            table.add_row(Path(outcome.file).name, outcome.profile, f"[{colour}]{outcome.verdict}[/{colour}]", size,
                          _human(outcome.size_bytes) if outcome.size_bytes else "", "; ".join(outcome.problems))
    console.print(table)
    print(json.dumps({**counts, "outcomes": [o.__dict__ for r in results for o in r.outcomes]}, ensure_ascii=False))
    if counts["fail"] or counts["failed_files"]:
        raise typer.Exit(1)
