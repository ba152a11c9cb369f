from django.db import migrations


def create_config(apps, schema_editor):
    apps.get_model("triggers", "ProactivityConfig").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("triggers", "0001_initial")]
    operations = [migrations.RunPython(create_config, migrations.RunPython.noop)]
