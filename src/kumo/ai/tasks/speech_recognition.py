"""Automatic Speech Recognition: raw audio bytes, `{audio: [0..255]}` or `{audio: "<base64>"}`."""

from kumo.ai.tasks import Task

TASK = Task(
    slug="automatic-speech-recognition",
    id="dfce1c48-2a81-462e-a7fd-de97ce985207",
    name="Automatic Speech Recognition",
    description="Automatic speech recognition (ASR) models convert a speech signal, typically an audio input, "
                "to text.",
    input_schema={
        "oneOf": [
            {"type": "string", "format": "binary"},
            {
                "type": "object",
                "properties": {
                    "audio": {"oneOf": [{"type": "array", "items": {"type": "number"}},
                                        {"type": "string", "description": "base64-encoded audio"}]},
                    "source_lang": {"type": "string"},
                    "target_lang": {"type": "string"},
                    "task": {"type": "string", "enum": ["transcribe", "translate"], "default": "transcribe"},
                    "language": {"type": "string"},
                    "vad_filter": {"type": "boolean", "default": False},
                    "initial_prompt": {"type": "string"},
                    "prefix": {"type": "string"},
                    "options": {"type": "object"},
                },
                "required": ["audio"],
            },
        ]
    },
    output_schema={
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "word_count": {"type": "number"},
            "words": {"type": "array", "items": {"type": "object", "properties": {
                "word": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"}}}},
            "vtt": {"type": "string"},
            "segments": {"type": "array"},
            "transcription_info": {"type": "object"},
        },
        "required": ["text"],
    },
    binary_input="audio",
)
