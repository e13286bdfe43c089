"""The emulator's request → response mapping: routing, auth, body validation, JSON errors."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

from pgsync.emulator import matchrules, schemas, views
from pgsync.emulator.matchrules import Entity
from pgsync.emulator.state import Api, HttpError, Source, State

UNAUTHORIZED = "Unauthorized: No credentials provided or are invalid."


@dataclass(frozen=True)
class Request:
    """An HTTP request as the app sees it: headers with lower-case names, the raw body."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    """An HTTP response: an empty `body` is sent without Content-Type."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


# Made once: json.dumps with options makes an encoder per call. Answers are trees, never cyclic.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def json_response(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with its Content-Type."""
    return Response(
        status,
        _ENCODER.encode(value).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The service's error body `{"code": N, "message": ...}`."""
    return json_response(status, {"code": status, "message": message}, headers)


NO_CONTENT = Response(204)

Params = dict[str, str]
Handler = Callable[[Request, Params], Response]
SOURCES = ("explicit", "rule")
# Listings kept per cache: enough for a client paging through many at once, bounded in memory.
CACHED_LISTINGS = 32
# Per entity: the preview's request schema, its rule field and the key of its listing.
_PREVIEWS: dict[Entity, tuple[str, str, str]] = {
    "stack": ("PreviewStackMatchRuleRequest", "stackMatchRule", "stacks"),
    "account": ("PreviewAccountMatchRuleRequest", "accountMatchRule", "accounts"),
}


class App:
    """Answers requests against a State; not thread-safe (the server holds a lock).

    `api` (default: the state's) chooses the service generation; see `state`. The legacy
    service has no member listings, rule previews or a stack's groups (404), and reads bodies
    against the older OpenAPI document, whose unknown keys it ignores as a Go decoder does.
    Both have `GET /api/stacks/{org}/{project}/{stack}` and GET / HEAD of one Insights account,
    which are older than policy groups. Listings are kept between pages (see `views.Listing`)
    until a write, or a change made without a request that the server reports.
    """

    def __init__(
        self,
        state: State,
        *,
        token: str | None = None,
        page_size: int = 100,
        api: Api | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if api is not None:
            state.set_api(api)
        self.state = state
        self.token = token
        self.page_size = page_size
        # Listings built once and paged from until what they list changes: the catalog's
        # (stacks, accounts, previews) change with tags, the members' with every write too.
        self._catalog: _Cache[views.Listing] = _Cache(CACHED_LISTINGS)
        self._previews: _Cache[tuple[views.Listing, int, int]] = _Cache(CACHED_LISTINGS)
        self._members: _Cache[views.Listing] = _Cache(CACHED_LISTINGS)
        org = "/api/orgs/{org}"
        group = org + "/policygroups/{name}"
        stack = "/api/stacks/{org}/{project}/{stack}"
        account = "/api/preview/insights/{org}/accounts/{account}"
        # Order matters: the metadata route must win over the {name} route.
        legacy: list[_Route] = [
            _Route(org + "/policygroups", {"GET": self._list, "POST": self._create}),
            _Route(org + "/policygroups/metadata", {"GET": self._metadata}),
            _Route(group, {"GET": self._get, "PATCH": self._patch, "DELETE": self._delete}),
            _Route(group + "/batch", {"PATCH": self._batch}),
            _Route(org + "/policypacks", {"GET": self._packs}),
            _Route(org + "/policypacks/{pack}/versions/{version}", {"GET": self._pack_version}),
            _Route("/api/user/stacks", {"GET": self._stacks}),
            _Route("/api/preview/insights/{org}/accounts", {"GET": self._accounts}),
            _Route(stack, {"GET": self._stack}),
            _Route(account, {"GET": self._account, "HEAD": self._account}),
        ]
        current: list[_Route] = [
            *legacy,
            _Route(org + "/policygroups/stackmatchrule/preview", {"POST": self._preview_stacks}),
            _Route(
                org + "/policygroups/accountmatchrule/preview", {"POST": self._preview_accounts}
            ),
            _Route(group + "/stacks", {"GET": self._group_stacks}),
            _Route(group + "/accounts", {"GET": self._group_accounts}),
            _Route(stack + "/policygroups", {"GET": self._stack_groups}),
        ]
        self._routes: dict[Api, dict[int, list[_Route]]] = {
            "legacy": _by_length(legacy),
            "current": _by_length(current),
        }

    def groups_changed(self) -> None:
        """Forget what depends on the groups; for changes made without a request."""
        self._members.clear()

    def catalog_changed(self) -> None:
        """Forget every listing; for tag changes made without a request."""
        self._catalog.clear()
        self._previews.clear()
        self._members.clear()

    def handle(self, request: Request) -> Response:
        """The response to one request; never raises for a bad request."""
        try:
            self._authorize(request)
            # Split before decoding so that an encoded '/' stays inside its segment.
            segments = request.path.split("/")
            for route in self._routes[self.state.api].get(len(segments), ()):
                if not route.matches(segments):
                    continue
                handler = route.handlers.get(request.method)
                if handler is None:
                    allow = ", ".join(sorted(route.handlers))
                    message = f"Method {request.method} not allowed on {request.path}"
                    return error_response(405, message, {"Allow": allow})
                return handler(request, {name: unquote(segments[i]) for i, name in route.params})
            raise HttpError(404, f"Not found: {request.method} {request.path}")
        except HttpError as error:
            return error_response(error.status, error.message)

    def _authorize(self, request: Request) -> None:
        if self.token is None:
            return
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"token {self.token}".encode()):
            raise HttpError(401, UNAUTHORIZED)

    def _list(self, request: Request, params: Params) -> Response:
        return json_response(200, views.group_list(self.state.org(params["org"])))

    def _create(self, request: Request, params: Params) -> Response:
        self.groups_changed()
        org = self.state.org(params["org"])
        org.create_group(self._body(request, schemas.validator("NewPolicyGroupRequest", org.api)))
        return NO_CONTENT

    def _get(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.group_view(org, org.group(params["name"])))

    def _patch(self, request: Request, params: Params) -> Response:
        self.groups_changed()
        org = self.state.org(params["org"])
        org.group(params["name"])
        body = self._body(request, schemas.update_validator(org.api, batch=False))
        org.update_group(params["name"], [body], single=True)
        return NO_CONTENT

    def _batch(self, request: Request, params: Params) -> Response:
        self.groups_changed()
        org = self.state.org(params["org"])
        org.group(params["name"])
        body = self._body(request, schemas.update_validator(org.api, batch=True))
        org.update_group(params["name"], body, single=False)
        return NO_CONTENT

    def _delete(self, request: Request, params: Params) -> Response:
        self.groups_changed()
        self.state.org(params["org"]).delete_group(params["name"])
        return NO_CONTENT

    def _metadata(self, request: Request, params: Params) -> Response:
        return json_response(200, views.metadata(self.state.org(params["org"])))

    def _packs(self, request: Request, params: Params) -> Response:
        return json_response(200, views.pack_list(self.state.org(params["org"])))

    def _pack_version(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.pack_version(org, params["pack"], params["version"]))

    def _stacks(self, request: Request, params: Params) -> Response:
        query = request.query
        filters = (query.get(name) for name in ("organization", "project", "tagName", "tagValue"))
        found = self._catalog.get(
            ("stacks", *filters),
            lambda: views.Listing.of(views.stack_items(self.state, query), _stack_key, 3),
        )
        return self._page(request, "stacks", found, self._page_size(query, "maxResults"))

    def _accounts(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        # The older service has no filter and pages at its own size.
        legacy = org.api == "legacy"
        parent = None if legacy else request.query.get("parent")
        found = self._catalog.get(
            ("accounts", org.name, parent),
            lambda: views.Listing.of(views.account_items(org, parent), _name_key, 1),
        )
        size = self.page_size if legacy else self._page_size(request.query, "count")
        return self._page(request, "accounts", found, size, token_key="nextToken")

    def _account(self, request: Request, params: Params) -> Response:
        """GET and HEAD (whose body the server leaves out) of one Insights account."""
        account = self.state.org(params["org"]).accounts.get(params["account"])
        if account is None:
            raise HttpError(404, f"Insights account '{params['account']}' not found")
        return json_response(200, account.info)

    def _group_stacks(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        group = org.group(params["name"])
        source = _source(request)
        found = self._members.get(
            ("stacks", org.name, group.name, source),
            lambda: views.Listing.of(
                views.stack_member_items(org, group, source), _member_stack_key, 2
            ),
        )
        return self._page(request, "stacks", found, self._page_size(request.query, "count"))

    def _group_accounts(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        group = org.group(params["name"])
        source = _source(request)
        found = self._members.get(
            ("accounts", org.name, group.name, source),
            lambda: views.Listing.of(views.account_member_items(org, group, source), _name_key, 1),
        )
        return self._page(request, "accounts", found, self._page_size(request.query, "count"))

    def _preview_stacks(self, request: Request, params: Params) -> Response:
        return self._preview(request, params, "stack")

    def _preview_accounts(self, request: Request, params: Params) -> Response:
        return self._preview(request, params, "account")

    def _preview(self, request: Request, params: Params, entity: Entity) -> Response:
        """A rule preview: the matching entities and the counts; nothing is saved."""
        org = self.state.org(params["org"])
        org.require_match_rules()
        schema, key, listed = _PREVIEWS[entity]
        body = self._body(request, schemas.validator(schema))
        problem = matchrules.problem(body[key], entity, root=f"$.{key}")
        if problem is not None:
            raise HttpError(400, f"Invalid request body {problem}")
        search = str(body.get("search", ""))

        def build() -> tuple[views.Listing, int, int]:
            if entity == "stack":
                items, matched, total = views.stack_preview(org, body[key], search)
                return views.Listing.of(items, _member_stack_key, 2), matched, total
            items, matched, total = views.account_preview(org, body[key], search)
            return views.Listing.of(items, _name_key, 1), matched, total

        rule = json.dumps(body[key], sort_keys=True)
        found, matched, total = self._previews.get((entity, org.name, rule, search), build)
        size = self._page_size(request.query, "count")
        counts = {"matchedCount": matched, "totalCount": total}
        return self._page(request, listed, found, size, counts)

    def _stack(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.stack_view(org, (params["project"], params["stack"])))

    def _stack_groups(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.stack_groups(org, (params["project"], params["stack"])))

    def _page(
        self,
        request: Request,
        key: str,
        listing: views.Listing,
        size: int,
        extra: Mapping[str, Any] | None = None,
        *,
        token_key: str = "continuationToken",
    ) -> Response:
        """One page of a listing whose next page is asked for with `continuationToken`."""
        page, token = views.paginate(listing, request.query.get("continuationToken"), size)
        body: dict[str, Any] = {key: page, **(extra or {})}
        if token is not None:
            body[token_key] = token
        return json_response(200, body)

    def _page_size(self, query: Mapping[str, str], name: str) -> int:
        """The page size asked for with query parameter `name`, capped at the server's."""
        requested = query.get(name)
        if requested is None:
            return self.page_size
        if not requested.isdigit() or int(requested) < 1:
            raise HttpError(400, f"Invalid {name} '{requested}'")
        return min(int(requested), self.page_size)

    def _body(self, request: Request, checker: schemas.BodySchema) -> Any:
        """The JSON body, checked against a schema.

        On the current service a null counts as absent, as it does for the service's Go
        decoder: the SDK sends every unset field as null.
        """
        try:
            body = json.loads(request.body)
            if self.state.api == "current":
                body = _without_nulls(body)
            problem = checker.first_error(body)
        except ValueError:
            raise HttpError(400, "Request body is not valid JSON") from None
        except RecursionError:
            raise HttpError(400, "Request body is nested too deeply") from None
        if problem is not None:
            raise HttpError(400, f"Invalid request body {problem}")
        return body


V = TypeVar("V")


class _Cache(Generic[V]):
    """Values by key until cleared; beyond `size`, the least recently used go first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: dict[Hashable, V] = {}

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value of `key`, built now if it is not kept (a failed build keeps nothing)."""
        value = self._values.pop(key) if key in self._values else build()
        self._values[key] = value
        if len(self._values) > self._size:
            del self._values[next(iter(self._values))]
        return value

    def clear(self) -> None:
        """Forget every value."""
        self._values.clear()


class _Route:
    """A path template split at '/': its literal segments, its {parameters}, its handlers."""

    def __init__(self, template: str, handlers: dict[str, Handler]) -> None:
        parts = template.split("/")
        self.size = len(parts)
        self.params = tuple((i, p[1:-1]) for i, p in enumerate(parts) if p.startswith("{"))
        self.handlers = handlers
        literals = [(i, p) for i, p in enumerate(parts) if not p.startswith("{")]
        self._texts = tuple(text for _, text in literals)
        # One C call picks every segment to check: the literals, then the parameters. Every
        # template starts "/api/", so there are always at least two.
        self._pick = itemgetter(*(i for i, _ in literals), *(i for i, _ in self.params))

    def matches(self, segments: list[str]) -> bool:
        """Whether a path of as many segments fits: literals equal, parameters not empty."""
        picked = self._pick(segments)
        count = len(self._texts)
        return bool(picked[:count] == self._texts and "" not in picked[count:])


def _by_length(routes: list[_Route]) -> dict[int, list[_Route]]:
    """The routes by their number of segments, in order: only those can match a path."""
    table: dict[int, list[_Route]] = {}
    for route in routes:
        table.setdefault(route.size, []).append(route)
    return table


def _stack_key(item: Mapping[str, Any]) -> views.Key:
    return (item["orgName"], item["projectName"], item["stackName"])


def _member_stack_key(item: Mapping[str, Any]) -> views.Key:
    return (item["routingProject"], item["name"])


def _name_key(item: Mapping[str, Any]) -> views.Key:
    return (item["name"],)


def _source(request: Request) -> Source | None:
    source = request.query.get("source")
    if source is None:
        return None
    if source not in SOURCES:
        raise HttpError(400, f"Invalid source '{source}': expected explicit or rule")
    return "explicit" if source == "explicit" else "rule"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
