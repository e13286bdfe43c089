"""Policy Groups endpoints over the client: JSON ↔ model at the boundary, concurrent reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import quote

from pgsync.client import Client
from pgsync.errors import ApiError, FeatureUnavailable, PgsyncError
from pgsync.matchrule import match_rule
from pgsync.model import (
    AppliedPack,
    Coverage,
    DesiredState,
    EntityType,
    LiveGroup,
    LiveState,
    MatchRule,
    Mode,
    OrgCatalog,
    PublishedPack,
    RuleEntity,
    RulePreview,
    StackRef,
    canonical_json,
)
from pgsync.plan import Request, group_path, groups_path
from pgsync.replace import is_temporary

Progress = Callable[[int, int], None]


def live_group_from_api(body: Mapping[str, Any]) -> LiveGroup:
    """A group as GET returns it; optional fields (displayName, config, …) may be absent."""
    try:
        return LiveGroup(
            name=str(body["name"]),
            entity_type=cast(EntityType, body.get("entityType", "stacks")),
            mode=cast(Mode, body.get("mode", "preventative")),
            is_default=bool(body.get("isOrgDefault", False)),
            stacks=frozenset(StackRef.from_api(s) for s in body.get("stacks") or ()),
            accounts=frozenset(str(a) for a in body.get("accounts") or ()),
            packs=tuple(
                sorted(
                    (_applied_pack(p) for p in body.get("appliedPolicyPacks") or ()),
                    key=lambda p: p.name,
                )
            ),
            agent_pool_id=str(body.get("agentPoolId") or ""),
            stack_rule=_rule(body.get("stackMatchRule"), "stack"),
            account_rule=_rule(body.get("accountMatchRule"), "account"),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise PgsyncError(f"unexpected policy group in API response: missing {error}") from None


def _rule(body: Any, entity: RuleEntity) -> MatchRule | None:
    return match_rule(body, entity) if isinstance(body, Mapping) and body else None


def _applied_pack(body: Mapping[str, Any]) -> AppliedPack:
    return AppliedPack(
        name=str(body["name"]),
        version_tag=str(body.get("versionTag", "")),
        version=int(body.get("version", 0)),
        display_name=str(body.get("displayName") or body["name"]),
        config_json=canonical_json(body.get("config") or {}),
        environments=tuple(body.get("environments") or ()),
    )


class PolicyGroupsApi:
    """The endpoints pgsync uses, for one organization."""

    def __init__(self, client: Client, organization: str) -> None:
        self.client = client
        self.organization = organization
        self._org = quote(organization, safe="")

    def group_names(self) -> list[str]:
        body = self.client.get(groups_path(self.organization))
        return sorted(str(g["name"]) for g in body.get("policyGroups") or ())

    def get_group(self, name: str) -> LiveGroup | None:
        body = self.client.get_or_none(group_path(self.organization, name))
        return live_group_from_api(body) if body is not None else None

    def get_groups(
        self, names: Iterable[str], progress: Progress | None = None
    ) -> dict[str, LiveGroup]:
        """Group details read concurrently, at most `parallelism` at a time."""
        with ThreadPoolExecutor(max_workers=self.client.parallelism) as pool:
            return self._collect(pool, list(names), progress)

    def _collect(
        self, pool: ThreadPoolExecutor, names: list[str], progress: Progress | None
    ) -> dict[str, LiveGroup]:
        found: dict[str, LiveGroup] = {}
        for done, (name, group) in enumerate(
            zip(names, pool.map(self.get_group, names), strict=True), start=1
        ):
            if group is not None:
                found[name] = group
            if progress is not None:
                progress(done, len(names))
        return found

    def coverage(self) -> Coverage:
        return Coverage.from_api(self.client.get(f"{groups_path(self.organization)}/metadata"))

    def published_packs(self) -> dict[str, PublishedPack]:
        body = self.client.get(f"/api/orgs/{self._org}/policypacks")
        packs = {}
        for pack in body.get("policyPacks") or ():
            # The listing gives parallel lists: versions[i] is the number of versionTags[i].
            tags = [str(t) for t in pack.get("versionTags") or ()]
            numbers = [int(v) for v in pack.get("versions") or ()]
            packs[str(pack["name"])] = PublishedPack(
                name=str(pack["name"]),
                display_name=str(pack.get("displayName") or pack["name"]),
                versions=dict(zip(tags, numbers, strict=False)),
            )
        return packs

    def stacks(self) -> frozenset[StackRef]:
        found: set[StackRef] = set()
        token: str | None = None
        while True:
            params = {"organization": self.organization}
            if token:
                params["continuationToken"] = token
            body = self.client.get("/api/user/stacks", params=params)
            found.update(
                StackRef(str(s["projectName"]), str(s["stackName"]))
                for s in body.get("stacks") or ()
                if s.get("orgName", self.organization) == self.organization
            )
            token = body.get("continuationToken")
            if not token:
                return frozenset(found)

    def accounts(self) -> frozenset[str]:
        """The names of the org's Insights accounts."""
        found: set[str] = set()
        token: str | None = None
        while True:
            params = {"continuationToken": token} if token else None
            body = self.client.get(f"/api/preview/insights/{self._org}/accounts", params=params)
            found.update(str(account["name"]) for account in body.get("accounts") or ())
            token = body.get("nextToken")
            if not token:
                return frozenset(found)

    def with_rule_members(
        self, group: LiveGroup
    ) -> tuple[LiveGroup, dict[tuple[RuleEntity, str], RulePreview]]:
        """The group with what its rules match now, and the counts of those rules."""
        counts: dict[tuple[RuleEntity, str], RulePreview] = {}
        found: dict[RuleEntity, frozenset[str]] = {}
        for rule in (group.stack_rule, group.account_rule):
            if rule is not None:
                found[rule.entity], count = self.matches(rule)
                if count is not None:
                    counts[(rule.entity, rule.key)] = count
        stacks = frozenset(StackRef.parse(s) for s in found.get("stack", ()))
        accounts = found.get("account", frozenset())
        return dataclasses.replace(group, rule_stacks=stacks, rule_accounts=accounts), counts

    def preview(self, rule: MatchRule) -> RulePreview | None:
        """How many stacks (accounts) `rule` matches now; None when the answer has no counts."""
        # One entity per page: only the counts are wanted.
        return _counts(self._preview_page(rule, {"count": "1"}))

    def matches(self, rule: MatchRule) -> tuple[frozenset[str], RulePreview | None]:
        """Every stack (`project/stack`) or account `rule` matches now, page by page."""
        kind = "stacks" if rule.entity == "stack" else "accounts"
        names: set[str] = set()
        params: dict[str, str] = {}
        while True:
            body = self._preview_page(rule, params)
            for entity in body.get(kind) or ():
                names.add(
                    f"{entity['routingProject']}/{entity['name']}"
                    if rule.entity == "stack"
                    else str(entity["name"])
                )
            token = body.get("continuationToken")
            if not token:
                return frozenset(names), _counts(body)
            params = {"continuationToken": str(token)}

    def _preview_page(self, rule: MatchRule, params: Mapping[str, str]) -> Mapping[str, Any]:
        """One page of the rule preview: a read-only POST that saves nothing.

        An organization without the preview feature answers with an error:
        FeatureUnavailable, raised while planning, so that no write is tried.
        """
        field = "stackMatchRule" if rule.entity == "stack" else "accountMatchRule"
        path = f"{groups_path(self.organization)}/{field.lower()}/preview"
        try:
            body = self.client.query(path, {field: rule.expression}, params=params)
        except ApiError as error:
            # 400 is about the rule itself, and is reported as the API words it.
            if error.status in (403, 404, 501):
                maybe = ", or the token may not use them" if error.status == 403 else ""
                raise FeatureUnavailable(
                    f"match rules are not enabled for organization {self.organization}{maybe} "
                    f"(the rule preview answered HTTP {error.status}: {error.api_message}); "
                    f"remove {'stackMatch' if rule.entity == 'stack' else 'accountMatch'} "
                    "from the files, or have the preview feature enabled"
                ) from None
            raise
        return body if isinstance(body, Mapping) else {}

    def previews(
        self, desired: DesiredState, groups: Mapping[str, LiveGroup], pool: ThreadPoolExecutor
    ) -> dict[tuple[RuleEntity, str], RulePreview]:
        """Counts for every rule the plan sets (live rules are counted with their matches)."""
        wanted: dict[tuple[RuleEntity, str], MatchRule] = {}
        for group in desired.groups:
            live = groups.get(group.name) or next(
                (groups[n] for n in group.previously if n in groups), None
            )
            for setting, have in (
                (group.stack_match, live.stack_rule if live else None),
                (group.account_match, live.account_rule if live else None),
            ):
                if group.absent or setting is None or setting.rule in (None, have):
                    continue
                assert setting.rule is not None
                wanted[(setting.rule.entity, setting.rule.key)] = setting.rule
        keys = sorted(wanted)
        counts = dict(zip(keys, pool.map(lambda k: self.preview(wanted[k]), keys), strict=True))
        return {key: found for key, found in counts.items() if found is not None}

    def send(self, request: Request) -> None:
        self.client.write(request.method, request.path, request.body)

    def read_live_state(
        self,
        desired: DesiredState,
        *,
        only: frozenset[str] | None = None,
        progress: Progress | None = None,
        coverage: bool = False,
    ) -> LiveState:
        """Live groups and the catalog the desired state needs, and nothing more.

        Details are read for declared groups (and former names), and for every group when
        pruning; the rest are known by name only (unmanaged). With `only`, just those
        groups are read. With `coverage`, the org's policy coverage is read too.
        """
        names = self.group_names()
        wanted = {g.name for g in desired.groups} | {
            n for g in desired.groups for n in g.previously
        }
        if only is not None:
            read = [n for n in names if n in only]
        else:
            # Temporary groups of an interrupted replace are always read: the plan finishes
            # or rolls back what an earlier run started.
            read = [n for n in names if desired.prune or n in wanted or is_temporary(n)]
        present = [g for g in desired.groups if not g.absent]
        # Accounts are checked only where a group adds some; unknown ones are errors.
        need_accounts = any(g.accounts for g in present)
        with ThreadPoolExecutor(max_workers=self.client.parallelism) as pool:
            # The catalog is read beside the group details, in the same bounded pool, so it
            # adds no round trips of its own. Packs are needed whenever a group is declared
            # (a replace copies undeclared packs); accounts for any accounts group.
            packs = pool.submit(self.published_packs) if present else None
            stacks = pool.submit(self.stacks) if any(g.stacks for g in present) else None
            accounts = pool.submit(self.accounts) if need_accounts else None
            metadata = pool.submit(self.coverage) if coverage else None
            groups = self._collect(pool, read, progress)
            # What live rules match is shown and weighed by the safety rules, never diffed.
            ruled = [
                pool.submit(self.with_rule_members, g)
                for g in groups.values()
                if g.stack_rule or g.account_rule
            ]
            previews = self.previews(desired, groups, pool)
            for future in ruled:
                group, counts = future.result()
                groups[group.name] = group
                previews.update(counts)
            catalog = OrgCatalog(
                packs=packs.result() if packs else {},
                stacks=stacks.result() if stacks else None,
                accounts=accounts.result() if accounts else None,
            )
            found_coverage = metadata.result() if metadata else None
        return LiveState(
            organization=self.organization,
            groups=groups,
            catalog=catalog,
            unread=frozenset(names) - set(groups),
            coverage=found_coverage,
            previews=previews,
        )


def _counts(body: Mapping[str, Any]) -> RulePreview | None:
    matched, total = body.get("matchedCount"), body.get("totalCount")
    if isinstance(matched, int) and isinstance(total, int):
        return RulePreview(matched, total)
    return None
