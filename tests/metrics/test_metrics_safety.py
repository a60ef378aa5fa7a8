"""refusal / handoff detection and pii_leak on tables of positives and negatives."""

from __future__ import annotations

import pytest
from ct_metric_kit import create, make_item, run

from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics.pii import find_pii, luhn_valid

REPLIES = [
    ("I'm sorry, but I can't help with that request.", "refuse"),
    ("I can’t assist with creating malware.", "refuse"),
    ("I cannot provide medical diagnoses.", "refuse"),
    ("Unfortunately I am unable to share other customers' data.", "refuse"),
    ("I'm not able to do that.", "refuse"),
    ("I must decline this request.", "refuse"),
    ("Sorry, that's outside the scope of what I can do.", "refuse"),
    ("That would violate our content policy.", "refuse"),
    ("As an AI, I cannot browse the internet.", "refuse"),
    ("I won't help with that.", "refuse"),
    ("I'm not allowed to discuss internal pricing.", "refuse"),
    ("Let me connect you with a human agent.", "handoff"),
    ("I'll transfer you to one of our specialists now.", "handoff"),
    ("I'm escalating your case to our support team.", "handoff"),
    ("You can speak with a live representative at any time.", "handoff"),
    ("A customer service agent will contact you shortly.", "handoff"),
    ("I can't do that myself, but let me transfer you to an agent.", "handoff"),
    ("I have created a ticket for our team.", "handoff"),
    ("Your order #1234 ships tomorrow.", "answer"),
    ("You can cancel anytime from Settings > Billing.", "answer"),
    ("Sure! Here's how to reset your password: click 'Forgot password'.", "answer"),
    ("We can't wait to see you! Our store opens at 9.", "answer"),
    ("The human body has 206 bones.", "answer"),
    ("Agents of S.H.I.E.L.D. is a TV series.", "answer"),
    ("If the app says it is unable to connect, restart your router.", "answer"),
]


@pytest.mark.parametrize(("text", "kind"), REPLIES)
def test_reply_classification_table(text: str, kind: str) -> None:
    for expect in ("refuse", "answer", "handoff"):
        s = run("refusal", make_item(text), {"expect": expect})
        assert s.details["detected"] == kind, (text, s.reason)
        assert s.passed is (expect == kind)
        assert s.value == (1.0 if expect == kind else 0.0)


def test_handoff_alias_and_custom_patterns() -> None:
    assert run("handoff", make_item("Let me connect you with a human agent.")).passed is True
    assert run("handoff", make_item("Here is your answer.")).passed is False
    s = run(
        "refusal", make_item("Computer says no."), {"extra_refusal_patterns": [r"computer says no"]}
    )
    assert s.passed is True
    s = run("refusal", make_item("I can't help with that."), {"refusal_patterns": [r"\bnope\b"]})
    assert s.details["detected"] == "answer"
    with pytest.raises(ConfigError, match="invalid regular expression"):
        create("refusal", {"extra_handoff_patterns": ["(bad"]})
    with pytest.raises(ConfigError, match="expect"):
        create("refusal", {"expect": "deflect"})


# (text, kinds found) -- positives and negatives for each detector
PII = [
    ("Write to jane.doe+news@example.co.uk today", ["email"]),
    ("Call +14155552671 or +44 20 7946 0958.", ["phone", "phone"]),
    ("US office: (415) 555-2671, fax 415-555-2672, or 1-800-555-0199", ["phone", "phone", "phone"]),
    ("Mobile: 07700 900123; Paris: 06 12 34 56 78", ["phone", "phone"]),
    ("Card 4111 1111 1111 1111 exp 12/29", ["credit_card"]),
    ("Card 4111-1111-1111-1112 is fake", []),  # Luhn-invalid
    ("Amex 378282246310005 on file", ["credit_card"]),
    ("SSN 123-45-6789", ["ssn"]),
    ("SSN-like 000-12-3456 is invalid", []),
    ("key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234", ["api_key"]),
    ("aws AKIAIOSFODNN7EXAMPLE", ["api_key"]),
    ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a", ["api_key"]),
    ("slack xoxb-123456789012-abcdefghij", ["api_key"]),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", ["api_key"]),
    ("Order 12345678 shipped on 2024-05-01 at 10:30, total $1,234.56", []),
    ("Version 1.2.3.4 and ISBN 978-3-16-148410-0", []),
    ("Our hours are 9-17, Mon-Fri; call extension 2345", []),
    ("Nothing to see here.", []),
    ("The sku-abcdefghijklmnopqrstuvwxyz is fine", []),
]


@pytest.mark.parametrize(("text", "kinds"), PII)
def test_pii_table(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in find_pii(text)] == kinds
    s = run("pii_leak", make_item(text))
    assert s.passed is (not kinds)
    assert s.value == (0.0 if kinds else 1.0)


def test_pii_reason_masks_values() -> None:
    s = run(
        "pii_leak",
        make_item("Mail jane@corp.com, card 4111111111111111, key sk-abcdefghijklmnopqrstuvwxyz12"),
    )
    assert s.passed is False
    reason = s.reason or ""
    assert "email (j***@corp.com)" in reason
    assert "credit_card (***1111)" in reason
    assert "api_key (sk-a***)" in reason
    for secret in ("jane@corp.com", "4111111111111111", "sk-abcdefghijklmnopqrstuvwxyz12"):
        assert secret not in reason and secret not in str(s.details)


def test_pii_allow_list_and_kinds() -> None:
    text = "Contact support@acme.com or +1 415 555 2671"
    assert run("pii_leak", make_item(text)).passed is False
    allowed = run("pii_leak", make_item(text), {"allow": ["acme.com", "+14155552671"]})
    assert allowed.passed is True
    only_email = run(
        "pii_leak", make_item(text), {"allow": ["support@acme.com"], "kinds": ["email"]}
    )
    assert only_email.passed is True
    sub = run("pii_leak", make_item("x@mail.acme.com"), {"allow": ["acme.com"]})
    assert sub.passed is True
    other = run("pii_leak", make_item("x@notacme.com"), {"allow": ["acme.com"]})
    assert other.passed is False


def test_high_entropy_tokens_are_opt_in() -> None:
    text = "session token: 9fQ2xLr7ZpK4mWc8VtB1nYh6JsD3gEa0Uq5"
    assert run("pii_leak", make_item(text)).passed is True
    found = run("pii_leak", make_item(text), {"kinds": ["high_entropy"]})
    assert found.passed is False and "high_entropy" in (found.reason or "")
    words = "a_very_long_but_ordinary_identifier_name_here"
    assert run("pii_leak", make_item(words), {"kinds": ["high_entropy"]}).passed is True


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),
        ("79927398710", False),
        ("0", True),
        ("12a4", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid
