"""The analytics page in a real browser: charts are drawn from the data, offline, for the analyst role."""

import pytest
from django.utils import timezone

from analytics.services import activity_rollup_due
from journeys.services import journey_advance, journey_start
from profiles.models import UserInteraction
from testkit.browser import PHONE, admin_login
from testkit.factories import StaffFactory, TelegramUserFactory, TriggerFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-test-password"

# Counts the canvas pixels that are not fully transparent: a drawn chart has many.
INKED_PIXELS = """canvas => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
  return inked;
}"""


@pytest.fixture
def analyst_page(browser_page, live_server):
    StaffFactory(username="analyst", password=PASSWORD, roles=["Аналитик"])
    admin_login(browser_page, live_server.url, "analyst", PASSWORD)
    return browser_page


def _activity():
    now = timezone.now()
    for messages in (3, 2):
        member = TelegramUserFactory(journey_stage=None)
        journey_start(user=member)
        journey_advance(user_id=member.pk, from_order=1, to_order=2, confidence=0.9, evidence="", reason="анализ")
        for _ in range(messages):
            UserInteraction.objects.create(user=member, kind="message_in")
        TriggerFactory(user=member, status="sent", sent_at=now, answered_at=now if messages == 3 else None)
    activity_rollup_due(now=now)


def test_the_charts_render_with_data(analyst_page, live_server):
    _activity()
    analyst_page.goto(f"{live_server.url}/admin/analytics/?days=7")
    for chart in ("chart-messages", "chart-active", "chart-funnel", "chart-transitions", "chart-proactive"):
        canvas = analyst_page.locator(f"#{chart}")
        canvas.wait_for()
        assert canvas.evaluate("node => Boolean(node.chart)"), chart
        assert canvas.evaluate(INKED_PIXELS) > 500, chart
    messages = analyst_page.locator("#chart-messages").evaluate("node => node.chart.data.datasets[0].data")
    assert len(messages) == 7 and messages[-1] == 5 and sum(messages) == 5
    labels = analyst_page.locator("#chart-messages").evaluate("node => node.chart.data.labels")
    today = timezone.localdate()
    assert labels[-1] == today.strftime("%d.%m")
    axis = analyst_page.locator("#chart-messages").evaluate("node => node.chart.options.scales.x.title.text")
    assert axis == "день"
    funnel = analyst_page.locator("#chart-funnel").evaluate("node => node.chart.data.datasets[0].data")
    assert funnel[:3] == [2, 2, 0]
    assert analyst_page.outside_requests == []


def test_the_range_presets_and_the_phone_layout(analyst_page, live_server):
    _activity()
    analyst_page.set_viewport_size(PHONE)
    analyst_page.goto(f"{live_server.url}/admin/analytics/")
    analyst_page.click("text=90 дней")
    analyst_page.wait_for_load_state("networkidle")
    assert "days=90" in analyst_page.url
    labels = analyst_page.locator("#chart-messages").evaluate("node => node.chart.data.labels.length")
    assert labels == 90
    width = analyst_page.locator("#chart-funnel").evaluate("node => node.getBoundingClientRect().right")
    assert width <= PHONE["width"]
    assert analyst_page.locator("#chart-funnel").evaluate(INKED_PIXELS) > 500
