"""Pure comparison of desired and live groups: what must change, group by group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from pgsync.core.changes import (
    AddAccount,
    AddPack,
    AddStack,
    Change,
    ConfigurePack,
    RemoveAccount,
    RemoveAccountRule,
    RemovePack,
    RemoveStack,
    RemoveStackRule,
    Rename,
    Reshape,
    SetAccountRule,
    SetAgentPool,
    SetStackRule,
    UpgradePack,
    change_order,
    origin_label,
)
from pgsync.core.errors import Location, Problem, ValidationFailed
from pgsync.core.escaping import escape
from pgsync.core.matchrule import describe
from pgsync.core.model import (
    AppliedPack,
    DesiredGroup,
    DesiredState,
    LiveGroup,
    LiveState,
    ManagedList,
    MatchRule,
    OrgCatalog,
    PackRef,
    RuleEntity,
    RulePreview,
    RuleSetting,
)
from pgsync.core.replace import (
    REPLACE_SUFFIX,
    dropped_accounts,
    filled,
    is_temporary,
    needs_replace,
    temp_name,
)

Action = Literal["create", "update", "rename", "replace", "delete", "unchanged", "unmanaged"]
"""What a plan does with a group; the names are written here alone."""
ACTION_NAMES: tuple[Action, ...] = get_args(Action)
"""Every action, in the order a plan's summary counts them."""
QUIET_ACTIONS: frozenset[Action] = frozenset({"unchanged", "unmanaged"})
"""The actions that leave a group as it is: apply sends nothing for them."""

_FOREIGN_TEMP = (
    "the temporary group of a replace that these files do not declare and that the journal"
    " does not show this checkout starting (another config's): never deleted by pgsync; finish"
    " it by applying the config that declares the group, or delete it by hand"
)
_OWN_TEMP = (
    "the temporary group of a replace that the journal shows this checkout starting, for a"
    " group these files no longer declare: rolled back"
)
_ONLY_COPY = (
    "the temporary group of a replace that the journal shows this checkout starting, for a"
    " group these files no longer declare; the old group is gone, so this is its only copy:"
    " left in place (declare the group again to finish the replace, or delete it by hand)"
)


@dataclass(frozen=True, slots=True)
class GroupDiff:
    """The verdict for one group. `live` is the group as found (under its old name)."""

    name: str
    action: Action
    changes: tuple[Change, ...] = ()
    desired: DesiredGroup | None = None
    live: LiveGroup | None = None
    notes: tuple[str, ...] = ()
    temp: LiveGroup | None = None
    """For a replace: the temporary group an earlier, interrupted run left (None: none)."""
    via_parent: tuple[str, ...] = ()
    """Child accounts that are members through a declared parent account: kept, not drift."""
    left_alone: tuple[tuple[ManagedList, tuple[str, ...]], ...] = ()
    """Per additive list (`manage:`), the live members it does not list: never removed."""


def diff(
    desired: DesiredState, live: LiveState, own_temporaries: frozenset[str] = frozenset()
) -> tuple[GroupDiff, ...]:
    """Every group's verdict, or ValidationFailed with every plan-time problem.

    `own_temporaries` are the temporary groups that this checkout's journal shows it
    created (journal.own_temporaries): of those alone, one whose group the files no longer
    declare is rolled back.
    """
    problems: list[Problem] = []
    result: list[GroupDiff] = []
    claimed: set[str] = set()
    temps = {n: g for n, g in live.groups.items() if is_temporary(n)}
    folded: dict[str, list[str]] = {}
    for name in set(live.groups) | live.unread:
        folded.setdefault(name.casefold(), []).append(name)
    for group in desired.groups:
        if is_temporary(group.name):
            problems.append(
                Problem(group.where(), f"names ending in '{REPLACE_SUFFIX}' are pgsync's own")
            )
            continue
        source = _find_live(group, live, problems)
        if not group.absent:
            _check_case_twin(group, source, folded, problems)
        temp = temps.pop(temp_name(group.name), None)
        claimed.update(g.name for g in (source, temp) if g is not None)
        result += _diff_declared(group, source, temp, live, problems)
    # A temporary group whose old group still exists is a copy; otherwise it is all there is.
    copies = {temp_name(n) for n in set(live.groups) | live.unread if not is_temporary(n)}
    for temp in temps.values():
        claimed.add(temp.name)
        if temp.name in own_temporaries and temp.name in copies:
            result.append(GroupDiff(temp.name, "delete", live=temp, notes=(_OWN_TEMP,)))
        elif temp.name in own_temporaries:
            result.append(GroupDiff(temp.name, "unmanaged", live=temp, notes=(_ONLY_COPY,)))
        else:
            # Another config's replace may be in flight (or stopped part-way) with everything
            # of its group in here: only the config that declares the group may finish or
            # undo it.
            result.append(GroupDiff(temp.name, "unmanaged", live=temp, notes=(_FOREIGN_TEMP,)))
    for name in sorted(set(live.groups) | live.unread):
        if name in claimed:
            continue
        found = live.groups.get(name)
        if desired.prune and found is not None and not found.is_default:
            result.append(GroupDiff(name, "delete", live=found))
        else:
            result.append(GroupDiff(name, "unmanaged", live=found))
    if problems:
        raise ValidationFailed(problems)
    return tuple(result)


