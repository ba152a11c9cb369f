"""Stream recommendations: a deterministic, explainable score per open stream.

score = stage fit + topic overlap + profile pick + start proximity, each part kept in the
breakdown (``StreamScore.parts``) with Russian reasons for staff. The same inputs always give
the same ranking: ties break on the start date (sooner first, undated last), then on id.
The LLM is optional here: it only contributes through the profile it wrote
(interests/pains/goals and ``recommended_streams``), which rotation has already validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone

from profiles import selectors as profiles
from profiles.models import TelegramUser
from relove.core.precompiled import Precompiled
from relove.core.process_cache import ProcessCached

from .models import JourneyStage, Stream, StreamEnrollment

MAX_RECOMMENDATIONS = 2
STAGE_EXACT = 3.0  # the stream lists the member's stage
STAGE_NEAR = 1.0  # ... lists a neighbouring stage
STAGE_ANY = 0.5  # ... lists no stages: open to everyone
TOPIC_WEIGHT = 1.0  # per stream tag that matches the profile's interests/pains/goals
TOPIC_CAP = 3.0
PROFILE_PICK = 1.0  # the profile names this stream among recommended_streams
SOON_DAYS = 30  # proximity falls linearly from 1.0 today to 0 at 30 days
UNDATED = 0.2  # an evergreen stream without a start date
PROFILE_TERMS = ("interests", "pains", "goals")


@dataclass
class StreamScore:
    stream: Stream
    parts: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    # Reasons quoting the member's profile (its topics, the streams it names): personal data.
    profile_reasons: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(self.parts.values()), 2)

    def as_dict(self, *, with_profile: bool = True) -> dict:
        """The breakdown; without ``with_profile`` the reasons quoting the profile are left out."""
        reasons = [r for r in self.reasons if with_profile or r not in self.profile_reasons]
        return {"stream": self.stream.pk, "title": self.stream.title, "total": self.total,
                "parts": dict(self.parts), "reasons": reasons}


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w]+", text.casefold().replace("ё", "е")) if w]


def _word_match(a: str, b: str) -> bool:
    """Same word, or one is a short inflection of the other (страх/страха, отношения/отношениях)."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short) and len(long_) - len(short) <= 3


def topic_match(tag: str, term: str) -> bool:
    """Every word of the shorter phrase appears (up to inflection) in the other."""
    tag_words, term_words = _words(tag), _words(term)
    if not tag_words or not term_words:
        return False
    small, big = sorted((tag_words, term_words), key=len)
    return all(any(_word_match(w, v) for v in big) for w in small)


def _stage_part(stream: Stream, stage: int) -> tuple[float, str]:
    orders = {s.order for s in stream.suitable_stages.all()}
    if not orders:
        return STAGE_ANY, "подходит на любом этапе"
    if stage in orders:
        return STAGE_EXACT, f"подходит этапу {stage}"
    if stage - 1 in orders or stage + 1 in orders:
        return STAGE_NEAR, "подходит соседнему этапу"
    return 0.0, "этап не совпадает"


def _topic_part(stream: Stream, terms: list[str]) -> tuple[float, str]:
    matched = [tag for tag in stream.tags or [] if isinstance(tag, str) and any(topic_match(tag, t) for t in terms)]
    if not matched:
        return 0.0, ""
    return min(TOPIC_CAP, TOPIC_WEIGHT * len(matched)), "темы профиля: " + ", ".join(matched)


def _pick_part(stream: Stream, picks: list[str]) -> tuple[float, str]:
    names = {stream.title.casefold(), stream.slug.casefold()}
    if any(p.casefold() in names or topic_match(stream.title, p) for p in picks):
        return PROFILE_PICK, "назван в профиле"
    return 0.0, ""


def _start_part(stream: Stream, today: date) -> tuple[float, str]:
    if stream.starts_at is None:
        return UNDATED, "без даты старта"
    days = (stream.starts_at - today).days
    return round(max(0.0, 1.0 - days / SOON_DAYS), 2), f"старт через {days} дн."


def score_stream(stream: Stream, *, stage: int, terms: list[str], picks: list[str], today: date) -> StreamScore:
    """The score of one stream for one member's stage and profile; pure (no queries but prefetched ones)."""
    score = StreamScore(stream=stream)
    for name, (value, reason) in (("stage", _stage_part(stream, stage)), ("topics", _topic_part(stream, terms)),
                                  ("profile", _pick_part(stream, picks)), ("start", _start_part(stream, today))):
        score.parts[name] = value
        if reason:
            score.reasons.append(reason)
            if name in ("topics", "profile"):
                score.profile_reasons.append(reason)
    return score


def _sort_key(score: StreamScore):
    starts = score.stream.starts_at or date.max
    return (-score.total, starts, score.stream.pk)


def _load_open_streams() -> list[Stream]:
    return list(Stream.objects.filter(is_active=True).prefetch_related("suitable_stages").order_by("pk"))


# The catalogue is read on every conversational turn and edited rarely: kept per process,
# refreshed when a stream, its stages or a stage is saved (``relove.core.process_cache``).
OPEN_STREAMS = ProcessCached("open-streams", _load_open_streams, Stream, JourneyStage,
                             m2m=[Stream.suitable_stages.through])


# Read on every conversational turn with an open stream: compiled once per process.
ENROLLED = Precompiled(lambda user_id: StreamEnrollment.objects.filter(user_id=user_id).values_list("stream_id"),
                       user_id=int)


def stream_scores(*, user: TelegramUser, today: date | None = None,
                  profile_data: dict | None = None) -> list[StreamScore]:
    """Every open stream the member is not enrolled in, scored and ranked (best first).

    ``profile_data``: the member's latest profile data if the caller has it (``{}`` for none);
    otherwise it is read here. No query at all when no stream is open.
    """
    today = today or timezone.localdate()
    streams = [s for s in OPEN_STREAMS.get() if s.starts_at is None or s.starts_at >= today]
    if not streams:
        return []
    if profile_data is None:
        profile_data = profiles.profile_data(profiles.profile_latest(user=user))
    terms = [t for key in PROFILE_TERMS for t in profile_data.get(key, []) if isinstance(t, str)]
    picks = [t for t in profile_data.get("recommended_streams", []) if isinstance(t, str)]
    enrolled = {stream_id for (stream_id,) in ENROLLED.rows(user_id=user.pk)}
    stage = user.journey_stage or 1
    scores = [score_stream(s, stage=stage, terms=terms, picks=picks, today=today)
              for s in streams if s.pk not in enrolled]
    return sorted(scores, key=_sort_key)


def stream_recommendations(*, user: TelegramUser, limit: int = MAX_RECOMMENDATIONS,
                           today: date | None = None) -> list[StreamScore]:
    """The top streams for the member, at most two, with their score breakdown."""
    return stream_scores(user=user, today=today)[:max(0, min(limit, MAX_RECOMMENDATIONS))]
