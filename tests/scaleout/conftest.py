"""Scale-out fixtures: real processes on loopback (API, Celery workers, redis-server, moto's S3, nginx).

Every process is started in its own process group with its output in a log file, and stopped (then
killed) in teardown whatever happened; when a test fails the tail of each log is printed.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from registry.runtime import Runtime
from registry.settings import Settings
from tests.services import RABBITMQ_URL, REDIS_URL, fresh_postgres_database, port_open, unavailable

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SKUPIX = str(VENV_BIN / "skupix")
CELERY = str(VENV_BIN / "celery")
NGINX_TEMPLATE = REPO / "infra" / "nginx" / "skupix-edge.conf.template"

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ProcessDied(AssertionError):
    """A process a test relies on has exited."""


def wait_until(check: Callable[[], T | None], *, timeout: float, interval: float = 0.2,
               what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except ProcessDied:
            raise
        except Exception as exc:  # e.g. connection refused while a server starts
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


def base_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any SKUPIX_* setting, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SKUPIX_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """A subprocess in its own process group, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        """Launch it (again, after a stop)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        """The process id (its group id too)."""
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        """Whether the main process still runs."""
        return self.popen is not None and self.popen.poll() is None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, SIGKILL it if it lingers; children (pool processes) go too."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(10)
        self._signal_group(signal.SIGKILL)  # any straggler left in the group

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, not a shutdown)."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def tail(self, lines: int = 60) -> str:
        """The end of the log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        """The whole log."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def ensure_alive(self) -> None:
        """Fail with the log tail if the process has died."""
        if not self.alive:
            code = self.popen.returncode if self.popen else None
            raise ProcessDied(f"{self.name} exited with {code}:\n{self.tail()}")

    def listening(self, port: int) -> bool:
        """Whether it accepts connections on a loopback port yet (failing if it died)."""
        self.ensure_alive()
        return port_open("127.0.0.1", port, 0.2)

    def logged(self, text: str) -> bool:
        """Whether its log contains `text` yet (failing if it died)."""
        self.ensure_alive()
        return text in self.log_text()


@dataclass
class ProcessSet:
    """Processes a test started; all stopped when the fixture ends."""

    log_dir: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> ManagedProcess:
        """Start and remember a process."""
        process = ManagedProcess(name, argv, env, self.log_dir / f"{name}.log")
        self.processes.append(process)
        return process.start()

    def stop_all(self) -> None:
        """Stop in reverse start order; never raises."""
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.name}: {exc!r}")

    def report(self) -> str:
        """Every log's tail, for a failure report."""
        return "\n".join(f"----- {p.name} (pid {p.popen.pid if p.popen else '-'}) -----\n{p.tail()}"
                         for p in self.processes)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(getattr(getattr(node, f"rep_{when}", None), "failed", False) for when in ("setup", "call"))


@pytest.fixture
def procs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessSet]:
    """Start processes for one test; they are always stopped afterwards.

    Request it after the database and broker fixtures, so the processes stop before those go away.
    """
    processes = ProcessSet(tmp_path / "logs")
    try:
        yield processes
    finally:
        if _failed(request):
            print(processes.report())
        processes.stop_all()


@pytest.fixture(scope="module")
def module_procs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessSet]:
    """Start processes shared by a module's tests; always stopped when the module ends."""
    processes = ProcessSet(tmp_path_factory.mktemp("logs"))
    try:
        yield processes
    finally:
        if request.session.testsfailed:
            print(processes.report())
        processes.stop_all()


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database shared by a module's tests."""
    with fresh_postgres_database() as url:
        yield url


# --------------------------------------------------------------------------------------------------
# S3 (moto's server mode: a real HTTP endpoint in its own process)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on the test S3 endpoint and the settings that point skupix at it."""

    endpoint: str
    bucket: str
    prefix: str = "blobs"

    @property
    def values(self) -> dict[str, str]:
        """Settings fields (also SKUPIX_* variables) for this bucket."""
        return {
            "storage_url": f"s3://{self.bucket}/{self.prefix}",
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
        }

    def client(self) -> Any:
        """A boto3 client on the endpoint."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(s3={"addressing_style": "path"}))

    def keys(self, under: str = "") -> list[str]:
        """Every object key (without the prefix) in the bucket, optionally under a sub-prefix."""
        client, found = self.client(), list[str]()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/{under}"):
            found.extend(item["Key"].removeprefix(self.prefix + "/") for item in page.get("Contents", []))
        return sorted(found)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server in its own process for the whole session."""
    port = free_port()
    log_dir = tmp_path_factory.mktemp("moto")
    server = ManagedProcess("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            base_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"),
                            log_dir / "moto.log")
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: server.listening(port), timeout=30, what="moto server")
        yield url
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> S3Bucket:
    """A new, empty bucket for this test."""
    bucket = S3Bucket(s3_endpoint, f"skupix-{uuid.uuid4().hex[:12]}")
    bucket.client().create_bucket(Bucket=bucket.bucket)
    return bucket


