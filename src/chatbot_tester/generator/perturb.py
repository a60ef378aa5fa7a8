"""Offline, deterministic perturbations of a dataset: robustness variants of every sample.

Each kind rewrites the user's text (the input string, the last user message of a chat
input, every user turn of a conversation) with a ``random.Random`` seeded by the config's
seed, the sample id and the kind, so the same dataset always gives the same variants. A
variant keeps its parent's expectations and assertions, gets the id ``<parent>~<kind>``, the
tag ``perturbation:<kind>`` and ``metadata.origin`` (``step: perturbation``, ``parent_id``,
``perturbation``, ``seed``); parents are tagged ``perturbation:none``, so the report's tag
table sets the pass rate of each perturbation next to the originals'.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator

from chatbot_tester.common.config_generator import Perturbation, PerturbationsConfig
from chatbot_tester.common.schemas import Message, TestSample, Turn

__all__ = ["PERTURBERS", "perturb_samples", "perturb_text"]

_FILLERS = ("um", "uh", "like", "you know", "basically", "actually", "so", "I mean")
_CONFUSABLES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "y": "у"}
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)

Perturber = Callable[[str, random.Random, float], str]


def _picks(rng: random.Random, n: int, rate: float) -> list[int]:
    """At least one, about ``rate`` of ``n`` positions, sorted."""
    if n <= 0:
        return []
    return sorted(rng.sample(range(n), max(1, round(n * rate))))


def _typos(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if sum(ch.isalpha() for ch in w) >= 4]
    for pick in _picks(rng, len(long), rate):
        word = words[long[pick]]
        letters = [i for i, ch in enumerate(word) if ch.isalpha()]
        i = rng.choice(letters[1:-1] or letters)
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap" and i + 1 < len(word) and word[i + 1].isalpha() and word[i] != word[i + 1]:
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif op == "drop":
            word = word[:i] + word[i + 1 :]
        else:
            word = word[: i + 1] + word[i] + word[i + 1 :]
        words[long[pick]] = word
    return " ".join(words)


def _casing(text: str, rng: random.Random, rate: float) -> str:
    for style in rng.sample(("lower", "upper", "swap"), 3):
        out = (
            text.lower()
            if style == "lower"
            else text.upper()
            if style == "upper"
            else text.swapcase()
        )
        if out != text:
            return out
    return text


def _punctuation(text: str, rng: random.Random, rate: float) -> str:
    stripped = " ".join(_PUNCT.sub("", text).split())
    return (
        stripped
        if stripped != text.strip()
        else text.rstrip() + rng.choice(("?!", "??", "!!!", "..."))
    )


def _whitespace(text: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    gaps = [
        rng.choice(("  ", "   ", "\t", " \n "))
        if i in set(_picks(rng, len(words) - 1, rate))
        else " "
        for i in range(len(words) - 1)
    ]
    body = (
        words[0] + "".join(g + w for g, w in zip(gaps, words[1:], strict=True)) if words else text
    )
    return "  " + body + " \n"


def _filler(text: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    for pick in reversed(_picks(rng, len(words), rate)):
        words.insert(pick, rng.choice(_FILLERS) + ",")
    return " ".join(words)


def _word_order(text: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    if len(words) < 2:
        return text
    for pick in _picks(rng, len(words) - 1, rate):
        words[pick], words[pick + 1] = words[pick + 1], words[pick]
    return " ".join(words)


def _confusables(text: str, rng: random.Random, rate: float) -> str:
    spots = [i for i, ch in enumerate(text) if ch in _CONFUSABLES]
    chars = list(text)
    for pick in _picks(rng, len(spots), rate):
        chars[spots[pick]] = _CONFUSABLES[chars[spots[pick]]]
    return "".join(chars)


def _truncation(text: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    if len(words) < 2:
        return text[: max(1, len(text) // 2)]
    keep = max(1, round(len(words) * rng.uniform(0.5, 0.8)))
    return " ".join(words[: min(keep, len(words) - 1)])


PERTURBERS: dict[Perturbation, Perturber] = {
    "typos": _typos,
    "casing": _casing,
    "punctuation": _punctuation,
    "whitespace": _whitespace,
    "filler": _filler,
    "word_order": _word_order,
    "confusables": _confusables,
    "truncation": _truncation,
}
"""Each perturbation's function: ``(text, rng, rate) -> text``."""


def perturb_text(text: str, kind: Perturbation, *, seed: int, key: str, rate: float) -> str:
    """``text`` perturbed by ``kind``, drawn from ``seed`` and ``key`` (the sample id, a turn)."""
    return PERTURBERS[kind](text, random.Random(f"perturb:{seed}:{key}:{kind}"), rate)


def _variant(
    sample: TestSample, kind: Perturbation, config: PerturbationsConfig, new_id: str
) -> TestSample:
    def change(text: str, part: str) -> str:
        return perturb_text(
            text, kind, seed=config.seed, key=f"{sample.id}:{part}", rate=config.rate
        )

    update: dict[str, object] = {"id": new_id}
    if sample.turns is not None:
        update["turns"] = [
            Turn.model_validate({**t.model_dump(), "user": change(t.user, str(i))})
            for i, t in enumerate(sample.turns)
        ]
    elif isinstance(sample.input, str):
        update["input"] = change(sample.input, "input")
    elif sample.input is not None:
        messages = [m.model_copy() for m in sample.input]
        last = (
            max(i for i, m in enumerate(messages) if m.role == "user")
            if any(m.role == "user" for m in messages)
            else None
        )
        if last is not None:
            messages[last] = Message.model_validate(
                {**messages[last].model_dump(), "content": change(messages[last].content, "input")}
            )
        update["input"] = messages
    origin = {
        "step": "perturbation",
        "parent_id": sample.id,
        "perturbation": kind,
        "seed": config.seed,
    }
    metadata = {**sample.metadata, "origin": origin}
    if "origin" in sample.metadata:  # a generated parent: keep where it came from
        metadata["parent_origin"] = sample.metadata["origin"]
    update["metadata"] = metadata
    update["tags"] = [t for t in sample.tags if not t.startswith("perturbation:")] + [
        f"perturbation:{kind}"
    ]
    return sample.model_copy(update=update, deep=True)


def perturb_samples(
    samples: Iterable[TestSample],
    config: PerturbationsConfig,
    extra: dict[str, TestSample] | None = None,
) -> Iterator[TestSample]:
    """Every sample (parents dropped with ``keep_original: false``) followed by its variants.

    ``extra`` maps a parent id to one more variant (its paraphrase), yielded after the others.
    A sample outside ``only_tags`` passes through untouched; a variant id ``<parent>~<kind>``
    that is already taken gets ``-2``, ``-3``... so ids stay unique.
    """
    items = list(samples)
    taken = {s.id for s in items}
    for sample in items:
        if config.only_tags and not set(config.only_tags) & set(sample.tags):
            yield sample
            continue
        if config.keep_original:
            yield sample.model_copy(update={"tags": [*sample.tags, "perturbation:none"]})
        for kind in config.kinds:
            new_id, number = f"{sample.id}~{kind}", 1
            while new_id in taken:
                number += 1
                new_id = f"{sample.id}~{kind}-{number}"
            taken.add(new_id)
            yield _variant(sample, kind, config, new_id)
        if extra and sample.id in extra:  # the LLM paraphrase (``paraphrase_samples``)
            yield extra[sample.id]
