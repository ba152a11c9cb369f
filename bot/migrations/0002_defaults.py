from django.db import migrations

from bot.defaults import CRISIS_CONTACTS, PROMPTS, TEMPLATES


def create_defaults(apps, schema_editor):
    PersonaPrompt = apps.get_model("bot", "PersonaPrompt")
    MessageTemplate = apps.get_model("bot", "MessageTemplate")
    CrisisContact = apps.get_model("bot", "CrisisContact")
    for key, text in PROMPTS.items():
        PersonaPrompt.objects.get_or_create(key=key, defaults={"text": text})
    if not MessageTemplate.objects.exists():
        MessageTemplate.objects.bulk_create(
            MessageTemplate(key=key, text=text, quick_replies=replies) for key, text, replies in TEMPLATES
        )
    if not CrisisContact.objects.exists():
        CrisisContact.objects.bulk_create(
            CrisisContact(name=name, phone=phone, description=desc, order=i)
            for i, (name, phone, desc) in enumerate(CRISIS_CONTACTS)
        )


class Migration(migrations.Migration):
    dependencies = [("bot", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
