"""Understanding a member's answer to "where are you?": a city, an offset or an IANA name."""

from __future__ import annotations

import re
import zoneinfo

CITY_ZONES = {
    "москва": "Europe/Moscow", "мск": "Europe/Moscow", "санкт-петербург": "Europe/Moscow",
    "петербург": "Europe/Moscow", "питер": "Europe/Moscow", "спб": "Europe/Moscow",
    "казань": "Europe/Moscow", "нижний новгород": "Europe/Moscow", "воронеж": "Europe/Moscow",
    "ростов-на-дону": "Europe/Moscow", "ростов": "Europe/Moscow", "краснодар": "Europe/Moscow",
    "сочи": "Europe/Moscow", "ярославль": "Europe/Moscow", "тула": "Europe/Moscow",
    "минск": "Europe/Minsk", "калининград": "Europe/Kaliningrad", "волгоград": "Europe/Volgograd",
    "самара": "Europe/Samara", "ижевск": "Europe/Samara", "саратов": "Europe/Saratov",
    "ульяновск": "Europe/Ulyanovsk", "астрахань": "Europe/Astrakhan",
    "екатеринбург": "Asia/Yekaterinburg", "челябинск": "Asia/Yekaterinburg", "пермь": "Asia/Yekaterinburg",
    "уфа": "Asia/Yekaterinburg", "тюмень": "Asia/Yekaterinburg", "оренбург": "Asia/Yekaterinburg",
    "омск": "Asia/Omsk", "новосибирск": "Asia/Novosibirsk", "барнаул": "Asia/Barnaul",
    "томск": "Asia/Tomsk", "кемерово": "Asia/Novokuznetsk", "новокузнецк": "Asia/Novokuznetsk",
    "красноярск": "Asia/Krasnoyarsk", "иркутск": "Asia/Irkutsk", "улан-удэ": "Asia/Irkutsk",
    "чита": "Asia/Chita", "якутск": "Asia/Yakutsk", "владивосток": "Asia/Vladivostok",
    "хабаровск": "Asia/Vladivostok", "южно-сахалинск": "Asia/Sakhalin", "магадан": "Asia/Magadan",
    "петропавловск-камчатский": "Asia/Kamchatka", "камчатка": "Asia/Kamchatka", "анадырь": "Asia/Anadyr",
    "киев": "Europe/Kyiv", "киів": "Europe/Kyiv", "алматы": "Asia/Almaty", "астана": "Asia/Almaty",
    "ташкент": "Asia/Tashkent", "бишкек": "Asia/Bishkek", "тбилиси": "Asia/Tbilisi", "ереван": "Asia/Yerevan",
    "баку": "Asia/Baku", "рига": "Europe/Riga", "вильнюс": "Europe/Vilnius", "таллин": "Europe/Tallinn",
    "берлин": "Europe/Berlin", "прага": "Europe/Prague", "варшава": "Europe/Warsaw", "париж": "Europe/Paris",
    "лондон": "Europe/London", "лиссабон": "Europe/Lisbon", "мадрид": "Europe/Madrid", "рим": "Europe/Rome",
    "белград": "Europe/Belgrade", "стамбул": "Europe/Istanbul", "тель-авив": "Asia/Jerusalem",
    "дубай": "Asia/Dubai", "бали": "Asia/Makassar", "бангкок": "Asia/Bangkok", "пхукет": "Asia/Bangkok",
    "нью-йорк": "America/New_York", "лос-анджелес": "America/Los_Angeles",
}

_OFFSET = re.compile(r"^(?:utc|gmt|мск)?\s*([+-−])\s*(\d{1,2})(?::?(00|30|45))?$")


def parse_timezone(text: str) -> str | None:
    """An IANA zone name for what the member typed, or None when it is not understood.

    Offsets like "UTC+7" become fixed ``Etc/GMT-7`` zones (POSIX signs are inverted there);
    "МСК+4" counts from Moscow (UTC+3).
    """
    raw = " ".join(text.strip().split())
    if not raw:
        return None
    if raw in zoneinfo.available_timezones():
        return raw
    lowered = raw.lower().replace("ё", "е").removeprefix("г. ").removeprefix("город ").strip(" .")
    if lowered in CITY_ZONES:
        return CITY_ZONES[lowered]
    compact = lowered.replace(" ", "")
    match = _OFFSET.match(compact)
    if match:
        hours = (-1 if match.group(1) in "-−" else 1) * int(match.group(2))
        if compact.startswith("мск"):
            hours += 3
        if match.group(3) not in (None, "00") or abs(hours) > 14:
            return None  # Etc/ zones are whole hours only
        if hours == 0:
            return "Etc/UTC"
        return f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"
    for name in zoneinfo.available_timezones():
        if name.lower() == lowered or name.split("/")[-1].lower().replace("_", " ") == lowered:
            return name
    return None
