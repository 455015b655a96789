"""The baselines' servers: bare aiohttp handlers, served by the same aiohttp the API uses.

`python -m bench.bare constant --port P`
    every route answers a constant JSON body: the floor for ingest.
`python -m bench.bare reads --port P --db PATH --secret S`
    GET /api/articles/feed and GET /api/articles/{slug} answered from plain SQLite tables
    (articles with their Conduit JSON pre-rendered, and follows), one query per request on
    the event loop's thread, with the same JWT check as the API: the floor for reads.
"""

from __future__ import annotations

import argparse
import sqlite3

import jwt
from aiohttp import web

CONSTANT = b'{"events":[{"event_id":"01HZZZZZZZZZZZZZZZZZZZZZZZ","position":"tribe.articles:0:0"}]}'


def constant_app() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=CONSTANT, status=202, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


READS_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    slug TEXT PRIMARY KEY, author_id TEXT NOT NULL, created_at INTEGER NOT NULL, json BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_author ON articles (author_id, created_at);
CREATE TABLE IF NOT EXISTS follows (follower_id TEXT NOT NULL, followee_id TEXT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)) WITHOUT ROWID;
"""


def reads_app(db: str, secret: str) -> web.Application:
    conn = sqlite3.connect(db, check_same_thread=False)

    def user_of(request: web.Request) -> str:
        token = request.headers.get("Authorization", "").partition(" ")[2]
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="tribestream")
        return str(claims["sub"])

    async def feed(request: web.Request) -> web.Response:
        me = user_of(request)
        rows = conn.execute(
            "SELECT json FROM articles WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id=?) "
            "ORDER BY created_at DESC LIMIT 20",
            (me,),
        ).fetchall()
        total = conn.execute(
            "SELECT COUNT(*) FROM articles WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id=?)",
            (me,),
        ).fetchone()[0]
        body = b'{"articles":[' + b",".join(r[0] for r in rows) + b'],"articlesCount":' + str(total).encode() + b"}"
        return web.Response(body=body, content_type="application/json")

    async def article(request: web.Request) -> web.Response:
        row = conn.execute("SELECT json FROM articles WHERE slug=?", (request.match_info["slug"],)).fetchone()
        if row is None:
            return web.json_response({"errors": {"article": ["not found"]}}, status=404)
        return web.Response(body=b'{"article":' + row[0] + b"}", content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/articles/feed", feed)
    app.router.add_get("/api/articles/{slug}", article)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("kind", choices=["constant", "reads"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db")
    parser.add_argument("--secret")
    args = parser.parse_args()
    app = constant_app() if args.kind == "constant" else reads_app(args.db, args.secret)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
