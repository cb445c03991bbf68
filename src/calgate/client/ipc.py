"""The Outlook-plugin path (R13): a local IPC endpoint the desktop app serves, speaking
JSON-RPC 2.0, so that a plugin on the user's machine schedules meetings through the app's
own calgate session (the plugin holds no credentials).

Transport: a Unix domain socket, one JSON-RPC message (or batch) per line (UTF-8, at most
64 KiB), in a private directory — ``$XDG_RUNTIME_DIR/calgate/`` (mode 0700) when the
session has one, else ``<tmp>/calgate-<uid>/`` created 0700 and refused if someone else
owns it or it is open to others — as ``client.sock`` with mode 0600. On Linux the peer's
uid is checked too (``SO_PEERCRED``): only the same user may call. The socket holds no data
(C1: nothing is written) and is removed when the app exits. Windows uses a named pipe
``\\\\.\\pipe\\calgate-<user>`` with an ACL for the user's SID only (docs/client.md).

Method ``schedule_meeting``, params exactly the R11 fields (an object): ``subject``,
``start_date``, ``start_time``, ``time_zone``, ``duration_minutes``, ``recurring``,
``recurrence_rule``. Result: ``{"id", "join_url", "passcode", "invitation"}``. Errors are
JSON-RPC errors: -32700 parse error, -32600 invalid request, -32601 method not found,
-32602 invalid params (``data.fields`` names them; calgate's own 422 too), -32001 calgate
refused (``data.status``), -32002 calgate unreachable or the session is gone. Notifications
(no ``id``) are not executed: a meeting whose id nobody learns helps no one.

Why no JSON-RPC library: the envelope is a handful of rules checked below with pydantic
(strict types, no extra members); the common server library (jsonrpcserver 5) pulls an
unmaintained functional-programming dependency and reports a ``TypeError`` raised inside a
method as "invalid params". The transport framing is ours either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from calgate.client.errors import ClientError, ScheduleRefused
from calgate.client.tagging import R11_FIELDS, ScheduledMeeting
from calgate.errors import ConfigurationError

__all__ = [
    "MAX_MESSAGE",
    "IpcServer",
    "default_socket_path",
    "handle_message",
]

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024
SOCKET_NAME = "client.sock"

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
CALGATE_REFUSED, CALGATE_UNREACHABLE = -32001, -32002

Schedule = Callable[[Mapping[str, Any]], Awaitable[ScheduledMeeting]]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"]
    method: StrictStr
    params: dict[str, Any] | list[Any] | None = None
    id: StrictStr | StrictInt | None = None


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _error(rid: object, err: RpcError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.data is not None:
        body["data"] = dict(err.data)
    return {"jsonrpc": "2.0", "error": body, "id": rid}


async def _call(schedule: Schedule, req: _Request) -> dict[str, Any]:
    if req.method != "schedule_meeting":
        raise RpcError(METHOD_NOT_FOUND, f"no method {req.method[:64]!r}; use schedule_meeting")
    if not isinstance(req.params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object of the R11 fields")
    extra = sorted(k for k in req.params if k not in R11_FIELDS)
    if extra:
        raise RpcError(
            INVALID_PARAMS,
            f"only the R11 fields are accepted; not: {', '.join(k[:64] for k in extra)}",
            {"fields": extra},
        )
    try:
        made = await schedule(req.params)
    except ScheduleRefused as exc:
        code = INVALID_PARAMS if exc.status == 422 else CALGATE_REFUSED
        data = {"status": exc.status, "fields": list(exc.fields)}
        raise RpcError(code, exc.detail, data) from None
    except ClientError as exc:
        raise RpcError(CALGATE_UNREACHABLE, exc.detail) from None
    return {
        "id": made.id,
        "join_url": made.join_url,
        "passcode": made.passcode,
        "invitation": made.invitation,
    }


async def _one(schedule: Schedule, message: object) -> dict[str, Any] | None:
    rid = message.get("id") if isinstance(message, dict) else None
    if not isinstance(rid, str | int) or isinstance(rid, bool):
        rid = None
    try:
        req = _Request.model_validate(message)
    except ValidationError:
        return _error(rid, RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request"))
    if isinstance(message, dict) and "id" not in message:
        log.info("ignored a JSON-RPC notification (%s): it has no id to answer", req.method[:64])
        return None
    try:
        return {"jsonrpc": "2.0", "result": await _call(schedule, req), "id": req.id}
    except RpcError as err:
        return _error(req.id, err)


async def handle_message(schedule: Schedule, line: bytes) -> bytes | None:
    """One line in, one line out (None: nothing to answer)."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        out: object = _error(None, RpcError(PARSE_ERROR, "not JSON"))
    else:
        if isinstance(message, list):
            if not message:
                out = _error(None, RpcError(INVALID_REQUEST, "an empty batch"))
            else:
                answers = [await _one(schedule, m) for m in message[:32]]
                kept = [a for a in answers if a is not None]
                if not kept:
                    return None
                out = kept
        else:
            answer = await _one(schedule, message)
            if answer is None:
                return None
            out = answer
    return json.dumps(out, separators=(",", ":")).encode() + b"\n"


# the socket ---------------------------------------------------------------------------------
def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/calgate/client.sock``, else ``<tmp>/calgate-<uid>/client.sock``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "calgate" / SOCKET_NAME
    # Not tempfile.gettempdir(): it probes the directory by writing a file (C1).
    tmp = next((v for v in map(os.environ.get, ("TMPDIR", "TEMP", "TMP")) if v), "/tmp")  # noqa: S108
    return Path(tmp) / f"calgate-{os.getuid()}" / SOCKET_NAME


def _private_dir(directory: Path) -> bool:
    """Make ``directory`` (0700) or check an existing one is ours and closed to others;
    True when this call created it."""
    created = False
    if not directory.exists():
        try:
            directory.mkdir(mode=0o700)
            created = True
        except FileExistsError:  # made meanwhile: checked below like any other
            pass
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ConfigurationError(f"{directory} is not a directory of this user: not using it")
    if info.st_mode & 0o077:
        raise ConfigurationError(f"{directory} is open to other users (chmod 700 it)")
    return created


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class IpcServer:
    """Serves ``schedule_meeting`` on a private Unix socket until closed."""

    def __init__(self, schedule: Schedule, path: Path | None = None) -> None:
        self._schedule = schedule
        self.path = path or default_socket_path()
        self._server: asyncio.AbstractServer | None = None
        self._made_dir = False

    async def start(self) -> Path:
        self._made_dir = _private_dir(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise ConfigurationError(f"{self.path} exists and is not a socket")
            if await _alive(self.path):
                raise ConfigurationError(f"another calgate app already serves {self.path}")
            self.path.unlink()  # a stale socket of an app that crashed
        old = os.umask(0o177)  # created 0600: no window in which others could connect
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_MESSAGE
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        log.info("serving the plugin endpoint (JSON-RPC) at %s", self.path)
        return self.path

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._made_dir:
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()

    async def __aenter__(self) -> IpcServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = _peer_uid(writer)
            if peer is not None and peer != os.getuid():
                log.warning("refused a plugin connection from uid %s", peer)
                return
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    writer.write(
                        json.dumps(
                            _error(None, RpcError(INVALID_REQUEST, "message too long"))
                        ).encode()
                        + b"\n"
                    )
                    await writer.drain()
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                answer = await handle_message(self._schedule, line)
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _alive(path: Path) -> bool:
    try:
        _reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return True
