"""The `skupix` CLI's own logic, in-process: slot names, per-file failures, download names, tenants."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api import cli
from api.client import SkupixClient
from registry.runtime import Runtime
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
