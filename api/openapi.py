"""The OpenAPI document of the /v1 API, served at /v1/openapi.json.

It states every bound the API enforces and every status an operation can answer: tests keep it in
sync with the routes, and schemathesis (tests/e2e/test_schemathesis.py) holds the server to it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.answers import POSITION_HEADER, json_response
from api.paging import CURSOR_PATTERN
from api.requests import AFTER_HEADER, AFTER_PATTERN
from events.ids import CLIENT_EVENT_ID
from services import activity, moderation, notifications, rules
from services.stream import CURSOR_PATTERN as STREAM_ID_PATTERN

routes = web.RouteTableDef()

_AUTH: list[dict[str, list[str]]] = [{"Token": []}]
_OPTIONAL_AUTH: list[dict[str, list[str]]] = [{}, {"Token": []}]
_BODY_LIMIT = "256 KiB"
"""The largest body the application takes (api/app.py's MAX_BODY_BYTES; a test keeps the two in step)."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _record(**properties: Any) -> dict[str, Any]:
    """An object whose every member is required."""
    return _obj(list(properties), **properties)


def _body(required: list[str], **properties: Any) -> dict[str, Any]:
    """A request body's object: a member it does not list is refused (422), since it may be a typo."""
    return {**_obj(required, **properties), "additionalProperties": False}


def _text(max_length: int, *, blank: bool = False, optional: bool = False) -> dict[str, Any]:
    """A string field; an optional one may be null, which leaves it out."""
    schema: dict[str, Any] = {"type": ["string", "null"] if optional else "string", "maxLength": max_length}
    if not blank:
        schema["pattern"] = rules.NOT_BLANK
    return schema


_RESPONSES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "413": "TooLarge",
    "422": "Unprocessable",
    "429": "TooManyRequests",
    "503": "Unavailable",
}
_POSITION = {
    POSITION_HEADER: {
        "description": f"Where the write is in the log; send it back as {AFTER_HEADER} to read it",
        "schema": {"type": "string", "pattern": AFTER_PATTERN},
    }
}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}}