def _check_case_twin(
    group: DesiredGroup,
    source: LiveGroup | None,
    folded: Mapping[str, list[str]],
    problems: list[Problem],
) -> None:
    """A name to create or rename to whose case twin is live (`prod` beside `Prod`) conflicts.

    Whether the service tells them apart is not documented; both live would say it does.
    """
    same_case = folded.get(group.name.casefold(), [])
    own = {group.name} | ({source.name} if source is not None else set())
    twins = sorted(set(same_case) - own)
    if twins and group.name not in same_case:
        problems.append(
            Problem(
                group.where(),
                f"group name '{escape(group.name)}' differs only in case from the live group"
                f" '{escape(twins[0])}': the service may take them for one group (to rename it,"
                f" write previously: ['{escape(twins[0])}'])",
            )
        )


def group_changes(
    group: DesiredGroup, live: LiveGroup | None, catalog: OrgCatalog
) -> tuple[Change, ...]:
    """What must change for `live` (None: not there yet) to become `group`; raises on problems."""
    problems: list[Problem] = []
    changes = _changes(group, live, catalog, {}, problems)
    if problems:
        raise ValidationFailed(problems)
    return changes


def _find_live(group: DesiredGroup, live: LiveState, problems: list[Problem]) -> LiveGroup | None:
    current = live.groups.get(group.name)
    former = [name for name in group.previously if name in live.groups]
    if current is not None and former:
        problems.append(
            Problem(
                group.where(),
                f"group '{escape(group.name)}' and its former name '{escape(former[0])}' both"
                " exist live; "
                "delete or rename one of them first",
            )
        )
        return current
    if len(former) > 1:
        problems.append(
            Problem(
                group.where(),
                f"several former names of '{escape(group.name)}' exist live: "
                + ", ".join(map(escape, former)),
            )
        )
    if current is not None:
        return current
    return live.groups[former[0]] if former else None


