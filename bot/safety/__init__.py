"""Crisis detection: an offline detector that always runs, and the gate that combines it with
the LLM's risk judgement. The crisis workflow (alerts, flags, staff) is in
``bot.services.safety``."""
