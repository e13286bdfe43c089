"""Policy Groups endpoints over the client: JSON ↔ model at the boundary, concurrent reads."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, NoReturn, TypeVar, cast

from pgsync.core import paths
from pgsync.core.errors import ApiError, BadResponse, FeatureUnavailable, PgsyncError
from pgsync.core.matchrule import match_rule
from pgsync.core.model import (
    ENTITY_TYPES,
    KNOWN_DEFAULT_GROUPS,
    MODES,
    AppliedPack,
    Coverage,
    DesiredGroup,
    DesiredState,
    LiveGroup,
    LiveState,
    MatchRule,
    OrgCatalog,
    PublishedPack,
    RuleEntity,
    RulePreview,
    StackRef,
    canonical_json,
)
from pgsync.core.replace import is_temporary
from pgsync.remote.client import Client
from pgsync.remote.fanout import Progress, read_all

if TYPE_CHECKING:
    from pgsync.core.plan import Request

LISTING_PAGE = 100
"""Stacks per page of the org's stack listing, as the service pages it (an estimate)."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, noun in ((dict, "an object"), (list, "an array"), (str, "a string")):
        if isinstance(value, kind):
            return noun
    return "a number"


class Answer:
    """Reads one route's answer: every wrong type or missing field is one BadResponse.

    The SDK's response models say what is required; optional fields may be absent or null.
    """

    __slots__ = ("route",)

    def __init__(self, route: str) -> None:
        self.route = route

    def fail(self, where: str, problem: str) -> NoReturn:
        raise BadResponse(f"{self.route}: unexpected answer: {where} {problem}")

    def object(self, value: Any, where: str = "the body") -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"is {_kind(value)}, not an object")
        return value

    def value(self, body: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
        """A required field of `kind` (bool is no int, here)."""
        found = body.get(key)
        if found is None:
            self.fail(f"{where}.{key}", "is missing")
        if not isinstance(found, kind) or (kind is int and isinstance(found, bool)):
            self.fail(f"{where}.{key}", f"is {_kind(found)}, not {_kind(kind())}")
        return found

    def text(self, body: Mapping[str, Any], key: str, where: str) -> str:
        return cast(str, self.value(body, key, str, where))

    def optional(self, body: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
        """An optional field: None when absent or null, else of `kind`."""
        return None if body.get(key) is None else self.value(body, key, kind, where)

    def objects(self, body: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
        """A list of objects; absent or null is empty (listings omit empty lists)."""
        return self._items(body, key, dict, where)

    def texts(self, body: Mapping[str, Any], key: str, where: str) -> list[str]:
        return self._items(body, key, str, where)

    def _items(self, body: Mapping[str, Any], key: str, kind: type, where: str) -> list[Any]:
        found: list[Any] = self.optional(body, key, list, where) or []
        # Checked in one pass; the place of a wrong item is worked out only when there is one.
        if not all(isinstance(item, kind) for item in found):
            i, item = next((i, x) for i, x in enumerate(found) if not isinstance(x, kind))
            self.fail(f"{where}.{key}[{i}]", f"is {_kind(item)}, not {_kind(kind())}")
        return found

    def choice(
        self, body: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str
    ) -> Any:
        found = self.text(body, key, where)
        if found not in allowed:
            self.fail(f"{where}.{key}", f"is {found!r}, not one of {', '.join(allowed)}")
        return found


def live_group_from_api(body: Any, route: str, asked: str) -> LiveGroup:
    """A group as GET returns it: the one asked for, with every field the SDK requires.

    A group the service flags isOrgDefault, or that bears a name the service gives default
    groups, is a default group: one flag alone in one answer never decides its protection.
    """
    answer = Answer(route)
    group = answer.object(body)
    name = answer.text(group, "name", "group")
    if name != asked:
        answer.fail("group.name", f"is {name!r}, not the group asked for, {asked!r}")
    packs = answer.objects(group, "appliedPolicyPacks", "group")
    return LiveGroup(
        name=name,
        entity_type=answer.choice(group, "entityType", ENTITY_TYPES, "group"),
        mode=answer.choice(group, "mode", MODES, "group"),
        is_default=answer.value(group, "isOrgDefault", bool, "group")
        or name in KNOWN_DEFAULT_GROUPS,
        stacks=_stacks(answer, answer.optional(group, "stacks", list, "group") or []),
        accounts=frozenset(answer.texts(group, "accounts", "group")),
        packs=tuple(
            sorted(
                (
                    _applied_pack(answer, p, f"group.appliedPolicyPacks[{i}]")
                    for i, p in enumerate(packs)
                ),
                key=lambda p: p.name,
            )
        ),
        agent_pool_id=answer.optional(group, "agentPoolId", str, "group") or "",
        stack_rule=_rule(answer, group, "stackMatchRule", "stack"),
        account_rule=_rule(answer, group, "accountMatchRule", "account"),
    )


def _stacks(answer: Answer, found: list[Any]) -> frozenset[StackRef]:
    # Fast for 10,000 stacks in a group (a normal case): the place is found only on failure.
    try:
        refs = [StackRef(s["routingProject"], s["name"]) for s in found]
    except (KeyError, TypeError):
        refs = []
    if len(refs) != len(found) or not all(
        type(project) is str and type(stack) is str for project, stack in refs
    ):
        for i, stack in enumerate(found):
            where = f"group.stacks[{i}]"
            answer.text(answer.object(stack, where), "routingProject", where)
            answer.text(stack, "name", where)
    return frozenset(refs)


def _rule(
    answer: Answer, group: Mapping[str, Any], key: str, entity: RuleEntity
) -> MatchRule | None:
    body = answer.optional(group, key, dict, "group")
    if not body:
        return None
    try:
        return match_rule(body, entity)
    except (KeyError, TypeError, ValueError, AttributeError):
        answer.fail(f"group.{key}", "is not an expression tree")


def _applied_pack(answer: Answer, body: Mapping[str, Any], where: str) -> AppliedPack:
    name = answer.text(body, "name", where)
    return AppliedPack(
        name=name,
        version_tag=answer.text(body, "versionTag", where),
        version=answer.value(body, "version", int, where),
        display_name=answer.optional(body, "displayName", str, where) or name,
        config_json=canonical_json(answer.optional(body, "config", dict, where) or {}),
        environments=tuple(answer.texts(body, "environments", where)),
    )


class PolicyGroupsApi:
    """The endpoints pgsync uses, for one organization."""

    def __init__(self, client: Client, organization: str) -> None:
        self.client = client
        self.organization = organization

    def group_names(self) -> list[str]:
        return sorted(self.group_list())

    def group_list(self) -> dict[str, Listed]:
        """The org's groups by name, as the group list gives them."""
        path = paths.groups(self.organization)
        answer = Answer(f"GET {path}")
        body = answer.object(self.client.get(path))
        answer.value(body, "policyGroups", list, "the body")
        listed = {}
        for i, group in enumerate(answer.objects(body, "policyGroups", "the body")):
            where = f"policyGroups[{i}]"
            name = answer.text(group, "name", where)
            listed[name] = Listed(
                answer.optional(group, "numStacks", int, where),
                # The service leaves the count out when it is 0 (the API page's Summary).
                answer.optional(group, "numAccounts", int, where) or 0,
            )
        return listed

    def get_group(self, name: str) -> LiveGroup | None:
        """The group, or None on a 404; any other answer but a 200 with it is an error."""
        path = paths.group(self.organization, name)
        body = self.client.get_or_none(path)
        return live_group_from_api(body, f"GET {path}", name) if body is not None else None

    def get_groups(
        self, names: Iterable[str], progress: Progress | None = None
    ) -> dict[str, LiveGroup]:
        """Group details read concurrently, at most `parallelism` at a time."""
        with ThreadPoolExecutor(max_workers=self.client.parallelism) as pool:
            return self._collect(pool, list(names), progress)

    def _collect(
        self, pool: ThreadPoolExecutor, names: list[str], progress: Progress | None
    ) -> dict[str, LiveGroup]:
        read = read_all(pool, self.get_group, names, self.client.parallelism, progress)
        return {name: group for name, group in zip(names, read, strict=True) if group is not None}

    def coverage(self) -> Coverage:
        path = paths.coverage(self.organization)
        return Coverage.from_api(Answer(f"GET {path}").object(self.client.get(path)))

    def published_packs(self) -> dict[str, PublishedPack]:
        path = paths.packs(self.organization)
        answer = Answer(f"GET {path}")
        body = answer.object(self.client.get(path))
        packs = {}
        for i, pack in enumerate(answer.objects(body, "policyPacks", "the body")):
            where = f"policyPacks[{i}]"
            name = answer.text(pack, "name", where)
            # The listing gives parallel lists: versions[i] is the number of versionTags[i].
            tags = answer.texts(pack, "versionTags", where)
            numbers = answer.optional(pack, "versions", list, where) or []
            if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
                answer.fail(f"{where}.versions", "holds something other than numbers")
            packs[name] = PublishedPack(
                name=name,
                display_name=answer.optional(pack, "displayName", str, where) or name,
                versions=dict(zip(tags, numbers, strict=False)),
            )
        return packs

    def stacks(self, stop: threading.Event | None = None) -> frozenset[StackRef]:
        """The org's stacks, page after page (until `stop` is set)."""
        found: set[StackRef] = set()
        token: str | None = None
        while True:
            _check(stop)
            params = {"organization": self.organization}
            if token:
                params["continuationToken"] = token
            answer = Answer(f"GET {paths.USER_STACKS}")
            body = answer.object(self.client.get(paths.USER_STACKS, params=params))
            for i, stack in enumerate(answer.objects(body, "stacks", "the body")):
                where = f"stacks[{i}]"
                if answer.optional(stack, "orgName", str, where) in (None, self.organization):
                    found.add(
                        StackRef(
                            answer.text(stack, "projectName", where),
                            answer.text(stack, "stackName", where),
                        )
                    )
            token = answer.optional(body, "continuationToken", str, "the body")
            if not token:
                return frozenset(found)

    def accounts(self, stop: threading.Event | None = None) -> frozenset[str]:
        """The names of the org's Insights accounts (until `stop` is set)."""
        found: set[str] = set()
        token: str | None = None
        while True:
            _check(stop)
            params = {"continuationToken": token} if token else None
            path = paths.accounts(self.organization)
            answer = Answer(f"GET {path}")
            body = answer.object(self.client.get(path, params=params))
            found.update(
                answer.text(account, "name", f"accounts[{i}]")
                for i, account in enumerate(answer.objects(body, "accounts", "the body"))
            )
            token = answer.optional(body, "nextToken", str, "the body")
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
        return _counts(self._preview_page(rule, {"count": "1"})[1])

    def matches(self, rule: MatchRule) -> tuple[frozenset[str], RulePreview | None]:
        """Every stack (`project/stack`) or account `rule` matches now, page by page."""
        kind = "stacks" if rule.entity == "stack" else "accounts"
        names: set[str] = set()
        params: dict[str, str] = {}
        while True:
            answer, body = self._preview_page(rule, params)
            for i, entity in enumerate(answer.objects(body, kind, "the body")):
                where = f"{kind}[{i}]"
                name = answer.text(entity, "name", where)
                names.add(
                    f"{answer.text(entity, 'routingProject', where)}/{name}"
                    if rule.entity == "stack"
                    else name
                )
            token = answer.optional(body, "continuationToken", str, "the body")
            if not token:
                return frozenset(names), _counts(body)
            params = {"continuationToken": token}

    def _preview_page(
        self, rule: MatchRule, params: Mapping[str, str]
    ) -> tuple[Answer, Mapping[str, Any]]:
        """One page of the rule preview: a read-only POST that saves nothing.

        An organization without the preview feature answers with an error:
        FeatureUnavailable, raised while planning, so that no write is tried.
        """
        field = "stackMatchRule" if rule.entity == "stack" else "accountMatchRule"
        path = paths.rule_preview(self.organization, rule.entity)
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
        answer = Answer(f"POST {path}")
        return answer, answer.object(body)

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
        """Sends one write; never a delete or rename of a group with a default group's name.

        The last line of defence, whatever the plan, a saved plan file or the answers said.
        """
        renames = request.method == "PATCH" and isinstance(request.body, Mapping)
        if (request.method == "DELETE" or (renames and "newName" in request.body)) and any(
            request.path == paths.group(self.organization, name) for name in KNOWN_DEFAULT_GROUPS
        ):
            raise PgsyncError(
                f"refusing to send {request.method} {request.path}: it would delete or rename "
                "a default group"
            )
        self.client.write(request.method, request.path, request.body)

    def stack_exists(self, stack: StackRef) -> bool:
        """Whether the org has `stack` (a 404 says it has not, or the token cannot see it)."""
        path = paths.stack(self.organization, stack)
        body = self.client.get_or_none(path)
        if body is not None:
            Answer(f"GET {path}").object(body)
        return body is not None

    def account_exists(self, name: str) -> bool:
        """Whether the org has the Insights account `name` (a child's name holds a `/`)."""
        path = paths.account(self.organization, name)
        body = self.client.get_or_none(path)
        if body is not None:
            Answer(f"GET {path}").object(body)
        return body is not None

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
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=self.client.parallelism) as pool:
            try:
                return self._read_live(
                    pool, stop, desired, only=only, progress=progress, coverage=coverage
                )
            except BaseException:
                # Failed or interrupted: the queued reads are dropped and a listing ends at
                # its next page; only the requests already sent are waited for.
                stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _read_live(
        self,
        pool: ThreadPoolExecutor,
        stop: threading.Event,
        desired: DesiredState,
        *,
        only: frozenset[str] | None,
        progress: Progress | None,
        coverage: bool,
    ) -> LiveState:
        present = [g for g in desired.groups if not g.absent]
        # Reads that need nothing else start together with the group list: in one pool they
        # cost one round trip between them. Packs are needed whenever a group is declared (a
        # replace copies undeclared packs).
        listed = pool.submit(self.group_list)
        packs = pool.submit(self.published_packs) if present else None
        # The coverage's counts also tell whether checking declared stacks (accounts) one by
        # one or paging the org's listing takes fewer requests.
        declares = any(g.stacks or g.accounts for g in present)
        metadata = pool.submit(self.coverage) if coverage or declares else None
        listing = listed.result()
        names = sorted(listing)
        to_read = self._to_read(desired, names, only)

        def list_stacks() -> frozenset[StackRef]:
            return self.stacks(stop)

        def list_accounts() -> frozenset[str]:
            return self.accounts(stop)

        early = _Early.start(
            pool,
            present,
            [listing[n] for n in to_read],
            metadata,
            stacks=list_stacks,
            accounts=list_accounts,
        )
        groups = self._collect(pool, to_read, progress)
        # What live rules match is shown and weighed by the safety rules, never diffed.
        ruled = [
            pool.submit(self.with_rule_members, g)
            for g in groups.values()
            if g.stack_rule or g.account_rule
        ]
        found_coverage = metadata.result() if metadata else None
        stacks = _known(
            pool,
            [g.stacks for g in present if g.stacks is not None],
            frozenset().union(*(g.stacks for g in groups.values())),
            total=found_coverage.total_stacks if found_coverage else None,
            exists=self.stack_exists,
            listing=list_stacks,
            started=early.stacks.chosen() if early.stacks else None,
        )
        accounts = _known(
            pool,
            [g.accounts for g in present if g.accounts is not None],
            frozenset().union(*(g.accounts for g in groups.values())),
            total=found_coverage.total_accounts if found_coverage else None,
            exists=self.account_exists,
            listing=list_accounts,
            started=early.accounts.chosen() if early.accounts else None,
        )
        previews = self.previews(desired, groups, pool)
        for future in ruled:
            group, counts = future.result()
            groups[group.name] = group
            previews.update(counts)
        catalog = OrgCatalog(
            packs=packs.result() if packs else {},
            stacks=stacks() if stacks else None,
            accounts=accounts() if accounts else None,
        )
        return LiveState(
            organization=self.organization,
            groups=groups,
            catalog=catalog,
            unread=frozenset(names) - set(groups),
            coverage=found_coverage if coverage else None,
            previews=previews,
        )

    @staticmethod
    def _to_read(desired: DesiredState, names: list[str], only: frozenset[str] | None) -> list[str]:
        if only is not None:
            return [n for n in names if n in only]
        wanted = {g.name for g in desired.groups} | {
            n for g in desired.groups for n in g.previously
        }
        # Temporary groups of an interrupted replace are always read: the plan finishes or
        # rolls back what an earlier run started.
        return [n for n in names if desired.prune or n in wanted or is_temporary(n)]


Item = TypeVar("Item", StackRef, str)


def _known(
    pool: ThreadPoolExecutor,
    declared: Sequence[frozenset[Item]],
    seen: frozenset[Item],
    *,
    total: int | None,
    exists: Callable[[Item], bool],
    listing: Callable[[], frozenset[Item]],
    started: Future[frozenset[Item] | None] | None,
) -> Callable[[], frozenset[Item]] | None:
    """Starts the reads that tell which declared items exist; the result waits for them
    (None: no group declares any).

    What a group just read holds (`seen`) exists, so only the other declared items are
    checked: one lookup each, all at once, unless paging through the org's whole listing
    (`total` items) takes fewer requests, as a first apply of a large imported file does. A
    listing `started` beside the details (see _Early) is that choice made before the groups
    were read. The result holds at least every declared item that exists.
    """
    if not declared:
        return None
    if started is not None:
        return lambda: (started.result() or frozenset()) | seen
    unknown = sorted(frozenset[Item]().union(*declared) - seen)
    if not unknown:
        return lambda: seen
    if paging_beats_lookups(len(unknown), total):
        listed = pool.submit(listing)
        return lambda: listed.result() | seen
    checks = [pool.submit(exists, item) for item in unknown]
    return lambda: (
        seen | {item for item, check in zip(unknown, checks, strict=True) if check.result()}
    )


def paging_beats_lookups(unknown: int, total: int | None) -> bool:
    """Whether paging through a listing of `total` items takes fewer requests than looking
    `unknown` items up one by one (False when the total is not known)."""
    return total is not None and unknown > math.ceil(total / LISTING_PAGE)


def paging_is_certain(declared: int, most_held: int | None, total: int | None) -> bool:
    """Whether paging beats the lookups however many of `declared` items the groups read
    turn out to hold, when they hold at most `most_held` (None: not known)."""
    return most_held is not None and paging_beats_lookups(declared - most_held, total)


class Listed(NamedTuple):
    """A group as the group list counts it: how many stacks (None: not said) and Insights
    accounts it holds, rule members and child accounts included."""

    stacks: int | None
    accounts: int


class _CalledOff(Exception):
    """A listing stopped between pages: the read it was part of has already failed."""


def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise _CalledOff


class _Started(Generic[Item]):
    """A listing that pages beside the group details once the counts make it certain."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        metadata: Future[Coverage],
        certain: Callable[[Coverage], bool],
        listing: Callable[[], frozenset[Item]],
    ) -> None:
        self._metadata = metadata
        self._certain = certain
        self._listing: Callable[[], frozenset[Item]] = listing
        # It waits for the counts in a thread of the pool, not here: the details start now.
        self._future: Future[frozenset[Item] | None] = pool.submit(self._run)

    def _run(self) -> frozenset[Item] | None:
        if self._metadata.exception() is not None:
            return None  # the main thread reports it, with its own traceback
        return self._listing() if self.certain() else None

    def certain(self) -> bool:
        """Whether the listing is the check to make (waits for the counts only)."""
        return self._certain(self._metadata.result())

    def chosen(self) -> Future[frozenset[Item] | None] | None:
        """The listing under way, or None when the check is still to choose."""
        return self._future if self.certain() else None


class _Early(NamedTuple):
    """The org's stack and account listings, when they may start beside the group details."""

    stacks: _Started[StackRef] | None
    accounts: _Started[str] | None

    @classmethod
    def start(
        cls,
        pool: ThreadPoolExecutor,
        present: Sequence[DesiredGroup],
        to_read: Sequence[Listed],
        metadata: Future[Coverage] | None,
        *,
        stacks: Callable[[], frozenset[StackRef]],
        accounts: Callable[[], frozenset[str]],
    ) -> _Early:
        """A listing _known will page through whatever the details say, started now.

        The groups read can hold no more members than the group list counts for them, so
        when the declared ones beyond that count already outnumber the listing's pages, the
        listing is what _known would choose once they are read: started now, its pages go
        beside the details instead of a round trip each after them (a first apply of an
        imported file). Whether they do waits for the coverage counts, in the pool.
        """
        declared_stacks = len(frozenset[StackRef]().union(*(g.stacks or () for g in present)))
        declared_accounts = len(frozenset[str]().union(*(g.accounts or () for g in present)))
        held = [g.stacks for g in to_read if g.stacks is not None]
        most_stacks = sum(held) if len(held) == len(to_read) else None
        most_accounts = sum(g.accounts for g in to_read)

        def stacks_certain(coverage: Coverage) -> bool:
            return paging_is_certain(declared_stacks, most_stacks, coverage.total_stacks)

        def accounts_certain(coverage: Coverage) -> bool:
            return paging_is_certain(declared_accounts, most_accounts, coverage.total_accounts)

        # No counts are read when nothing declares a stack or an account.
        if metadata is None:
            return cls(None, None)
        return cls(
            _Started(pool, metadata, stacks_certain, stacks)
            if paging_is_certain(declared_stacks, most_stacks, 0)
            else None,
            _Started(pool, metadata, accounts_certain, accounts)
            if paging_is_certain(declared_accounts, most_accounts, 0)
            else None,
        )


def _counts(body: Mapping[str, Any]) -> RulePreview | None:
    matched, total = body.get("matchedCount"), body.get("totalCount")
    if isinstance(matched, int) and isinstance(total, int):
        return RulePreview(matched, total)
    return None
