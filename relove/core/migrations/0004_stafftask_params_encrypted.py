"""StaffTask.params becomes encrypted: sandbox runs carry conversations typed or replayed by staff."""

from django.db import migrations

import relove.core.crypto


def copy(apps, schema_editor, source, target):
    StaffTask = apps.get_model("core", "StaffTask")
    for task in StaffTask.objects.only("pk", source).iterator():
        setattr(task, target, getattr(task, source))
        task.save(update_fields=[target])


def forwards(apps, schema_editor):
    copy(apps, schema_editor, "params", "params_secret")


def backwards(apps, schema_editor):
    copy(apps, schema_editor, "params_secret", "params")


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0003_heartbeat"),
    ]

    operations = [
        migrations.AddField("stafftask", "params_secret",
                            relove.core.crypto.EncryptedJSONField(blank=True, default=dict, verbose_name="параметры")),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField("stafftask", "params"),
        migrations.RenameField("stafftask", "params_secret", "params"),
    ]
