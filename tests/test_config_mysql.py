"""Config checks of mysql resources: the resource name is the database
name clients send (at most 64 characters), and a resource without
`database` is worth a warning."""

from __future__ import annotations

from limen.config import ConfigError, check, load_config_text

BASE = """
[listeners]
mysql = "127.0.0.1:3307"
[[resources]]
name = "{name}"
protocol = "mysql"
upstream = "127.0.0.1:3306"
{database}
[[rules]]
name = "r"
groups = ["ci"]
resources = ["{name}"]
allow = ["read"]
"""


def issues(name: str, database: str) -> dict[str, tuple[str, str]]:
    try:
        config = load_config_text(BASE.format(name=name, database=database))
    except ConfigError as exc:
        return {i.path: ("error", i.message) for i in exc.issues}
    return {i.path: (i.severity, i.message) for i in check(config)}


def test_a_mysql_resource_without_database_is_warned_about() -> None:
    found = issues("shop", "")
    severity, message = found["$.resources[0].database"]
    assert severity == "warning"
    assert "none selected" in message
    assert "$.resources[0].database" not in issues("shop", 'database = "shop_db"')


def test_a_mysql_resource_name_is_at_most_64_characters() -> None:
    found = issues("s" * 65, 'database = "d"')
    assert found["$.resources[0].name"][0] == "error"
    assert "64" in found["$.resources[0].name"][1]
    assert "$.resources[0].name" not in issues("s" * 64, 'database = "d"')
