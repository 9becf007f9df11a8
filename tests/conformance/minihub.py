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
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

DEFECTS = frozenset({
    "no_self_link", "wrong_secret", "deliver_after_unsubscribe", "never_expire", "set_exp",
})
TOPICS = {"session-revoked": "session", "credential-change": "credential"}
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
KID = "minihub-1"
RETRIES = (0.2, 0.2)


@dataclass
class Sub:
    callback: str
    secret: bytes | None
    expires_at: float
    audience: str | None = None


@dataclass
class MiniHub:
    hub_url: str = ""
    defects: frozenset[str] = frozenset()
    subs: dict[str, dict[str, Sub]] = field(default_factory=dict)  # topic -> callback -> sub
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None

    @property
    def base(self) -> str:
        return self.hub_url.removesuffix("/hub")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hub", self.handle)
        app.router.add_post("/events", self.events)
        app.router.add_get("/.well-known/jwks.json", self.jwks)
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
        audience = form.get("sethub.audience")
        self._spawn(self._verify(str(mode), str(topic), str(callback),
                                 str(secret).encode() if secret else None, int(lease_text),
                                 str(audience) if audience else None))
        return web.Response(status=202, text="accepted")

    async def _get(self, callback: str, params: dict[str, str]) -> tuple[int, str]:
        url = callback + ("&" if "?" in callback else "?") + urlencode(params)
        async with self._client().get(url, allow_redirects=False) as response:
            return response.status, await response.text()

    async def _verify(
        self, mode: str, topic: str, callback: str, secret: bytes | None, lease: int,
        audience: str | None,
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
            subs[callback] = Sub(callback, secret, time.time() + lease, audience)
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

    async def jwks(self, request: web.Request) -> web.Response:
        jwk = ECAlgorithm.to_jwk(SIGNING_KEY.public_key(), as_dict=True)
        return web.json_response({"keys": [{**jwk, "kid": KID, "alg": "ES256", "use": "sig"}]})

    async def events(self, request: web.Request) -> web.Response:
        event = await request.json()
        name = event["type"].rsplit("/", 1)[-1]
        topic = f"{self.base}/topics/{TOPICS[name]}"
        for sub in list(self.subs.get(topic, {}).values()):
            claims = {
                "iss": self.base, "iat": int(time.time()), "jti": secrets.token_hex(16),
                "aud": sub.audience or sub.callback.split("/cb/")[0], "txn": event["txn"],
                "sub_id": event["subject"], "events": {event["type"]: event.get("data", {})},
            }
            if "set_exp" in self.defects:
                claims["exp"] = int(time.time()) + 3600
            token = jwt.encode(claims, SIGNING_KEY, algorithm="ES256",
                               headers={"typ": "secevent+jwt", "kid": KID})
            self._spawn(self._deliver(topic, sub, "application/secevent+jwt", token.encode()))
        return web.json_response({"events": [{"id": "1", "topic": topic}]}, status=202)

    async def _deliver(self, topic: str, sub: Sub, content_type: str, body: bytes) -> None:
        link = f'<{self.hub_url}>; rel="hub"'
        if "no_self_link" not in self.defects:
            link += f', <{topic}>; rel="self"'
        headers = {"Content-Type": content_type, "Link": link, "Accept": "application/json"}
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
            if status == 400 and content_type == "application/secevent+jwt":
                return  # RFC 8935: a rejected SET is not sent again
            if delay is None:
                return
            await asyncio.sleep(delay)
