"""Text-to-Image: `{prompt, ...}` -> raw `image/png` (Stable Diffusion family) or `{image: base64}` (FLUX)."""

from kumo.ai.tasks import Task

TASK = Task(
    slug="text-to-image",
    id="3d6e1f35-341b-4915-a6c8-9a7142a9033a",
    name="Text-to-Image",
    description="Generates images from input text.",
    input_schema={
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 2048},
            "negative_prompt": {"type": "string"},
            "height": {"type": "integer", "minimum": 256, "maximum": 2048},
            "width": {"type": "integer", "minimum": 256, "maximum": 2048},
            "num_steps": {"type": "integer", "minimum": 1, "maximum": 20, "default": 20},
            "steps": {"type": "integer", "minimum": 1, "maximum": 8, "default": 4},
            "strength": {"type": "number", "default": 1},
            "guidance": {"type": "number", "default": 7.5},
            "seed": {"type": "integer"},
            "image": {"type": "array", "items": {"type": "number"}},
            "image_b64": {"type": "string"},
            "mask": {"type": "array", "items": {"type": "number"}},
            "options": {"type": "object"},
        },
        "required": ["prompt"],
    },
    output_schema={"oneOf": [{"type": "string", "format": "binary", "contentMediaType": "image/png"},
                             {"type": "object", "properties": {"image": {"type": "string"}}}]},
)
