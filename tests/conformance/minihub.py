"""A small in-memory WebSub hub with switchable defects, to prove the conformance suite can fail.

With no defect switched on it passes every WebSub check; each defect breaks exactly one rule.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

DEFECTS = frozenset({"no_self_link", "wrong_secret", "deliver_after_unsubscribe", "never_expire"})
RETRIES = (0.2, 0.2)


@dataclass
class Sub:
    callback: str
    secret: bytes | None
    expires_at: float


@dataclass
class MiniHub:
    hub_url: str = ""
    defects: frozenset[str] = frozenset()
    subs: dict[str, dict[str, Sub]] = field(default_factory=dict)  # topic -> callback -> sub
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hub", self.handle)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, app: web.Application) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _client(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self.session

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        mode, topic, callback = form.get("hub.mode"), form.get("hub.topic"), form.get(
            "hub.callback"
        )
        if mode == "publish":
            self._spawn(self._publish(str(topic)))
            return web.Response(status=202, text="ok")
        if mode not in ("subscribe", "unsubscribe"):
            return web.Response(status=400, text="bad hub.mode")
        if not topic or not callback:
            return web.Response(status=400, text="hub.topic and hub.callback are required")
        if not str(callback).startswith(("http://", "https://")):
            return web.Response(status=400, text="hub.callback must be http(s)")
        lease_text = str(form.get("hub.lease_seconds", "3600"))
        if mode == "subscribe" and (not lease_text.isdigit() or int(lease_text) <= 0):
            return web.Response(status=400, text="bad hub.lease_seconds")
        secret = form.get("hub.secret")
        if secret is not None and len(str(secret).encode()) >= 200:
            return web.Response(status=400, text="hub.secret too long")
        if "refused.invalid" in str(topic):
            self._spawn(self._get(str(callback), {"hub.mode": "denied", "hub.topic": str(topic)}))
            return web.Response(status=403, text="topic refused")
        self._spawn(self._verify(str(mode), str(topic), str(callback),
                                 str(secret).encode() if secret else None, int(lease_text)))
        return web.Response(status=202, text="accepted")

    async def _get(self, callback: str, params: dict[str, str]) -> tuple[int, str]:
        url = callback + ("&" if "?" in callback else "?") + urlencode(params)
        async with self._client().get(url, allow_redirects=False) as response:
            return response.status, await response.text()

    async def _verify(
        self, mode: str, topic: str, callback: str, secret: bytes | None, lease: int
    ) -> None:
        challenge = secrets.token_hex(16)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            params["hub.lease_seconds"] = str(lease)
        status, body = await self._get(callback, params)
        if not (200 <= status < 300 and body == challenge):
            return
        subs = self.subs.setdefault(topic, {})
        if mode == "subscribe":
            subs[callback] = Sub(callback, secret, time.time() + lease)
        elif "deliver_after_unsubscribe" not in self.defects:
            subs.pop(callback, None)

    async def _publish(self, topic: str) -> None:
        async with self._client().get(topic) as response:
            body = await response.read()
            content_type = response.headers.get("Content-Type", "application/octet-stream")
        for sub in list(self.subs.get(topic, {}).values()):
            if sub.expires_at < time.time() and "never_expire" not in self.defects:
                continue
            self._spawn(self._deliver(topic, sub, content_type, body))

    async def _deliver(self, topic: str, sub: Sub, content_type: str, body: bytes) -> None:
        link = f'<{self.hub_url}>; rel="hub"'
        if "no_self_link" not in self.defects:
            link += f', <{topic}>; rel="self"'
        headers = {"Content-Type": content_type, "Link": link}
        if sub.secret:
            key = b"not-the-secret" if "wrong_secret" in self.defects else sub.secret
            headers["X-Hub-Signature"] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        for delay in (*RETRIES, None):
            async with self._client().post(
                sub.callback, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
            if 200 <= status < 300:
                return
            if status == 410:
                self.subs.get(topic, {}).pop(sub.callback, None)
                return
            if delay is None:
                return
            await asyncio.sleep(delay)
