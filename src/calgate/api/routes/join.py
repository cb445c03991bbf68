"""``GET /j/{meeting_id}``: the public join page (R12).

Anyone with the link may open it, so it shows only what a join link already implies: the
meeting's state (valid, not open yet, expired, cancelled, unknown), its time in the zone it
was scheduled in and, only while it is valid, a button to the platform client
(CALGATE_MEETING_CLIENT_URL). The topic is shown only with CALGATE_MEETING_SHOW_TOPIC; the
passcode never. ``Accept: application/json`` gets the same facts as JSON (404 as
problem+json); browsers get HTML, with the same page for an unknown id.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, Template, select_autoescape

from calgate.api.deps import RuntimeDep
from calgate.api.problems import problem_response
from calgate.meetings.ids import format_meeting_id, parse_meeting_id
from calgate.meetings.invitation import describe_time
from calgate.meetings.model import EXPIRY_AFTER, JoinState, Schedule
from calgate.meetings.service import JoinView

__all__ = ["router"]

router = APIRouter(tags=["join page"])

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_TEXT = {
    JoinState.VALID: ("Ready to join", "This meeting is open. Join it in the meeting app."),
    JoinState.UPCOMING: (
        "This meeting has not started yet",
        "The join button appears shortly before the meeting starts.",
    ),
    JoinState.EXPIRED: (
        "This meeting link has expired",
        f"Meeting links expire {EXPIRY_AFTER.days} days after the meeting's time. Ask the "
        "organizer for a new invitation.",
    ),
    JoinState.CANCELLED: ("This meeting was cancelled", "The organizer cancelled this meeting."),
}
_UNKNOWN = ("Meeting not found", "Check the link or the meeting ID in your invitation.")


@functools.cache
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("calgate", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("join.html")


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


def _json(view: JoinView) -> dict[str, Any]:
    schedule = view.schedule
    return {
        "meeting_id": view.meeting_id,
        "state": view.state.value,
        "start": schedule.start.isoformat(),
        "end": schedule.end.isoformat(),
        "time_zone": schedule.time_zone,
        "recurring": schedule.recurring,
        "next_start": view.next.start.isoformat() if view.next else None,
        "next_end": view.next.end.isoformat() if view.next else None,
        "expires_at": view.expires_at.isoformat() if view.expires_at else None,
        "topic": view.topic,
        "client_url": view.client_url,
    }


def _page(context: dict[str, Any], status: int) -> HTMLResponse:
    html = _template().render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Content-Security-Policy": _CSP, "X-Robots-Tag": "noindex"},
    )


def _local(value: datetime, schedule: Schedule) -> str:
    local = value.astimezone(schedule.zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({schedule.time_zone})"


@router.get(
    "/j/{meeting_id}",
    response_class=HTMLResponse,
    summary="Join page: valid, not open yet, expired or cancelled (JSON with Accept)",
    responses={404: {"description": "no such meeting (or purged)"}},
)
async def join_page(meeting_id: str, request: Request, runtime: RuntimeDep) -> Response:
    number = parse_meeting_id(meeting_id)
    view = None
    if number is not None:
        async with runtime.uow(readonly=True) as uow:
            view = await runtime.meetings.join_view(uow, number)
    if view is None:
        if _wants_json(request):
            return problem_response(404, "no meeting with this id", slug="not-found")
        heading, message = _UNKNOWN
        return _page(
            {
                "title": heading,
                "heading": heading,
                "message": message,
                "state": "unknown",
                "meeting_number": format_meeting_id(number) if number else "",
            },
            404,
        )
    if _wants_json(request):
        return JSONResponse(_json(view))
    heading, message = _TEXT[view.state]
    schedule = view.schedule
    occurrence = view.next
    if occurrence is not None:
        shown = Schedule(
            occurrence.start,
            schedule.time_zone,
            int((occurrence.end - occurrence.start).total_seconds() // 60),
        )
    else:
        shown = schedule
    live = view.state in {JoinState.VALID, JoinState.UPCOMING}
    context = {
        "title": f"{heading} – Meeting {format_meeting_id(view.meeting_id)}",
        "heading": heading,
        "message": message,
        "state": view.state.value,
        "meeting_number": format_meeting_id(view.meeting_id),
        "topic": view.topic,
        "when_label": ("Next" if schedule.recurring else "When") if live else "Was scheduled",
        "when": describe_time(shown) if live or not schedule.recurring else None,
        "when_iso": shown.start.isoformat(),
        "recurring": schedule.recurring,
        "expires": _local(view.expires_at, schedule) if view.expires_at and live else None,
        "expires_iso": view.expires_at.isoformat() if view.expires_at else "",
        "client_url": view.client_url,
    }
    return _page(context, 200)
