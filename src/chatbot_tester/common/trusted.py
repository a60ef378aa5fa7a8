"""Model instances built from values that already have the types validation would give.

Validating a ``Score`` or a ``Message`` costs a few microseconds, paid once per score on the
scoring path. When every value is already exactly what validation would produce (checked by
the caller: a ``str`` that is a ``str``, a float that is a ``float``...), ``trusted`` builds
the very same instance without validating: same field values in field order, same
``model_fields_set``, hence the same ``==``, dumps and JSON bytes
(``tests/evaluator/test_live_scoring.py`` compares them). Input from outside (files, users,
plugins returning odd types) still goes through validation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from chatbot_tester.common.schemas import Message

__all__ = ["message", "trusted"]

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any], given: Iterable[str]) -> M:
    """An instance of ``cls`` holding ``values`` (every field, in field order), unvalidated.

    ``given`` is what ``model_fields_set`` would be: the fields passed to the constructor.
    ``cls`` must have no validators that change values, no extra fields and no private
    attributes.
    """
    instance = _new(cls)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(given))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


_MESSAGE_GIVEN = frozenset(("role", "content"))


def message(role: str, content: str) -> Message:
    """``Message(role=role, content=content)`` for a known role and a ``str`` content."""
    if type(content) is not str or role not in ("system", "user", "assistant", "tool"):
        return Message.model_validate({"role": role, "content": content})
    return trusted(
        Message,
        {"role": role, "content": content, "name": None, "tool_call_id": None, "tool_calls": None},
        _MESSAGE_GIVEN,
    )