def _diff_declared(
    group: DesiredGroup,
    source: LiveGroup | None,
    temp: LiveGroup | None,
    live: LiveState,
    problems: list[Problem],
) -> list[GroupDiff]:
    catalog, previews = live.catalog, live.previews
    rollback = [GroupDiff(temp.name, "delete", live=temp)] if temp is not None else []
    if group.absent:
        if source is None:
            return [GroupDiff(group.name, "unchanged", desired=group), *rollback]
        if source.is_default:
            problems.append(
                Problem(group.where(), f"default group '{escape(source.name)}' cannot be deleted")
            )
            return []
        return [GroupDiff(source.name, "delete", desired=group, live=source), *rollback]
    if source is None and temp is not None:
        # The old group is gone already: what is left of the replace is a rename.
        source, rollback = temp, []
    if source is not None and not _check_default(group, source, problems):
        return []
    if source is not None and needs_replace(group, source):
        full = filled(group, source)
        reshaped: tuple[Change, ...] = (
            Reshape(
                (source.entity_type, full.resolved_entity_type), (source.mode, full.resolved_mode)
            ),
            *(
                c
                for c in _changes(full, temp, catalog, previews, problems)
                if not isinstance(c, Rename)
            ),
        )
        dropped = dropped_accounts(group, source)
        notes = (
            (f"accounts {_sample(list(dropped))} leave: a preventative group holds no accounts",)
            if dropped
            else ()
        )
        kept = left_alone(group, source)
        return [
            GroupDiff(
                group.name,
                "replace",
                reshaped,
                full,
                source,
                notes + _additive_notes(kept),
                temp=temp,
                left_alone=kept,
            )
        ]
    changes = _changes(group, source, catalog, previews, problems)
    if source is None:
        return [GroupDiff(group.name, "create", changes, group)]
    children = via_parent(group, source)
    kept = left_alone(group, source)
    action: Action = (
        "rename" if source.name != group.name else ("update" if changes else "unchanged")
    )
    return [
        GroupDiff(
            group.name,
            action,
            changes,
            group,
            source,
            notes=_parent_notes(group, children)
            + _rule_notes(group, source)
            + _additive_notes(kept),
            via_parent=children,
            left_alone=kept,
        ),
        *rollback,
    ]


def _check_default(group: DesiredGroup, source: LiveGroup, problems: list[Problem]) -> bool:
    """Default groups (isOrgDefault) cannot be replaced or renamed (API spec rule 1)."""
    if not source.is_default:
        return True
    ok = True
    for field, want, have in (
        ("entityType", group.entity_type, source.entity_type),
        ("mode", group.mode, source.mode),
    ):
        if want is not None and want != have:
            ok = False
            problems.append(
                Problem(
                    group.where(),
                    f"default group '{escape(source.name)}' is {field} '{have}' "
                    f"and cannot be changed to '{want}'",
                )
            )
    if source.name != group.name:
        problems.append(
            Problem(group.where(), f"default group '{escape(source.name)}' cannot be renamed")
        )
        ok = False
    return ok


def parent_of(account: str, candidates: frozenset[str]) -> str | None:
    """The declared account that `account` is a child of (`parent/child` names), if any."""
    head = account
    while "/" in head:
        head = head.rpartition("/")[0]
        if head in candidates:
            return head
    return None


def via_parent(group: DesiredGroup, live: LiveGroup | None) -> tuple[str, ...]:
    """Live members that are children of a declared parent: the service adds them itself.

    The Pulumi provider never removes a child while its parent is a member (API spec,
    late 2026, rule 4), and neither does pgsync: they are satisfied, not drift.
    """
    if group.accounts is None or live is None:
        return ()
    return tuple(sorted(a for a in live.accounts - group.accounts if parent_of(a, group.accounts)))


def _parent_notes(group: DesiredGroup, children: tuple[str, ...]) -> tuple[str, ...]:
    assert group.accounts is not None or not children
    by_parent: dict[str, list[str]] = {}
    for child in children:
        parent = parent_of(child, group.accounts or frozenset())
        assert parent is not None
        by_parent.setdefault(parent, []).append(child)
    notes = []
    for parent, kids in sorted(by_parent.items()):
        shown = _sample(kids)
        noun, pronoun = ("account", "it") if len(kids) == 1 else ("accounts", "them")
        notes.append(f"{noun} {shown} via parent '{parent}': kept, the service adds {pronoun}")
    return tuple(notes)


def _rule_notes(group: DesiredGroup, live: LiveGroup) -> tuple[str, ...]:
    """What a live rule brings in: shown, never diffed (contract §6.1)."""
    notes: list[str] = []
    for setting, rule, matched, explicit, listed in (
        (group.stack_match, live.stack_rule, live.rule_stacks, live.stacks, group.stacks),
        (group.account_match, live.account_rule, live.rule_accounts, live.accounts, group.accounts),
    ):
        if rule is None or (setting is not None and setting.rule != rule):
            continue  # no rule, or the plan changes it: what it matches now says nothing then
        via = sorted(str(m) for m in set(matched) - set(explicit))
        if via:
            noun = f"{rule.entity}s" if len(via) > 1 else rule.entity
            notes.append(
                f"{len(via)} {noun} via the match rule ({describe(rule.expression, rule.entity)}):"
                f" {_sample(via)}; members by tag, kept whatever the list says"
            )
        if listed is not None:
            staying = sorted(str(m) for m in set(explicit) - set(listed) if m in matched)
            if staying:
                notes.append(
                    f"{_sample(staying)}: off the list, but still members via the match rule"
                )
    return tuple(notes)


