"""Member-facing limits come from the proactivity settings; the reply contract moves into code.

Templates: the fixed «не чаще двух раз в день» / «с 8 до 22» become the ``{daily_limit}`` and
``{window}`` placeholders (filled from the current settings). Prompts: the JSON reply format
sentence is dropped from the persona and proactive prompts (``natasha.REPLY_CONTRACT`` adds it).
Only the shipped wording is rewritten; text staff wrote themselves is left as it is.
"""

import re

from django.db import migrations

TEMPLATE_PHRASES = [
    ("не чаще двух раз в день и только днём", "{daily_limit} и только {window} по твоему времени"),
    ("только с 8 до 22 по нему", "только {window} по нему"),
    ("не чаще двух раз в день", "{daily_limit}"),
]
OLD_SETTINGS = ("<b>Настройки</b>\nЧасовой пояс: {timezone}\nСообщения от меня первой: {proactive}\n\n")
NEW_SETTINGS = ("<b>Настройки</b>\nЧасовой пояс: {timezone}\nСообщения от меня первой: {proactive} "
                "({daily_limit}, {window} по твоему времени)\n\n")
# «Ответ верни JSON-объектом: {…}.» (persona) and «Верни JSON {…}.» (proactive), to the end of the sentence.
CONTRACT = re.compile(r"\s*(?:Ответ верни JSON-объектом|Верни JSON)\s*:?\s*\{.*\}\.?", re.DOTALL)


def forward(apps, schema_editor):
    MessageTemplate = apps.get_model("bot", "MessageTemplate")
    PersonaPrompt = apps.get_model("bot", "PersonaPrompt")
    for row in MessageTemplate.objects.all():
        text = row.text.replace(OLD_SETTINGS, NEW_SETTINGS) if row.key == "settings" else row.text
        for old, new in TEMPLATE_PHRASES:
            text = text.replace(old, new)
        if text != row.text:
            row.text = text
            row.save(update_fields=["text"])
    for row in PersonaPrompt.objects.filter(key__in=["persona", "proactive"]):
        text = CONTRACT.sub("", row.text).rstrip()
        if text != row.text and text:
            row.text = text
            row.save(update_fields=["text"])


class Migration(migrations.Migration):
    dependencies = [("bot", "0011_editor_help_texts")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
