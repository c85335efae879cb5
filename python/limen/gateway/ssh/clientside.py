"""The client's side of an SSH session: paramiko's server interface.

paramiko calls these methods on its transport thread. Each answers at
once from what it was told, or hands the question to the session's Trio
task (``trio.from_thread``): the token check (password or
keyboard-interactive: the token is the password; publickey with a
certificate from limen's CA, :mod:`limen.identity.sshca`, or a key of
``[[identity.keys]]``), and every channel
request (``exec``, ``shell``, ``subsystem``, pty sizes), which the Trio
side judges. Port forwarding (local and remote) goes to
:class:`~limen.gateway.ssh.forward.Forwards` (refused unless a rule
allows it), and so do agent forwarding and X11; every other channel
type is refused here. ``env`` requests are
kept only for :data:`SAFE_ENV`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import paramiko
import trio
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.server import InteractiveQuery

from limen.gateway.ssh.forward import Forwards
from limen.identity import Identity
from limen.identity.sshca import CertError
from limen.policy.ssh import Request

__all__ = ["SAFE_ENV", "ChannelRequest", "ClientSide", "Pty"]

#: ``env`` requests passed upstream (the rest are dropped).
SAFE_ENV = frozenset({"LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ"})
#: Channels one session may have open at once.
MAX_CHANNELS = 16

#: ``await check(username, token)`` -> True when the session is let in.
TokenCheck = Callable[[str, str], Awaitable[bool]]
#: ``await admit(username, identity)`` -> True when the session is let in.
Admit = Callable[[str, Identity], Awaitable[bool]]
#: ``verify(key_type, blob)`` (a certificate, or a plain public key) ->
#: the identity, or raises CertError.
KeyCheck = Callable[[str, bytes], Identity]


@dataclass
class Pty:
    term: str
    width: int
    height: int
    pixel_width: int
    pixel_height: int
    modes: bytes


@dataclass
class ChannelRequest:
    """One channel's request, as the Trio side gets it."""

    channel: paramiko.Channel
    request: Request
    pty: Pty | None = None
    env: dict[str, str] = field(default_factory=dict)


