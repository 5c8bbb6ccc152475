"""Text Embeddings: `text` (string or up to 100 strings) -> `{shape, data, pooling}`."""

from kumo.ai.tasks import Task

MAX_TEXTS = 100

TASK = Task(
    slug="text-embeddings",
    id="0137cdcf-162a-4108-94f2-1ca59e8c65ee",
    name="Text Embeddings",
    description="Feature extraction models transform raw data into numerical features that can be processed "
                "while preserving the information in the original dataset.",
    input_schema={
        "type": "object",
        "properties": {
            "text": {"oneOf": [{"type": "string", "minLength": 1},
                               {"type": "array", "items": {"type": "string", "minLength": 1},
                                "minItems": 1, "maxItems": MAX_TEXTS}]},
            "pooling": {"type": "string", "enum": ["mean", "cls"], "default": "mean"},
            "options": {"type": "object"},
        },
        "required": ["text"],
    },
    output_schema={
        "type": "object",
        "properties": {
            "shape": {"type": "array", "items": {"type": "number"}},
            "data": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "pooling": {"type": "string", "enum": ["mean", "cls"]},
        },
    },
)
