"""The built-in metrics, registered by name as lazy ``module:Class`` references.

Registering imports nothing: a metric's module (and rapidfuzz, sacrebleu, rouge-score, the
openai SDK or torch) is imported only when that metric is created or listed.
"""

from __future__ import annotations

from typing import Any

from chatbot_tester.common.registry import Registry

__all__ = ["BUILTIN_METRICS", "register_all"]

_M = "chatbot_tester.evaluator.metrics"

BUILTIN_METRICS: dict[str, str] = {
    # text
    "exact_match": f"{_M}.text:ExactMatchMetric",
    "token_f1": f"{_M}.text:TokenF1Metric",
    "length": f"{_M}.text:LengthMetric",
    "contains": f"{_M}.patterns:ContainsMetric",
    "icontains": f"{_M}.patterns:IContainsMetric",
    "not_contains": f"{_M}.patterns:NotContainsMetric",
    "contains_any": f"{_M}.patterns:ContainsAnyMetric",
    "contains_all": f"{_M}.patterns:ContainsAllMetric",
    "starts_with": f"{_M}.patterns:StartsWithMetric",
    "regex": f"{_M}.patterns:RegexMetric",
    # structured output
    "json_valid": f"{_M}.structured:JsonValidMetric",
    "json_schema": f"{_M}.structured:JsonSchemaMetric",
    "json_equals": f"{_M}.structured:JsonEqualsMetric",
    # similarity
    "levenshtein": f"{_M}.similarity:LevenshteinMetric",
    "fuzzy": f"{_M}.similarity:FuzzyMetric",
    "bleu": f"{_M}.similarity:BleuMetric",
    "rouge": f"{_M}.similarity:RougeMetric",
    "semantic_similarity": f"{_M}.semantic:SemanticSimilarityMetric",
    # operational
    "latency": f"{_M}.operational:LatencyMetric",
    "ttft": f"{_M}.operational:TtftMetric",
    "cost": f"{_M}.operational:CostMetric",
    # safety
    "refusal": f"{_M}.safety:RefusalMetric",
    "handoff": f"{_M}.safety:HandoffMetric",
    "pii_leak": f"{_M}.pii:PiiLeakMetric",
    # tools, conversations, custom code
    "tool_call": f"{_M}.tools:ToolCallMetric",
    "turn_pass_rate": f"{_M}.conversation:TurnPassRateMetric",
    "goal_reached": f"{_M}.scenario:GoalReachedMetric",
    "goal_judge": f"{_M}.scenario:GoalJudgeMetric",
    "python": f"{_M}.custom:PythonMetric",
    # LLM judges (written in evaluator.metrics.judge)
    "llm_judge": f"{_M}.judge:LLMJudgeMetric",
    "g_eval": f"{_M}.judge:GEvalMetric",
    "pairwise": f"{_M}.judge:PairwiseJudgeMetric",
}
"""Built-in metric name -> ``module:Class``."""


def register_all(registry: Registry[Any]) -> None:
    """Register every built-in metric lazily in ``registry`` (names already taken are kept)."""
    for name, ref in BUILTIN_METRICS.items():
        registry.register_lazy(name, ref)
