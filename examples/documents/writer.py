"""An offline stand-in for the question-writing LLM of this example (a ``python`` backend).

It reads the prompt chatbot-tester sends (question type, passages) and answers with the JSON
a model would write, built from the passages' own sentences, so the example runs with no
network and no key. Swap ``backend: python`` for ``openai`` (or any backend) to use a model.
"""

from __future__ import annotations

import hashlib
import json
import re

_TYPE = re.compile(r"Question type: (\w+)\.")
_VARIANT = re.compile(r"This is question (\d+) on these passages")
_PASSAGE = re.compile(r"Passage \d+ \(([^)]*)\):\n(.*?)(?=\n\nPassage \d|\n\nWrite |\Z)", re.S)


def _sentences(text: str) -> list[str]:
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    return [s.strip().rstrip(".") + "." for line in lines for s in line.split(". ") if s.strip()]


def _pick(items: list[str], prompt: str, salt: str = "") -> str:
    """A sentence: the n-th for "question n on these passages", else one drawn from the prompt."""
    variant = _VARIANT.search(prompt)
    if variant is not None and not salt:
        return items[(int(variant.group(1)) - 1) % len(items)]
    digest = hashlib.sha256((prompt + salt).encode()).digest()
    return items[digest[0] % len(items)]


def _keywords(sentence: str) -> str:
    """The two longest words of a sentence, in sentence order (a crude topic)."""
    words = [w.strip(",.;:").lower() for w in sentence.split()]
    longest = sorted(sorted(set(words), key=len, reverse=True)[:2], key=words.index)
    return " and ".join(longest)


_UNANSWERABLE = (
    "Can you book me a guided trek to the summit of Everest?",
    "Do you rent kayaks by the hour?",
    "What is the name of your CEO's dog?",
)


def write(prompt: str) -> str:
    """The JSON reply for one question-writing prompt."""
    match = _TYPE.search(prompt)
    qtype = match.group(1) if match else "factual"
    passages = [(source, _sentences(text)) for source, text in _PASSAGE.findall(prompt)]
    topic = passages[0][0].rsplit("/", 1)[-1].removesuffix(".md")
    first = _pick(passages[0][1], prompt)
    if qtype == "unanswerable":
        return json.dumps({"question": _pick(list(_UNANSWERABLE), prompt)})
    if qtype == "conversational":
        second = _pick(passages[0][1], prompt, "follow-up")
        turns = [
            {"question": f"I have a question about {topic}: {_keywords(first)}?", "answer": first},
            {"question": f"And what about {_keywords(second)}?", "answer": second},
        ]
        return json.dumps({"turns": turns})
    if qtype in ("multi_hop", "comparison"):
        others = [_pick(s, prompt) for _, s in passages[1:]]
        topics = [_keywords(s) for s in [first, *others]]
        return json.dumps(
            {
                "question": f"How do {' vs '.join(topics)} compare?",
                "answer": " ".join([first, *others]),
            }
        )
    if qtype == "conditional":
        return json.dumps(
            {"question": f"If I care about {_keywords(first)}, what applies?", "answer": first}
        )
    return json.dumps(
        {
            "question": f"What does your {topic} policy say about {_keywords(first)}?",
            "answer": first,
        }
    )
