"""What each message template key is for and which ``{placeholders}`` it may use.

Data next to ``bot.defaults``: the admin shows the title and description, the editor checks
placeholders against this table (``{timezon}`` is refused instead of reaching a member as
it is written) and the live preview fills them with the sample values below.

Two placeholders are filled for every template from the current proactivity settings, so
a sentence about limits never contradicts them: ``{window}`` («с 8 до 22») and
``{daily_limit}`` («не чаще двух раз в день»).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The bot fills ``{name}`` where name is a word (``bot.ui.render``); anything else stays literal.
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Placeholder:
    name: str
    title: str
    sample: str
    trusted: bool = False  # staff-written HTML (not escaped), e.g. the helplines


@dataclass(frozen=True)
class TemplateKey:
    key: str
    title: str
    description: str
    placeholders: tuple[str, ...] = ()
    # Several active variants are picked at random (replies, proactive messages).
    variants: bool = False


PLACEHOLDERS = {p.name: p for p in (
    Placeholder("window", "часы, когда Наташа пишет первой (из настроек проактивности)", "с 8 до 22"),
    Placeholder("daily_limit", "сколько раз в день Наташа может написать первой (из настроек)",
                "не чаще двух раз в день"),
    Placeholder("started", "когда началась сессия", "29.11 14:05"),
    Placeholder("messages", "сколько реплик в сессии", "12"),
    Placeholder("stage", "название этапа", "Зов к приключениям"),
    Placeholder("progress", "индикатор пути ✅🔥⚪️", "✅🔥⚪️⚪️⚪️⚪️⚪️⚪️⚪️⚪️⚪️⚪️ 2/12", trusted=True),
    Placeholder("timezone", "часовой пояс участника", "Europe/Moscow"),
    Placeholder("proactive", "включены ли сообщения от Наташи первой", "включены"),
    Placeholder("contacts", "список активных контактов помощи", "• Телефон доверия: <b>8-800-2000-122</b>",
                trusted=True),
    Placeholder("insight", "последний инсайт или прорыв участника (из анализа)",
                "когда я молчу, я предаю себя"),
    Placeholder("next_step", "следующий этап и его первый вопрос", "«Отказ от зова». Что тебя держит?"),
    Placeholder("pattern", "тема, которую участник обходит (из анализа)", "разговоры о деньгах"),
    Placeholder("stream", "название потока", "Путь героя: весна"),
    Placeholder("step", "текст задания потока", "Запиши три момента, когда ты сказал(а) «нет»."),
    Placeholder("description", "описание потока", "Две недели практик про смелость."),
)}

# Filled for every template (``bot.services.natasha.template_html``).
GLOBAL_PLACEHOLDERS = ("window", "daily_limit")

KEYS = {k.key: k for k in (
    TemplateKey("greeting", "Приветствие и просьба о согласии",
                "Первое сообщение после /start: кто такая Наташа, как она работает, и просьба о согласии "
                "(под ним — кнопки «Согласен(на)» и «Нет»)."),
    TemplateKey("consent_given", "Согласие получено", "Ответ на «Согласен(на)»; за ним идёт первый вопрос этапа."),
    TemplateKey("consent_declined", "Отказ от согласия", "Ответ, если участник не согласился."),
    TemplateKey("consent_needed", "Нужно согласие",
                "Участник пишет, не дав согласия: напоминание нажать кнопку под приветствием."),
    TemplateKey("help", "Справка (/help)", "Список команд бота."),
    TemplateKey("reply", "Ответ без ИИ",
                "Ответ на реплику, когда ИИ не подключён или не ответил. Вариантов может быть несколько "
                "(выбирается случайный, не повторяя прошлый); можно писать для конкретного этапа.",
                variants=True),
    TemplateKey("reply_insight", "Ответ без ИИ: вспомнить инсайт",
                "Без ИИ, сразу после первого вопроса этапа: цитата последнего инсайта участника и вопрос о нём.",
                ("insight",), variants=True),
    TemplateKey("non_text", "Не текст", "Участник прислал стикер, фото или голосовое."),
    TemplateKey("edited", "Сообщение отредактировано", "Участник исправил уже отправленное сообщение."),
    TemplateKey("flood", "Слишком быстро", "Участник шлёт много сообщений подряд; отвечаем один раз."),
    TemplateKey("error_apology", "Извинение за сбой", "Что-то сломалось при ответе; слова участника сохранены."),
    TemplateKey("unknown_button", "Устаревшая кнопка", "Нажата кнопка, которая больше не работает."),
    TemplateKey("paused", "Пауза (/pause)", "Наташа не пишет первой, пока участник не вернётся."),
    TemplateKey("resumed", "Продолжение (/resume)", "Возвращение после паузы; дальше — напоминание, "
                                                     "на чём остановились."),
    TemplateKey("session_ended", "Разговор завершён (/end)", "Ответ на команду /end."),
    TemplateKey("session_status", "Моя сессия", "Кнопка «📊 Моя сессия»: когда началась, сколько реплик, этап.",
                ("started", "messages", "stage")),
    TemplateKey("profile_empty", "Профиль ещё пуст", "Кнопка «🌌 Мой профиль», когда профиль ещё не собран."),
    TemplateKey("streams_empty", "Нет потоков", "Кнопка «🔥 Потоки», когда открытых потоков нет."),
    TemplateKey("streams_header", "Заголовок списка потоков", "Первая строка перед карточками потоков."),
    TemplateKey("settings", "Настройки (/settings)",
                "Часовой пояс и сообщения первой; под сообщением — кнопки смены пояса и включения.",
                ("timezone", "proactive")),
    TemplateKey("timezone_set", "Часовой пояс сохранён", "Ответ, когда участник назвал город или смещение.",
                ("timezone",)),
    TemplateKey("timezone_unknown", "Часовой пояс не распознан", "Город или смещение не узнаны."),
    TemplateKey("proactive_off", "Не писать первой", "Участник выключил сообщения первой (/stop или кнопка)."),
    TemplateKey("proactive_on", "Писать первой", "Участник включил сообщения первой."),
    TemplateKey("forget_confirm", "Удалить данные?", "Вопрос перед удалением (/forget), под ним — кнопки."),
    TemplateKey("forget_done", "Данные удалены", "После удаления всех данных участника."),
    TemplateKey("forget_cancelled", "Удаление отменено", "Участник передумал удалять данные."),
    TemplateKey("export_ready", "Выгрузка готова", "Подпись к файлу с данными участника (/export)."),
    TemplateKey("crisis_support", "Кризис: контакты помощи",
                "Первое сообщение, когда в словах участника виден риск: поддержка и телефоны помощи.",
                ("contacts",)),
    TemplateKey("crisis_followup", "Кризис: повторный сигнал",
                "Следующие тревожные сообщения, пока сигнал открыт (контакты уже отправлены)."),
    TemplateKey("crisis_gentle", "Кризис: бережный ответ без ИИ",
                "Ответ в бережном режиме, когда ИИ недоступен; вариантов может быть несколько.", variants=True),
    TemplateKey("crisis_no_tasks", "Кризис: без заданий",
                "Участник в бережном режиме нажал кнопку задания или потока."),
    TemplateKey("stage_changed", "Новый этап", "Поздравление с переходом на новый этап (с индикатором пути).",
                ("stage", "progress")),
    TemplateKey("proactive_inactivity", "Первой: давно не писал(а)",
                "Проактивное сообщение после периода молчания (без ИИ).", variants=True),
    TemplateKey("proactive_stage_completed", "Первой: этап пройден",
                "Проактивное сообщение после завершения этапа (без ИИ).", ("next_step",), variants=True),
    TemplateKey("proactive_avoidance", "Первой: избегание темы",
                "Анализ заметил, что участник обходит тему (без ИИ).", ("pattern",), variants=True),
    TemplateKey("proactive_morning_checkin", "Первой: утренний чек-ин",
                "Утреннее сообщение в окне чек-ина (без ИИ).", variants=True),
    TemplateKey("proactive_stream_step", "Первой: задание потока", "Задание потока на сегодня.",
                ("stream", "step"), variants=True),
    TemplateKey("proactive_stream_invite", "Первой: приглашение на поток",
                "Скоро старт подходящего потока (без ИИ).", ("stream", "description"), variants=True),
)}


def allowed_placeholders(key: str) -> tuple[str, ...]:
    """The placeholders a template of ``key`` may use: its own, then the ones every template has."""
    spec = KEYS.get(key)
    return (spec.placeholders if spec else ()) + GLOBAL_PLACEHOLDERS


def key_title(key: str) -> str:
    spec = KEYS.get(key)
    return spec.title if spec else key


def described() -> dict[str, dict]:
    """The registry as plain data for the editor's page: title, description, allowed placeholders."""
    return {spec.key: {"title": spec.title, "description": spec.description,
                       "placeholders": [{"name": name, "title": PLACEHOLDERS[name].title,
                                         "sample": PLACEHOLDERS[name].sample}
                                        for name in allowed_placeholders(spec.key)]}
            for spec in KEYS.values()}


