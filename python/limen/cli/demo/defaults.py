"""What the demo is made of: the names it uses (resource, rule, subject,
group, approvers, files under ``./.limen/``), the embedded default
configuration, and the demo database's ``users`` rows."""

from __future__ import annotations

from pathlib import Path

PG_HOST = "127.0.0.1"
PG_PORT = 5432
DEFAULT_PORT = 6432
MY_HOST = "127.0.0.1"
MY_PORT = 3306
DEFAULT_MYSQL_PORT = 3307
MYSQL_RESOURCE = "demo-mysql"
DEFAULT_DATABASE = "limen_demo"
DATABASE_ENV = "LIMEN_DEMO_DATABASE"
RESOURCE = "demo"
RULE = "demo-ci"
APPROVERS = "security"
APPROVER = "demo-human"
SUBJECT = "demo-bot"
GROUP = "ci"
CONFIG_DIR = Path(".limen")
CONFIG_FILE = CONFIG_DIR / "limen.toml"
# A bot client of the dev IdP's token endpoint, for examples/autogen: its
# secret stays in AGENT_SECRET_FILE (0600; the config holds its hash), and
# AGENT_ENV_FILE tells the example where everything is once the demo runs.
AGENT_CLIENT = "demo-agent"
AGENT_SECRET_FILE = CONFIG_DIR / "agent.secret"
AGENT_ENV_FILE = CONFIG_DIR / "agent.env"

# The embedded default. Relative paths start at the config file's folder
# (./.limen/), so state, keys and recordings all land there. The dev IdP
# listens on an ephemeral loopback port: tokens name the issuer below and are
# verified through the gateway's own discovery URL.
DEFAULT_CONFIG = """\
# Written by `limen demo`: the embedded default configuration.
[gateway]
state = "sqlite://state.db"
recordings = "recordings"
drain_timeout = "5s"
admin = "127.0.0.1:0"

[listeners]
postgres = "127.0.0.1:{port}"
{mysql_listener}
[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[identity.dev.clients]]            # OAuth2 client credentials, for examples/autogen
client_id = "{agent_client}"
secret_sha256 = "{agent_hash}"
groups = ["{group}"]

[[resources]]
name = "{resource}"
protocol = "postgres"
upstream = "{pg_host}:{pg_port}"
database = "{database}"
user = "postgres"
description = "the demo database on the local PostgreSQL (trust authentication)"
{mysql_resource}
[[rules]]
name = "{rule}"
groups = ["{group}"]
resources = [{resources}]
allow = ["read"]
hold = ["write"]                    # waits for a human: limen approvals approve ID --as NAME
deny = ["ddl", "admin", "unbounded-write"]
approvers = ["{approvers}"]
mask = ["builtin", "column:users.api_key"]
"""

# With a MariaDB on 127.0.0.1:3306 (root, no password), the demo serves it
# too: these fill {mysql_listener} and {mysql_resource} above.
MYSQL_LISTENER = 'mysql = "127.0.0.1:{mysql_port}"\n'
MYSQL_RESOURCE_CONFIG = """
[[resources]]
name = "{mysql_resource}"
protocol = "mysql"
upstream = "{my_host}:{my_port}"
database = "{database}"
user = "root"
description = "the demo database on the local MariaDB (root without a password)"
"""

# id, name, email, card, api_key, note
USERS: list[tuple[int, str, str, str, str, str]] = [
    (1, "Alice Martin", "alice@example.com", "4111 1111 1111 1111", "ak_demo_7f3a91c2", "VIP"),
    (
        2,
        "Bob Smith",
        "bob.smith@example.org",
        "5500 0000 0000 0004",
        "ak_demo_0b5e22d8",
        "old deploy key AKIAIOSFODNN7EXAMPLE in the runbook",
    ),
    (3, "Carol Diaz", "carol.diaz@example.net", "3782 822463 10005", "ak_demo_c4d1e9a0", "-"),
]
SELECT_USERS = "SELECT id, name, email, card, api_key, note FROM users ORDER BY id"

HELD_DELETE = "DELETE FROM users WHERE id = 3"
