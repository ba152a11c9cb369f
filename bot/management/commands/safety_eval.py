"""Print recall and false-positive rate of the offline detector and the combined gate."""

from django.conf import settings
from django.core.management.base import BaseCommand

from bot.safety import evaluation


class Command(BaseCommand):
    help = ("Recall and false-positive rate on the evaluation sets: the offline detector, and the "
            "combined gate against the fake LLM on loopback (the LLM agreeing, always saying none, down).")

    def add_arguments(self, parser):
        parser.add_argument("--set", choices=sorted(evaluation.SETS), action="append",
                            help="evaluation set(s); default: all present")
        parser.add_argument("--no-gate", action="store_true", help="offline detector only")
        parser.add_argument("--show-errors", action="store_true", help="print the misses and false alarms")

    def handle(self, *args, **options):
        for name in options["set"] or sorted(evaluation.SETS):
            rows = evaluation.load(name)
            if not rows:
                self.stdout.write(f"{name}: no file")
                continue
            score = evaluation.score_offline(rows)
            self.stdout.write(f"{name} ({len(rows)} messages) offline detector: {score.line()}")
            if options["show_errors"]:
                for row in score.misses:
                    self.stdout.write(f"  miss [{row['category']}] {row['text']}")
                for row in score.alarms:
                    self.stdout.write(f"  false alarm [{row['category']}] {row['text']}")
            if not options["no_gate"]:
                try:
                    import testkit.fake_llm  # noqa: F401 — test-only package, absent from the image
                except ImportError:
                    self.stdout.write("combined gate: skipped (the fake LLM lives in testkit/, not installed here)")
                    continue
                for mode, line in gate_scores(rows):
                    self.stdout.write(f"{name} combined gate, fake LLM {mode}: {line}")


def gate_scores(rows):
    """The combined gate with the fake OpenAI-compatible server answering in three ways."""
    from testkit.fake_llm import FakeLLM

    labels = {row["text"]: row["label"] for row in rows}

    def agreeing(body):
        text = body["messages"][-1]["content"].split("\n", 1)[1].rsplit("\n", 1)[0]
        return {"risk": "crisis" if labels.get(text) == "crisis" else "none", "reply": "ок", "quick_replies": []}

    modes = [("agreeing with the labels", agreeing),
             ("always answering none", lambda body: {"risk": "none", "reply": "ок", "quick_replies": []}),
             ("down (HTTP 500)", lambda body: 500)]
    names = ("LLM_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "LLM_TOTAL_BUDGET", "LLM_MAX_ATTEMPTS")
    saved = {name: getattr(settings, name) for name in names}
    with FakeLLM() as fake:
        # One attempt: "down" means down here, the retry policy is tested elsewhere.
        for name, value in zip(names, ("openai", "eval", fake.base_url, 2.0, 1), strict=True):
            setattr(settings, name, value)
        try:
            for mode, responder in modes:
                fake.reset()
                fake.responder = responder
                settings.LLM_TOTAL_BUDGET = 0.05 if mode.startswith("down") else 2.0  # no backoff pauses
                yield mode, evaluation.score_gate(rows).line()
        finally:
            for name, value in saved.items():
                setattr(settings, name, value)
