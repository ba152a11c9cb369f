from django.db import migrations

from journeys.defaults import STAGES


def create_stages(apps, schema_editor):
    JourneyStage = apps.get_model("journeys", "JourneyStage")
    for data in STAGES:
        JourneyStage.objects.get_or_create(order=data["order"], defaults=data)


class Migration(migrations.Migration):
    dependencies = [("journeys", "0001_initial")]
    operations = [migrations.RunPython(create_stages, migrations.RunPython.noop)]
