"""The JSON list is gone: turns live in ConversationTurn (moved by 0003)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bot', '0006_conversation_turns'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='usersession',
            name='conversation_history',
        ),
    ]
