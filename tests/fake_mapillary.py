"""A fake Mapillary (v3 API, v4 Graph API, OAuth) served over real HTTP on 127.0.0.1 for tests.

Use the ``fake_mapillary`` fixture (or ``serve_fake_mapillary()``), point a client at
``fake.config()`` (or geoapi settings at ``fake.settings()``), and shape the world through the
store (``add_user``, ``add_sequence``, ...) and the faults (``rate_limit``, ``server_error``,
``slow``, ``malformed``, ``respond``, ``vanish_after_ids``). ``fake.requests`` records every call.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from geoapi.mapillary.http import MapillaryConfig

FIXTURES = Path(__file__).parent / "fixtures" / "mapillary"
CLIENT_ID = "7311000000000042"
CLIENT_SECRET = "MLY|7311000000000042|fake-client-secret-0b9e4d"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class FakeUser:
    username: str
    key: str  # v3 user key ("AGfe-07BEJX0-kxpu9J3rA")
    id: str  # v4 numeric user id ("102153268628347")


@dataclass
class FakeImage:
    id: str
    lon: float
    lat: float
    captured_at: int  # epoch milliseconds, as the Graph API sends it
    compass_angle: float | None = None
    is_pano: bool = False
    make: str | None = "GoPro"


@dataclass
class FakeSequence:
    key: str
    user: FakeUser
    images: list[FakeImage]
    created_at: str | None = None  # only v3 knows it


@dataclass
class Fault:
    """Applies to the next ``times`` requests on ``path`` after skipping ``skip`` of them.

    Waits ``delay`` seconds, then answers ``status`` with ``body`` (a canned error when None),
    or, when ``status`` is None, serves the request normally.
    """

    path: str
    status: int | None = 500
    times: int = 1
    skip: int = 0
    delay: float = 0.0
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def ms_from_iso(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def iso_from_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class FakeMapillary:
    """The in-memory Mapillary: store, faults, request log, and the WSGI app (``__call__``)."""

    def __init__(self) -> None:
        self.url = ""  # set by serve_fake_mapillary
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.users: dict[str, FakeUser] = {}
        self.tokens: dict[str, FakeUser] = {}
        self.refresh_tokens: dict[str, FakeUser] = {}
        self.codes: dict[str, FakeUser] = {}
        self.sequences: dict[str, FakeSequence] = {}
        self.page_size: int | None = None  # caps per_page / limit when set
        # False: the image search ignores ``after`` and never sends ``paging.next`` (it only
        # documents ``limit``, up to 2000), so clients must split their queries.
        self.search_pages = True
        self.expired: set[str] = set()  # tokens whose session Mapillary calls expired
        self.challenges: dict[str, str] = {}  # code -> PKCE S256 challenge sent at /connect
        self.verified_codes: list[str] = []  # codes exchanged with a matching code_verifier
        self.faults: list[Fault] = []
        self.vanishing: dict[str, set[str] | None] = {}
        self.requests: list[Request] = []  # every request served, oldest first
        self.authorizing_user: FakeUser | None = None  # who logs in at /connect
        # Set by the fake_mapillary fixture: the seeded user, their token, the v3 fixture.
        self.user: FakeUser | None = None
        self.token = ""
        self.fixture_sequence: FakeSequence | None = None
        self._rng = random.Random(20160314)
        self._numbers = itertools.count(100004583129011, 7919)
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    # --- store -------------------------------------------------------------------------------

    def add_user(
        self, username: str, *, key: str | None = None, user_id: str | None = None
    ) -> FakeUser:
        user = FakeUser(username, key or self._key(), user_id or str(next(self._numbers)))
        self.users[username] = user
        return user

    def issue_token(self, user: FakeUser) -> str:
        token = f"MLY|{user.id}|{self._key(32)}"
        self.tokens[token] = user
        return token

    def add_sequence(
        self,
        user: FakeUser,
        n_images: int = 3,
        *,
        start: str = "2021-06-01T08:00:00.000Z",
        step_s: float = 2.0,
        lon: float = 13.4050,
        lat: float = 52.5200,
        key: str | None = None,
        pano: bool = False,
        make: str | None = "GoPro",
    ) -> FakeSequence:
        """A synthetic sequence walking north-east, with realistic numeric image ids."""
        t0 = ms_from_iso(start)
        images = [
            FakeImage(
                id=str(self._rng.randrange(10**14, 10**16)),
                lon=round(lon + i * 0.00005, 6),
                lat=round(lat + i * 0.00004, 6),
                captured_at=t0 + int(i * step_s * 1000) + self._rng.randrange(0, 40),
                compass_angle=round(self._rng.uniform(0, 360), 3),
                is_pano=pano,
                make=make,
            )
            for i in range(n_images)
        ]
        return self._store(FakeSequence(key or self._key(), user, images))

    def add_v3_feature(self, feature: dict[str, Any]) -> FakeSequence:
        """Load a v3 sequence Feature; its v3 rendering is that same Feature."""
        props = feature["properties"]
        user = self.users.get(props["username"]) or self.add_user(
            props["username"], key=props["user_key"]
        )
        t0 = ms_from_iso(props["captured_at"])
        coord_props = props["coordinateProperties"]
        images = [
            FakeImage(key, lon, lat, t0 + 2000 * i, ca, props["pano"], props["camera_make"])
            for i, (key, ca, (lon, lat)) in enumerate(
                zip(
                    coord_props["image_keys"],
                    coord_props["cas"],
                    feature["geometry"]["coordinates"],
                    strict=True,
                )
            )
        ]
        return self._store(FakeSequence(props["key"], user, images, props["created_at"]))

    def add_v4_sequence(self, image_ids: dict[str, Any], images: dict[str, Any]) -> FakeSequence:
        """Load recorded ``/image_ids`` and ``/images`` answers of one sequence."""
        by_id = {image["id"]: image for image in images["data"]}
        first = by_id[image_ids["data"][0]["id"]]
        creator = first["creator"]
        user = self.users.get(creator["username"]) or self.add_user(
            creator["username"], user_id=creator["id"]
        )
        loaded = [
            FakeImage(
                image["id"],
                *image["geometry"]["coordinates"],
                image["captured_at"],
                image.get("compass_angle"),
                image.get("is_pano", False),
                image.get("make"),
            )
            for image in (by_id[item["id"]] for item in image_ids["data"])
        ]
        return self._store(FakeSequence(first["sequence"], user, loaded))

    def _store(self, sequence: FakeSequence) -> FakeSequence:
        self.sequences[sequence.key] = sequence
        return sequence

    def _key(self, length: int = 22) -> str:
        return "".join(self._rng.choice(_ALPHABET) for _ in range(length))

    # --- faults ------------------------------------------------------------------------------

    def rate_limit(self, path: str, times: int = 1, retry_after: str | None = "1") -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return self.inject(Fault(path, 429, times, headers=headers))

    def server_error(self, path: str, times: int = 1, status: int = 500, skip: int = 0) -> Fault:
        return self.inject(Fault(path, status, times, skip))

    def slow(self, path: str, seconds: float, times: int = 1) -> Fault:
        return self.inject(Fault(path, None, times, delay=seconds))

    def malformed(self, path: str, times: int = 1, body: str = '{"data": [{"id": "1"') -> Fault:
        return self.inject(Fault(path, 200, times, body=body))

    def respond(self, path: str, body: Any, status: int = 200, times: int = 1) -> Fault:
        """Answer ``path`` with an arbitrary JSON body (wrong shapes, foreign next links)."""
        return self.inject(Fault(path, status, times, body=json.dumps(body)))

    def expire_session(self, token: str) -> None:
        """From now on, ``token`` gets Graph's 401 "Session has expired" (190, subcode 463)."""
        self.expired.add(token)

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def vanish_after_ids(self, key: str, image_ids: list[str] | None = None) -> None:
        """Once ``/image_ids`` has served ``key``, delete the sequence (or just ``image_ids``)."""
        self.vanishing[key] = set(image_ids) if image_ids is not None else None

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path == path and fault.times > 0:
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    # --- wiring ------------------------------------------------------------------------------

    def config(self, **overrides: Any) -> MapillaryConfig:
        """A client config pointing every Mapillary URL at this fake."""
        values: dict[str, Any] = {
            "api_v3_url": self.url,
            "api_v4_url": self.url,
            "authorize_url": f"{self.url}/connect",
            "token_url": f"{self.url}/token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        return MapillaryConfig(**{**values, **overrides})

    def settings(self) -> dict[str, str]:
        """geoapi Settings overrides (``load_settings(overrides=...)``) for this fake."""
        names = ("client_id", "client_secret", "api_v3_url", "api_v4_url", "authorize_url")
        config = self.config()
        return {f"mapillary_{name}": getattr(config, name) for name in (*names, "token_url")}

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # --- the WSGI app ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            self.requests.append(request)
        return self._dispatch(request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        fault = self._take_fault(request.path)
        if fault is not None and fault.delay:
            self.stopping.wait(fault.delay)
        if fault is not None and fault.status is not None:
            body = fault.body if fault.body is not None else json.dumps(_graph_error("fault", 1))
            return Response(body, fault.status, fault.headers, content_type="application/json")
        path = request.path
        if path.startswith("/v3/sequences/"):
            path = "/v3/sequences/{key}"
        route = {
            ("GET", "/v3/me"): ("Bearer", self._v3_me),
            ("GET", "/v3/sequences"): ("Bearer", self._v3_sequences),
            ("GET", "/v3/sequences/{key}"): ("Bearer", self._v3_sequence),
            ("GET", "/me"): ("OAuth", self._v4_me),
            ("GET", "/image_ids"): ("OAuth", self._v4_image_ids),
            ("GET", "/images"): ("OAuth", self._v4_images),
            ("GET", "/connect"): (None, self._connect),
            ("POST", "/token"): (None, self._token),
        }.get((request.method, path))
        if route is None:
            return _json({"message": f"no route {request.method} {request.path}"}, 404)
        scheme, handler = route
        if scheme is None:
            return handler(request, None)
        presented = _presented_token(request, scheme)
        if presented in self.expired:
            error = _graph_error(
                "Error validating access token: Session has expired on Tuesday, 01-Dec-26.",
                190,
                "OAuthException",
            )
            error["error"]["error_subcode"] = 463
            return _json(error, 401)
        user = self.tokens.get(presented)
        if user is None:
            # Echo what was presented, as careless servers do, so tests catch clients leaking it.
            message = f"Invalid OAuth access token: {_presented_token(request, None)}"
            body = {"message": message} if scheme == "Bearer" else _graph_error(message, 190)
            return _json(body, 401)
        if scheme == "Bearer" and request.args.get("client_id") != self.client_id:
            return _json({"message": "a valid client_id is required"}, 401)
        return handler(request, user)

    # v3

    def _v3_me(self, request: Request, user: FakeUser) -> Response:
        return _json({"key": user.key, "username": user.username, "avatar": None, "about": ""})

    def _v3_sequences(self, request: Request, user: FakeUser) -> Response:
        args = request.args
        user_keys = set(filter(None, args.get("userkeys", "").split(",")))
        usernames = set(filter(None, args.get("usernames", "").split(",")))
        start, end = _ms_arg(args.get("start_time")), _ms_arg(args.get("end_time"))
        matches = [
            s
            for s in self._newest_first()
            if (not user_keys or s.user.key in user_keys)
            and (not usernames or s.user.username in usernames)
            and _within(s.images[0].captured_at, start, end)
        ]
        per_page = self._limit(args.get("per_page"), 200)
        page = int(args.get("page", "1"))
        chunk = matches[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(matches):
            query = urlencode({**args.to_dict(), "page": page + 1})
            headers["Link"] = f'<{self.url}/v3/sequences?{query}>; rel="next"'
        body = {"type": "FeatureCollection", "features": [self.v3_feature(s) for s in chunk]}
        return _json(body, headers=headers)

    def _v3_sequence(self, request: Request, user: FakeUser) -> Response:
        key = request.path.removeprefix("/v3/sequences/")
        sequence = self.sequences.get(key)
        if sequence is None:
            return _json({"message": f"sequence '{key}' not found"}, 404)
        return _json(self.v3_feature(sequence))

    def v3_feature(self, sequence: FakeSequence) -> dict[str, Any]:
        """The sequence as Mapillary's /v3/sequences rendered it (properties sorted by name)."""
        first = sequence.images[0]
        return {
            "type": "Feature",
            "properties": {
                "camera_make": first.make,
                "captured_at": iso_from_ms(first.captured_at),
                "coordinateProperties": {
                    "cas": [image.compass_angle for image in sequence.images],
                    "image_keys": [image.id for image in sequence.images],
                },
                "created_at": sequence.created_at,
                "key": sequence.key,
                "pano": first.is_pano,
                "user_key": sequence.user.key,
                "username": sequence.user.username,
            },
            "geometry": {
                "type": "LineString",
                "coordinates": [[i.lon, i.lat] for i in sequence.images],
            },
        }

    # v4

    def _v4_me(self, request: Request, user: FakeUser) -> Response:
        fields = request.args.get("fields", "id").split(",")
        return _json({name: getattr(user, name) for name in ("id", "username") if name in fields})

    def _v4_image_ids(self, request: Request, user: FakeUser) -> Response:
        key = request.args.get("sequence_id", "")
        sequence = self.sequences.get(key)
        if sequence is None:
            return _json(_graph_error(f"Object with ID '{key}' does not exist", 100), 404)
        body = {"data": [{"id": image.id} for image in sequence.images]}
        if key in self.vanishing:
            gone = self.vanishing.pop(key)
            if gone is None:
                del self.sequences[key]
            else:
                sequence.images = [image for image in sequence.images if image.id not in gone]
        return _json(body)

    def _v4_images(self, request: Request, user: FakeUser) -> Response:
        args = request.args
        fields = set(args.get("fields", "id").split(","))
        if "image_ids" in args:
            index = {i.id: (s, i) for s in self.sequences.values() for i in s.images}
            wanted = args["image_ids"].split(",")
            found = [index[image_id] for image_id in reversed(wanted) if image_id in index]
            if not found:
                return _json(_graph_error(f"Object with ID '{wanted[0]}' does not exist", 100), 404)
            return _json({"data": [_v4_image(s, i, fields) for s, i in found]})
        start, end = _ms_arg(args.get("start_captured_at")), _ms_arg(args.get("end_captured_at"))
        matches = [
            (s, i)
            for s in self._newest_first()
            for i in s.images
            if s.user.username == args.get("creator_username", s.user.username)
            and s.user.id == args.get("creator_id", s.user.id)
            and _within(i.captured_at, start, end)
        ]
        limit = min(self._limit(args.get("limit"), 2000), 2000)
        offset = int(base64.b64decode(args.get("after", "MA==")))  # cursors: base64 offsets
        if not self.search_pages:
            return _json({"data": [_v4_image(s, i, fields) for s, i in matches[:limit]]})
        body: dict[str, Any] = {
            "data": [_v4_image(s, i, fields) for s, i in matches[offset : offset + limit]]
        }
        cursor = base64.b64encode(str(offset + limit).encode()).decode()
        body["paging"] = {"cursors": {"before": args.get("after", "MA=="), "after": cursor}}
        if offset + limit < len(matches):
            # Graph API next links repeat the access token; clients must not print them.
            query = {
                **args.to_dict(),
                "after": cursor,
                "access_token": _presented_token(request, "OAuth"),
            }
            body["paging"]["next"] = f"{self.url}/images?{urlencode(query)}"
        return _json(body)

    # OAuth

    def _connect(self, request: Request, user: None) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return _json({"message": "unknown client_id or response_type"}, 400)
        if not args.get("redirect_uri"):
            return _json({"message": "redirect_uri is required"}, 400)
        code = f"AQ{self._key(40)}"
        self.codes[code] = self.authorizing_user or next(iter(self.users.values()))
        if args.get("code_challenge"):
            if args.get("code_challenge_method") != "S256":
                return _json({"message": "only code_challenge_method S256"}, 400)
            self.challenges[code] = args["code_challenge"]
        uri = args["redirect_uri"]
        query = urlencode({"code": code, "state": args.get("state", "")})
        return Response(
            status=302, headers={"Location": f"{uri}{'&' if '?' in uri else '?'}{query}"}
        )

    def _token(self, request: Request, user: None) -> Response:
        """Mapillary's token endpoint: ``Authorization: OAuth <client_secret>`` + form fields.

        An authorization code yields an access and a refresh token; a refresh yields a new
        access token only (so clients must keep the old refresh token).
        """
        form = request.form
        if request.headers.get("Authorization") != f"OAuth {self.client_secret}":
            return _json(_graph_error("Invalid client secret", 190, "OAuthException"), 401)
        if form.get("client_id") != self.client_id:
            return _json(_graph_error("Invalid client_id", 101, "OAuthException"), 400)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            owner = self.codes.pop(code, None)
            challenge = self.challenges.pop(code, None)
            if owner is not None and challenge is not None:
                if _s256(form.get("code_verifier", "")) != challenge:
                    return _json(_graph_error("Invalid code_verifier", 100, "OAuthException"), 400)
                self.verified_codes.append(code)
        elif grant == "refresh_token":
            owner = self.refresh_tokens.get(form.get("refresh_token", ""))
        else:
            return _json(_graph_error(f"unsupported grant_type {grant!r}", 100), 400)
        if owner is None:
            return _json(_graph_error("Invalid verification code or refresh token", 100), 400)
        body: dict[str, Any] = {
            "access_token": self.issue_token(owner),
            "token_type": "bearer",
            "expires_in": 5_184_000,
            "user_id": int(owner.id),
        }
        if grant == "authorization_code":
            body["refresh_token"] = f"MLYR|{self._key(32)}"
            self.refresh_tokens[body["refresh_token"]] = owner
        return _json(body)

    def _newest_first(self) -> list[FakeSequence]:
        return sorted(self.sequences.values(), key=lambda s: -s.images[0].captured_at)

    def _limit(self, raw: str | None, default: int) -> int:
        limit = int(raw) if raw else default
        return min(limit, self.page_size) if self.page_size else limit


def _v4_image(sequence: FakeSequence, image: FakeImage, fields: set[str]) -> dict[str, Any]:
    full: dict[str, Any] = {
        "id": image.id,
        "geometry": {"type": "Point", "coordinates": [image.lon, image.lat]},
        "compass_angle": image.compass_angle,
        "captured_at": image.captured_at,
        "is_pano": image.is_pano,
        "make": image.make,
        "creator": {"username": sequence.user.username, "id": sequence.user.id},
        "sequence": sequence.key,
    }
    return {name: value for name, value in full.items() if name == "id" or name in fields}


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _presented_token(request: Request, scheme: str | None) -> str:
    """The token after ``Authorization: <scheme>`` (any scheme when None), else ?access_token=."""
    header = request.headers.get("Authorization", "")
    if header and (scheme is None or header.startswith(f"{scheme} ")):
        return header.split(" ", 1)[-1]
    return request.args.get("access_token", "") if scheme in ("OAuth", None) else ""


def _graph_error(message: str, code: int, kind: str = "GraphMethodException") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf0123"}}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, content_type="application/json")


def _ms_arg(value: str | None) -> int | None:
    return ms_from_iso(value) if value else None


def _within(ms: int, start: int | None, end: int | None) -> bool:
    return (start is None or ms >= start) and (end is None or ms <= end)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serve_fake_mapillary(fake: FakeMapillary | None = None) -> Iterator[FakeMapillary]:
    """Serve ``fake`` on a free 127.0.0.1 port in a background thread until the block ends."""
    fake = fake if fake is not None else FakeMapillary()
    server = make_server("127.0.0.1", 0, fake, threaded=True, request_handler=_QuietHandler)
    fake.url = f"http://127.0.0.1:{server.port}"
    # A short poll interval keeps shutdown (and so each test's teardown) quick.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.01,), name="fake-mapillary", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()  # wakes requests sleeping in a `slow` fault
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(name="fake_mapillary")
def fake_mapillary_fixture() -> Iterator[FakeMapillary]:
    """A served fake with user ``pierregeo`` (token in ``fake.token``) owning the v3 fixture."""
    fake = FakeMapillary()
    with serve_fake_mapillary(fake):
        # One person in both recorded samples: v3 user key and v4 user id.
        fake.add_user("pierregeo", key="AGfe-07BEJX0-kxpu9J3rA", user_id="102153268628347")
        feature = load_fixture("v3-sequences-example.json")["features"][0]
        fake.fixture_sequence = fake.add_v3_feature(feature)
        fake.user = fake.fixture_sequence.user
        fake.token = fake.issue_token(fake.user)
        yield fake
