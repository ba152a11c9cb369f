"""Staff-edited LLM prompts for the lower apps, read without importing ``bot``.

The prompts live in ``bot.PersonaPrompt`` (edited in admin, Russian defaults from a data
migration). profiles and journeys sit below bot in the dependency chain, so they look the
table up through the app registry at call time: the contract is only the table's ``key`` and
``text`` columns, and the caller's fallback applies when the row or the app is missing.
"""

from django.apps import apps


def persona_prompt(key: str, *, default: str) -> str:
    """The current text of prompt ``key`` (edits apply without restart), else ``default``."""
    try:
        model = apps.get_model("bot", "PersonaPrompt")
    except LookupError:
        return default
    text = model.objects.filter(key=key).values_list("text", flat=True).first()
    return text or default
