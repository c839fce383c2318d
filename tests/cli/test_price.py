"""`evcsms price`: OCPI tariff + OCPI CDR in, OCPI cost fields out; bad input names the field."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evcsms.cli.main import cli

DATA = Path(__file__).parent / "data"


def run(tmp_path: Path, tariff: Any, cdr: Any, *extra: str) -> Any:
    tariff_file, cdr_file = tmp_path / "tariff.json", tmp_path / "cdr.json"
    tariff_file.write_text(tariff if isinstance(tariff, str) else json.dumps(tariff))
    cdr_file.write_text(cdr if isinstance(cdr, str) else json.dumps(cdr))
    return CliRunner().invoke(cli, ["price", "--tariff", str(tariff_file), "--cdr", str(cdr_file),
                                    *extra])


def full_cdr() -> dict[str, Any]:
    return json.loads((DATA / "cdr_full.json").read_text())


def test_prices_a_full_ocpi_cdr_with_its_tariff(tmp_path: Path) -> None:
    cdr = full_cdr()
    result = run(tmp_path, cdr["tariffs"][0], cdr, "--time-zone", "Europe/Amsterdam")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output, parse_float=Decimal)
    # 1.973 h of charging, billed in 5-minute steps: 120 min x 2.00/h, 10 % VAT
    assert out["total_cost"] == {"excl_vat": Decimal("4.00"), "incl_vat": Decimal("4.40")}
    assert out["total_cost"] == {k: Decimal(str(v)) for k, v in cdr["total_cost"].items()}
    assert out["total_time_cost"] == out["total_cost"]
    assert out["total_energy"] == Decimal("15.342")
    for name in ("total_fixed_cost", "total_energy_cost", "total_parking_cost"):
        assert out[name] == {"excl_vat": 0, "incl_vat": 0}
    assert out["total_parking_time"] == 0
    (period,) = out["charging_periods_cost"]
    assert [ln["dimension"] for ln in period["lines"]] == ["ENERGY", "TIME"] or \
        [ln["dimension"] for ln in period["lines"]] == ["TIME"]
    (step,) = out["step_size_cost"]
    assert step["dimension"] == "TIME" and step["unit"] == "h"


def test_numbers_come_out_as_json_numbers(tmp_path: Path) -> None:
    cdr = full_cdr()
    result = run(tmp_path, cdr["tariffs"][0], cdr)
    assert '"excl_vat": 4.00' in result.output


@pytest.mark.parametrize(("change", "message"), [
    (lambda t, c: ("{not json", c), "--tariff: .* is not JSON"),
    (lambda t, c: ({**t, "currency": "XXY"}, c), "--tariff: currency: 'XXY'"),
    (lambda t, c: ({**t, "elements": [{"price_components": [
        {"type": "TIME", "price": -1, "step_size": 1}]}]}, c),
     r"--tariff: elements\[0\].price_components\[0\].price: must not be negative"),
    (lambda t, c: (t, {**c, "charging_periods": [{**c["charging_periods"][0],
                                                  "start_date_time": "2024-02-12T16:00:00Z"}]}),
     r"--cdr: charging_periods\[0\].start_date_time: before"),
    (lambda t, c: (t, {**c, "currency": "USD"}), "--cdr: currency 'USD' differs"),
    (lambda t, c: (t, {**c, "end_date_time": "yesterday"}), "--cdr: end_date_time: 'yesterday'"),
    (lambda t, c: (t, [1, 2]), "--cdr: cdr: expected a JSON object"),
])
def test_bad_input_exits_non_zero_naming_the_field(tmp_path: Path, change: Any, message: str) -> None:
    cdr = full_cdr()
    tariff, cdr = change(cdr["tariffs"][0], cdr)
    result = run(tmp_path, tariff, cdr)
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert re.search(message, result.output), result.output


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    cdr = full_cdr()
    result = run(tmp_path, cdr["tariffs"][0], cdr, "--time-zone", "Mars/Olympus")
    assert result.exit_code == 2
    assert "--time-zone: 'Mars/Olympus'" in result.output


# -- evcsms tariffs / sites --------------------------------------------------------------------


def test_tariffs_import_assign_list_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EVCSMS_DATABASE_URL", "EVCSMS_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    runner = CliRunner()
    tariff = full_cdr()["tariffs"][0]
    (tmp_path / "t.json").write_text(json.dumps(tariff))

    assert runner.invoke(cli, ["stations", "add", "CP1", "--no-password"], env=env).exit_code == 0
    sites = runner.invoke(cli, ["sites", "add", "HQ", "--time-zone", "Europe/Amsterdam",
                                "--station", "CP1"], env=env)
    assert sites.exit_code == 0, sites.output
    imported = runner.invoke(cli, ["tariffs", "import", str(tmp_path / "t.json"),
                                   "--assign", "site:HQ"], env=env)
    assert imported.exit_code == 0, imported.output
    assert "stored as version 1" in imported.output
    again = runner.invoke(cli, ["tariffs", "import", str(tmp_path / "t.json")], env=env)
    assert "unchanged, still version 1" in again.output
    listed = runner.invoke(cli, ["tariffs", "list"], env=env)
    assert "T-TIME-2" in listed.output and "site:HQ" in listed.output
    exported = runner.invoke(cli, ["tariffs", "export", "T-TIME-2"], env=env)
    assert json.loads(exported.output, parse_float=Decimal)["elements"] == json.loads(
        json.dumps(tariff["elements"]), parse_float=Decimal)
    bad = runner.invoke(cli, ["tariffs", "assign", "T-TIME-2", "planet:X"], env=env)
    assert bad.exit_code == 1 and "scope: 'planet'" in bad.output
    missing = runner.invoke(cli, ["tariffs", "export", "NOPE"], env=env)
    assert missing.exit_code == 1 and "tariff 'NOPE' does not exist" in missing.output
