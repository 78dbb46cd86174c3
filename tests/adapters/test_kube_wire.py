"""Where the wire sends requests: the API server's own pool, under the path its URL
carries, or through a proxy by whole URLs."""

from __future__ import annotations

import urllib3
from kubernetes.client import ApiClient, Configuration

from bot.kube.wire import _Route


def client(host: str, *, proxy: str | None = None) -> ApiClient:
    configuration = Configuration()
    configuration.host = host
    configuration.proxy = proxy
    return ApiClient(configuration)


def test_requests_go_to_the_servers_pool_under_the_path_of_its_url() -> None:
    # Given a cluster served under a path, as a proxying front end serves several
    api = client("https://rancher.example.com:8443/k8s/clusters/c-1/")

    # When the route is found
    route = _Route.of(api)

    # Then every request goes to that host's pool, with the path before its own
    assert route.pool is not None
    assert (route.pool.scheme, route.pool.host, route.pool.port) == (
        "https", "rancher.example.com", 8443,
    )  # fmt: skip
    assert route.prefix == "/k8s/clusters/c-1"
    api.close()


def test_a_server_at_the_root_adds_no_path() -> None:
    api = client("http://127.0.0.1:6443")
    route = _Route.of(api)
    assert route.prefix == ""
    assert route.pool is not None and route.pool.port == 6443
    api.close()


def test_through_a_proxy_each_request_names_the_whole_url() -> None:
    api = client("https://k8s.internal:6443/base", proxy="http://proxy.internal:3128")
    route = _Route.of(api)
    assert isinstance(api.rest_client.pool_manager, urllib3.ProxyManager)
    assert route.pool is None
    assert route.base == "https://k8s.internal:6443/base"
    api.close()
