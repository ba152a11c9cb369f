"""Demo data for a fresh local install: streams with programmes and a few sample members."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from profiles.models import MemberTag, TelegramUser

from .models import JourneyProgress, JourneyStage, Stream, StreamStep

DEMO_STREAMS = [
    {
        "slug": "smelost-byt-soboj",
        "title": "Смелость быть собой",
        "description": "Три недели практик, чтобы перестать подстраиваться и услышать свои желания.",
        "url": "https://relove.ru/streams/smelost",
        "tags": ["страх", "самооценка", "желания"],
        "stages": [2, 3, 4],
        "start_in_days": 5,
        "steps": [
            (0, "Запиши три ситуации за последнюю неделю, где ты сказал(а) «да», думая «нет»."),
            (2, "Выбери одну из них и проживи её заново: что бы ты сказал(а), если бы не боялся(ась)?"),
            (5, "Сделай сегодня одно маленькое «нет» — и запиши, что ты почувствовал(а)."),
        ],
    },
    {
        "slug": "peshchera",
        "title": "Вход в пещеру",
        "description": "Поток для тех, кто готов встретиться с главным страхом — бережно и в группе.",
        "url": "https://relove.ru/streams/peshchera",
        "tags": ["страх", "кризис", "трансформация"],
        "stages": [6, 7, 8],
        "start_in_days": 12,
        "steps": [
            (0, "Назови страх, который управляет тобой чаще всего. Одним предложением."),
            (3, "Вспомни, когда этот страх появился впервые. Кем ты был(а) тогда?"),
        ],
    },
    {
        "slug": "eliksir",
        "title": "Эликсир: делиться опытом",
        "description": "Как превратить пройденный путь в опору для себя и других.",
        "url": "https://relove.ru/streams/eliksir",
        "tags": ["интеграция", "отношения", "служение"],
        "stages": [10, 11, 12],
        "start_in_days": 20,
        "steps": [(0, "Опиши свой путь за последний год в пяти предложениях — как историю героя.")],
    },
]

DEMO_MEMBERS = [
    # telegram_id, username, first name, stage, tags
    (900000001, "demo_anna", "Анна", 2, ["новичок"]),
    (900000002, "demo_igor", "Игорь", 5, ["поток-весна"]),
    (900000003, "demo_maria", "Мария", 8, ["поток-весна", "наставник"]),
]


@transaction.atomic
def seed_demo() -> dict[str, int]:
    """Create the demo streams and members once; running it again changes nothing."""
    today = timezone.localdate()
    streams = 0
    for data in DEMO_STREAMS:
        stream, created = Stream.objects.get_or_create(
            slug=data["slug"],
            defaults={"title": data["title"], "description": data["description"], "url": data["url"],
                      "tags": data["tags"], "starts_at": today + timedelta(days=data["start_in_days"])},
        )
        if created:
            streams += 1
            stream.suitable_stages.set(JourneyStage.objects.filter(order__in=data["stages"]))
            StreamStep.objects.bulk_create(
                StreamStep(stream=stream, day_offset=day, order=i, text=text)
                for i, (day, text) in enumerate(data["steps"])
            )
    members = 0
    for telegram_id, username, first_name, stage_order, tags in DEMO_MEMBERS:
        # Demo members have fake chat ids, so the bot never writes to them first.
        member, created = TelegramUser.objects.get_or_create(
            telegram_id=telegram_id,
            defaults={"username": username, "first_name": first_name, "language_code": "ru",
                      "consent_at": timezone.now(), "journey_stage": stage_order,
                      "proactive_enabled": False, "last_activity_at": timezone.now()},
        )
        if created:
            members += 1
            member.tags.set([MemberTag.objects.get_or_create(name=t)[0] for t in tags])
            JourneyProgress.objects.create(
                user=member, stage=JourneyStage.objects.get(order=stage_order),
                source=JourneyProgress.Source.STAFF, reason="демо-данные", confidence=1.0,
            )
    return {"streams": streams, "members": members}