class ClientSide(paramiko.ServerInterface):
    """paramiko's server interface for one session (module docs)."""

    def __init__(
        self,
        token: trio.lowlevel.TrioToken,
        check: TokenCheck,
        requests: trio.MemorySendChannel[ChannelRequest],
        resize: Callable[[int, Pty], None],
        verify_key: KeyCheck | None = None,
        admit: Admit | None = None,
        forwards: Forwards | None = None,
    ) -> None:
        self.forwards = forwards
        self.token = token
        self.check = check
        self.verify_key = verify_key
        self.admit = admit
        self.requests = requests
        self.resize = resize
        self.lock = threading.Lock()
        self.ptys: dict[int, Pty] = {}
        self.envs: dict[int, dict[str, str]] = {}
        self.asked: set[int] = set()
        self.open = 0

    # -- authentication: the token is the password ---------------------------------

    def get_allowed_auths(self, username: str) -> str:
        if self.verify_key is not None:
            return "publickey,password,keyboard-interactive"
        return "password,keyboard-interactive"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        """A certificate signed by limen's CA, or an SSH key of
        ``[[identity.keys]]``. The key is only accepted here; the session is
        admitted once paramiko checked the client's signature with it
        (``verify_ssh_sig``)."""
        if self.verify_key is None or self.admit is None:
            return AUTH_FAILED
        cert = key.public_blob
        key_type, blob = (
            (cert.key_type, cert.key_blob) if cert is not None else (key.get_name(), key.asbytes())
        )
        try:
            identity = self.verify_key(key_type, blob)
        except CertError:
            return AUTH_FAILED
        admit = self.admit
        signed = key.verify_ssh_sig

        def verify_then_admit(data: bytes, msg: paramiko.Message) -> bool:
            if not signed(data, msg):
                return False
            try:
                ok = trio.from_thread.run(admit, username, identity, trio_token=self.token)
            except (trio.RunFinishedError, trio.Cancelled):
                ok = False
            return bool(ok)

        # paramiko calls verify_ssh_sig on this very key once the client
        # signed: admission waits for the proof of possession.
        setattr(key, "verify_ssh_sig", verify_then_admit)  # noqa: B010
        return AUTH_SUCCESSFUL

    def _token(self, username: str, password: str) -> int:
        try:
            ok = trio.from_thread.run(self.check, username, password, trio_token=self.token)
        except (trio.RunFinishedError, trio.Cancelled):
            ok = False
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        return self._token(username, password)

    def check_auth_interactive(self, username: str, submethods: str) -> InteractiveQuery | int:
        query = InteractiveQuery("limen", "Present your limen token.")
        query.add_prompt("Token: ", False)
        self.username = username
        return query

    def check_auth_interactive_response(self, responses: list[str]) -> int:
        if len(responses) != 1:
            return AUTH_FAILED
        return self._token(getattr(self, "username", ""), responses[0])

    # -- channels --------------------------------------------------------------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        with self.lock:
            if kind != "session" or self.open >= MAX_CHANNELS:
                return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
            self.open += 1
        return OPEN_SUCCEEDED

    def closed(self, chanid: int) -> None:
        """A channel of this session ended (the Trio side calls it)."""
        with self.lock:
            self.open -= 1
            self.ptys.pop(chanid, None)
            self.envs.pop(chanid, None)

    def check_channel_pty_request(
        self,
        channel: paramiko.Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        name = term.decode("ascii", "replace") if isinstance(term, bytes) else str(term)
        self.ptys[channel.get_id()] = Pty(name[:64], width, height, pixelwidth, pixelheight, modes)
        return True

    def check_channel_env_request(
        self, channel: paramiko.Channel, name: bytes, value: bytes
    ) -> bool:
        key = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        if key not in SAFE_ENV:
            return False
        val = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        self.envs.setdefault(channel.get_id(), {})[key] = val[:256]
        return True

    def _ask(self, channel: paramiko.Channel, request: Request) -> bool:
        chanid = channel.get_id()
        if chanid in self.asked:
            return False  # one request per channel
        self.asked.add(chanid)
        item = ChannelRequest(channel, request, self.ptys.get(chanid), self.envs.get(chanid, {}))
        try:
            trio.from_thread.run_sync(self.requests.send_nowait, item, trio_token=self.token)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        except trio.RunFinishedError:
            return False
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        try:
            text = command.decode("utf-8")
        except UnicodeDecodeError:
            text = "\x00"  # unjudgeable: refused by the policy
        return self._ask(channel, Request("exec", text))

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        return self._ask(channel, Request("shell"))

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        return self._ask(channel, Request("subsystem", str(name)[:64]))

    def check_channel_window_change_request(
        self,
        channel: paramiko.Channel,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
    ) -> bool:
        pty = self.ptys.get(channel.get_id())
        if pty is None:
            return False
        pty.width, pty.height = width, height
        pty.pixel_width, pty.pixel_height = pixelwidth, pixelheight
        try:
            trio.from_thread.run_sync(self.resize, channel.get_id(), pty, trio_token=self.token)
        except trio.RunFinishedError:
            return False
        return True

    # -- forwarding: judged by Forwards ------------------------------------------------

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        if self.forwards is None:
            return False
        return self.forwards.remote(address, port)

    def cancel_port_forward_request(self, address: str, port: int) -> None:
        if self.forwards is not None:
            self.forwards.cancel(address, port)

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        with self.lock:
            full = self.open >= MAX_CHANNELS
        if full or self.forwards is None or not self.forwards.local(chanid, origin, destination):
            return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        return OPEN_SUCCEEDED

    def check_channel_x11_request(
        self,
        channel: paramiko.Channel,
        single_connection: bool,
        auth_protocol: str,
        auth_cookie: bytes,
        screen_number: int,
    ) -> bool:
        if self.forwards is None:
            return False
        cookie = (
            auth_cookie.decode("ascii", "replace")
            if isinstance(auth_cookie, bytes)
            else str(auth_cookie)
        )
        request = (
            int(screen_number),
            str(auth_protocol)[:64],
            cookie[:512],
            bool(single_connection),
        )
        return self.forwards.x11(channel.get_id(), request)

    def check_channel_forward_agent_request(self, channel: paramiko.Channel) -> bool:
        if self.forwards is None:
            return False
        return self.forwards.agent(channel.get_id())

    def check_global_request(self, kind: str, msg: paramiko.Message) -> bool:
        return False
