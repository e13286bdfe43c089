"""The coverage report as JSON (contract §6.3), for tools."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable, Iterable
from typing import Any

from pgsync.core.coverage import (
    SIDES,
    CoverageReport,
    GroupCard,
    StackRow,
    default_only,
    unprotected,
)
from pgsync.core.impact import Enforcement, PackEnforcement


def render_report_json(report: CoverageReport, generated: datetime.datetime | None = None) -> str:
    """`generated`: when the report was made, as `generatedAt` (ISO 8601, UTC) when given."""
    document: dict[str, Any] = {"organization": report.organization}
    if generated is not None:
        document["generatedAt"] = (
            generated.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
        )
    summary: dict[str, Any] = {side: report.counts(side).to_json() for side in SIDES}
    summary["changed"] = len(report.changed)
    document |= {
        "summary": summary,
        "packs": list(report.packs),
        "stacks": [
            {"stack": str(row.stack), "live": row.live.to_json(), "desired": row.desired.to_json()}
            for row in report.stacks
        ],
        "defaultOnly": _flagged(report.default_only(), default_only),
        "noPreventative": _flagged(report.unprotected(), unprotected),
        "groups": [_card(card) for card in report.groups],
        "metadata": dataclasses.asdict(report.metadata) if report.metadata else None,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _flagged(rows: Iterable[StackRow], test: Callable[[Enforcement], bool]) -> list[dict[str, Any]]:
    """Each stack with whether `test` holds live and with the files."""
    return [
        {"stack": str(row.stack), **{side: test(row.side(side)) for side in SIDES}} for row in rows
    ]


def _card(card: GroupCard) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "name": card.name,
        "mode": card.mode,
        "isOrgDefault": card.is_default,
        "action": card.action,
    }
    if card.renamed:
        shown["previousName"] = card.live_name
    for side in SIDES:
        found = card.side(side)
        shown[side] = (
            {
                "stacks": found.stacks,
                "accounts": found.accounts,
                "stackRule": found.stack_rule,
                "packs": _packs(found.packs),
            }
            if found is not None
            else None
        )
    return shown


def _packs(packs: Iterable[PackEnforcement]) -> dict[str, Any]:
    return {p.name: p.to_json() for p in packs}
