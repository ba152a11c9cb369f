import pytest

from broadcasts.services import broadcast_button_pressed, broadcast_create
from profiles.models import UserInteraction

pytestmark = pytest.mark.django_db


def test_a_quick_reply_press_means_its_text_and_is_counted_as_a_click(member):
    broadcast = broadcast_create(title="Поток", text="Идёшь?", buttons=[
        {"text": "Сайт", "url": "https://relove.ru"}, {"text": "Да", "reply": "Да, записываюсь"}])
    assert broadcast_button_pressed(user=member, data=f"b:{broadcast.pk}:1") == "Да, записываюсь"
    click = UserInteraction.objects.get(kind=UserInteraction.Kind.BROADCAST_CLICKED)
    assert click.metadata == {"broadcast_id": broadcast.pk, "button": 1}

    assert broadcast_button_pressed(user=member, data=f"b:{broadcast.pk}:0") is None  # a link, not a reply
    assert broadcast_button_pressed(user=member, data=f"b:{broadcast.pk}:9") is None
    assert broadcast_button_pressed(user=member, data="q:1:2") is None
    assert UserInteraction.objects.filter(kind=UserInteraction.Kind.BROADCAST_CLICKED).count() == 1
