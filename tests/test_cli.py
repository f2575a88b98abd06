"""The `skupix` CLI's own logic, in-process: slot names, per-file failures, download names, tenants."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from api import cli
from api.client import SkupixClient
from registry.runtime import Runtime
from registry.settings import Settings
from registry.skus.service import SlotRole, listing_file_name
from registry.tenants.service import create_key
from tests.fixtures.pictures import jpeg, product

PATTERN = re.compile(cli.DEFAULT_PATTERN, re.IGNORECASE)


def test_amazon_slot_names_map_to_slots() -> None:
    assert cli.slot_from_name("TÊNIS-42.MAIN", PATTERN) == ("TÊNIS-42", "main", 0)
    assert cli.slot_from_name("TÊNIS-42.PT01", PATTERN) == ("TÊNIS-42", "gallery", 0)
    assert cli.slot_from_name("TÊNIS-42.PT08", PATTERN) == ("TÊNIS-42", "gallery", 7)
    assert cli.slot_from_name("靴.SWCH", PATTERN) == ("靴", "swatch", 0)
    assert cli.slot_from_name("no-slot-here", PATTERN) == (None, None, None)
    with pytest.raises(ValueError, match="PT01"):  # PT00 would silently take PT01's place
        cli.slot_from_name("TÊNIS-42.PT00", PATTERN)


def test_ingest_reports_each_failed_file_and_still_prints_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("A.MAIN.jpg", "A.PT00.jpg", "B.MAIN.jpg", "C.MAIN.jpg"):
        (tmp_path / name).write_bytes(jpeg(product(len(name), size=200)))
    answers: Iterator[dict[str, object]] = iter([{"dedup": "new"}, {"dedup": "exact"}])

    def upload(self: SkupixClient, path: Path, sku: str | None = None, role: str | None = None,
               position: int | None = None) -> dict[str, object]:
        if path.name == "B.MAIN.jpg":  # deleted while the run was going
            path.unlink()
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return next(answers)

    monkeypatch.setattr(SkupixClient, "upload", upload)
    result = CliRunner().invoke(cli.cli, ["ingest", str(tmp_path), "--key", "sk_test", "--concurrency", "1"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["new"], summary["exact"], summary["failed"]) == (1, 1, 2)
    sizes = {name: (tmp_path / name).stat().st_size for name in ("A.MAIN.jpg", "C.MAIN.jpg")}
    assert summary["bytes_total"] == sum(sizes.values())  # failed files were not uploaded
    assert "A.PT00.jpg" in result.output and "B.MAIN.jpg" in result.output


def test_listing_file_names_fit_any_disk_and_stay_distinct() -> None:
    long_a, long_b = "保温杯" * 66 + "甲", "保温杯" * 66 + "乙"  # 199 characters, 597 bytes each
    name_a = listing_file_name(long_a, SlotRole.GALLERY, 98, "avif")
    name_b = listing_file_name(long_b, SlotRole.GALLERY, 98, "avif")
    assert name_a != name_b
    assert max(len(name_a.encode()), len(name_b.encode())) <= 255
    assert name_a.startswith("保温杯保温杯") and name_a.endswith(".PT99.avif")
    name_a.encode().decode()  # cut on a character boundary
    assert listing_file_name("Tênis/42", SlotRole.MAIN, 0, "jpg") == "Tênis_42.MAIN.jpg"


def test_a_tenant_name_is_one_tenant_however_its_accents_were_typed(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        composed, _ = create_key(session, "Loja Azul S\u00e3o", "merchant")
        decomposed, _ = create_key(session, "Loja Azul Sa\u0303o", "merchant")
        assert composed.id == decomposed.id and composed.name == "Loja Azul S\u00e3o"


def _summary(output: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return parsed


def test_render_writes_platform_files_and_flags_what_would_be_rejected(tmp_path: Path) -> None:
    big, tiny, broken = tmp_path / "保温杯.jpg", tmp_path / "tiny.jpg", tmp_path / "broken.jpg"
    big.write_bytes(jpeg(product(7, size=3000)))
    tiny.write_bytes(jpeg(product(8, size=300)))
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.cli, ["render", str(big), str(tiny), str(broken), "--platform", "amazon",
                                          "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output  # the tiny picture would be rejected, the broken one unread
    summary = _summary(result.stdout)
    assert summary["failed_files"] == 1
    outcomes = summary["outcomes"]
    assert isinstance(outcomes, list)
    by_key = {(Path(o["file"]).name, o["profile"]): o for o in outcomes}
    assert {p for _f, p in by_key} == {"amazon_main", "amazon_gallery", "amazon_swatch"}
    assert by_key[("保温杯.jpg", "amazon_main")]["verdict"] == "pass"
    main = out / "保温杯.amazon_main.jpg"
    assert main.exists() and by_key[("保温杯.jpg", "amazon_main")]["output"] == str(main)
    with Image.open(main) as rendered:
        assert rendered.size == (2000, 2000) and rendered.getpixel((0, 0)) == (255, 255, 255)
    flagged = by_key[("tiny.jpg", "amazon_main")]
    assert flagged["verdict"] == "fail" and flagged["output"] is None  # reported, never produced
    assert "too small" in str(flagged["problems"])
    assert not (out / "tiny.amazon_main.jpg").exists()
    assert "broken.jpg" in result.output


def test_render_one_profile_in_parallel_passes(tmp_path: Path) -> None:
    files = []
    for seed in (1, 2):
        path = tmp_path / f"p{seed}.png"
        product(seed, size=600).save(path)
        files.append(str(path))
    result = CliRunner().invoke(cli.cli, ["render", *files, "--profile", "web_thumb", "--out", str(tmp_path / "o"),
                                          "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert _summary(result.stdout)["pass"] == 2
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p1.web_thumb.webp", "p2.web_thumb.webp"]


@pytest.mark.parametrize(
    "args", [["--platform", "amazon", "--profile", "web_thumb"], [], ["--platform", "nowhere"],
             ["--profile", "no_such_profile"]],
)
def test_render_refuses_bad_choices(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg(product(3, size=300)))
    result = CliRunner().invoke(cli.cli, ["render", str(path), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output


def test_edge_usage_refuses_a_missing_log_and_counts_a_present_one(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}",
                        storage_url="", broker_url="", public_url="")
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    log = tmp_path / "edge" / "usage.jsonl"
    missing = CliRunner().invoke(cli.cli, ["edge-usage", str(log)])
    assert missing.exit_code == 1 and "no log at" in missing.output
    log.parent.mkdir()
    line = {"ts": 1796342400.0, "method": "GET", "uri": "/v/ast_1/web_thumb/v1.webp", "status": 200, "cache": "HIT",
            "referer": "https://loja.example.com.br/"}
    log.write_text(json.dumps(line) + "\n" + json.dumps(line | {"cache": "MISS"}) + "\n", encoding="utf-8")
    counted = CliRunner().invoke(cli.cli, ["edge-usage", str(log)])
    assert counted.exit_code == 0, counted.output
    assert "2 line(s) read, 1 cache hit(s) counted" in counted.output
    assert (tmp_path / "edge" / "usage.jsonl.position").exists()