_NOUNS: Mapping[ManagedList, tuple[str, str]] = {
    "stacks": ("stack", "stacks"),
    "accounts": ("account", "accounts"),
    "policyPacks": ("pack", "packs"),
}


def left_alone(
    group: DesiredGroup, live: LiveGroup | None
) -> tuple[tuple[ManagedList, tuple[str, ...]], ...]:
    """Per additive list, the live members it does not name, sorted: a plan never removes them.

    Children that a listed parent account brings in are kept for that reason instead
    (via_parent), and members by a match rule are not in the lists at all.
    """
    if live is None or not group.additive:
        return ()
    found: list[tuple[ManagedList, tuple[str, ...]]] = []
    if "stacks" in group.additive and group.stacks is not None:
        found.append(("stacks", tuple(str(s) for s in sorted(live.stacks - group.stacks))))
    if "accounts" in group.additive and group.accounts is not None:
        others = live.accounts - group.accounts
        found.append(
            ("accounts", tuple(sorted(a for a in others if not parent_of(a, group.accounts))))
        )
    if "policyPacks" in group.additive and group.packs is not None:
        listed = {p.name for p in group.packs}
        found.append(
            ("policyPacks", tuple(sorted(p.name for p in live.packs if p.name not in listed)))
        )
    return tuple((kind, names) for kind, names in found if names)


def _additive_notes(kept: tuple[tuple[ManagedList, tuple[str, ...]], ...]) -> tuple[str, ...]:
    notes = []
    for kind, names in kept:
        one, many = _NOUNS[kind]
        noun = one if len(names) == 1 else many
        notes.append(
            f"leaves {len(names)} other {noun} alone (manage: additive): {_sample(list(names))}"
        )
    return tuple(notes)


