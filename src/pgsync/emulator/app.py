"""The emulator's request → response mapping: routing, auth, body validation, JSON errors."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft7Validator

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


def json_response(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with its Content-Type."""
    return Response(
        status,
        json.dumps(value, separators=(",", ":")).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The service's error body `{"code": N, "message": ...}`."""
    return json_response(status, {"code": status, "message": message}, headers)


NO_CONTENT = Response(204)

Params = dict[str, str]
Handler = Callable[[Request, Params], Response]
Routes = list[tuple[re.Pattern[str], dict[str, Handler]]]
SOURCES = ("explicit", "rule")
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
    Both have `GET /api/stacks/{org}/{project}/{stack}`, which is older than policy groups.
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
        org = r"/api/orgs/(?P<org>[^/]+)"
        group = org + r"/policygroups/(?P<name>[^/]+)"
        stack = r"/api/stacks/(?P<org>[^/]+)/(?P<project>[^/]+)/(?P<stack>[^/]+)"
        # Order matters: the metadata route must win over the {name} route.
        legacy: Routes = [
            (re.compile(org + "/policygroups"), {"GET": self._list, "POST": self._create}),
            (re.compile(org + "/policygroups/metadata"), {"GET": self._metadata}),
            (
                re.compile(group),
                {"GET": self._get, "PATCH": self._patch, "DELETE": self._delete},
            ),
            (re.compile(group + "/batch"), {"PATCH": self._batch}),
            (re.compile(org + "/policypacks"), {"GET": self._packs}),
            (
                re.compile(org + r"/policypacks/(?P<pack>[^/]+)/versions/(?P<version>[^/]+)"),
                {"GET": self._pack_version},
            ),
            (re.compile(r"/api/user/stacks"), {"GET": self._stacks}),
            (re.compile(r"/api/preview/insights/(?P<org>[^/]+)/accounts"), {"GET": self._accounts}),
            (re.compile(stack), {"GET": self._stack}),
        ]
        current: Routes = [
            *legacy,
            (
                re.compile(org + "/policygroups/stackmatchrule/preview"),
                {"POST": self._preview_stacks},
            ),
            (
                re.compile(org + "/policygroups/accountmatchrule/preview"),
                {"POST": self._preview_accounts},
            ),
            (re.compile(group + "/stacks"), {"GET": self._group_stacks}),
            (re.compile(group + "/accounts"), {"GET": self._group_accounts}),
            (re.compile(stack + "/policygroups"), {"GET": self._stack_groups}),
        ]
        self._routes: dict[Api, Routes] = {"legacy": legacy, "current": current}

    def handle(self, request: Request) -> Response:
        """The response to one request; never raises for a bad request."""
        try:
            self._authorize(request)
            for pattern, handlers in self._routes[self.state.api]:
                match = pattern.fullmatch(request.path)
                if match is None:
                    continue
                handler = handlers.get(request.method)
                if handler is None:
                    allow = ", ".join(sorted(handlers))
                    message = f"Method {request.method} not allowed on {request.path}"
                    return error_response(405, message, {"Allow": allow})
                # Match before decoding so that an encoded '/' stays inside its segment.
                return handler(request, {k: unquote(v) for k, v in match.groupdict().items()})
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
        org = self.state.org(params["org"])
        org.create_group(self._body(request, schemas.validator("NewPolicyGroupRequest", org.api)))
        return NO_CONTENT

    def _get(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.group_view(org, org.group(params["name"])))

    def _patch(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        org.group(params["name"])
        body = self._body(request, schemas.update_validator(org.api, batch=False))
        org.update_group(params["name"], [body], single=True)
        return NO_CONTENT

    def _batch(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        org.group(params["name"])
        body = self._body(request, schemas.update_validator(org.api, batch=True))
        org.update_group(params["name"], body, single=False)
        return NO_CONTENT

    def _delete(self, request: Request, params: Params) -> Response:
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
        items = views.stack_items(self.state, request.query)
        size = self._page_size(request.query, "maxResults")
        return self._page(request, "stacks", items, size)

    def _accounts(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        if org.api == "legacy":
            items, size = views.account_items(org), self.page_size
        else:
            items = views.account_items(org, request.query.get("parent"))
            size = self._page_size(request.query, "count")
        page, next_token = views.paginate(items, request.query.get("continuationToken"), size)
        body: dict[str, Any] = {"accounts": page}
        if next_token is not None:
            body["nextToken"] = next_token
        return json_response(200, body)

    def _group_stacks(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        items = views.stack_member_items(org, org.group(params["name"]), _source(request))
        return self._page(request, "stacks", items, self._page_size(request.query, "count"))

    def _group_accounts(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        items = views.account_member_items(org, org.group(params["name"]), _source(request))
        return self._page(request, "accounts", items, self._page_size(request.query, "count"))

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
        preview = views.stack_preview if entity == "stack" else views.account_preview
        items, matched, total = preview(org, body[key], str(body.get("search", "")))
        size = self._page_size(request.query, "count")
        page, token = views.paginate(items, request.query.get("continuationToken"), size)
        answer: dict[str, Any] = {listed: page, "matchedCount": matched, "totalCount": total}
        if token is not None:
            answer["continuationToken"] = token
        return json_response(200, answer)

    def _stack(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.stack_view(org, (params["project"], params["stack"])))

    def _stack_groups(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.stack_groups(org, (params["project"], params["stack"])))

    def _page(self, request: Request, key: str, items: list[Any], size: int) -> Response:
        """One page of a listing whose next page is asked for with `continuationToken`."""
        page, token = views.paginate(items, request.query.get("continuationToken"), size)
        body: dict[str, Any] = {key: page}
        if token is not None:
            body["continuationToken"] = token
        return json_response(200, body)

    def _page_size(self, query: Mapping[str, str], name: str) -> int:
        """The page size asked for with query parameter `name`, capped at the server's."""
        requested = query.get(name)
        if requested is None:
            return self.page_size
        if not requested.isdigit() or int(requested) < 1:
            raise HttpError(400, f"Invalid {name} '{requested}'")
        return min(int(requested), self.page_size)

    def _body(self, request: Request, checker: Draft7Validator) -> Any:
        """The JSON body, checked against a schema.

        On the current service a null counts as absent, as it does for the service's Go
        decoder: the SDK sends every unset field as null.
        """
        try:
            body = json.loads(request.body)
            if self.state.api == "current":
                body = _without_nulls(body)
            problem = schemas.first_error(checker, body)
        except ValueError:
            raise HttpError(400, "Request body is not valid JSON") from None
        except RecursionError:
            raise HttpError(400, "Request body is nested too deeply") from None
        if problem is not None:
            raise HttpError(400, f"Invalid request body {problem}")
        return body


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
