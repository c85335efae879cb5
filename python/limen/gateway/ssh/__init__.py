"""The SSH driver: ``ssh``, ``sftp`` and SSH libraries to ``protocol =
"ssh"`` resources, through paramiko on worker threads (docs/ssh.md)."""

from limen.gateway.ssh.keys import SshKeyError, host_key
from limen.gateway.ssh.session import SshSession

__all__ = ["SshKeyError", "SshSession", "host_key"]
