"""`evcsms price`: price an OCPI CDR with an OCPI tariff, offline, and show the working."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from evcsms.domain import jsontext
from evcsms.domain.cdr_usage import quote_to_ocpi, usage_from_cdr
from evcsms.domain.pricing import PricingError, price_session
from evcsms.domain.tariffs import TariffError, parse_tariff


@click.command()
@click.option("--tariff", "tariff_path", required=True, type=click.Path(dir_okay=False),
              help="OCPI 2.2.1 Tariff object (JSON file, or - for standard input)")
@click.option("--cdr", "cdr_path", required=True, type=click.Path(dir_okay=False),
              help="OCPI 2.2.1 CDR: start_date_time, end_date_time, charging_periods are used")
@click.option("--time-zone", default="UTC", show_default=True,
              help="IANA zone the tariff's times of day and dates are in (the site's)")
def price(tariff_path: str, cdr_path: str, time_zone: str) -> None:
    """Print the OCPI CDR cost fields (total_cost, total_energy_cost, ...) and a
    per-period breakdown of how each was reached, as JSON."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"--time-zone: {time_zone!r} is not an IANA time zone (e.g. Europe/Amsterdam)")
    tariff_json = _load(tariff_path, "--tariff")
    cdr_json = _load(cdr_path, "--cdr")
    try:
        tariff = parse_tariff(tariff_json)
    except TariffError as exc:
        _fail(f"--tariff: {exc}")
    if isinstance(cdr_json, dict) and isinstance(cdr_json.get("currency"), str) \
            and cdr_json["currency"] != tariff.currency:
        _fail(f"--cdr: currency {cdr_json['currency']!r} differs from the tariff's "
              f"{tariff.currency!r}")
    try:
        quote = price_session(tariff, usage_from_cdr(cdr_json), zone)
    except PricingError as exc:
        _fail(f"--cdr: {exc}")
    click.echo(jsontext.dumps(quote_to_ocpi(quote)))


def _load(path: str, flag: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"{flag}: cannot read {path}: {exc.strerror}")
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        _fail(f"{flag}: {path} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")


def _fail(message: str) -> Any:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