def _sample(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _changes(
    group: DesiredGroup,
    live: LiveGroup | None,
    catalog: OrgCatalog,
    previews: Mapping[tuple[RuleEntity, str], RulePreview],
    problems: list[Problem],
) -> tuple[Change, ...]:
    """The changes in their total order (changes.change_order), built kind by kind.

    Membership lists are sorted as tuples rather than through a key function: a large
    organization has hundreds of thousands of them.
    """
    changes: list[Change] = []
    if live is not None and live.name != group.name:
        changes.append(Rename(live.name, group.name))
    if group.packs is not None:
        packs = _pack_changes(group, live.packs if live else (), catalog, problems)
        changes += sorted(packs, key=change_order)
    if group.stacks is not None:
        _check_known_stacks(group, catalog, problems)
        have = live.stacks if live else frozenset()
        if "stacks" not in group.additive:
            changes += [RemoveStack(s) for s in sorted(have - group.stacks)]
        changes += [AddStack(s) for s in sorted(group.stacks - have)]
    if group.accounts is not None:
        have_accounts = live.accounts if live else frozenset()
        removed: frozenset[str] = frozenset()
        if "accounts" not in group.additive:
            removed = have_accounts - group.accounts - set(via_parent(group, live))
        # A wanted child that is a member through a parent being removed would leave with
        # it: it is added on its own.
        added = (group.accounts - have_accounts) | {
            a for a in group.accounts & have_accounts if parent_of(a, removed) is not None
        }
        _check_known_accounts(group, added, catalog, problems)
        changes += [RemoveAccount(a) for a in sorted(removed)]
        changes += [AddAccount(a) for a in sorted(added)]
    changes += _rule_changes(group.stack_match, live.stack_rule if live else None, previews)
    changes += _rule_changes(group.account_match, live.account_rule if live else None, previews)
    if live is not None and group.agent_pool_id not in (None, live.agent_pool_id):
        changes.append(SetAgentPool(live.agent_pool_id, group.agent_pool_id))
    return tuple(changes)


def _rule_changes(
    setting: RuleSetting | None,
    have: MatchRule | None,
    previews: Mapping[tuple[RuleEntity, str], RulePreview],
) -> list[Change]:
    """Rules compare by meaning (MatchRule.key), so a rule written differently is no change."""
    if setting is None or setting.rule == have:
        return []
    want = setting.rule

    def counted(rule: MatchRule | None) -> RulePreview | None:
        return previews.get((rule.entity, rule.key)) if rule is not None else None

    if want is None:
        assert have is not None
        remove = RemoveStackRule if have.entity == "stack" else RemoveAccountRule
        return [remove(have, counted(have))]
    put = SetStackRule if want.entity == "stack" else SetAccountRule
    return [put(have, want, counted(want), counted(have))]


def _check_known_stacks(group: DesiredGroup, catalog: OrgCatalog, problems: list[Problem]) -> None:
    if catalog.stacks is None or group.stacks is None:
        return
    for stack in sorted(group.stacks - catalog.stacks):
        problems.append(
            Problem(
                group.where(str(stack)), f"unknown stack '{escape(str(stack))}' in organization"
            )
        )


def _check_known_accounts(
    group: DesiredGroup, names: Iterable[str], catalog: OrgCatalog, problems: list[Problem]
) -> None:
    if catalog.accounts is None:
        return
    for name in sorted(names):
        if name not in catalog.accounts:
            problems.append(
                Problem(
                    group.where(name), f"unknown Insights account '{escape(name)}' in organization"
                )
            )


def resolve_pack(pack: PackRef, catalog: OrgCatalog, problems: list[Problem]) -> AppliedPack | None:
    """The pack as the API wants it, with `version` and `displayName` from the org's listing."""
    published = catalog.packs.get(pack.name)
    where = pack.location
    if published is None:
        if where is not None:
            message = f"unknown policy pack '{escape(pack.name)}' in organization"
            _pack_problem(pack, where, message, problems)
        return None
    version = published.versions.get(pack.version_tag)
    if version is None:
        if where is not None:
            tags = ", ".join(map(escape, published.versions)) or "none"
            message = (
                f"policy pack '{escape(pack.name)}' has no versionTag "
                f"'{escape(pack.version_tag)}' (published: {tags})"
            )
            _pack_problem(pack, where, message, problems)
        return None
    return AppliedPack(
        name=pack.name,
        version_tag=pack.version_tag,
        version=version,
        display_name=published.display_name,
        config_json=pack.config_json,
        environments=pack.environments,
        secret_paths=pack.secret_paths,
    )


def _pack_problem(pack: PackRef, where: Location, message: str, problems: list[Problem]) -> None:
    """At the entry, and for a pack set's or template's entry also where each group uses it:
    one problem per line, however many groups share the set (problems are a set)."""
    problems.append(Problem(where, message))
    origin = pack.origin
    if origin is None:
        return
    source = f"pack set '{escape(origin.pack_set)}'" if origin.pack_set else None
    template = f"template '{escape(origin.template)}'" if origin.template else None
    for used_at, via in ((origin.set_used_at, source), (origin.extended_at, template)):
        if used_at is not None and via is not None:
            problems.append(Problem(used_at, f"{message}, from {via} at {where}"))


def _pack_changes(
    group: DesiredGroup,
    live_packs: tuple[AppliedPack, ...],
    catalog: OrgCatalog,
    problems: list[Problem],
) -> list[Change]:
    assert group.packs is not None
    have = {p.name: p for p in live_packs}
    changes: list[Change] = []
    wanted: set[str] = set()
    for ref in group.packs:
        wanted.add(ref.name)
        want = resolve_pack(ref, catalog, problems)
        if want is None:
            continue
        before = have.get(ref.name)
        origin = origin_label(ref.origin)
        if before is None:
            changes.append(AddPack(want, origin))
        elif before.same_settings(want):
            continue
        else:
            kind = UpgradePack if before.version_tag != want.version_tag else ConfigurePack
            changes.append(kind(before, want, origin))
    if "policyPacks" not in group.additive:
        changes += [RemovePack(p) for name, p in sorted(have.items()) if name not in wanted]
    return changes
