"""The shipped staff roles (Django groups) with their permissions (privacy/roles.py)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    from privacy.roles import roles_sync

    # Permissions are normally created after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_contenttypes(app_config, verbosity=0, apps=apps)
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    roles_sync(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


def drop_roles(apps, schema_editor):
    from privacy.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0002_access_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("bot", "0007_drop_conversation_history"),
        ("broadcasts", "0004_staff_telegram_verified"),
        ("journeys", "0004_placement_and_announcement"),
        ("profiles", "0003_proactive_timezone_index"),
        ("triggers", "0005_default_zone_from_settings"),
        ("core", "0002_staff_tasks"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
