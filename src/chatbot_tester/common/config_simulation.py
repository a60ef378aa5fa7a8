"""Configuration of the simulated user (``runner.simulated_user``) that plays ``scenario`` samples."""

from __future__ import annotations

from pydantic import Field

from chatbot_tester.common.config_base import BackendSpec, Float, Int

__all__ = ["DEFAULT_USER_PROMPT", "SimulatedUserConfig"]

DEFAULT_USER_PROMPT = (
    "You are playing a user who chats with an assistant. Stay in character and write only the "
    "user's next message, nothing else.\n"
    "Who you are: {persona}\n"
    "Your goal: {goal}\n"
    "What you know (share it when it is asked for or needed):\n{facts}\n"
    "When your goal has been met, reply with exactly: {goal_token}\n"
    "If the assistant clearly cannot help you, reply with exactly: {give_up_token}"
)
"""System prompt of the simulated user; ``{persona}``, ``{goal}``, ``{facts}`` and the tokens are filled in."""


class SimulatedUserConfig(BackendSpec):
    """The backend that plays the user of ``scenario`` samples (any registered backend)."""

    system_prompt: str = DEFAULT_USER_PROMPT
    """The simulated user's instructions (placeholders: persona, goal, facts, goal_token, give_up_token)."""
    goal_token: str = Field(default="[GOAL MET]", min_length=1)
    """What the simulated user says when its goal is met (ends the conversation: ``goal``)."""
    give_up_token: str = Field(default="[GIVE UP]", min_length=1)
    """What the simulated user says when it gives up (ends the conversation: ``gave_up``)."""
    timeout_s: Float = Field(default=60.0, gt=0)
    """Hard wall-clock limit per simulated-user call."""
    retries: Int = Field(default=3, ge=0, le=20)
    """Retries per simulated-user call after a timeout, rate limit or server error."""
