"""Discovery documents (legacy, not aggregated): enough for kubectl 1.32 to map
``deployment/x``, ``rs``, ``po`` and friends to URLs. kubectl asks for aggregated
discovery first and falls back to these when the answer is plain JSON."""

from __future__ import annotations

from typing import Any

from sim.kube.resources import GROUP_VERSIONS, RESOURCES, Resource

VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-rollbot-sim",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
    "platform": "linux/amd64",
}


def _entry(r: Resource) -> list[dict[str, Any]]:
    main: dict[str, Any] = {"name": r.plural, "singularName": r.singular,
                            "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.in_all:
        main["categories"] = ["all"]
    subs = []
    for sub in r.subresources:
        kind = {"log": "Pod", "proxy": "PodProxyOptions", "scale": "Scale"}.get(sub, r.kind)
        verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
        if sub == "proxy":
            verbs = ["create", "delete", "get", "patch", "update"]
        entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                 "kind": kind, "verbs": verbs}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1")
        subs.append(entry)
    return [main, *subs]


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    chosen = [r for r in RESOURCES if r.group == group and r.version == version]
    if not chosen:
        return None
    return {
        "kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [e for r in chosen for e in _entry(r)],
    }


def _group(name: str, version: str) -> dict[str, Any]:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_versions(host: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def api_groups() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, v) for g, v in GROUP_VERSIONS]}


def api_group(name: str) -> dict[str, Any] | None:
    for g, v in GROUP_VERSIONS:
        if g == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, v)}
    return None
