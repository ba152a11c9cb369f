from django.conf import settings
from django.db import migrations


def create_config(apps, schema_editor):
    # The first migrate seeds the default zone from TIME_ZONE_DEFAULT; staff change it in the admin.
    apps.get_model("triggers", "ProactivityConfig").objects.get_or_create(
        pk=1, defaults={"default_timezone": settings.TIME_ZONE_DEFAULT})


class Migration(migrations.Migration):
    dependencies = [("triggers", "0001_initial")]
    operations = [migrations.RunPython(create_config, migrations.RunPython.noop)]
