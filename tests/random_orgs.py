"""What random organizations are drawn from: the stacks, packs, versions and levels."""

from __future__ import annotations

from pgsync.core.errors import Location

STACK_POOL = ["svc/s000", "svc/s001", "svc/s002", "svc/s003", "web/prod", "payments/prod"]
TAGS = {"aws": ["1.0.0", "1.3.0"], "cost": ["2.0.0"], "best": ["0.9.0", "1.0.0"]}
LEVELS = [None, "advisory", "mandatory", "disabled"]
HERE = Location("random.yaml", 1, 1)
