"""geoapi.mapillary against a fake Mapillary over real HTTP: mapping, paging, retries, OAuth."""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fake_mapillary import FakeMapillary, fake_mapillary_fixture, load_fixture  # noqa: F401

from geoapi.mapillary import oauth
from geoapi.mapillary.client import create_source
from geoapi.mapillary.errors import (
    MapillaryAuthError,
    MapillaryConnectionError,
    MapillaryError,
    MapillaryHTTPError,
    MapillaryNotFoundError,
    MapillaryRateLimitError,
    MapillaryResponseError,
    MapillaryTimeoutError,
)
from geoapi.mapillary.http import MapillaryConfig, redact
from geoapi.mapillary.source import MapillarySource, MapillaryUser
from geoapi.mapillary.v3 import MapillaryV3
from geoapi.mapillary.v4 import MapillaryV4, feature_from_images, iso_from_epoch_ms

SourceFactory = Callable[..., MapillarySource]


@pytest.fixture
def sleeps() -> list[float]:
    """Every delay the client asked for; nothing actually sleeps."""
    return []


@pytest.fixture
def make_source(
    fake_mapillary: FakeMapillary,
    sleeps: list[float],
) -> Iterator[SourceFactory]:
    """Build a v3 or v4 client on the fake (config overrides as keywords); closed afterwards."""
    made: list[MapillarySource] = []

    def make(api: str = "v4", batch_size: int = 50, **overrides: Any) -> MapillarySource:
        config = fake_mapillary.config(**overrides)
        source: MapillarySource
        if api == "v3":
            source = MapillaryV3(config, sleep=sleeps.append)
        else:
            source = MapillaryV4(config, sleep=sleeps.append, batch_size=batch_size)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


@pytest.fixture
def v4_sample(fake_mapillary: FakeMapillary) -> str:
    """Load the recorded v4 answers (ids in capture order, images shuffled); return the key."""
    ids = load_fixture("v4-image-ids-example.json")
    images = load_fixture("v4-images-example.json")
    return fake_mapillary.add_v4_sequence(ids, images).key


# --- the fake stays true to the recordings -------------------------------------------------


def test_fake_serves_the_recorded_v4_payloads(
    fake_mapillary: FakeMapillary,
    v4_sample: str,
) -> None:
    recorded = load_fixture("v4-images-example.json")["data"]
    page = load_fixture("v4-user-images-page-example.json")
    auth = {"Authorization": f"OAuth {fake_mapillary.token}"}
    ids = ",".join(image["id"] for image in recorded)
    fields = ",".join(recorded[0])
    with requests.Session() as http:
        me = http.get(
            f"{fake_mapillary.url}/me", params={"fields": "id,username"}, headers=auth, timeout=5
        ).json()
        images = http.get(
            f"{fake_mapillary.url}/images",
            params={"image_ids": ids, "fields": fields},
            headers=auth,
            timeout=5,
        ).json()
        listing = http.get(
            f"{fake_mapillary.url}/images",
            params={"creator_username": "pierregeo", "fields": "id,sequence,captured_at,creator"},
            headers=auth,
            timeout=5,
        ).json()
    assert me == load_fixture("v4-me-example.json")
    assert sorted(images["data"], key=lambda i: i["id"]) == sorted(recorded, key=lambda i: i["id"])
    assert listing["data"][0].keys() == page["data"][0].keys()
    assert listing["paging"]["cursors"].keys() == page["paging"]["cursors"].keys()


# --- v3 ------------------------------------------------------------------------------------


def test_v3_me(make_source: SourceFactory, fake_mapillary: FakeMapillary) -> None:
    user = make_source("v3").me(fake_mapillary.token)
    assert user == MapillaryUser(key="AGfe-07BEJX0-kxpu9J3rA", username="pierregeo")
    call = fake_mapillary.calls("/v3/me")[0]
    assert call.headers["Authorization"] == f"Bearer {fake_mapillary.token}"
    assert call.args["client_id"] == fake_mapillary.client_id