# --------------------------------------------------------------------------------------------------
# Brokers
# --------------------------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own on a fixed port: it can be stopped and restarted at will."""

    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.port = free_port()
        self.process = ManagedProcess(
            "redis", [str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--daemonize", "no"],
            base_env(), log_dir / "redis.log")

    @property
    def url(self) -> str:
        """Broker URL for it."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) on the same port and wait until it answers."""
        self.process.start()
        wait_until(lambda: self.process.listening(self.port), timeout=20, what="redis-server")

    def stop(self) -> None:
        """Kill it outright, as a crashed broker."""
        self.process.kill()
        wait_until(lambda: not port_open("127.0.0.1", self.port, 0.2), timeout=10, what="redis-server to stop")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server for this test (safe to stop: nothing else uses it)."""
    server = RedisServer(tmp_path / "logs")
    server.start()
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server shared by a module's tests."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture
def machine_redis() -> Iterator[str]:
    """A broker URL on the machine's Redis, on a database number no one else is using right now."""
    import redis

    base = REDIS_URL.rsplit("/", 1)[0]
    try:
        redis.Redis.from_url(f"{base}/0", socket_connect_timeout=2).ping()
    except Exception as exc:
        unavailable(f"Redis at {REDIS_URL}: {exc}")
    claim = f"skupix-test-claim-{uuid.uuid4().hex}"
    for number in random.sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{base}/{number}")
        if client.dbsize() == 0 and client.set(claim, "1", nx=True, ex=900):
            if client.dbsize() == 1:  # nobody claimed it at the same moment
                try:
                    yield f"{base}/{number}"
                finally:
                    client.flushdb()
                    client.close()
                return
            client.delete(claim)
        client.close()
    pytest.fail("every Redis database 1-15 is in use; cannot isolate this test's queue")


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """A broker URL on the machine's RabbitMQ, in a virtual host of this test's own when possible."""
    host_part = RABBITMQ_URL.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_part.partition(":")
    if not port_open(host or "127.0.0.1", int(port or 5672)):
        unavailable(f"RabbitMQ at {RABBITMQ_URL}")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:  # no admin tool: share the default virtual host
        yield RABBITMQ_URL
        return
    vhost = f"skupix_test_{uuid.uuid4().hex[:10]}"
    user = RABBITMQ_URL.split("://", 1)[-1].split(":", 1)[0] or "guest"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run([ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], check=True,
                       capture_output=True, timeout=60)
        yield RABBITMQ_URL.rsplit("/", 1)[0].rstrip("/") + "/" + vhost
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


# --------------------------------------------------------------------------------------------------
# One deployment's settings, for in-process runtimes and for processes alike
# --------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """Settings values shared by the test process (Settings) and its processes (SKUPIX_* variables)."""

    values: dict[str, str]

    def with_values(self, **values: str) -> Stack:
        """A copy with some values changed."""
        return Stack({**self.values, **values})

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a skupix process."""
        return base_env(**{f"SKUPIX_{key.upper()}": value for key, value in self.values.items()}, **extra)

    def settings(self, **overrides: Any) -> Settings:
        """Settings for an in-process runtime."""
        return Settings(**{**self.values, **overrides})


def runtime_for(stack: Stack, **overrides: Any) -> Runtime:
    """An in-process runtime (API side) on the stack; the caller closes it."""
    from workers.bootstrap import create_runtime

    return create_runtime(stack.settings(**overrides), role="test")


def start_worker(processes: ProcessSet, stack: Stack, name: str, *, beat: bool = False, concurrency: int = 1,
                 use_celery_command: bool = False, **extra_env: str) -> ManagedProcess:
    """A Celery worker process, through `skupix worker` or the plain `celery` command."""
    if use_celery_command:
        argv = [CELERY, "-A", "workers.celery_app", "worker", "--loglevel=info", f"--concurrency={concurrency}",
                "-Q", "skupix", "--without-gossip", "--without-mingle", "-n", f"{name}@%h"]
        if beat:
            argv.append("--beat")
    else:
        argv = [SKUPIX, "worker", f"--concurrency={concurrency}"] + (["--beat"] if beat else [])
    worker = processes.start(name, argv, stack.env(**extra_env))
    wait_until(lambda: worker.logged(" ready."), timeout=60, what=f"{name} ready")
    return worker


def start_api(processes: ProcessSet, stack: Stack, name: str = "api", server: str = "uvicorn",
              **extra_env: str) -> tuple[ManagedProcess, str]:
    """`skupix serve` on a free port; returns the process and its base URL once /healthz answers."""
    port = free_port()
    api = processes.start(name, [SKUPIX, "serve", "--host", "127.0.0.1", "--port", str(port), "--server", server],
                          stack.env(**extra_env))
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        api.ensure_alive()
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200

    wait_until(healthy, timeout=60, what="API /healthz")
    return api, base


def create_api_key(stack: Stack, tenant: str, kind: str = "merchant") -> str:
    """A tenant key made with the `skupix keys create` command (the key is its last output line)."""
    done = subprocess.run([SKUPIX, "keys", "create", "--tenant", tenant, "--kind", kind], env=stack.env(),
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


# --------------------------------------------------------------------------------------------------
# nginx edge
# --------------------------------------------------------------------------------------------------


def render_edge_config(listen: str, upstream: str, cache_dir: Path, max_body: str = "48m",
                       cache_size: str = "256m", blob_root: Path | None = None,
                       purge_token: str = "edge-tests-purge-token") -> str:
    """infra/nginx/skupix-edge.conf.template with its variables filled in, as the nginx image does."""
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    values = {
        "SKUPIX_EDGE_LISTEN": listen,
        "SKUPIX_EDGE_UPSTREAM": upstream,
        "SKUPIX_EDGE_CACHE_DIR": str(cache_dir),
        "SKUPIX_EDGE_CACHE_SIZE": cache_size,
        "SKUPIX_EDGE_MAX_BODY": max_body,
        "SKUPIX_EDGE_BLOB_ROOT": str(blob_root or cache_dir / "no-blobs"),
        "SKUPIX_EDGE_PURGE_TOKEN": purge_token,
        "SKUPIX_EDGE_USAGE_LOG": str(cache_dir.parent / "usage.jsonl"),
    }
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${SKUPIX_" not in text, "the edge template uses a variable the tests do not fill in"
    return text


@dataclass
class Edge:
    """A running nginx edge."""

    url: str
    process: ManagedProcess
    root: Path


def nginx_binary() -> str:
    """Path of the nginx binary, or skip/fail when it is not installed."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        unavailable("nginx is not installed (scripts/ci-services.sh installs Debian's nginx-light)")
        raise AssertionError("unreachable")
    return binary


def start_edge(processes: ProcessSet, root: Path, upstream: str, blob_root: Path | None = None,
               port: int | None = None) -> Edge:
    """Run the real nginx with the edge config on a free port (or `port`), its files all under `root`."""
    binary = nginx_binary()
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    for folder in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (root / folder).mkdir(exist_ok=True)
    (root / "skupix-edge.conf").write_text(
        render_edge_config(f"127.0.0.1:{port}", upstream, root / "cache", blob_root=blob_root), encoding="utf-8")
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the root-owned temp folders
    mime_types = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    (root / "nginx.conf").write_text(f"""{user}worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    {mime_types}
    default_type application/octet-stream;
    access_log {root}/logs/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/skupix-edge.conf;
}}
""", encoding="utf-8")
    check = subprocess.run([binary, "-t", "-p", str(root), "-c", str(root / "nginx.conf")], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, f"nginx rejects the edge config:\n{check.stderr}"
    process = processes.start("nginx", [binary, "-p", str(root), "-c", str(root / "nginx.conf"),
                                        "-g", "daemon off;"], base_env())
    wait_until(lambda: process.listening(port), timeout=20, what="nginx")
    return Edge(url=f"http://127.0.0.1:{port}", process=process, root=root)
