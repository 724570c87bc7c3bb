"""Prompt and output rules, pure and engine-agnostic.

- :mod:`template`: the model's own chat template, rendered in a jinja2 sandbox;
- :mod:`prompt`: which messages and template switches a request renders to (partial mode);
- :mod:`stops`: stop strings found across token and chunk boundaries;
- :mod:`output`: one choice's token bytes -> ChatEvents.
"""

from qwenchat.chat.output import ChoiceOutput
from qwenchat.chat.prompt import render_prompt
from qwenchat.chat.stops import StopMatcher
from qwenchat.chat.template import CHATML_TEMPLATE, ChatTemplate

__all__ = ["CHATML_TEMPLATE", "ChatTemplate", "ChoiceOutput", "StopMatcher", "render_prompt"]
