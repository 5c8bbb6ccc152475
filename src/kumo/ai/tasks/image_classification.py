"""Image Classification: raw image bytes or `{image: [0..255]}` -> `[{label, score}]` (ImageNet)."""

from kumo.ai.tasks import Task

TASK = Task(
    slug="image-classification",
    id="00cd182b-bf30-4fc4-8481-84a3ab349657",
    name="Image Classification",
    description="Image classification models take an image input and assigns it labels or classes.",
    input_schema={
        "oneOf": [
            {"type": "string", "format": "binary"},
            {"type": "object", "properties": {"image": {"type": "array", "items": {"type": "number"}},
                                              "options": {"type": "object"}}, "required": ["image"]},
        ]
    },
    output_schema={"type": "array", "items": {"type": "object", "properties": {
        "label": {"type": "string"}, "score": {"type": "number"}}}},
    binary_input="image",
)
