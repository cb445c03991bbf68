"""Bodies to plain text, and the platform's links and rooms."""

from __future__ import annotations

import pytest

from calgate.sanitize import Platform
from calgate.sanitize.text import MAX_DESCRIPTION, MAX_SCAN, plain_text

from support.hostile_events import FORBIDDEN


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("line<br/>break &amp; &lt;tag&gt; &#x41;", "line\nbreak & <tag> A"),
        (f'<a title="x>{FORBIDDEN}" href="https://{FORBIDDEN}">link</a>', "link"),
        (f"<img src='data:image/png;base64,{FORBIDDEN}'>after", "after"),
        (f"before<!-- {FORBIDDEN} -->after", "beforeafter"),
        (f"before<!-- {FORBIDDEN}", "before"),
        (f"<SCRIPT type='x'>{FORBIDDEN}</SCRIPT>kept", "kept"),
        (f"<style>{FORBIDDEN}", ""),
        (
            "<div>  many   \t spaces\u00a0here  </div>\r\n\r\n\r\n\r\n<div>x</div>",
            "many spaces here\n\nx",
        ),
        (f"<img src='x' alt='{FORBIDDEN}", ""),
    ],
)
def test_html_becomes_text_without_markup_or_attributes_C5(html: str, text: str) -> None:
    assert plain_text(html, html=True) == text


def test_text_bodies_stay_text_C5() -> None:
    assert plain_text("2 < 3 and 5 > 4 &amp;") == "2 < 3 and 5 > 4 &amp;"
    assert plain_text("<b>x</b>", html=False) == "<b>x</b>"
    assert plain_text(None) == ""
    assert plain_text(42) == ""


def test_only_a_bounded_prefix_is_read_C5() -> None:
    huge = "x" * (MAX_SCAN - 10) + FORBIDDEN * 1000
    out = plain_text(huge)
    assert FORBIDDEN not in out
    assert len(out) == MAX_DESCRIPTION


def test_join_links_need_a_configured_base_and_9_to_11_digits_C5() -> None:
    p = Platform.of(join_bases=["https://meet.example.com/j", "https://alt.example/join/"])
    assert p.join_bases == ("https://meet.example.com/j/", "https://alt.example/join/")
    assert p.find_link("see https://meet.example.com/j/123456789 now") == (
        "https://meet.example.com/j/123456789",
        "123456789",
    )
    assert p.find_link("https://alt.example/join/98765432109") == (
        "https://alt.example/join/98765432109",
        "98765432109",
    )
    assert p.find_link("https://meet.example.com/j/12345678") is None  # 8 digits
    assert p.find_link("https://meet.example.com/j/123456789012") is None  # 12 digits
    assert p.find_link("https://other.example/j/123456789") is None
    assert Platform().find_link("https://meet.example.com/j/123456789") is None
    assert p.link_for("555666777") == "https://meet.example.com/j/555666777"


def test_platform_rooms_by_address_or_pattern_C5() -> None:
    p = Platform.of(room_emails=["Atlas@Rooms.example"], room_patterns=["vc-*@rooms.example"])
    assert p.is_platform_room("atlas@rooms.example")
    assert p.is_platform_room("VC-Nimbus@rooms.example")
    assert not p.is_platform_room("nimbus@rooms.example")
    assert not p.is_platform_room("")
    assert not Platform().is_platform_room("atlas@rooms.example")
