"""The plugin endpoint's protocol and its socket (R13): JSON-RPC 2.0, one message per line,
on a private Unix socket (0600 in a 0700 directory) that is gone when the app stops. The
scheduling behind it is a plain function here; the whole path through the real app and
calgate is tested in tests/api/meeting_sync/test_plugin.py and tests/e2e."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from calgate.client import ScheduledMeeting, ScheduleRefused, ServerUnreachable
from calgate.client.ipc import IpcServer, handle_message
from calgate.errors import ConfigurationError


class Scheduler:
    """Records what reaches the app (the port the IPC server calls)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    async def __call__(self, fields: Mapping[str, Any]) -> ScheduledMeeting:
        self.calls.append(dict(fields))
        if self.fail is not None:
            raise self.fail
        return ScheduledMeeting(
            id=12345678901,
            join_url="https://meet.example/j/12345678901",
            passcode="04719385",
            invitation="You are invited",
            version=1,
        )


FIELDS = {
    "subject": "Design review",
    "start_date": "2026-12-01",
    "start_time": "10:00",
    "time_zone": "Europe/Berlin",
    "duration_minutes": 30,
}


async def rpc(scheduler: Scheduler, message: object) -> Any:
    raw = message if isinstance(message, bytes) else json.dumps(message).encode()
    out = await handle_message(scheduler, raw)
    return None if out is None else json.loads(out)


def request(params: object, rid: object = 1, method: str = "schedule_meeting") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


async def test_schedule_meeting_answers_the_meeting_R13() -> None:
    s = Scheduler()
    answer = await rpc(s, request(FIELDS, rid="a1"))
    assert answer == {
        "jsonrpc": "2.0",
        "id": "a1",
        "result": {
            "id": 12345678901,
            "join_url": "https://meet.example/j/12345678901",
            "passcode": "04719385",
            "invitation": "You are invited",
        },
    }
    assert s.calls == [FIELDS]


async def test_only_the_r11_fields_pass_R11() -> None:
    s = Scheduler()
    answer = await rpc(s, request({**FIELDS, "body": "secret agenda", "attendees": []}))
    assert answer["error"]["code"] == -32602
    assert answer["error"]["data"] == {"fields": ["attendees", "body"]}
    assert "secret agenda" not in json.dumps(answer)
    assert s.calls == []  # nothing reached the app


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"{not json", -32700),
        ({"id": 1, "method": "schedule_meeting", "params": {}}, -32600),  # no jsonrpc
        ({"jsonrpc": "1.0", "id": 1, "method": "schedule_meeting"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "x", "extra": 1}, -32600),
        (request(FIELDS, method="delete_everything"), -32601),
        (request(["Design review"]), -32602),
        ([], -32600),
    ],
)
async def test_malformed_requests_get_json_rpc_errors(message: object, code: int) -> None:
    s = Scheduler()
    answer = await rpc(s, message)
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code
    assert s.calls == []


async def test_calgate_refusals_become_errors() -> None:
    s = Scheduler()
    s.fail = ScheduleRefused("calgate refused the meeting: bad zone", status=422, fields=("x",))
    answer = await rpc(s, request(FIELDS))
    assert answer["error"] == {
        "code": -32602,
        "message": "calgate refused the meeting: bad zone",
        "data": {"status": 422, "fields": ["x"]},
    }
    s.fail = ServerUnreachable("cannot reach calgate at https://calgate.example")
    assert (await rpc(s, request(FIELDS)))["error"]["code"] == -32002


async def test_notifications_are_not_run_and_batches_answer_each() -> None:
    s = Scheduler()
    notification = {"jsonrpc": "2.0", "method": "schedule_meeting", "params": FIELDS}
    assert await rpc(s, notification) is None
    assert s.calls == []
    answers = await rpc(s, [request(FIELDS, rid=1), notification, request(FIELDS, rid=2)])
    assert [a["id"] for a in answers] == [1, 2]
    assert len(s.calls) == 2


# the socket ---------------------------------------------------------------------------------
async def talk(path: Path, *lines: bytes) -> list[Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    out = []
    for line in lines:
        writer.write(line + b"\n")
        await writer.drain()
        answer = await reader.readline()
        out.append(json.loads(answer) if answer else None)
    writer.close()
    await writer.wait_closed()
    return out


async def test_socket_is_private_and_removed_on_exit_R13(tmp_path: Path) -> None:
    path = tmp_path / "run" / "calgate" / "client.sock"
    (tmp_path / "run").mkdir(mode=0o700)
    s = Scheduler()
    async with IpcServer(s, path) as server:
        assert server.path == path
        assert stat.S_ISSOCK(path.lstat().st_mode)
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.lstat().st_mode) == 0o700
        [answer] = await talk(path, json.dumps(request(FIELDS)).encode())
        assert answer["result"]["id"] == 12345678901
    assert not path.exists()
    assert not path.parent.exists()  # the directory it made goes too
    assert list((tmp_path / "run").iterdir()) == []


async def test_a_message_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d" / "client.sock"
    async with IpcServer(Scheduler(), path):
        [answer] = await talk(path, b'{"jsonrpc": "2.0", "x": "' + b"a" * 70_000 + b'"}')
    assert answer["error"]["code"] == -32600


async def test_an_open_directory_or_a_live_socket_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConfigurationError, match="open to other users"):
        await IpcServer(Scheduler(), shared / "client.sock").start()

    path = tmp_path / "mine" / "client.sock"
    async with IpcServer(Scheduler(), path):
        with pytest.raises(ConfigurationError, match="already serves"):
            await IpcServer(Scheduler(), path).start()
    assert not path.exists()


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "d" / "client.sock"
    first = IpcServer(Scheduler(), path)
    await first.start()
    assert first._server is not None
    first._server.close()  # a crashed app: the socket file stays, nobody listens
    await first._server.wait_closed()
    assert path.exists()
    async with IpcServer(Scheduler(), path):
        [answer] = await talk(path, json.dumps(request(FIELDS)).encode())
        assert answer["result"]["join_url"].endswith("/j/12345678901")
    assert not path.exists()
