"""Text Classification: `{text}` -> `[{label, score}]`; rerankers (same Cloudflare task) take
`{query, contexts: [{text}], top_k}` -> `{response: [{id, score}]}`."""

from kumo.ai.tasks import Task

CLASSIFY_INPUT = {
    "type": "object",
    "title": "Classify",
    "properties": {"text": {"type": "string", "minLength": 1}, "options": {"type": "object"}},
    "required": ["text"],
}
RERANK_INPUT = {
    "type": "object",
    "title": "Rerank",
    "properties": {
        "query": {"type": "string", "minLength": 1},
        "contexts": {"type": "array", "minItems": 1,
                     "items": {"type": "object", "properties": {"text": {"type": "string", "minLength": 1}},
                               "required": ["text"]}},
        "top_k": {"type": "integer", "minimum": 1},
        "options": {"type": "object"},
    },
    "required": ["query", "contexts"],
}

TASK = Task(
    slug="text-classification",
    id="19606750-23ed-4371-aab2-c20349b53a60",
    name="Text Classification",
    description="Sentiment analysis or text classification is a common NLP task that classifies a text input "
                "into labels or classes.",
    input_schema={"type": "object", "oneOf": [CLASSIFY_INPUT, RERANK_INPUT]},
    output_schema={
        "oneOf": [
            {"type": "array", "items": {"type": "object", "properties": {"label": {"type": "string"},
                                                                         "score": {"type": "number"}}}},
            {"type": "object", "properties": {"response": {"type": "array", "items": {
                "type": "object", "properties": {"id": {"type": "integer"}, "score": {"type": "number"}}}}}},
        ]
    },
)
