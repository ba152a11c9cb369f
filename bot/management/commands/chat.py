"""Talk to Natasha in the terminal through the same orchestrator as Telegram."""

import re

from django.core.management.base import BaseCommand

from bot import telegram_html
from bot.services.members import TelegramIdentity
from bot.services.orchestrator import Incoming, Kind, handle
from bot.ui import menu_keyboard

LOCAL_MEMBER_ID = 1  # a local test member; real Telegram ids are never this small


def to_terminal(markup: str) -> str:
    """Telegram HTML as terminal text: bold as ``**``, other markup dropped, entities decoded."""
    return telegram_html.plain_text(re.sub(r"</?(b|strong)>", "**", markup))


class Command(BaseCommand):
    help = "Chat with Natasha in the terminal (no Telegram needed). /quit to leave; a number picks a quick reply."

    def add_arguments(self, parser):
        parser.add_argument("--member", type=int, default=LOCAL_MEMBER_ID, help="local member id to talk as")

    def handle(self, *args, member, **options):
        identity = TelegramIdentity(telegram_id=member, first_name="Терминал", language_code="ru")
        self.stdout.write("Наташа на связи. /quit — выйти, цифра — выбрать быстрый ответ, "
                          f"меню: {', '.join(b for row in menu_keyboard() for b in row)}\n")
        buttons: list[str] = []
        self._show(handle(Incoming(identity, Kind.COMMAND, text="/start", command="start")), buttons)
        while True:
            try:
                line = input("\nты> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("\nДо встречи!")
                return
            if line in ("/quit", "/exit"):
                self.stdout.write("До встречи!")
                return
            if line.isdigit() and 0 < int(line) <= len(buttons):
                incoming = Incoming(identity, Kind.CALLBACK, callback_data=buttons[int(line) - 1])
            elif line.startswith("/"):
                incoming = Incoming(identity, Kind.COMMAND, text=line, command=line[1:].split()[0].lower())
            else:
                incoming = Incoming(identity, Kind.TEXT, text=line)
            self._show(handle(incoming), buttons)

    def _show(self, messages, buttons: list[str]) -> None:
        buttons.clear()
        for message in messages:
            self.stdout.write(f"\nНаташа: {to_terminal(message.text)}")
            if message.document:
                self.stdout.write(f"  [файл {message.document[0]}, {len(message.document[1])} байт]")
            for row in message.buttons:
                for button in row:
                    if button.callback_data:
                        buttons.append(button.callback_data)
                        self.stdout.write(f"  [{len(buttons)}] {button.text}")
                    elif button.url:
                        self.stdout.write(f"  🔗 {button.text}: {button.url}")
