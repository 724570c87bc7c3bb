"""Prompt and output rules, pure and engine-agnostic.

- :mod:`template`: the model's own chat template, rendered in a jinja2 sandbox;
- :mod:`prompt`: what a request renders to and how its output must be read (the plan);
- :mod:`stops`: stop strings found across token and chunk boundaries;
- :mod:`parser`: model text -> reasoning, content and tool-call deltas;
- :mod:`output`: one choice's token bytes -> ChatEvents (decoding, stops, parser).
"""

from qwenchat.chat.output import ChoiceOutput
from qwenchat.chat.parser import OutputParser, Phase
from qwenchat.chat.prompt import PromptPlan, plan_prompt
from qwenchat.chat.stops import StopMatcher
from qwenchat.chat.template import CHATML_TEMPLATE, ChatTemplate

__all__ = [
    "CHATML_TEMPLATE",
    "ChatTemplate",
    "ChoiceOutput",
    "OutputParser",
    "Phase",
    "PromptPlan",
    "StopMatcher",
    "plan_prompt",
]
