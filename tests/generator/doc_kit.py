"""Five markdown documents and a scripted question writer that serves them deterministically.

Every document is one chunk (the default 200-token chunks are larger than each). With
``mix: {factual: 1}`` and ``count: 5`` the plan's seeded walk gives each document exactly one
slot, so the scripted replies below decide the outcome: ``warranty.md`` gets an answer that
is not in the document (must be dropped as ungrounded) and ``stores.md`` a question that is
a near-duplicate of the ``returns.md`` one (must be dropped as a duplicate).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DOCS = {
    "returns.md": (
        "# Returns\n\nReturns are accepted within 30 days of delivery. Items must be unused "
        "and in their original packaging. Refunds go to the original payment method within "
        "5 business days."
    ),
    "shipping.md": (
        "# Shipping\n\nStandard shipping takes 3 to 5 business days. Express shipping takes "
        "1 business day and costs 15 dollars. Orders over 50 dollars ship free."
    ),
    "warranty.md": (
        "# Warranty\n\nAll tents carry a two year warranty against manufacturing defects. "
        "The warranty does not cover wear from normal use."
    ),
    "membership.md": (
        "# Membership\n\nMembers earn one point per dollar spent. One hundred points can be "
        "redeemed for a 5 dollar voucher."
    ),
    "stores.md": (
        "# Stores\n\nThe Denver flagship store opens at 9 am and closes at 8 pm. The Boulder "
        "store closes at 6 pm."
    ),
}

RETURNS_Q = "How long do I have to return an item?"
NEAR_DUP_Q = "How long do I have to return the item?"
UNGROUNDED_A = "Lifetime coverage including accidental fire damage and theft."

FACTUAL = {
    "returns.md": (RETURNS_Q, "Returns are accepted within 30 days of delivery."),
    "shipping.md": (
        "How long does standard shipping take?",
        "Standard shipping takes 3 to 5 business days.",
    ),
    "warranty.md": ("What does the tent warranty cover?", UNGROUNDED_A),
    "membership.md": (
        "How many points do members earn?",
        "Members earn one point per dollar spent.",
    ),
    "stores.md": (NEAR_DUP_Q, "The Boulder store closes at 6 pm."),
}


def write_docs(folder: Path) -> Path:
    """The five documents under ``folder/docs``."""
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs


def _reply(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def writer_rules() -> list[dict[str, Any]]:
    """Scripted rules: per question type and first passage's document, one fixed reply."""
    rules: list[dict[str, Any]] = []
    for name, (question, answer) in FACTUAL.items():
        rules.append(
            {
                "match": rf"Question type: factual\.[\s\S]*Passage 1 \([^)]*{name}\)",
                "reply": _reply({"question": question, "answer": answer}),
            }
        )
    for name, text in DOCS.items():
        first = text.split("\n\n", 1)[1].split(". ")[0].rstrip(".") + "."
        topic = name.removesuffix(".md")
        replies = {
            "multi_hop": {"question": f"Across {topic} and more, what applies?", "answer": first},
            "comparison": {"question": f"How does {topic} compare?", "answer": first},
            "conditional": {"question": f"If I ask about {topic}, what then?", "answer": first},
            "unanswerable": {"question": f"What is the {topic} phone number for Mars?"},
            "conversational": {
                "turns": [
                    {"question": f"Tell me about {topic}.", "answer": first},
                    {"question": "And is that always so?", "answer": first},
                ]
            },
        }
        for qtype, reply in replies.items():
            rules.append(
                {
                    "match": rf"Question type: {qtype}\.[\s\S]*Passage 1 \([^)]*{name}\)",
                    "reply": _reply(reply),
                }
            )
    return rules


def documents_config(**overrides: Any) -> dict[str, Any]:
    """A ``generator.documents`` mapping served by the scripted writer."""
    values: dict[str, Any] = {
        "backend": "scripted",
        "options": {"rules": writer_rules(), "default": "no JSON"},
        "files": ["docs/*.md"],
        "mix": {"factual": 1},
        "count": 5,
        "seed": 7,
    }
    values.update(overrides)
    return values
