"""Summarization: `{input_text, max_length=1024}` -> `{summary}`."""

from kumo.ai.tasks import Task

TASK = Task(
    slug="summarization",
    id="6f4e65d8-da0f-40d2-9aa4-db582a5a04fd",
    name="Summarization",
    description="Summarization is the task of producing a shorter version of a document while preserving its "
                "important information.",
    input_schema={
        "type": "object",
        "properties": {
            "input_text": {"type": "string", "minLength": 1},
            "max_length": {"type": "integer", "minimum": 1, "default": 1024},
            "options": {"type": "object"},
        },
        "required": ["input_text"],
    },
    output_schema={"type": "object", "properties": {"summary": {"type": "string"}}},
)
