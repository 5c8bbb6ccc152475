"""Speech recognition on faster-whisper (CTranslate2, int8 on CPU). Audio in any container FFmpeg reads
(WAV, MP3, OGG, FLAC, M4A...) is decoded by PyAV to 16 kHz mono."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest


def _timestamp(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


def to_vtt(segments: list[dict]) -> str:
    lines = ["WEBVTT", ""]
    for seg in segments:
        lines += [f"{_timestamp(seg['start'])} --> {_timestamp(seg['end'])}", seg["text"].strip(), ""]
    return "\n".join(lines)


class FasterWhisper(Runtime):
    tasks = frozenset({"automatic-speech-recognition"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        faster_whisper = require("faster_whisper", "faster-whisper")
        self._decode_audio = faster_whisper.decode_audio
        self.model = faster_whisper.WhisperModel(str(root), device="cpu", compute_type="int8",
                                                 cpu_threads=self.threads)
        self.multilingual = bool(getattr(self.model.model, "is_multilingual", False))

    def _transcribe(self, audio: bytes, inputs: dict[str, Any], shape: str | None) -> dict[str, Any]:
        try:
            samples = self._decode_audio(io.BytesIO(audio), sampling_rate=16000)
        except Exception as exc:
            raise InvalidRequest(f"could not decode the audio ({type(exc).__name__}: {exc}); send WAV, MP3, "
                                 "OGG, FLAC or another format FFmpeg reads") from None
        if len(samples) == 0:
            raise InvalidRequest("the audio is empty")
        language = inputs.get("language") or inputs.get("source_lang")
        if not self.multilingual:
            language = "en"
        segments, info = self.model.transcribe(
            samples,
            language=language,
            task=inputs.get("task", "transcribe") if self.multilingual else "transcribe",
            word_timestamps=True,
            vad_filter=bool(inputs.get("vad_filter", False)),
            initial_prompt=inputs.get("initial_prompt"),
            prefix=inputs.get("prefix"),
            beam_size=1,
        )
        segs = []
        for seg in segments:
            segs.append({
                "start": seg.start, "end": seg.end, "text": seg.text, "temperature": seg.temperature,
                "avg_logprob": seg.avg_logprob, "compression_ratio": seg.compression_ratio,
                "no_speech_prob": seg.no_speech_prob,
                "words": [{"word": w.word.strip(), "start": w.start, "end": w.end} for w in (seg.words or [])],
            })
        text = "".join(s["text"] for s in segs).strip()
        words = [w for s in segs for w in s["words"]]
        result: dict[str, Any] = {"text": text, "word_count": len(words), "vtt": to_vtt(segs)}
        if shape == "segments":
            result["segments"] = segs
            result["transcription_info"] = {
                "language": info.language, "language_probability": info.language_probability,
                "duration": info.duration, "duration_after_vad": info.duration_after_vad,
            }
        else:
            result["words"] = words
        result["_seconds"] = info.duration
        return result

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        audio = inputs["audio"]
        shape = options.get("output") or self.entry.config.get("output")
        result = await blocking(self._transcribe, audio, inputs, shape)
        seconds = result.pop("_seconds", 0.0)
        return RunOutput(result, usage={"audio_seconds": int(round(seconds))})
