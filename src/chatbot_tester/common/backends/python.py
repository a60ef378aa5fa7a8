"""The ``python`` backend: test any Python function (your app's entry point) as a chatbot.

The function is imported once, at creation. What it receives depends on its first parameter:
the ``ChatRequest`` (annotated ``ChatRequest`` or named ``request``), the messages as a list of
dicts (named ``messages``), or else the last user message as a string. It may return a string,
a ``ChatResponse`` or a dict with ``text`` (and optionally ``usage``, ``tool_calls``...), or
yield the answer in text chunks (a sync or async generator): then, with ``runner.stream: true``,
the time to first token is measured at the first non-empty chunk.
Sync functions run in a daemon worker thread so they do not block the event loop; an attempt's
``timeout_s`` abandons a blocked thread (it cannot keep the process alive) and an async
function that ignores cancellation (common/backends/abandon.py).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import Field, ValidationError

from chatbot_tester.common.backends.abandon import await_abandoning, run_in_daemon_thread
from chatbot_tester.common.backends.base import BackendOptions, ChatBackend
from chatbot_tester.common.registry import import_object
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta
from chatbot_tester.common.types import empty_dict
from chatbot_tester.errors import BadResponse, PluginError

__all__ = ["PythonBackend", "PythonOptions"]

Convention = Literal["request", "messages", "prompt"]

_END = object()
"""Sentinel for the end of a sync generator stepped in a worker thread."""


class PythonOptions(BackendOptions):
    """Options of the ``python`` backend."""

    function: str
    """The function to call, as ``package.module:function``."""
    kwargs: dict[str, Any] = Field(default_factory=empty_dict)
    """Extra keyword arguments passed on every call."""
    threaded: bool = True
    """Run a sync function in a worker thread (false: call it on the event loop)."""
    max_threads: int = Field(default=40, ge=1)
    """Most worker threads used at once for a sync function."""
    search_path: Path = Path(".")
    """Directory added to ``sys.path`` before importing (default: the pipeline file's directory)."""


def _convention(func: Callable[..., Any]) -> Convention:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return "prompt"
    if not params:
        return "prompt"
    first = params[0]
    annotation = first.annotation
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if name.rsplit(".", 1)[-1] == "ChatRequest" or first.name == "request":
        return "request"
    if first.name == "messages":
        return "messages"
    return "prompt"


def _is_async(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class PythonBackend(ChatBackend[PythonOptions]):
    """Calls a Python function (sync or async) with the prompt, the messages or the request."""

    Options = PythonOptions
    description = (
        "a Python function 'package.module:function' (sync or async; a generator of text "
        "chunks streams) as the chatbot"
    )
    supports_streaming = True

    def __init__(self, options: PythonOptions) -> None:
        super().__init__(options)
        self._opts = options
        self._func = self._load(options)
        self._convention = _convention(self._func)
        self._async = _is_async(self._func) or inspect.isasyncgenfunction(self._func)
        self._limiter: anyio.CapacityLimiter | None = None

    @staticmethod
    def _load(options: PythonOptions) -> Callable[..., Any]:
        ref = options.function
        if ":" not in ref:
            raise PluginError(
                f"python backend: function {ref!r} must be written as 'package.module:function'"
            )
        folder = str(options.search_path.resolve())
        if folder not in sys.path:
            sys.path.append(folder)
        try:
            func = import_object(ref, what="function")
        except PluginError as exc:
            raise PluginError(f"python backend: cannot load function {ref!r}: {exc}") from None
        except Exception as exc:
            raise PluginError(
                f"python backend: importing {ref!r} failed: {type(exc).__name__}: {exc}"
            ) from None
        if not callable(func):
            raise PluginError(f"python backend: {ref!r} is not callable")
        return func

    def _argument(self, request: ChatRequest) -> Any:
        if self._convention == "request":
            return request
        if self._convention == "messages":
            return [m.model_dump(exclude_none=True) for m in request.messages]
        for message in reversed(request.messages):
            if message.role == "user":
                return message.content
        return ""

    async def _call(self, request: ChatRequest) -> Any:
        """Call the function (on the loop or in a worker thread) and await what it returns."""
        call = partial(self._func, self._argument(request), **self._opts.kwargs)
        if self._async:
            result = call()
            if inspect.isawaitable(result):
                result = await await_abandoning(result)
        elif self._opts.threaded:
            result = await self._in_thread(call)
        else:
            result = call()
        if inspect.isawaitable(result):
            result = await await_abandoning(result)
        return result

    async def _in_thread(self, call: Callable[[], Any]) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._opts.max_threads)
        async with self._limiter:
            return await run_in_daemon_thread(call)

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Call the function and normalise what it returns (generated chunks are joined)."""
        result = await self._call(request)
        if inspect.isgenerator(result) or inspect.isasyncgen(result):
            async with aclosing(self._chunks(result)) as chunks:
                parts = [chunk async for chunk in chunks]
            return ChatResponse(text="".join(parts), session_id=request.session_id)
        return self._response(result, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """The chunks of a generator function as they come, then the joined answer."""
        result = await self._call(request)
        if not (inspect.isgenerator(result) or inspect.isasyncgen(result)):
            yield self._response(result, request)
            return
        parts: list[str] = []
        async with aclosing(self._chunks(result)) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
                yield TextDelta(text=chunk)
        yield ChatResponse(
            text="".join(parts), session_id=request.session_id, raw={"streamed_chunks": len(parts)}
        )

    async def _chunks(self, gen: Any) -> AsyncGenerator[str, None]:
        """Non-empty text chunks of a sync (stepped in a worker thread) or async generator."""
        try:
            if inspect.isasyncgen(gen):
                while True:
                    try:
                        item = await await_abandoning(gen.__anext__())
                    except StopAsyncIteration:
                        return
                    if text := self._chunk(item):
                        yield text
            else:
                step = partial(next, gen, _END) if self._opts.threaded else None
                while True:
                    item = await self._in_thread(step) if step is not None else next(gen, _END)
                    if item is _END:
                        return
                    if text := self._chunk(item):
                        yield text
        finally:
            await self._close(gen)

    def _chunk(self, item: object) -> str:
        """``item`` as a text chunk; ``BadResponse`` for anything but a string."""
        if not isinstance(item, str):
            raise BadResponse(
                f"python function {self._opts.function!r} yielded {type(item).__name__}; "
                "a generator must yield text chunks (str)",
                retryable=False,
            )
        return item

    async def _close(self, gen: Any) -> None:
        """Close an unfinished generator (its ``finally`` blocks run; errors are not ours)."""
        try:
            if inspect.isasyncgen(gen):
                await gen.aclose()
            elif isinstance(gen, Iterator) and hasattr(gen, "close"):
                gen.close()
        except Exception:  # the answer (or the original error) matters more
            return

    def streams(self) -> bool:
        """True for a generator function (it yields text chunks as it produces them)."""
        func = self._func
        return inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)

    def _response(self, result: Any, request: ChatRequest) -> ChatResponse:
        ref = self._opts.function
        if isinstance(result, str):
            return ChatResponse(text=result, session_id=request.session_id)
        if isinstance(result, ChatResponse):
            if result.session_id is None and request.session_id is not None:
                return result.model_copy(update={"session_id": request.session_id})
            return result
        if isinstance(result, dict):
            try:
                response = ChatResponse.model_validate(result)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"]) or "value"
                raise BadResponse(
                    f"python function {ref!r} returned a dict with a bad '{where}': {err['msg']} "
                    "(return a str, a ChatResponse or {'text': ...})",
                    retryable=False,
                ) from None
            if response.session_id is None:
                response.session_id = request.session_id
            return response
        raise BadResponse(
            f"python function {ref!r} returned {type(result).__name__}; "
            "return a str, a ChatResponse or a dict with 'text'",
            retryable=False,
        )