_EVENT_ACKNOWLEDGED = _record(
    event_id={"type": "string"},
    durable={"const": True},
    position={"type": "string"},
)
_EVENT_NOT_ACKNOWLEDGED = _record(event_id={"type": "string"}, durable={"const": False})
_EVENTS_UNAVAILABLE = _obj(
    ["errors"],
    errors={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    events={
        "type": "array",
        "description": "Present when the log took part of the batch (Kafka): every event in the order sent, "
        "acknowledged or not. Resend those not acknowledged, with their event ids",
        "items": {"oneOf": [_EVENT_ACKNOWLEDGED, _EVENT_NOT_ACKNOWLEDGED]},
    },
)


def _listing_durable_events(op: dict[str, Any]) -> dict[str, Any]:
    """/v1/events' 503 may list which events a log that acknowledges them one by one (Kafka) took."""
    return {**op, "responses": {**op["responses"], "503": {"$ref": "#/components/responses/EventsUnavailable"}}}


def _written(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**_json(schema, description), "headers": _POSITION}


def _op(
    summary: str,
    status: str,
    ok: dict[str, Any],
    *,
    auth: bool = False,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    params: tuple[dict[str, Any], ...] = (),
    reads: bool = False,
    writes: bool = False,
    refusals: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An operation and every status it can answer.

    Any request may be over a rate limit (429), send a token that is not valid (401) or find the log
    or the store not answering (503). A read waits for X-Tribe-After (400 when it names no position
    this log has written); a body can be unparsable (400), too large (413) or break a rule (422); a
    write's projections can be behind (202). `refusals` are the operation's own.
    """
    statuses = {"401", "429", "503", *refusals}
    parameters = list(params)
    if reads:
        statuses.add("400")
        parameters += _AFTER
    if body is not None:
        statuses |= {"400", "413", "422"}
    responses = {status: ok}
    if writes and status != "202":
        responses["202"] = _ACCEPTED
    responses |= {s: {"$ref": f"#/components/responses/{_RESPONSES[s]}"} for s in sorted(statuses)}
    op: dict[str, Any] = {"summary": summary, "security": _AUTH if auth else _OPTIONAL_AUTH, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    if parameters:
        op["parameters"] = parameters
    return op


def _write(summary: str, status: str, schema: dict[str, Any], description: str, **options: Any) -> dict[str, Any]:
    """A signed-in user's write, answered with `schema` once the read models reflect it (202 until then)."""
    return _op(summary, status, _written(schema, description), auth=True, writes=True, **options)


def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _limit(most: int, default: int) -> dict[str, Any]:
    return _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": most, "default": default})


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_AFTER_DESCRIPTION = (
    "Positions (topic:partition:offset, comma-separated) as a write's X-Tribe-Position gave them: the read "
    "waits (at most the server's write wait) until the read models reflect them. A position this log has not "
    "written, or of a partition it does not have, is a 400 at once."
)
_AFTER = [
    {
        "name": AFTER_HEADER,
        "in": "header",
        "required": False,
        "description": _AFTER_DESCRIPTION,
        "schema": {"type": "string", "pattern": AFTER_PATTERN},
    },
    _query(
        "after",
        f"The same as {AFTER_HEADER}, for clients that cannot set a header (the header wins when both are sent)",
        {"type": "string", "pattern": AFTER_PATTERN},
    ),
]
_CURSOR = _query(
    "cursor",
    "next_cursor of the previous page, as given: `<sort value>.<id>` (the page's last member count or rank, "
    "and its id). Empty or absent: the first page.",
    {"type": "string", "pattern": CURSOR_PATTERN},
)
_PAGE = (_limit(100, 20), _CURSOR)
_ACCEPTED = {
    **_json(_ref("Accepted"), "Durable, but the read models have not caught up within the wait"),
    "headers": _POSITION,
}
_TRIBE = _record(tribe=_ref("Tribe"))
_CARD = _record(article=_ref("Card"))
_BLOCK = _record(username={"type": "string"}, blocked={"type": "boolean"})
_FOLLOW_REQUEST = _record(user=_ref("Author"), requested_at={"type": "string"})
_FOLLOWER = _record(
    username={"type": "string"},
    following={"type": "boolean"},
    approved={"type": "boolean"},
)
_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_EVENT_ID = {
    "type": ["string", "null"],
    "pattern": CLIENT_EVENT_ID.pattern,
    "description": "The client's own id for the event, so that a retried batch is not appended twice",
}


_TARGET_MEMBERS: dict[str, dict[str, Any]] = {
    "article": {"article_id": _ID},
    "comment": {"article_id": _ID, "comment_id": {"type": "integer"}},
    "user": {"username": {"type": "string", "minLength": 1}},
}


def _targets(required: list[str], *, actions: bool = False, **properties: Any) -> dict[str, Any]:
    """A body naming an article (article_id), a comment (article_id, comment_id) or a user (username)."""
    return {
        "oneOf": [
            _body(
                ["target_kind", *members, *required],
                target_kind={"const": kind},
                **members,
                **({"action": {"enum": list(moderation.ACTIONS[kind])}} if actions else {}),
                **properties,
            )
            for kind, members in _TARGET_MEMBERS.items()
        ]
    }


def _event(kind: str, reference: str, **extra: Any) -> dict[str, Any]:
    return _body(["type", reference], type={"const": kind}, event_id=_EVENT_ID, **{reference: _ID}, **extra)


def _membership(summary: str) -> dict[str, Any]:
    """Join or leave the tribe the path names: the tribe after it."""
    return _write(summary, "200", _TRIBE, "The tribe", params=(_path("tribe_id"),), refusals=("404",))


def _blocking(summary: str) -> dict[str, Any]:
    """Block or unblock the user the path names (not yourself: 422)."""
    return _write(summary, "200", _BLOCK, "Block state", params=(_path("username"),), refusals=("404", "422"))


def _follow_answer(summary: str) -> dict[str, Any]:
    """Approve or deny the follow of the user the path names: where that follower stands after it."""
    return _write(summary, "200", _FOLLOWER, "Follower", params=(_path("username"),), refusals=("404",))


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Tribestream native API",
        "version": "1.0.0",
        "description": (
            "The DriveTribe read models (tribes, article cards, ranked feeds, notifications, stats, "
            "trending, search) and raw events. Writes answer from the read model once it reflects them "
            "(X-Tribe-Position header), or 202 with the positions when it has not within the wait; send that "
            "token back as X-Tribe-After on any read to wait for it. A token, when sent, must be valid on "
            "every operation, those that do not need one included (401). Every client has budgets of reads "
            "and writes per window (per user, or per IP address when anonymous): answers carry "
            "RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), and a request over a "
            "budget is answered 429 with Retry-After. A method a path does not have is answered 405 with "
            f"Allow; a body over {_BODY_LIMIT}, 413. Errors are JSON: "
            '{"errors": {"<field>": ["<problem>"]}}.'
        ),
    },
    "paths": {
        "/v1/events": {
            "post": _listing_durable_events(_write(
                "Append raw events (views, bumps, follows): the batch is checked whole (every article and user "
                "it names must exist; a blocker cannot be followed) before any is appended. An event_id names "
                "an event of its sender: resent with the same payload it is not appended again on the embedded "
                "log (its first position is answered), with another payload it is a 409; repeated within the "
                "batch it is one event on both logs. More than "
                f"{activity.TOGGLES_PER_TARGET} bumps and unbumps of one article, or follows and unfollows of one "
                "user, in a batch is a 422. The embedded log "
                "appends the batch all-or-nothing; Kafka acknowledges events one by one, and a 503 lists which "
                "were acknowledged",
                "202",
                _record(
                    events={
                        "type": "array",
                        "items": _record(event_id={"type": "string"}, position={"type": "string"}),
                    },
                ),
                "Appended; not waited for",
                refusals=("403", "404", "409", "413"),
                body={
                    "type": "array",
                    "minItems": 1,
                    "maxItems": activity.MAX_EVENTS,
                    "description": f"More than {activity.MAX_EVENTS} events is a 413",
                    "items": {
                        "oneOf": [
                            _event("ArticleViewed", "article_id", referrer={**_ID, "type": ["string", "null"]}),
                            _event("ArticleBumped", "article_id"),
                            _event("ArticleUnbumped", "article_id"),
                            _event("UserFollowed", "followee_id"),
                            _event("UserUnfollowed", "followee_id"),
                        ]
                    },
                },
            ))
        },
        "/v1/logout": {
            "post": _op(
                "End every session of the user: every token issued to them so far is refused from now on",
                "204",
                {"description": "Logged out", "headers": _POSITION},
                auth=True,
                writes=True,
            )
        },
        "/v1/tribes": {
            "get": _op(
                "List tribes, most members first",
                "200",
                _json(
                    _record(
                        tribes={"type": "array", "items": _ref("Tribe")},
                        next_cursor={"type": ["string", "null"], "pattern": CURSOR_PATTERN},
                    ),
                    "A page of tribes",
                ),
                params=(
                    _query("q", "words of the name, all of which must match; blank: every tribe", {"type": "string"}),
                    *_PAGE,
                ),
                reads=True,
            ),
            "post": _write(
                "Create a tribe (the creator joins it)",
                "201",
                _TRIBE,
                "Created",
                body=_body(["name"], name=_text(100), description=_text(2_000, blank=True, optional=True)),
            ),
        },
        "/v1/tribes/{tribe_id}": {
            "get": _op(
                "A tribe with member and article counts",
                "200",
                _json(_TRIBE, "The tribe"),
                params=(_path("tribe_id"),),
                reads=True,
                refusals=("404",),
            )
        },
        "/v1/tribes/{tribe_id}/join": {"post": _membership("Join a tribe (repeating is not an error)")},
        "/v1/tribes/{tribe_id}/leave": {"post": _membership("Leave a tribe (repeating is not an error)")},
        "/v1/articles": {
            "post": _write(
                "Publish an article, optionally into a tribe you joined (403 if you have not, 404 if there is none)",
                "201",
                _CARD,
                "The card",
                refusals=("403", "404"),
                body=_body(
                    ["title", "body"],
                    title=_text(300),
                    body=_text(100_000),
                    description=_text(1_000, blank=True, optional=True),
                    tags={
                        "type": ["array", "null"],
                        "maxItems": 20,
                        "items": {"type": "string", "maxLength": 64},
                        "description": "At most 20 tags of at most 64 characters; blank ones are dropped",
                    },
                    tribe_id={"type": ["string", "null"]},
                ),
            )
        },
        "/v1/articles/{article_id}": {
            "get": _op(
                "An article card",
                "200",
                _json(_CARD, "The card"),
                params=(_path("article_id"),),
                reads=True,
                refusals=("404",),
            )
        },
        "/v1/feed": {
            "get": _op(
                "Cards from followed authors and joined tribes, best rank first "
                "(rank = log10(1 + bumps + 2 comments + views/10) + (created_at - 2023-11-14) / 45000 s)",
                "200",
                _json(
                    _record(
                        items={"type": "array", "items": _ref("Card")},
                        next_cursor={"type": ["string", "null"], "pattern": CURSOR_PATTERN},
                    ),
                    "A page of the feed",
                ),
                auth=True,
                params=_PAGE,
                reads=True,
            )
        },
        "/v1/users/{username}/notifications": {
            "get": _op(
                "Your own notifications, grouped, newest first (403 for anyone else's)",
                "200",
                _json(
                    _record(
                        notifications={"type": "array", "items": _ref("Notification")},
                        unread_count={"type": "integer"},
                    ),
                    "Notifications",
                ),
                auth=True,
                params=(_path("username"), _limit(notifications.NEWEST_GROUPS, 50)),
                reads=True,
                refusals=("403", "404"),
            )
        },
        "/v1/notifications/read": {
            "post": _write(
                "Mark notifications read up to a time (ms since the epoch, not in the future; absent or null: now)",
                "200",
                _record(read_up_to={"type": "integer"}),
                "Marked",
                body=_body([], up_to={"type": ["integer", "null"], "minimum": 0}),
                body_required=False,
            )
        },
        "/v1/users/{username}/block": {
            "post": _blocking(
                "Block a user: they cannot follow, comment on or mention you,"
                " and disappear from your feed and notifications (not yourself: 422)"
            ),
            "delete": _blocking("Lift a block"),
        },
        "/v1/follow-requests": {
            "get": _op(
                "The requests to follow you (a private user) you have not answered, newest first"
                " (none while you are public)",
                "200",
                _json(_record(requests={"type": "array", "items": _FOLLOW_REQUEST}), "Requests"),
                auth=True,
                params=(_limit(100, 20),),
                reads=True,
            )
        },
        "/v1/follow-requests/{username}/approve": {
            "post": _follow_answer(
                "Approve a user's follow: they read your articles while you are private"
                " (no active follow of yours by them: 404)"
            )
        },
        "/v1/follow-requests/{username}/deny": {
            "post": _follow_answer(
                "Deny a user's follow request, or remove them as a follower: their follow ends"
                " (no active follow of yours by them: 404)"
            )
        },
        "/v1/users/{username}/stats": {
            "get": _op(
                "Followers, following, articles and bumps received",
                "200",
                _json(
                    _record(
                        username={"type": "string"},
                        stats=_record(
                            followers={"type": "integer"},
                            following={"type": "integer"},
                            articles={"type": "integer"},
                            bumps_received={"type": "integer"},
                        ),
                    ),
                    "Stats",
                ),
                params=(_path("username"),),
                reads=True,
                refusals=("404",),
            )
        },
        "/v1/trending": {
            "get": _op(
                "Top articles and tags by bumps and comments"
                " over the last hour (5-minute buckets) or day (hourly buckets)",
                "200",
                _json(
                    _record(
                        window={"enum": list(activity.TREND_WINDOWS)},
                        articles={
                            "type": "array",
                            "items": _record(score={"type": "integer"}, article=_ref("Card")),
                        },
                        tags={
                            "type": "array",
                            "items": _record(tag={"type": "string"}, score={"type": "integer"}),
                        },
                    ),
                    "Trending",
                ),
                params=(
                    _query("window", "the window", {"enum": list(activity.TREND_WINDOWS), "default": "1h"}),
                    _limit(50, 10),
                ),
                reads=True,
            )
        },
        "/v1/search/articles": {
            "get": _op(
                "Live articles by words in title and body, by tag, or both; best rank first",
                "200",
                _json(_record(articles={"type": "array", "items": _ref("Card")}), "Matches"),
                params=(
                    {
                        "name": "search",
                        "in": "query",
                        "style": "form",
                        "explode": True,
                        "required": True,
                        "description": "q, tag or both (each a query parameter of its own)",
                        "schema": {
                            **_obj(
                                [],
                                q={
                                    "type": "string", "pattern": rules.NOT_BLANK, "description": "words, all must match"
                                },
                                tag={"type": "string", "pattern": rules.NOT_BLANK, "description": "a tag"},
                            ),
                            "additionalProperties": False,
                            "minProperties": 1,
                        },
                    },
                    _limit(100, 20),
                ),
                reads=True,
            )
        },
        "/v1/search/users": {
            "get": _op(
                "Users by username prefix",
                "200",
                _json(_record(users={"type": "array", "items": _ref("Author")}), "Matches"),
                params=(
                    _query(
                        "prefix", "start of a username", {"type": "string", "pattern": rules.NOT_BLANK}, required=True
                    ),
                    _limit(100, 20),
                ),
                reads=True,
            )
        },
        "/v1/search/tribes": {
            "get": _op(
                "Tribes by words of their name, most members first",
                "200",
                _json(_record(tribes={"type": "array", "items": _ref("Tribe")}), "Matches"),
                params=(
                    _query(
                        "q",
                        "words of the name, all of which must match",
                        {"type": "string", "pattern": rules.NOT_BLANK},
                        required=True,
                    ),
                    _limit(100, 20),
                ),
                reads=True,
            )
        },
        "/v1/admin/status": {
            "get": _op(
                "Admins only (TRIBE_ADMINS): what the operator page /ops shows: every view's versions as `tribe "
                "replay status` lists them, each with its events per second, and every dead letter",
                "200",
                _json(
                    _record(
                        views={"type": "array", "items": _ref("ViewStatus")},
                        dead_letters={"type": "array", "items": _ref("DeadLetter")},
                    ),
                    "The views and the dead letters",
                ),
                auth=True,
                refusals=("403",),
            )
        },
        "/v1/admin/dead-letters": {
            "get": _op(
                "Admins only (TRIBE_ADMINS): every dead letter, an event a view parked because it could not apply "
                "it (failed), or because an earlier event of its key failed (behind)",
                "200",
                _json(_record(dead_letters={"type": "array", "items": _ref("DeadLetter")}), "Letters"),
                auth=True,
                refusals=("403",),
            )
        },
        "/v1/admin/dead-letters/{letter_id}": {
            "get": _op(
                "Admins only: one dead letter, its key's letters in order, and the event it holds",
                "200",
                _json(
                    _record(
                        dead_letter=_ref("DeadLetter"),
                        sequence={"type": "array", "items": {"type": "string"}},
                        event={"type": ["object", "null"], "description": "The event's fields, with its type"},
                        undecodable={
                            "type": ["string", "null"],
                            "description": "The first 64 bytes, in hex, when they are no event",
                        },
                    ),
                    "The letter",
                ),
                auth=True,
                params=(_path("letter_id"),),
                refusals=("403", "404", "422"),
            )
        },
        "/v1/admin/dead-letters/{letter_id}/retry": {
            "post": _op(
                "Admins only: replay the letter's key, every parked event of it in order, through the view's "
                "write path; the first that fails again stays parked (failed), with the rest behind it",
                "200",
                _json(_ref("Retried"), "What was applied"),
                auth=True,
                params=(_path("letter_id"),),
                refusals=("403", "404", "422"),
            )
        },
        "/v1/admin/dead-letters/{letter_id}/skip": {
            "post": _op(
                "Admins only: give up on the letter's event (it is never applied), and replay the rest of its key",
                "200",
                _json(_ref("Retried"), "What was skipped and applied"),
                auth=True,
                params=(_path("letter_id"),),
                refusals=("403", "404", "422"),
            )
        },
        "/v1/reports": {
            "post": _write(
                "Report an article (article_id), a comment (article_id and comment_id) or a user (username) to the "
                "moderators, with a reason; a user's second report of one target counts once",
                "201",
                _record(report=_ref("Report")),
                "Filed",
                body=_targets(
                    ["reason"],
                    reason={"enum": list(moderation.REASONS)},
                    note=_text(moderation.NOTE_MAX, blank=True, optional=True),
                ),
                refusals=("403", "404"),
            )
        },
        "/v1/moderation/queue": {
            "get": _op(
                "Moderators only (TRIBE_MODERATORS, `tribe moderators grant`): the reported and decided targets, "
                "open ones first, then the most reported",
                "200",
                _json(
                    _record(
                        items={"type": "array", "items": _ref("QueueItem")},
                        total={"type": "integer", "minimum": 0},
                    ),
                    "A page of the queue",
                ),
                auth=True,
                params=(
                    _query("state", "only targets in this state", {"enum": list(moderation.STATES)}),
                    _limit(100, 20),
                    _query(
                        "offset",
                        "targets to skip",
                        {"type": "integer", "minimum": 0, "maximum": moderation.QUEUE_DEEPEST_OFFSET, "default": 0},
                    ),
                ),
                reads=True,
                refusals=("403",),
            )
        },
        "/v1/moderation/decisions": {
            "post": _write(
                "Moderators only: hide or restore an article or a comment, suspend or unsuspend a user; applied to "
                "every read of it",
                "200",
                _record(item=_ref("QueueItem")),
                "The target as the queue has it now",
                body=_targets(
                    ["action", "reason"],
                    actions=True,
                    reason=_text(moderation.DECISION_REASON_MAX),
                ),
                refusals=("403", "404"),
            )
        },
        "/v1/stream/tickets": {
            "post": _op(
                "A ticket that opens your live stream (GET /v1/stream?ticket=) for a short while: an EventSource "
                "cannot send the Authorization header",
                "201",
                _json(
                    _record(
                        ticket={"type": "string"},
                        expires_at={"type": "string", "format": "date-time"},
                    ),
                    "The ticket; streams can be opened with it until expires_at",
                ),
                auth=True,
            )
        },
        "/v1/stream": {
            "get": {
                "summary": "Your feed and notifications, live, as Server-Sent Events (`feed`: an article by an author "
                "you follow or in a tribe you joined; `notification`: a bump, comment, mention or follow). Each "
                "message's id is a position in the log: reconnecting with it (Last-Event-ID, or last_event_id) "
                "resumes right after that message, nothing missed and nothing repeated",
                "security": [{}],
                "parameters": [
                    _query("ticket", "From POST /v1/stream/tickets", {"type": "string"}, required=True),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": "The id of the last message received (EventSource sends it when it reconnects)",
                        "schema": {"type": "string", "pattern": STREAM_ID_PATTERN},
                    },
                    _query(
                        "last_event_id",
                        "The same, for a new EventSource, which cannot set the header (the header wins)",
                        {"type": "string", "pattern": STREAM_ID_PATTERN},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The stream: messages `feed` and `notification` with JSON data, until the "
                        "server ends it (reconnect from the last id)",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": {"$ref": "#/components/responses/BadRequest"},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "429": _json(
                        _ref("Errors"),
                        "As many streams open as a user may have (errors.streams), or over a rate limit (errors.rate)",
                    ),
                    "503": {"$ref": "#/components/responses/Unavailable"},
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": _OPTIONAL_AUTH,
                "responses": {
                    "200": {"description": "OpenAPI 3.1"},
                    **{s: {"$ref": f"#/components/responses/{_RESPONSES[s]}"} for s in ("401", "429")},
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "Token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <jwt>"}
        },
        "responses": {
            "BadRequest": _json(
                _ref("Errors"),
                "A request that cannot be parsed: a body that is not JSON, a parameter outside its bounds or form, "
                "or X-Tribe-After naming a position this log has not written",
            ),
            "Unauthorized": {
                **_json(
                    _ref("Errors"),
                    "No token where one is needed, or a token that is not valid: malformed, expired, of a user "
                    "this server does not know, or issued before the user logged out or changed their password",
                ),
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            },
            "Forbidden": _json(_ref("Errors"), "Not yours, or not allowed: someone blocked you"),
            "NotFound": _json(_ref("Errors"), "A tribe, article or user the request names does not exist"),
            "TooLarge": _json(
                _ref("Errors"), f"A body over {_BODY_LIMIT}, or a batch of more than {activity.MAX_EVENTS} events"
            ),
            "Unprocessable": _json(
                _ref("Errors"), "A well-formed request that breaks a rule: a missing, unknown or ill-typed field"
            ),
            "TooManyRequests": {
                **_json(
                    _record(
                        errors=_record(rate={"type": "array", "items": {"type": "string"}}),
                    ),
                    "Over a rate-limit budget: nothing was done; retry after Retry-After seconds",
                ),
                "headers": {
                    "Retry-After": {
                        "description": "Seconds until the exceeded budget comes back",
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    "RateLimit-Policy": {
                        "description": 'The budgets this request counts against, e.g. "reads";q=1200;w=60 '
                        "(q requests per w seconds)",
                        "schema": {"type": "string"},
                    },
                    "RateLimit": {
                        "description": 'Where the client stands in each, e.g. "reads";r=0;t=42 '
                        "(r requests left, t seconds until the window ends)",
                        "schema": {"type": "string"},
                    },
                },
            },
            "Conflict": _json(
                _ref("Errors"),
                "An event_id you sent before, or earlier in the batch, with another payload: nothing of the batch "
                "was appended",
            ),
            "Unavailable": {
                **_json(
                    _ref("Errors"),
                    "The log cannot take the write or say how far it goes, or the store cannot answer: nothing was "
                    "done",
                ),
                "headers": _RETRY_AFTER,
            },
            "EventsUnavailable": {
                **_json(_EVENTS_UNAVAILABLE, "The log did not acknowledge every event; without `events`, none"),
                "headers": _RETRY_AFTER,
            },
        },
        "schemas": {
            "Errors": _record(
                errors={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            ),
            "DeadLetter": _record(
                id={"type": "string", "description": "projection:topic:partition:offset"},
                projection={"type": "string", "description": "the view version, e.g. articles_v3"},
                topic={"type": "string"},
                partition={"type": "integer"},
                offset={"type": "integer"},
                key={"type": "string", "description": "the log record's key: the feed of the same documents"},
                state={"enum": ["failed", "behind"]},
                cause={"type": "string"},
                attempts={"type": "integer"},
                first_failed_at={"type": "integer", "description": "ms since the epoch"},
                last_failed_at={"type": "integer", "description": "ms since the epoch"},
            ),
            "ViewStatus": _record(
                view={"type": "string"},
                live_version={"type": ["integer", "null"], "description": "the version reads are answered from"},
                versions={"type": "array", "items": _ref("VersionStatus")},
            ),
            "VersionStatus": _record(
                version={"type": "integer"},
                live={"type": "boolean"},
                checkpoint={
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "topic:partition -> the offset it has applied up to",
                },
                lag={
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "topic:partition -> events between the checkpoint and the head of the log",
                },
                done={"type": "integer", "description": "events checkpointed, over every partition"},
                progress={"type": "number", "minimum": 0, "maximum": 1, "description": "done / (done + lag)"},
                throughput={
                    "type": ["number", "null"],
                    "description": "events checkpointed per second between two samples of the checkpoints at least "
                    "a second apart, taken by this process as the route is called; null until it has two",
                },
                fingerprint={"type": ["string", "null"], "description": "of the code that builds it"},
                this_code={"type": "boolean", "description": "whether this server runs that code"},
                state={"enum": ["running", "retrying", "parked", "fenced", "idle"]},
                dead_letters={"type": "integer"},
                parked_since={"type": ["integer", "null"], "description": "ms since the epoch"},
                runners={
                    "type": "array",
                    "items": _record(
                        runner={"type": "string", "description": "the process: host:pid or a worker's instance id"},
                        state={"enum": ["running", "retrying", "parked", "fenced"]},
                        error={"type": ["string", "null"]},
                        attempts={"type": "integer"},
                        fingerprint={"type": "string"},
                        since={"type": "integer", "description": "ms since the epoch"},
                        updated_at={"type": "integer", "description": "ms since the epoch"},
                    ),
                },
            ),
            "Retried": _record(
                applied={"type": "array", "items": {"type": "string"}, "description": "letters applied and removed"},
                failed={"oneOf": [{"type": "null"}, _ref("DeadLetter")], "description": "the letter that failed again"},
                skipped={"type": ["string", "null"]},
                left_behind={
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "collections fed by several keys that may not reflect what was applied until "
                    "`tribe replay` of the view rebuilds them",
                },
            ),
            "Report": _record(
                target_kind={"enum": list(moderation.TARGET_KINDS)},
                target_id={"type": "string", "description": "the article's id, the comment's number or the user's id"},
                article_id={"type": ["string", "null"]},
                reason={"enum": list(moderation.REASONS)},
            ),
            "QueueItem": _record(
                id={"type": "string"},
                target_kind={"enum": list(moderation.TARGET_KINDS)},
                target_id={"type": "string"},
                article_id={"type": ["string", "null"]},
                shown={"type": "string", "description": "the user's name, the article's title or the comment's text"},
                reports={"type": "integer", "minimum": 0, "description": "distinct reporters"},
                reasons={"type": "array", "items": {"type": "string"}},
                first_reported_at={"type": ["integer", "null"], "description": "ms since the epoch"},
                last_reported_at={"type": ["integer", "null"]},
                state={"enum": list(moderation.STATES)},
                decided_by={"type": ["string", "null"], "description": "a moderator's user id, or tribe:classifier"},
                decided_source={"enum": ["moderator", "classifier", None]},
                decided_at={"type": ["integer", "null"]},
                decision_reason={"type": ["string", "null"]},
            ),
            "Accepted": _record(
                status={"const": "accepted"},
                positions={"type": "array", "items": {"type": "string"}},
            ),
            "Author": _record(
                id={"type": "string"},
                username={"type": "string"},
                display_name={"type": "string"},
                image={"type": ["string", "null"]},
            ),
            "Tribe": _record(
                id={"type": "string"},
                name={"type": "string"},
                description={"type": "string"},
                owner_id={"type": "string"},
                member_count={"type": "integer"},
                article_count={"type": "integer"},
                joined={"type": "boolean"},
                created_at={"type": "string", "format": "date-time"},
            ),
            "Card": _record(
                id={"type": "string"},
                slug={"type": "string"},
                title={"type": "string"},
                description={"type": "string"},
                tags={"type": "array", "items": {"type": "string"}},
                tribe={"oneOf": [{"type": "null"}, _record(id={"type": "string"}, name={"type": "string"})]},
                author=_ref("Author"),
                counts=_record(
                    views={"type": "integer"},
                    comments={"type": "integer"},
                    bumps={"type": "integer"},
                ),
                bumped={"type": "boolean"},
                rank={"type": "integer"},
                created_at={"type": "string", "format": "date-time"},
                updated_at={"type": "string", "format": "date-time"},
            ),
            "Notification": _record(
                id={"type": "string"},
                kind={"enum": ["bump", "comment", "mention", "follow"]},
                text={"type": "string"},
                actor_count={"type": "integer"},
                latest_actor=_ref("Author"),
                article={"oneOf": [{"type": "null"}, _record(id={"type": "string"}, title={"type": "string"})]},
                comment_id={"type": ["integer", "null"]},
                at={"type": "string", "format": "date-time"},
                unread={"type": "boolean"},
            ),
        },
    },
}


@routes.get("/v1/openapi.json")
async def openapi(_: web.Request) -> web.Response:
    return json_response(DOCUMENT)
