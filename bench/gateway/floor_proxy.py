"""The floor under any Python gateway: a bare ASGI app on the same uvicorn (uvloop, httptools) as kumo that
reads the request, forwards it with aiohttp (kumo's upstream client) and hands back the answer: no routing,
auth, logging, usage or cost. Whatever CPU per request this costs on a machine, no Python gateway pays less.

Run (by bench/gateway_cpu.py --floor):  python bench/gateway/floor_proxy.py --port P --upstream http://127.0.0.1:U
"""

from __future__ import annotations

import argparse


def make_floor_app(upstream: str):
    import aiohttp

    session: list[aiohttp.ClientSession] = []  # made on the server's loop, at the first request

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if session:
                await session[0].close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                                 cookie_jar=aiohttp.DummyCookieJar(), trust_env=False))
        async with session[0].post(upstream + "/chat/completions", data=body,
                                   headers={"content-type": "application/json"}) as upstream_response:
            answer = await upstream_response.read()
            status = upstream_response.status
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    return app


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    args = ap.parse_args()
    uvicorn.run(make_floor_app(args.upstream), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
