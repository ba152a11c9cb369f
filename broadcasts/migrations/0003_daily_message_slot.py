"""A delivery that counts against the daily budget points at its bot.DailyMessageSlot."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def link_slots(apps, schema_editor):
    Delivery = apps.get_model("broadcasts", "BroadcastDelivery")
    Slot = apps.get_model("bot", "DailyMessageSlot")
    for row in Delivery.objects.filter(budget_slot__isnull=False).iterator():
        slot, _ = Slot.objects.get_or_create(
            user_id=row.user_id, local_date=row.budget_date, slot=row.budget_slot,
            defaults={"source": "broadcast", "taken_at": row.sent_at or row.claimed_at or timezone.now()})
        Delivery.objects.filter(pk=row.pk).update(daily_slot=slot)


class Migration(migrations.Migration):

    dependencies = [
        ("bot", "0003_daily_message_slot"),
        ("broadcasts", "0002_delivery_engine"),
    ]

    operations = [
        migrations.AddField(
            model_name="broadcastdelivery",
            name="daily_slot",
            field=models.OneToOneField(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="broadcast_delivery",
                to="bot.dailymessageslot", verbose_name="место в дневном лимите",
                help_text="Сообщение учтено в дневном лимите проактивных (если рассылка так настроена)"),
        ),
        migrations.RunPython(link_slots, migrations.RunPython.noop),
        migrations.RemoveField(model_name="broadcastdelivery", name="budget_date"),
        migrations.RemoveField(model_name="broadcastdelivery", name="budget_slot"),
    ]
