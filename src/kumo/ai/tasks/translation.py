"""Translation: `{text, source_lang="en", target_lang}` -> `{translated_text}`."""

from kumo.ai.tasks import Task

TASK = Task(
    slug="translation",
    id="f57d07cb-9087-487a-bbbf-bc3e17fecc4b",
    name="Translation",
    description="Translation models convert a sequence of text from one language to another.",
    input_schema={
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1},
            "source_lang": {"type": "string", "default": "en"},
            "target_lang": {"type": "string"},
            "options": {"type": "object"},
        },
        "required": ["text", "target_lang"],
    },
    output_schema={"type": "object", "properties": {"translated_text": {"type": "string"}}},
)
