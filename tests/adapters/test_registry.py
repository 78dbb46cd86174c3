"""The preflight tag check against real docker-registry processes and scripted stand-ins.

Real registries cover what must match the wild: OCI and Docker manifests, the Accept list,
htpasswd Basic auth and JWT bearer auth. Small aiohttp stand-ins cover what a healthy local
registry never does: 5xx, 429, 405 on HEAD, slow answers and odd token responses.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from aiohttp import web

from bot.backoff import RetryPolicy
from bot.registry import (
    RegistryClient,
    RegistryError,
    parse_challenges,
    retry_after_seconds,
)
from rollout import errors
from rollout.images import DOCKER_HUB, ImageRef, ImageRefError, parse_image_ref
from rollout.ports import Registry
from tests.adapters.registry_fixtures import (
    PushedImage,
    RunningRegistry,
    ThreadedApp,
    TokenIssuer,
    free_port,
    htpasswd_entry,
    issuer_token,
    make_signing_cert,
    push_image,
    push_index,
    run_registry,
    serve,
)

USER, PASSWORD = "deployer", "correct horse"
DIGEST = "sha256:" + "ab" * 32
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=5.0, max_total=30.0)


@dataclass
class Plain:
    registry: RunningRegistry
    images: dict[str, PushedImage]


@dataclass
class Secured:
    registry: RunningRegistry
    issuer: TokenIssuer | None = None


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plain]:
    with run_registry(tmp_path_factory.mktemp("plain")) as registry:
        oci = push_image(registry.url, "team/app", "oci-1", kind="oci")
        docker = push_image(registry.url, "team/app", "docker-1", kind="docker")
        index = push_index(registry.url, "team/app", "multi-1", images=[oci, docker])
        yield Plain(registry, {"oci": oci, "docker": docker, "index": index})


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("basic")
    (tmp / "htpasswd").write_text(htpasswd_entry(USER, PASSWORD))
    auth = {"htpasswd": {"realm": "rollbot-test", "path": str(tmp / "htpasswd")}}
    with run_registry(tmp / "registry", auth=auth) as registry:
        creds = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        push_image(registry.url, "team/private", "1.0", kind="oci",
                   headers={"Authorization": f"Basic {creds}"})
        yield Secured(registry)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("token")
    issuer = TokenIssuer(make_signing_cert(tmp / "cert"), users={USER: PASSWORD})
    with serve(issuer.app()) as server:
        auth = issuer.token_auth_config(f"{server.url}/token")
        with run_registry(tmp / "registry", auth=auth) as registry:
            grant = issuer_token(server.url, scope="repository:team/secure:pull,push",
                                 user=USER, password=PASSWORD)
            push_image(registry.url, "team/secure", "2.0", kind="docker",
                       headers={"Authorization": f"Bearer {grant}"})
            yield Secured(registry, issuer)


def _client(**kwargs: Any) -> RegistryClient:
    return RegistryClient(**{"insecure": True, "timeout": 5.0, **kwargs})


# -- a real registry, no auth -------------------------------------------------------------


@pytest.mark.parametrize("tag", ["oci-1", "docker-1", "multi-1"])
def test_existing_tags_are_found_in_every_manifest_format(plain: Plain, tag: str) -> None:
    assert _client().image_exists(f"{plain.registry.host}/team/app", tag) is True


def test_a_digest_is_found(plain: Plain) -> None:
    digest = plain.images["oci"].digest
    assert _client().image_exists(f"{plain.registry.host}/team/app", digest) is True


def test_a_missing_tag_or_repository_is_not_found(plain: Plain) -> None:
    client = _client()
    assert client.image_exists(f"{plain.registry.host}/team/app", "v9.9.9") is False
    assert client.image_exists(f"{plain.registry.host}/team/nothing-here", "oci-1") is False
    assert client.image_exists(f"{plain.registry.host}/team/app", DIGEST) is False


def test_without_the_accept_list_an_oci_image_reads_as_missing(plain: Plain) -> None:
    # Why the client sends Accept at all: the registry hides OCI manifests otherwise.
    with requests.head(f"{plain.registry.url}/v2/team/app/manifests/oci-1", timeout=5) as bare:
        assert bare.status_code == 404


def test_insecure_hosts_selects_plain_http_for_that_host_only(plain: Plain) -> None:
    client = RegistryClient(insecure_hosts=[plain.registry.host], timeout=5.0)
    assert client.image_exists(f"{plain.registry.host}/team/app", "oci-1") is True


def test_https_to_a_plain_http_registry_says_to_set_insecure(plain: Plain) -> None:
    with pytest.raises(RegistryError, match=r"registry\.insecure: true") as caught:
        RegistryClient(timeout=5.0).image_exists(f"{plain.registry.host}/team/app", "oci-1")
    assert caught.value.registry == plain.registry.host


# -- a real registry with htpasswd (Basic) auth -------------------------------------------


def test_basic_auth_with_the_right_credentials(basic: Secured) -> None:
    client = _client(username=USER, password=PASSWORD)
    assert client.image_exists(f"{basic.registry.host}/team/private", "1.0") is True
    assert client.image_exists(f"{basic.registry.host}/team/private", "2.0") is False


def test_basic_auth_credentials_come_from_the_environment(basic: Secured) -> None:
    env = {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD}
    client = RegistryClient.from_env(True, environ=env)
    assert client.image_exists(f"{basic.registry.host}/team/private", "1.0") is True


def test_basic_auth_with_wrong_credentials_names_the_registry_and_the_fix(basic: Secured) -> None:
    client = _client(username=USER, password="wrong")
    with pytest.raises(RegistryError) as caught:
        client.image_exists(f"{basic.registry.host}/team/private", "1.0")
    assert basic.registry.host in str(caught.value)
    assert "REGISTRY_PASSWORD" in str(caught.value)
    assert caught.value.status == 401


def test_basic_auth_without_credentials_asks_for_them(basic: Secured) -> None:
    with pytest.raises(RegistryError, match="set REGISTRY_USERNAME and REGISTRY_PASSWORD"):
        _client().image_exists(f"{basic.registry.host}/team/private", "1.0")


# -- a real registry trusting a real JWT issuer (Bearer) ------------------------------------


def test_bearer_auth_with_the_right_credentials(token: Secured) -> None:
    assert token.issuer is not None
    client = _client(username=USER, password=PASSWORD)
    assert client.image_exists(f"{token.registry.host}/team/secure", "2.0") is True
    assert client.image_exists(f"{token.registry.host}/team/secure", "3.0") is False
    asked = token.issuer.calls[-1]
    assert asked == {"service": "rollbot-test-registry", "scope": "repository:team/secure:pull",
                     "user": USER}


def test_bearer_tokens_are_reused_until_they_expire(token: Secured) -> None:
    assert token.issuer is not None
    client = _client(username=USER, password=PASSWORD)
    before = len(token.issuer.calls)
    for _ in range(3):
        assert client.image_exists(f"{token.registry.host}/team/secure", "2.0") is True
    assert len(token.issuer.calls) == before + 1


def test_bearer_auth_anonymously_is_refused_with_advice(token: Secured) -> None:
    with pytest.raises(RegistryError, match="refused anonymous") as caught:
        _client().image_exists(f"{token.registry.host}/team/secure", "2.0")
    assert "REGISTRY_USERNAME" in str(caught.value)


def test_bearer_auth_with_wrong_credentials_is_refused(token: Secured) -> None:
    with pytest.raises(RegistryError, match=f"for user '{USER}'") as caught:
        _client(username=USER, password="nope").image_exists(
            f"{token.registry.host}/team/secure", "2.0")
    assert token.registry.host in str(caught.value)


# -- stand-ins for what a healthy local registry never does ---------------------------------


@dataclass
class StandIn:
    """Manifest answers in order (the last repeats); with ``token_key`` set, bearer auth."""

    replies: list[tuple[int, dict[str, str]]]
    token_key: str | None = None
    expires_in: int = 300
    seen: list[tuple[str, float, str]] = field(default_factory=list)
    token_calls: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v2/slow/manifests/{reference}", self._slow)
        app.router.add_route("*", "/v2/{name:.+}/manifests/{reference}", self._manifest)
        app.router.add_get("/token", self._token)
        return app

    async def _manifest(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.seen.append((request.method, time.monotonic(), auth))
        if self.token_key and auth != f"Bearer tok-{len(self.token_calls)}":
            challenge = f'Bearer realm="{self.url}/token",service="standin",scope="x"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        status, headers = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return web.Response(status=status, headers=headers)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls.append({**request.query, "auth": request.headers.get("Authorization",
                                                                               "")})
        body = {self.token_key or "token": f"tok-{len(self.token_calls)}",
                "expires_in": self.expires_in}
        return web.json_response(body)

    async def _slow(self, request: web.Request) -> web.Response:
        # Held until the test ends (bounded), so the client's read timeout fires first.
        await asyncio.wait_for(self.release.wait(), timeout=5)
        return web.Response(status=200)


@pytest.fixture
def standin() -> Iterator[tuple[StandIn, ThreadedApp]]:
    fake = StandIn(replies=[(200, {})])
    with serve(fake.app()) as server:
        fake.url = server.url
        yield fake, server
        server.loop.call_soon_threadsafe(fake.release.set)


def _host(server: ThreadedApp) -> str:
    return server.url.removeprefix("http://")


def test_5xx_is_retried_until_the_registry_recovers(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.replies = [(503, {}), (502, {}), (200, {})]
    assert _client(retry=FAST).image_exists(f"{_host(server)}/team/app", "1") is True
    assert [method for method, _, _ in fake.seen] == ["HEAD"] * 3


def test_persistent_5xx_gives_up_after_a_few_attempts(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.replies = [(503, {})]
    with pytest.raises(RegistryError, match="HTTP 503 after 3 attempts") as caught:
        _client(retry=FAST).image_exists(f"{_host(server)}/team/app", "1")
    assert caught.value.status == 503 and len(fake.seen) == 3


def test_429_waits_as_long_as_retry_after_says(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.replies = [(429, {"Retry-After": "1"}), (200, {})]
    assert _client().image_exists(f"{_host(server)}/team/app", "1") is True
    assert fake.seen[1][1] - fake.seen[0][1] >= 0.95


def test_retry_after_is_capped(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.replies = [(429, {"Retry-After": "3600"}), (200, {})]
    capped = RetryPolicy(attempts=3, max_delay=0.1, max_total=30.0)
    started, client = time.monotonic(), _client(retry=capped)
    assert client.image_exists(f"{_host(server)}/team/app", "1") is True
    assert time.monotonic() - started < 3


def test_head_refused_with_405_falls_back_to_get(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.replies = [(405, {}), (200, {}), (405, {}), (404, {})]
    assert _client().image_exists(f"{_host(server)}/team/app", "1") is True
    assert _client().image_exists(f"{_host(server)}/team/app", "2") is False
    assert [method for method, _, _ in fake.seen] == ["HEAD", "GET", "HEAD", "GET"]


def test_bearer_token_named_access_token_with_service_scope_and_credentials(
    standin: tuple[StandIn, ThreadedApp],
) -> None:
    fake, server = standin
    fake.token_key = "access_token"
    client = _client(username=USER, password=PASSWORD)
    assert client.image_exists(f"{_host(server)}/team/app", "1") is True
    creds = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert fake.token_calls == [
        {"scope": "repository:team/app:pull", "service": "standin", "auth": f"Basic {creds}"}
    ]
    assert fake.seen[-1][2] == "Bearer tok-1"


def test_an_expired_token_is_fetched_again(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.token_key, fake.expires_in = "token", 60
    clock = [1000.0]
    client = _client(clock=lambda: clock[0])
    assert client.image_exists(f"{_host(server)}/team/app", "1") is True
    clock[0] += 30  # well inside the token's life
    assert client.image_exists(f"{_host(server)}/team/app", "1") is True
    assert len(fake.token_calls) == 1
    clock[0] += 60
    assert client.image_exists(f"{_host(server)}/team/app", "1") is True
    assert len(fake.token_calls) == 2


def test_an_unknown_auth_scheme_is_explained(standin: tuple[StandIn, ThreadedApp]) -> None:
    fake, server = standin
    fake.replies = [(401, {"WWW-Authenticate": 'Negotiate realm="corp"'})]
    with pytest.raises(RegistryError, match="Basic or Bearer"):
        _client().image_exists(f"{_host(server)}/team/app", "1")


def test_a_slow_registry_times_out(standin: tuple[StandIn, ThreadedApp]) -> None:
    _, server = standin
    client = _client(timeout=0.2, retry=RetryPolicy(attempts=2, base_delay=0.01, max_total=30.0))
    with pytest.raises(RegistryError, match=r"timed out\) after 2 attempts"):
        client.image_exists(f"{_host(server)}/slow", "1")


def test_connection_refused_is_a_registry_error() -> None:
    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match="connection refused") as caught:
        _client(retry=FAST).image_exists(f"{host}/team/app", "1")
    assert caught.value.registry == host
    assert f"Registry {host} cannot be reached" in str(caught.value)


# -- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nginx", ImageRef(DOCKER_HUB, "library/nginx")),
        ("nginx:1.25", ImageRef(DOCKER_HUB, "library/nginx", "1.25")),
        ("docker.io/nginx", ImageRef(DOCKER_HUB, "library/nginx")),
        ("acme/app:v1", ImageRef(DOCKER_HUB, "acme/app", "v1")),
        ("localhost/app:1", ImageRef("localhost", "app", "1")),
        ("localhost:5000/team/app:v1", ImageRef("localhost:5000", "team/app", "v1")),
        ("123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app:v1.2.3",
         ImageRef("123456789.dkr.ecr.us-east-1.amazonaws.com", "dotmac/isp-ops-app", "v1.2.3")),
        (f"ghcr.io/o/r@{DIGEST}", ImageRef("ghcr.io", "o/r", None, DIGEST)),
        (f"ghcr.io/o/r:1@{DIGEST}", ImageRef("ghcr.io", "o/r", "1", DIGEST)),
    ],
)
def test_parse_image_ref(ref: str, expected: ImageRef) -> None:
    assert parse_image_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "complaint"),
    [
        ("", "empty"),
        ("Acme/App", "lowercase"),
        ("app:", "not a valid tag"),
        ("app:-x", "not a valid tag"),
        ("app@sha256:abc", "digest"),
        ("a//b", "valid repository path part"),
        ("reg.io/", "repository name is missing"),
        ("my app", "whitespace"),
    ],
)
def test_malformed_refs_are_explained(ref: str, complaint: str) -> None:
    with pytest.raises(ImageRefError, match=complaint):
        parse_image_ref(ref)


def test_a_malformed_image_is_a_registry_error_without_any_request() -> None:
    with pytest.raises(RegistryError, match="Fix the image or version"):
        RegistryClient().image_exists("reg.io/Team/App", "1.0")
    with pytest.raises(RegistryError, match="already names a tag"):
        RegistryClient().image_exists("reg.io/team/app:1.0", "1.0")


def test_challenges_with_quoted_commas_and_several_schemes() -> None:
    header = ('Bearer realm="https://auth.example/token",service="registry.example",'
              'scope="repository:a/b:pull,push", Basic realm="x"')
    assert parse_challenges(header) == {
        "bearer": {"realm": "https://auth.example/token", "service": "registry.example",
                   "scope": "repository:a/b:pull,push"},
        "basic": {"realm": "x"},
    }


def test_retry_after_accepts_seconds_and_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_the_client_is_the_domain_registry_port() -> None:
    port: Registry = RegistryClient()
    assert isinstance(port, RegistryClient)
    assert issubclass(RegistryError, errors.RegistryError)