def check_placeholders(key: str, text: str) -> list[str]:
    """Unknown ``{names}`` in ``text``, as Russian messages naming the allowed ones."""
    allowed = allowed_placeholders(key)
    unknown = sorted({name for name in PLACEHOLDER.findall(text or "") if name not in allowed},
                     key=(text or "").find)
    if not unknown:
        return []
    listed = ", ".join(f"{{{name}}}" for name in allowed)
    return [f"неизвестная подстановка {{{name}}}: в этом шаблоне можно только {listed}" for name in unknown]


def sample_values() -> tuple[dict[str, str], dict[str, str]]:
    """``(values, trusted)`` for a preview: the sample of every placeholder, the limits from the settings."""
    from triggers.wording import limit_phrases

    values = {p.name: p.sample for p in PLACEHOLDERS.values() if not p.trusted} | limit_phrases()
    trusted = {p.name: p.sample for p in PLACEHOLDERS.values() if p.trusted}
    return values, trusted


def render_sample(text: str) -> str:
    """The template as a member would get it, filled with sample values by the bot's own ``render``."""
    from .ui import render

    values, trusted = sample_values()
    return render(text, trusted=trusted, **values)


def check_quick_replies(replies) -> list[str]:
    from .ui import MAX_QUICK_REPLIES, QUICK_REPLY_MAX_CHARS

    if replies in (None, ""):
        return []
    if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
        return ["быстрые ответы — список строк"]
    errors = []
    if len(replies) > MAX_QUICK_REPLIES:
        errors.append(f"не больше {MAX_QUICK_REPLIES} быстрых ответов")
    errors.extend(f"«{r[:20]}…» длиннее {QUICK_REPLY_MAX_CHARS} символов" for r in replies
                  if len(r) > QUICK_REPLY_MAX_CHARS)
    if any(not r.strip() for r in replies):
        errors.append("пустой быстрый ответ")
    return errors


