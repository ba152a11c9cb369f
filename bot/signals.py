"""Events the bot emits for apps above it (triggers, broadcasts) without importing them."""

from django.dispatch import Signal

# Sent after a member's message is stored; kwargs: user (TelegramUser), at (datetime).
member_message_received = Signal()
