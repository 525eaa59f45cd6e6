"""Rasa NLU components of this assistant (named in config.yml's pipeline)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_plugins.intent_guard import LEAVING_INTENTS, corrected_intent, leaves


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class IntentGuard(GraphComponent):
    """Replaces an intent the message's words do not bear out (bot/rasa_plugins/intent_guard.py),
    keeping the classifier's confidence, or, for a message that opens by leaving, with
    certainty (a no or a goodbye keeps its name); the ranking keeps the classifier's order."""

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            text = message.get(TEXT) or ""
            confidence = intent.get(PREDICTED_CONFIDENCE_KEY)
            if leaves(text):
                # Certain, so the fallback threshold cannot turn a leave into "unsure"
                # ("never mind, I'll call instead" reads as a no at 0.48).
                name = intent.get(INTENT_NAME_KEY)
                name, confidence = (name if name in LEAVING_INTENTS else "cancel"), 1.0
            else:
                name = corrected_intent(text, intent.get(INTENT_NAME_KEY))
            if name is None:
                continue
            chosen = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
            message.set(INTENT, {**intent, **chosen}, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            if ranking:
                rest = [r for r in ranking[1:] if r.get(INTENT_NAME_KEY) != name]
                message.set(INTENT_RANKING_KEY, [{**ranking[0], **chosen}, *rest], add_to_output=True)
        return messages
