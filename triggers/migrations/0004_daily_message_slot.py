"""The daily budget moves to bot.DailyMessageSlot; broadcasts' fake "sent" budget triggers go away."""

import django.db.models.deletion
from django.db import migrations, models


def move_slots(apps, schema_editor):
    Trigger = apps.get_model("triggers", "ProactiveTrigger")
    Slot = apps.get_model("bot", "DailyMessageSlot")
    for trigger in Trigger.objects.filter(slot__isnull=False).iterator():
        source = "broadcast" if trigger.kind == "broadcast" else "proactive"
        slot, _ = Slot.objects.get_or_create(
            user_id=trigger.user_id, local_date=trigger.local_date, slot=trigger.slot,
            defaults={"source": source, "taken_at": trigger.sent_at or trigger.claimed_at or trigger.scheduled_for})
        if source == "proactive":
            Trigger.objects.filter(pk=trigger.pk).update(daily_slot=slot)
    # Budget holders of broadcasts were never reasons to write: their slots now live in the ledger.
    Trigger.objects.filter(kind="broadcast").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("bot", "0003_daily_message_slot"),
        ("triggers", "0003_engine"),
    ]

    operations = [
        migrations.AddField(
            model_name="proactivetrigger",
            name="daily_slot",
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                       related_name="trigger", to="bot.dailymessageslot",
                                       verbose_name="место в дневном лимите"),
        ),
        migrations.RunPython(move_slots, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="proactivetrigger", name="trigger_daily_slot_unique"),
        migrations.RemoveConstraint(model_name="proactivetrigger", name="trigger_slot_range"),
        migrations.RemoveField(model_name="proactivetrigger", name="local_date"),
        migrations.RemoveField(model_name="proactivetrigger", name="slot"),
        migrations.AlterField(
            model_name="proactivetrigger",
            name="kind",
            field=models.CharField(choices=[("inactivity", "неактивность"), ("stage_completed", "завершён этап"),
                                            ("avoidance", "паттерн избегания"), ("morning_checkin", "утренний чек-ин"),
                                            ("stream_step", "упражнение потока"),
                                            ("stream_invite", "приглашение на поток")],
                                   max_length=16, verbose_name="тип"),
        ),
    ]
