"""The Kubernetes call policy: paths parsed into verb and object the way
the API server reads them, unknown paths refused, encoded segments judged
as decoded, and the rules' four-word patterns (pseudo-verbs only by name)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen.config import ConfigError, load_config_text
from limen.identity import Identity
from limen.policy import Policy
from limen.policy.http import PathError, normalise
from limen.policy.kube import VERBS, KubeParseError, decide_kube, matches, parse, pattern_error

CONFIG = """
[listeners]
kubernetes = "127.0.0.1:0"

[[resources]]
name = "cluster"
protocol = "kubernetes"
upstream = "https://127.0.0.1:6443"

[[rules]]
name = "ci"
groups = ["ci"]
resources = ["cluster"]
allow_commands = [
    "get,list,watch pods,deployments.apps dev",
    "create,patch pods dev",
    "log pods dev",
]
hold_commands = ["delete pods dev", "@baseline pods dev"]
deny_commands = ["* secrets"]

[[rules]]
name = "ops"
groups = ["ops"]
resources = ["cluster"]
allow_commands = ["* * *"]
"""


def ident(groups: tuple[str, ...] = ("ci",)) -> Identity:
    return Identity(
        subject="bot",
        issuer="test",
        groups=groups,
        expires_at=None,
        token_id=None,
        method="static_key",
    )


def call(method: str, target: str) -> tuple[str, ...]:
    path = normalise(target)
    return parse(method, path.segments, path.query).words()


@pytest.mark.parametrize(
    ("method", "target", "words"),
    [
        ("GET", "/api/v1/namespaces/dev/pods", ("list", "pods", "dev", "-")),
        ("GET", "/api/v1/namespaces/dev/pods?limit=500", ("list", "pods", "dev", "-")),
        ("GET", "/api/v1/namespaces/dev/pods/web", ("get", "pods", "dev", "web")),
        ("GET", "/api/v1/namespaces/dev/pods?watch=true", ("watch", "pods", "dev", "-")),
        ("GET", "/api/v1/watch/namespaces/dev/pods", ("watch", "pods", "dev", "-")),
        ("GET", "/api/v1/pods", ("list", "pods", "-", "-")),
        ("POST", "/api/v1/namespaces/dev/pods", ("create", "pods", "dev", "-")),
        ("PUT", "/api/v1/namespaces/dev/pods/web", ("update", "pods", "dev", "web")),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/dev/deployments/api",
            ("patch", "deployments.apps", "dev", "api"),
        ),
        ("DELETE", "/api/v1/namespaces/dev/pods/web", ("delete", "pods", "dev", "web")),
        ("DELETE", "/api/v1/namespaces/dev/pods", ("deletecollection", "pods", "dev", "-")),
        (
            "POST",
            "/api/v1/namespaces/dev/pods/web/exec?command=sh",
            ("exec", "pods", "dev", "web"),
        ),
        (
            "GET",
            "/api/v1/namespaces/dev/pods/web/exec?command=sh",
            ("exec", "pods", "dev", "web"),
        ),
        ("POST", "/api/v1/namespaces/dev/pods/web/attach", ("attach", "pods", "dev", "web")),
        (
            "POST",
            "/api/v1/namespaces/dev/pods/web/portforward",
            ("portforward", "pods", "dev", "web"),
        ),
        ("GET", "/api/v1/namespaces/dev/pods/web/log", ("log", "pods", "dev", "web")),
        ("GET", "/api/v1/nodes/n1/proxy/metrics", ("proxy", "nodes", "-", "n1")),
        (
            "PATCH",
            "/api/v1/namespaces/dev/pods/web/ephemeralcontainers",
            ("patch", "pods/ephemeralcontainers", "dev", "web"),
        ),
        ("GET", "/api/v1/namespaces", ("list", "namespaces", "-", "-")),
        ("GET", "/api/v1/namespaces/dev", ("get", "namespaces", "dev", "dev")),
        ("PUT", "/api/v1/namespaces/dev/finalize", ("update", "namespaces/finalize", "dev", "dev")),
        ("GET", "/apis/batch/v1/namespaces/dev/cronjobs", ("list", "cronjobs.batch", "dev", "-")),
        ("GET", "/api/v1/namespaces/%64ev/pods", ("list", "pods", "dev", "-")),
        ("GET", "/api/v1/namespaces/x/../dev/pods", ("list", "pods", "dev", "-")),
        ("GET", "/api", ("get", "@discovery", "-", "-")),
        ("GET", "/apis/apps/v1", ("get", "@discovery", "-", "-")),
        ("GET", "/version", ("get", "@discovery", "-", "-")),
        ("GET", "/", ("get", "@discovery", "-", "-")),  # the list of paths
        ("GET", "/openapi/v3/apis/apps/v1", ("get", "@discovery", "-", "-")),
    ],
)
def test_parse(method: str, target: str, words: tuple[str, ...]) -> None:
    assert call(method, target) == words


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/metrics"),
        ("GET", "/debug/pprof"),
        ("POST", "/api"),
        ("DELETE", "/apis/apps/v1"),
        ("GET", "/api/v1/namespaces/Dev/pods"),  # not a DNS label
        ("GET", "/api/v1/namespaces/dev pods/pods"),
        ("GET", "/api/v1/namespaces/dev/pods/web/exec/more"),
        ("GET", "/api/x1/pods"),
        ("GET", "/apis/apps/v1/namespaces/dev/deployments/api/scale/x"),
        ("TRACE", "/api/v1/namespaces/dev/pods"),
        ("GET", "/api/v1/watch"),
    ],
)
def test_unknown_paths_are_refused(method: str, target: str) -> None:
    with pytest.raises(KubeParseError):
        call(method, target)


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/namespaces/dev%2Fprod/pods",
        "/api/v1/namespaces/%2564ev/pods",
        "/api/v1/namespaces/dev%5C/pods",
    ],
)
def test_ambiguous_encodings_are_refused_before_parsing(target: str) -> None:
    with pytest.raises(PathError):
        normalise(target)


@given(
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    st.lists(
        st.sampled_from(
            [
                "api",
                "apis",
                "v1",
                "apps",
                "namespaces",
                "dev",
                "pods",
                "x",
                "exec",
                "watch",
                "status",
                "Ab",
                "proxy",
                "log",
                "-",
            ]
        ),
        max_size=8,
    ),
    st.sampled_from([None, "watch=1", "watch=false", ""]),
)
@settings(max_examples=400, deadline=None)
def test_parse_is_total(method: str, segments: list[str], query: str | None) -> None:
    """Any path parses to a known verb or is refused; never another error."""
    try:
        parsed = parse(method, segments, query)
    except KubeParseError:
        return
    assert parsed.verb in VERBS
    assert parsed.namespace == "" or parsed.namespace in segments


def test_patterns() -> None:
    words = ("list", "pods", "dev", "-")
    assert matches("list pods dev", words)
    assert matches("get,list pods,deployments.apps dev,staging", words)
    assert matches("* *", words)
    assert not matches("list pods prod", words)
    assert not matches("list pods d", words)
    assert matches("list pods d*", words)
    assert not matches("list pods dev web", words)
    pseudo = ("@baseline", "pods", "dev", "web")
    assert not matches("* pods dev", pseudo)  # a glob never covers a pseudo-verb
    assert not matches("@* pods dev", pseudo)
    assert matches("@baseline pods dev", pseudo)
    assert matches("list,@baseline pods", pseudo)
    assert pattern_error("a b c d e") is not None
    assert pattern_error("get,,list pods") is not None
    assert pattern_error("get pods dev") is None


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return Policy(load_config_text(CONFIG, base_dir=tmp_path))


def decide(
    policy: Policy,
    method: str,
    target: str,
    groups: tuple[str, ...] = ("ci",),
    found: tuple[str, ...] = (),
) -> tuple[str, str | None, str]:
    path = normalise(target)
    d = decide_kube(
        policy, ident(groups), "cluster", parse(method, path.segments, path.query), found
    )
    return d.action, d.rule, d.message


def test_rules(policy: Policy) -> None:
    assert decide(policy, "GET", "/api/v1/namespaces/dev/pods")[:2] == ("allow", "ci")
    action, rule, message = decide(policy, "GET", "/api/v1/namespaces/prod/pods")
    assert (action, rule) == ("deny", None)
    assert message == "denied: no rule allows list pods -n prod"
    assert decide(policy, "GET", "/api/v1/pods")[0] == "deny"  # -A is not dev
    assert decide(policy, "DELETE", "/api/v1/namespaces/dev/pods/web")[:2] == ("hold", "ci")
    assert decide(policy, "GET", "/api/v1/namespaces/dev/secrets/x")[:2] == ("deny", "ci")
    assert decide(policy, "GET", "/api/v1/namespaces/dev/pods/web/log")[0] == "allow"
    assert decide(policy, "GET", "/api/v1/namespaces/dev/pods/web/exec")[0] == "deny"
    assert decide(policy, "GET", "/api")[0] == "allow"  # discovery
    assert decide(policy, "GET", "/api", groups=("nobody",))[0] == "deny"
    assert decide(policy, "GET", "/api/v1/namespaces/prod/pods", groups=("ops",))[0] == "allow"


def test_pod_security_is_a_second_judgement(policy: Policy) -> None:
    create = "/api/v1/namespaces/dev/pods"
    assert decide(policy, "POST", create, found=("containers[a]: privileged",))[:2] == (
        "hold",
        "ci",
    )
    # ops allows "* * *" but a glob never covers @baseline: denied, naming the breaks
    action, rule, message = decide(
        policy, "POST", create, groups=("ops",), found=("initContainers[x]: privileged",)
    )
    assert (action, rule) == ("deny", None)
    assert "baseline" in message
    assert "initContainers[x]: privileged" in message
    assert decide(policy, "POST", create, groups=("ops",))[0] == "allow"


def test_config_check_refuses_bad_patterns(tmp_path: Path) -> None:
    bad = CONFIG.replace(
        'deny_commands = ["* secrets"]', 'deny_commands = ["a b c d e", "get,,list"]'
    )
    with pytest.raises(ConfigError) as caught:
        load_config_text(bad, base_dir=tmp_path)
    text = str(caught.value)
    assert "deny_commands[0]: a Kubernetes pattern is 1 to 4 words" in text
    assert "deny_commands[1]: an empty alternative" in text
