"""`skupix profiles` and `skupix platforms`: definition files (TOML or JSON, UTF-8) sent to the in-process API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.client import SkupixClient
from registry.runtime import Runtime
from tests.conftest import make_key
from tests.fixtures.pictures import jpeg, product

TOML_PROFILE = """\
display_name = "Vitrine quadrada · 方形 · ショップ"
[definition]
width = 300
height = 300
fit = "pad"
fill = 0.8
format = "JPEG"
description = "Mosaico da loja, página de produto"
"""


@pytest.fixture
def api(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The CLI's HTTP client talks to the in-process app (the key it is given goes along)."""

    def init(self: SkupixClient, base_url: str, api_key: str, timeout: float = 120.0) -> None:
        self.base_url = "http://testserver"
        self.http = TestClient(client.app, headers={"Authorization": f"Bearer {api_key}"})
        self.anonymous = TestClient(client.app)

    monkeypatch.setattr(SkupixClient, "__init__", init)
    return client


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli.cli, list(args))


def _said(result: Any) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(str(result.output).split())


@pytest.fixture
def key(runtime: Runtime) -> str:
    """A platform tenant's key (it may define profiles and platforms)."""
    return make_key(runtime, "Mercado Ñandú", "platform")


def test_a_profile_goes_from_a_toml_file_to_published(api: TestClient, key: str, tmp_path: Path) -> None:
    path = tmp_path / "quadrado.toml"
    path.write_text(TOML_PROFILE, encoding="utf-8")
    made = _run("profiles", "create", str(path), "--namespace", "nandu", "--key", key)
    assert made.exit_code == 0, made.output
    body = json.loads(made.stdout)
    assert (body["name"], body["display_name"]) == ("nandu~quadrado", "Vitrine quadrada · 方形 · ショップ")
    assert body["description"] == "Mosaico da loja, página de produto"
    wider = tmp_path / "v2.json"
    wider.write_text(json.dumps({"width": 400, "height": 300, "fit": "pad", "format": "JPEG"}), encoding="utf-8")
    changed = _run("profiles", "version", "nandu~quadrado", str(wider), "--display-name", "Largo · 広い",
                   "--key", key)
    assert changed.exit_code == 0, changed.output
    assert (json.loads(changed.stdout)["version"], json.loads(changed.stdout)["width"]) == (2, 400)
    mine = _run("profiles", "list", "--mine", "--json", "--key", key)
    assert [p["name"] for p in json.loads(mine.stdout)] == ["nandu~quadrado"]
    assert _run("profiles", "show", "nandu~quadrado").exit_code == 1  # unpublished: hidden from anonymous callers
    assert _run("profiles", "publish", "nandu~quadrado", "--key", key).exit_code == 0
    shown = _run("profiles", "show", "nandu~quadrado")
    assert shown.exit_code == 0 and len(json.loads(shown.stdout)["history"]) == 2
    table = _run("profiles", "list", "--key", key)
    assert table.exit_code == 0 and "nandu~quadrado" in table.stdout and "amazon_main" in table.stdout
    retired = _run("profiles", "retire", "nandu~quadrado", "--key", key)
    assert retired.exit_code == 0 and json.loads(retired.stdout)["retired"]


def test_a_platform_file_maps_roles_and_is_used_by_pull(api: TestClient, runtime: Runtime, key: str,
                                                        tmp_path: Path) -> None:
    seller = make_key(runtime, "Loja Três Irmãos", "merchant")
    sent = api.post("/v1/media", headers={"Authorization": f"Bearer {seller}"}, data={"sku": "CAFÉ-茶", "role": "main"},
                    files={"file": ("a.jpg", jpeg(product(4, size=640)), "image/jpeg")})
    assert sent.status_code == 201, sent.text
    path = tmp_path / "loja.toml"
    path.write_text('name = "loja"\ndisplay_name = "Loja · 店"\n[roles]\nmain = "web_thumb"\nswatch = "swatch"\n',
                    encoding="utf-8")
    made = _run("platforms", "create", str(path), "--key", key)
    assert made.exit_code == 0, made.output
    name = json.loads(made.stdout)["platform"]
    assert name.endswith("~loja") and json.loads(made.stdout)["roles"]["main"] == "web_thumb"
    assert _run("platforms", "publish", name, "--key", key).exit_code == 0
    pulled = _run("pull", "--platform", name, "--sku", "CAFÉ-茶", "--out", str(tmp_path / "out"), "--key", seller)
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "out" / "CAFÉ-茶.MAIN.webp").stat().st_size > 0
    top = tmp_path / "v2.json"
    top.write_text(json.dumps({"main": "web_large"}), encoding="utf-8")  # roles at the top level
    changed = _run("platforms", "version", name, str(top), "--key", key)
    assert changed.exit_code == 0 and json.loads(changed.stdout)["version"] == 2
    listed = _run("platforms", "list", "--json", "--key", seller)
    assert name in [p["platform"] for p in json.loads(listed.stdout)]
    assert json.loads(_run("platforms", "show", name).stdout)["roles"] == {"main": "web_large"}
    assert _run("platforms", "list").exit_code == 0
    assert json.loads(_run("platforms", "retire", name, "--key", key).stdout)["retired"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("a.toml", "width = ", "not valid TOML"),
    ("a.json", "{nope", "not valid JSON"),
    ("a.json", "[1, 2]", "must hold a table"),
    ("a.toml", 'name = "x"\n', "has no definition"),
    ("a.toml", "width = 3\n[definition]\nheight = 3\n", "put every field under [definition]"),
], ids=["toml", "json", "list", "empty", "mixed"])
def test_bad_files_are_refused_before_any_request(api: TestClient, key: str, tmp_path: Path, name: str, text: str,
                                                  message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = _run("profiles", "create", str(path), "--key", key)
    assert result.exit_code == 2 and message in _said(result), result.output
    assert json.loads(_run("profiles", "list", "--mine", "--json", "--key", key).stdout) == []


def test_a_file_that_is_not_utf8_is_named(api: TestClient, key: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('display_name = "Óticas"\n[definition]\nwidth = 3\n'.encode("latin-1"))
    result = _run("profiles", "create", str(path), "--key", key)
    assert result.exit_code == 2 and "not UTF-8" in _said(result)


def test_server_refusals_exit_1_with_the_code(api: TestClient, runtime: Runtime, key: str, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[roles]\nmain = "nobody~secret"\n', encoding="utf-8")
    refused = _run("platforms", "create", str(path), "--key", key)
    assert refused.exit_code == 1 and "invalid_platform" in _said(refused)
    merchant = make_key(runtime, "Só Vende", "merchant")
    forbidden = _run("platforms", "create", str(path), "--key", merchant)
    assert forbidden.exit_code == 1 and "forbidden" in _said(forbidden)
    assert _run("profiles", "publish", "x~y").exit_code == 2  # no key


def test_local_render_names_tenant_platforms_as_server_only(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg(product(3, size=300)))
    result = _run("render", str(path), "--out", str(tmp_path / "o"), "--platform", "acme~shop")
    assert result.exit_code == 2 and "tenant platform" in _said(result)
