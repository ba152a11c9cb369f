"""factory_boy factories for every model the tests build."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from bot.models import DailyMessageSlot, UserSession
from broadcasts.models import Broadcast, BroadcastDelivery, StaffTelegramAccount
from journeys.models import JourneyStage, Stream, StreamStep
from profiles.models import PsychologicalProfile, TelegramUser, UserActivityLog
from triggers.models import ProactiveTrigger


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True  # roles/perms write their own rows

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@relove.test")
    is_staff = True
    password = factory.django.Password("staff-pass-123")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """``StaffFactory(roles=["Куратор"])``: put the account in the shipped role groups."""
        if create and extracted:
            from django.contrib.auth.models import Group

            self.groups.add(*[Group.objects.get(name=name) for name in extracted])

    @factory.post_generation
    def perms(self, create, extracted, **kwargs):
        """``StaffFactory(perms=["profiles.view_telegramuser"])``: grant single permissions."""
        if create and extracted:
            from django.contrib.auth.models import Permission

            for perm in extracted:
                app_label, codename = perm.split(".")
                self.user_permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                                 codename=codename))


class SuperuserFactory(StaffFactory):
    is_superuser = True


class TelegramUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TelegramUser

    telegram_id = factory.Sequence(lambda n: 100_000 + n)
    username = factory.Sequence(lambda n: f"member{n}")
    first_name = "Аня"
    language_code = "ru"
    consent_at = factory.LazyFunction(timezone.now)
    last_activity_at = factory.LazyFunction(timezone.now)
    last_user_message_at = factory.LazyFunction(timezone.now)
    journey_stage = 1


class UserSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserSession
        skip_postgeneration_save = True

    user = factory.SubFactory(TelegramUserFactory)

    @factory.post_generation
    def turns(session, create, extracted, **kwargs):
        """``UserSessionFactory(turns=[{"role": "user", "content": "…"}])`` stores them as turn rows."""
        if not (create and extracted):
            return
        from bot.services.sessions import Turn, session_append

        session_append(session=session, turns=[Turn(t["role"], t["content"], t.get("qr"), t.get("kind", ""))
                                               for t in extracted])
        session.refresh_from_db()


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PsychologicalProfile

    user = factory.SubFactory(TelegramUserFactory)
    version = factory.Sequence(lambda n: n + 1)
    summary = "Ищет опору и смелость."
    data = factory.LazyFunction(lambda: {"traits": ["чуткость"], "interests": ["отношения"]})


class ActivityLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserActivityLog

    user = factory.SubFactory(TelegramUserFactory)
    kind = UserActivityLog.Kind.MESSAGE_IN
    content = "Мне страшно менять работу"


class StreamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stream

    title = factory.Sequence(lambda n: f"Поток {n}")
    slug = factory.Sequence(lambda n: f"stream-{n}")
    description = "Три недели практики честности с собой."
    url = "https://relove.ru/streams/test"


class StreamStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StreamStep

    stream = factory.SubFactory(StreamFactory)
    day_offset = factory.Sequence(lambda n: n)
    text = "Запиши три вещи, которых ты избегаешь."


class TriggerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProactiveTrigger

    user = factory.SubFactory(TelegramUserFactory)
    kind = ProactiveTrigger.Kind.INACTIVITY
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")
    scheduled_for = factory.LazyFunction(timezone.now)


class DailySlotFactory(factory.django.DjangoModelFactory):
    """One message of a member's daily budget already used (by default a proactive one, today)."""

    class Meta:
        model = DailyMessageSlot

    user = factory.SubFactory(TelegramUserFactory)
    local_date = factory.LazyFunction(timezone.localdate)
    slot = 1
    source = DailyMessageSlot.Source.PROACTIVE
    taken_at = factory.LazyFunction(timezone.now)


class BroadcastFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Broadcast

    title = factory.Sequence(lambda n: f"Рассылка {n}")
    text = "<b>Новый поток</b> стартует в понедельник"


class StaffTelegramAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffTelegramAccount

    user = factory.SubFactory(StaffFactory)
    telegram_id = factory.Sequence(lambda n: 900_000 + n)
    verified_at = factory.LazyFunction(timezone.now)


class BroadcastDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BroadcastDelivery

    broadcast = factory.SubFactory(BroadcastFactory)
    user = factory.SubFactory(TelegramUserFactory)


def stage(order: int) -> JourneyStage:
    return JourneyStage.objects.get(order=order)


class StreamEnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "journeys.StreamEnrollment"

    user = factory.SubFactory(TelegramUserFactory)
    stream = factory.SubFactory(StreamFactory)


class JourneyInsightFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "journeys.JourneyInsight"

    user = factory.SubFactory(TelegramUserFactory)
    kind = "insight"
    text = "Замечает, что боится осуждения"
    confidence = 0.8


class JourneyProgressFactory(factory.django.DjangoModelFactory):
    """A stage change; by default the analysis moving a member from stage 1 to 2."""

    class Meta:
        model = "journeys.JourneyProgress"

    user = factory.SubFactory(TelegramUserFactory, journey_stage=2)
    stage = factory.LazyFunction(lambda: stage(2))
    previous_stage = factory.LazyFunction(lambda: stage(1))
    source = "llm"
    confidence = 0.9