def check_template(*, key: str, text: str, quick_replies=None) -> dict[str, list[str]]:
    """Everything that would break a template for members, by form field (empty when fine).

    Telegram HTML rules come from ``telegram_html.validate`` (the broadcasts' validator);
    placeholders from this registry; the length is checked again once filled with samples.
    """
    from . import telegram_html

    errors: dict[str, list[str]] = {}
    if key not in KEYS:
        errors["key"] = [f"неизвестный ключ «{key}»: выберите ключ из списка"]
    text_errors = telegram_html.validate(text) + check_placeholders(key, text)
    if not text_errors and telegram_html.visible_length(render_sample(text)) > telegram_html.MAX_MESSAGE_CHARS:
        text_errors.append(f"с подставленными значениями длиннее {telegram_html.MAX_MESSAGE_CHARS} символов")
    if text_errors:
        errors["text"] = text_errors
    if reply_errors := check_quick_replies(quick_replies):
        errors["quick_replies"] = reply_errors
    return errors


PROMPT_MAX_CHARS = 4096


def check_prompt(text: str) -> list[str]:
    """A system prompt staff may save: not empty, within the limit (the reply format is added by code)."""
    text = text or ""
    errors = []
    if not text.strip():
        errors.append("пустой промпт")
    if len(text) > PROMPT_MAX_CHARS:
        errors.append(f"длиннее {PROMPT_MAX_CHARS} символов ({len(text)})")
    return errors
