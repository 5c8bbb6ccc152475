"""Text Generation: `prompt` or `messages` (+ tools, JSON mode, sampling), answering `{response, usage}`."""

from kumo.ai.tasks import Task

_SAMPLING = {
    "stream": {"type": "boolean", "default": False},
    "max_tokens": {"type": "integer", "minimum": 1, "default": 256},
    "temperature": {"type": "number", "minimum": 0, "maximum": 5, "default": 0.6},
    "top_p": {"type": "number", "minimum": 0, "maximum": 2},
    "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
    "seed": {"type": "integer", "minimum": 1, "maximum": 9999999999},
    "repetition_penalty": {"type": "number", "minimum": 0, "maximum": 2},
    "frequency_penalty": {"type": "number", "minimum": 0, "maximum": 2},
    "presence_penalty": {"type": "number", "minimum": 0, "maximum": 2},
    "response_format": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["json_object", "json_schema"]},
            "json_schema": {},
        },
        "required": ["type"],
    },
    "lora": {"type": "string"},
    "options": {"type": "object"},
}

_CONTENT = {
    "oneOf": [
        {"type": "string", "maxLength": 131072},
        {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"},
                                                                     "text": {"type": "string"}}}},
        {"type": "null"},
    ]
}

_TOOL = {
    "type": "object",
    "oneOf": [
        {"required": ["name"], "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                                              "parameters": {"type": "object"}}},
        {"required": ["type", "function"], "properties": {
            "type": {"const": "function"},
            "function": {"type": "object", "required": ["name"],
                         "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                                        "parameters": {"type": "object"}}}}},
    ],
}

PROMPT_INPUT = {
    "type": "object",
    "title": "Prompt",
    "properties": {"prompt": {"type": "string", "minLength": 1, "maxLength": 131072},
                   "raw": {"type": "boolean", "default": False}, **_SAMPLING},
    "required": ["prompt"],
}

MESSAGES_INPUT = {
    "type": "object",
    "title": "Messages",
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                               "content": _CONTENT, "tool_call_id": {"type": "string"},
                               "name": {"type": "string"}, "tool_calls": {"type": "array"}},
                "required": ["role"],
            },
        },
        "functions": {"type": "array", "items": {"type": "object"}},
        "tools": {"type": "array", "items": _TOOL},
        "tool_choice": {"oneOf": [{"type": "string", "enum": ["auto", "none", "required"]}, {"type": "object"}]},
        **_SAMPLING,
    },
    "required": ["messages"],
}

OUTPUT = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "response": {"description": "The generated text (an object in JSON mode)"},
                "tool_calls": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "arguments": {"type": "object"}}}},
                "usage": {"type": "object", "properties": {"prompt_tokens": {"type": "integer"},
                                                           "completion_tokens": {"type": "integer"},
                                                           "total_tokens": {"type": "integer"}}},
            },
        },
        {"type": "string", "format": "binary", "description": "text/event-stream when stream is true"},
    ]
}

TASK = Task(
    slug="text-generation",
    id="c329a1f9-323d-4e91-b2aa-582dd4188d34",
    name="Text Generation",
    description="Family of generative text models, such as large language models (LLM), that can be adapted "
                "for a variety of natural language tasks.",
    input_schema={"type": "object", "oneOf": [PROMPT_INPUT, MESSAGES_INPUT]},
    output_schema=OUTPUT,
)