def test_v3_get_sequence_equals_fixture(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    expected = load_fixture("v3-sequences-example.json")["features"][0]
    feature = make_source("v3").get_sequence(fake_mapillary.token, "LMlIPUNhaj24h_q9v4ArNw")
    assert feature == expected


def test_v3_list_sequences_follows_link_header_over_pages(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    alice = fake_mapillary.add_user("alice")
    made = [
        fake_mapillary.add_sequence(alice, n, start=f"2021-06-0{n}T08:00:00.000Z")
        for n in (1, 2, 3, 4, 5)
    ]
    fake_mapillary.page_size = 2
    summaries = make_source("v3").list_sequences(fake_mapillary.token, user_key=alice.key)
    assert len(fake_mapillary.calls("/v3/sequences")) == 3
    assert sorted((s.key, s.photo_count) for s in summaries) == sorted(
        (s.key, len(s.images)) for s in made
    )
    assert {(s.username, s.user_key) for s in summaries} == {("alice", alice.key)}
    assert summaries[0].captured_at is not None and summaries[0].captured_at.endswith("Z")


def test_v3_list_sequences_passes_time_window(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    alice = fake_mapillary.add_user("alice")
    inside = fake_mapillary.add_sequence(alice, start="2021-06-02T08:00:00.000Z")
    fake_mapillary.add_sequence(alice, start="2021-07-02T08:00:00.000Z")
    summaries = make_source("v3").list_sequences(
        fake_mapillary.token,
        username="alice",
        start_time=datetime(2021, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),
        end_time=datetime(2021, 6, 30),  # naive: taken as UTC
    )
    assert [s.key for s in summaries] == [inside.key]
    args = fake_mapillary.calls("/v3/sequences")[0].args
    assert (args["start_time"], args["end_time"]) == (
        "2021-06-01T00:00:00.000Z",
        "2021-06-30T00:00:00.000Z",
    )


# --- v4 ------------------------------------------------------------------------------------


def test_v4_me(make_source: SourceFactory, fake_mapillary: FakeMapillary) -> None:
    assert make_source().me(fake_mapillary.token) == MapillaryUser("102153268628347", "pierregeo")
    call = fake_mapillary.calls("/me")[0]
    assert call.headers["Authorization"] == f"OAuth {fake_mapillary.token}"
    assert call.args["fields"] == "id,username"


def test_v4_get_sequence_maps_onto_the_v3_feature(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    v4_sample: str,
) -> None:
    feature = make_source(batch_size=3).get_sequence(fake_mapillary.token, v4_sample)
    v3 = load_fixture("v3-sequences-example.json")["features"][0]
    assert feature == {
        "type": "Feature",
        "properties": {
            "camera_make": "Apple",
            "captured_at": "2016-03-14T13:44:53.860Z",
            "coordinateProperties": {
                "cas": [323.032, 320.892, 333.622, 329.948],
                "image_keys": [
                    "504208097379234",
                    "1170364403438011",
                    "296084405456378",
                    "843276633204526",
                ],
            },
            "created_at": None,
            "key": "LMlIPUNhaj24h_q9v4ArNw",
            "pano": False,
            "user_key": "102153268628347",
            "username": "pierregeo",
        },
        "geometry": v3["geometry"],
    }
    # Two batches of at most three ids, each answered in reverse order by the fake.
    batches = [call.args["image_ids"].split(",") for call in fake_mapillary.calls("/images")]
    assert batches == [
        feature["properties"]["coordinateProperties"]["image_keys"][:3],
        ["843276633204526"],
    ]
    assert set(fake_mapillary.calls("/images")[0].args["fields"].split(",")) >= {
        "geometry",
        "compass_angle",
        "captured_at",
        "is_pano",
        "make",
        "creator",
        "sequence",
    }


def test_v4_get_sequence_with_many_images_keeps_capture_order(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    sequence = fake_mapillary.add_sequence(fake_mapillary.user, 120, pano=True, make=None)
    feature = make_source().get_sequence(fake_mapillary.token, sequence.key)
    props = feature["properties"]
    assert props["coordinateProperties"]["image_keys"] == [i.id for i in sequence.images]
    assert props["coordinateProperties"]["cas"] == [i.compass_angle for i in sequence.images]
    assert feature["geometry"]["coordinates"] == [[i.lon, i.lat] for i in sequence.images]
    assert (props["pano"], props["camera_make"]) == (True, None)
    assert len(fake_mapillary.calls("/images")) == 3  # 50 + 50 + 20


def test_v4_epoch_milliseconds_become_iso_utc() -> None:
    assert iso_from_epoch_ms(1457963093860) == "2016-03-14T13:44:53.860Z"
    assert iso_from_epoch_ms(1457963093005) == "2016-03-14T13:44:53.005Z"
    with pytest.raises(MapillaryResponseError):
        iso_from_epoch_ms("2016-03-14")


def test_feature_from_images_normalises_angles_and_keeps_missing_ones() -> None:
    def image(image_id: str, angle: float | None) -> dict[str, Any]:
        point = {"type": "Point", "coordinates": [16.43, 7.24]}
        return {"id": image_id, "geometry": point, "compass_angle": angle, "captured_at": 0}

    feature = feature_from_images("k", [image("1", 370.5), image("2", -90), image("3", None)])
    assert feature["properties"]["coordinateProperties"]["cas"] == [10.5, 270.0, None]
    assert feature["properties"]["captured_at"] == "1970-01-01T00:00:00.000Z"


def test_v4_list_sequences_groups_images_across_pages(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    bob = fake_mapillary.add_user("bob")
    token = fake_mapillary.issue_token(bob)
    a = fake_mapillary.add_sequence(bob, 3, start="2022-05-01T10:00:00.000Z")
    b = fake_mapillary.add_sequence(bob, 4, start="2022-05-02T10:00:00.000Z")
    c = fake_mapillary.add_sequence(bob, 2, start="2022-05-03T10:00:00.000Z")
    fake_mapillary.page_size = 2  # 9 images: 5 pages, sequences split across them
    summaries = make_source().list_sequences(token, username="bob", per_page=1000)
    assert len(fake_mapillary.calls("/images")) == 5
    assert {s.key: (s.photo_count, s.captured_at) for s in summaries} == {
        seq.key: (len(seq.images), iso_from_epoch_ms(seq.images[0].captured_at))
        for seq in (a, b, c)
    }
    assert {(s.username, s.user_key) for s in summaries} == {("bob", bob.id)}
    first = fake_mapillary.calls("/images")[0].args
    assert (first["creator_username"], first["limit"]) == ("bob", "1000")


def test_v4_list_sequences_time_window(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    bob = fake_mapillary.add_user("bob")
    fake_mapillary.add_sequence(bob, 3, start="2022-05-01T10:00:00.000Z")
    kept = fake_mapillary.add_sequence(bob, 3, start="2022-06-01T10:00:00.000Z")
    summaries = make_source().list_sequences(
        fake_mapillary.token, username="bob", start_time=datetime(2022, 5, 15, tzinfo=UTC)
    )
    assert [s.key for s in summaries] == [kept.key]
    assert (
        fake_mapillary.calls("/images")[0].args["start_captured_at"] == "2022-05-15T00:00:00.000Z"
    )


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after", "slept"), [("7", 7.0), ("120", 30.0), ("0.25", 0.25)])
def test_429_is_retried_honouring_retry_after(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    sleeps: list[float],
    retry_after: str,
    slept: float,
) -> None:
    fake_mapillary.rate_limit("/me", times=2, retry_after=retry_after)
    assert make_source().me(fake_mapillary.token).username == "pierregeo"
    assert sleeps == [slept, slept]
    assert len(fake_mapillary.calls("/me")) == 3


def test_429_without_retry_after_backs_off_exponentially(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    sleeps: list[float],
) -> None:
    fake_mapillary.rate_limit("/v3/me", times=3, retry_after=None)
    make_source("v3", backoff=0.5).me(fake_mapillary.token)
    assert sleeps == [0.5, 1.0, 2.0]


def test_500_is_retried_then_succeeds(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    sleeps: list[float],
    v4_sample: str,
) -> None:
    fake_mapillary.server_error("/images", times=2, status=503)
    feature = make_source(backoff=0.1).get_sequence(fake_mapillary.token, v4_sample)
    assert len(feature["properties"]["coordinateProperties"]["image_keys"]) == 4
    assert sleeps == [0.1, 0.2]


@pytest.mark.parametrize(
    ("status", "error"), [(500, MapillaryHTTPError), (429, MapillaryRateLimitError)]
)
def test_retries_exhausted(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    sleeps: list[float],
    status: int,
    error: type[MapillaryHTTPError],
) -> None:
    fake_mapillary.server_error("/v3/me", times=10, status=status)
    with pytest.raises(error) as caught:
        make_source("v3", max_retries=2).me(fake_mapillary.token)
    assert caught.value.status_code == status
    assert str(status) in str(caught.value) and "/v3/me" in str(caught.value)
    assert len(fake_mapillary.calls("/v3/me")) == 3
    assert len(sleeps) == 2


def test_timeout_is_retried_then_raises(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    sleeps: list[float],
) -> None:
    fake_mapillary.slow("/me", seconds=2.0, times=5)
    with pytest.raises(MapillaryTimeoutError):
        make_source(timeout=0.2, max_retries=1).me(fake_mapillary.token)
    assert len(fake_mapillary.calls("/me")) == 2
    assert sleeps == [0.5]


def test_one_timeout_then_success(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    fake_mapillary.slow("/me", seconds=2.0, times=1)
    assert make_source(timeout=0.2).me(fake_mapillary.token).username == "pierregeo"


def test_connection_refused_raises_connection_error(sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = MapillaryConfig(api_v4_url=f"http://127.0.0.1:{port}", max_retries=1)
    with (
        MapillaryV4(config, sleep=sleeps.append) as source,
        pytest.raises(MapillaryConnectionError),
    ):
        source.me("some-token")
    assert len(sleeps) == 1


# --- bad answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("api", "path"), [("v3", "/v3/me"), ("v4", "/me")])
def test_malformed_json_raises_response_error(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    api: str,
    path: str,
) -> None:
    fake_mapillary.malformed(path)
    with pytest.raises(MapillaryResponseError, match="non-JSON"):
        make_source(api).me(fake_mapillary.token)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/image_ids", {"data": "nope"}),
        ("/images", {"data": [{"id": "504208097379234", "geometry": None}]}),
        ("/images", {"data": []}),  # an image silently missing from the batch
    ],
)
def test_unexpected_shape_raises_response_error(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    v4_sample: str,
    path: str,
    body: Any,
) -> None:
    fake_mapillary.respond(path, body)
    with pytest.raises(MapillaryResponseError):
        make_source().get_sequence(fake_mapillary.token, v4_sample)


def test_v3_feature_with_misaligned_keys_raises_response_error(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    broken = copy.deepcopy(load_fixture("v3-sequences-example.json")["features"][0])
    broken["properties"]["coordinateProperties"]["image_keys"].pop()
    fake_mapillary.respond("/v3/sequences/LMlIPUNhaj24h_q9v4ArNw", broken)
    with pytest.raises(MapillaryResponseError, match="image_keys"):
        make_source("v3").get_sequence(fake_mapillary.token, "LMlIPUNhaj24h_q9v4ArNw")


def test_next_link_to_another_host_is_refused(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    page = {"data": [], "paging": {"next": "https://evil.example/images?access_token=stolen"}}
    fake_mapillary.respond("/images", page)
    with pytest.raises(MapillaryResponseError, match="next-page link") as caught:
        make_source().list_sequences(fake_mapillary.token, username="pierregeo")
    assert "stolen" not in str(caught.value)


@pytest.mark.parametrize("api", ["v3", "v4"])
def test_unknown_sequence_raises_not_found(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    api: str,
) -> None:
    with pytest.raises(MapillaryNotFoundError) as caught:
        make_source(api).get_sequence(fake_mapillary.token, "NoSuchSequenceKey00000")
    assert caught.value.status_code == 404
    assert "NoSuchSequenceKey00000" in str(caught.value)


def test_v4_sequence_without_images_is_not_found(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    fake_mapillary.respond("/image_ids", {"data": []})
    with pytest.raises(MapillaryNotFoundError, match="no images"):
        make_source().get_sequence(fake_mapillary.token, "LMlIPUNhaj24h_q9v4ArNw")
    assert fake_mapillary.calls("/images") == []


def test_sequence_vanishing_mid_import_raises_not_found(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    v4_sample: str,
) -> None:
    fake_mapillary.vanish_after_ids(v4_sample)
    with pytest.raises(MapillaryNotFoundError):
        make_source().get_sequence(fake_mapillary.token, v4_sample)
    assert len(fake_mapillary.calls("/image_ids")) == 1


def test_image_vanishing_mid_import_raises_response_error(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    v4_sample: str,
) -> None:
    fake_mapillary.vanish_after_ids(v4_sample, ["296084405456378"])
    with pytest.raises(MapillaryResponseError, match="296084405456378"):
        make_source().get_sequence(fake_mapillary.token, v4_sample)


# --- secrets stay out of errors ------------------------------------------------------------


@pytest.mark.parametrize("api", ["v3", "v4"])
def test_bad_token_is_an_auth_error_that_does_not_repeat_the_token(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
    api: str,
) -> None:
    token = "MLY|secret-user-token-never-print-me"
    with pytest.raises(MapillaryAuthError) as caught:
        make_source(api).me(token)
    assert caught.value.status_code == 401
    assert "Invalid OAuth access token" in str(caught.value)  # the fake echoed it ...
    assert "never-print-me" not in str(caught.value)  # ... and the client redacted it


def test_error_on_a_later_page_does_not_print_the_token_in_the_next_url(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    fake_mapillary.add_sequence(fake_mapillary.user, 4)
    fake_mapillary.page_size = 2
    fake_mapillary.server_error("/images", times=10, skip=1)  # page 2 keeps failing
    with pytest.raises(MapillaryHTTPError) as caught:
        make_source(max_retries=1).list_sequences(fake_mapillary.token, username="pierregeo")
    next_url = fake_mapillary.calls("/images")[1]
    assert next_url.args["access_token"] == fake_mapillary.token  # the fake did put it there
    assert fake_mapillary.token not in str(caught.value)
    assert "access_token=***" in str(caught.value)


def test_redact() -> None:
    text = "GET https://x/images?access_token=MLY|1|abc&after=Mg== failed for abc and sesame"
    assert redact(text, ("sesame",)) == (
        "GET https://x/images?access_token=***&after=Mg== failed for abc and ***"
    )


# --- OAuth ---------------------------------------------------------------------------------


@pytest.fixture
def insecure_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake speaks http://; requests-oauthlib allows that only when told, per test."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


REDIRECT = "https://geoapi.example/auth/mapillary/callback"
VERIFIER = "v" * 43


def login(fake: FakeMapillary, state: str = "st4te") -> str:
    """Follow authorization_url through the fake's /connect; return the code."""
    url = oauth.authorization_url(fake.config(), REDIRECT, state, VERIFIER)
    with requests.get(url, allow_redirects=False, timeout=5) as answer:
        assert answer.status_code == 302
        location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == [state]
    return query["code"][0]


@pytest.mark.usefixtures("insecure_ok")
def test_authorization_url_carries_the_oauth_parameters(fake_mapillary: FakeMapillary) -> None:
    url = oauth.authorization_url(fake_mapillary.config(scope="read"), REDIRECT, "xyz", VERIFIER)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake_mapillary.url}/connect"
    assert parse_qs(parts.query) == {
        "client_id": [fake_mapillary.client_id],
        "response_type": ["code"],
        "scope": ["read"],
        "state": ["xyz"],
        "redirect_uri": [REDIRECT],
        "code_challenge": [oauth.code_challenge(VERIFIER)],
        "code_challenge_method": ["S256"],
    }


def test_pkce_challenge_is_rfc7636_s256() -> None:
    # RFC 7636 appendix B: the verifier and challenge of its worked example.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert oauth.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert 43 <= len(oauth.new_code_verifier()) <= 128


@pytest.mark.usefixtures("insecure_ok")
def test_exchange_code_then_refresh(
    make_source: SourceFactory,
    fake_mapillary: FakeMapillary,
) -> None:
    before = datetime.now(UTC)
    tokens = oauth.exchange_code(fake_mapillary.config(), login(fake_mapillary), REDIRECT, VERIFIER)
    assert tokens.user_id == "102153268628347"
    assert tokens.refresh_token
    assert tokens.expires_at is not None and (tokens.expires_at - before).days in (59, 60)
    assert make_source().me(tokens.access_token).username == "pierregeo"
    assert tokens.access_token not in repr(tokens)

    call = fake_mapillary.calls("/token")[0]
    assert call.headers["Authorization"] == f"OAuth {fake_mapillary.client_secret}"

    renewed = oauth.refresh_token(fake_mapillary.config(), tokens.refresh_token)
    assert renewed.access_token != tokens.access_token
    assert renewed.refresh_token == tokens.refresh_token  # the fake sent none: keep the old one
    assert make_source().me(renewed.access_token).username == "pierregeo"


@pytest.mark.usefixtures("insecure_ok")
def test_exchange_code_is_single_use(fake_mapillary: FakeMapillary) -> None:
    code = login(fake_mapillary)
    oauth.exchange_code(fake_mapillary.config(), code, REDIRECT, VERIFIER)
    with pytest.raises(MapillaryHTTPError) as caught:
        oauth.exchange_code(fake_mapillary.config(), code, REDIRECT, VERIFIER)
    assert caught.value.status_code == 400
    assert code not in str(caught.value)


@pytest.mark.usefixtures("insecure_ok")
def test_wrong_client_secret_is_an_auth_error_without_the_secret(
    fake_mapillary: FakeMapillary,
) -> None:
    config = fake_mapillary.config(client_secret="MLY|wrong-secret-do-not-print")
    with pytest.raises(MapillaryAuthError) as caught:
        oauth.exchange_code(config, login(fake_mapillary), REDIRECT, VERIFIER)
    assert "do-not-print" not in str(caught.value)
    assert "Invalid client secret" in str(caught.value)


@pytest.mark.usefixtures("insecure_ok")
def test_token_endpoint_garbage_is_a_response_error(fake_mapillary: FakeMapillary) -> None:
    fake_mapillary.respond("/token", {"token_type": "bearer"})
    with pytest.raises(MapillaryResponseError):
        oauth.exchange_code(fake_mapillary.config(), login(fake_mapillary), REDIRECT, VERIFIER)


def test_oauth_over_http_is_refused_without_the_test_switch(
    fake_mapillary: FakeMapillary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    with pytest.raises(MapillaryError, match="must use https"):
        oauth.exchange_code(fake_mapillary.config(), "any-code", REDIRECT, VERIFIER)
    assert fake_mapillary.calls("/token") == []


# --- factory -------------------------------------------------------------------------------


def test_create_source_picks_the_adapter() -> None:
    config = MapillaryConfig()
    with create_source(config, "v3") as v3, create_source(config) as v4:
        assert isinstance(v3, MapillaryV3) and isinstance(v4, MapillaryV4)
    with pytest.raises(ValueError, match="v5"):
        create_source(config, "v5")
