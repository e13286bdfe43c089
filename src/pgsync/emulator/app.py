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

from pgsync.emulator import schemas, views
from pgsync.emulator.state import HttpError, State

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


class App:
    """Answers requests against a State; not thread-safe (the server holds a lock)."""

    def __init__(self, state: State, *, token: str | None = None, page_size: int = 100) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.state = state
        self.token = token
        self.page_size = page_size
        org = r"/api/orgs/(?P<org>[^/]+)"
        group = org + r"/policygroups/(?P<name>[^/]+)"
        # Order matters: the metadata route must win over the {name} route.
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
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
        ]

    def handle(self, request: Request) -> Response:
        """The response to one request; never raises for a bad request."""
        try:
            self._authorize(request)
            for pattern, handlers in self._routes:
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
        body = _body(request, schemas.validator("NewPolicyGroupRequest"))
        org.create_group(
            body["name"], body["entityType"], body.get("mode"), body.get("agentPoolId", "")
        )
        return NO_CONTENT

    def _get(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        return json_response(200, views.group_view(org, org.group(params["name"])))

    def _patch(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        org.group(params["name"])
        body = _body(request, schemas.validator("UpdatePolicyGroupRequest"))
        org.update_group(params["name"], [body], single=True)
        return NO_CONTENT

    def _batch(self, request: Request, params: Params) -> Response:
        org = self.state.org(params["org"])
        org.group(params["name"])
        body = _body(request, schemas.array_validator("UpdatePolicyGroupRequest"))
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
        # An unknown organization is a filter that matches nothing, not an error.
        items = views.stack_items(self.state, request.query.get("organization"))
        size = self._page_size(request.query.get("maxResults"))
        page, token = views.paginate(items, request.query.get("continuationToken"), size)
        body: dict[str, Any] = {"stacks": page}
        if token is not None:
            body["continuationToken"] = token
        return json_response(200, body)

    def _accounts(self, request: Request, params: Params) -> Response:
        items = views.account_items(self.state.org(params["org"]))
        token = request.query.get("continuationToken")
        page, next_token = views.paginate(items, token, self.page_size)
        body: dict[str, Any] = {"accounts": page}
        if next_token is not None:
            body["nextToken"] = next_token
        return json_response(200, body)

    def _page_size(self, requested: str | None) -> int:
        """`maxResults` if given, capped at the server's page size."""
        if requested is None:
            return self.page_size
        if not requested.isdigit() or int(requested) < 1:
            raise HttpError(400, f"Invalid maxResults '{requested}'")
        return min(int(requested), self.page_size)


def _body(request: Request, checker: Draft7Validator) -> Any:
    try:
        body = json.loads(request.body)
    except ValueError:
        raise HttpError(400, "Request body is not valid JSON") from None
    problem = schemas.first_error(checker, body)
    if problem is not None:
        raise HttpError(400, f"Invalid request body {problem}")
    return body
