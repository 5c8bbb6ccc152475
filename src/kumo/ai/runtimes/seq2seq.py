"""Encoder-decoder models on CTranslate2: translation (M2M-100, language tokens like `__fr__`) and
summarization (BART). The weights directory is a CTranslate2 conversion of the model with its tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest

# Cloudflare's catalog lists languages by name; its schema uses ISO codes. Accept both.
LANGUAGE_NAMES = {
    "english": "en", "chinese": "zh", "french": "fr", "spanish": "es", "arabic": "ar", "russian": "ru",
    "german": "de", "japanese": "ja", "portuguese": "pt", "hindi": "hi", "italian": "it", "korean": "ko",
    "dutch": "nl", "polish": "pl", "turkish": "tr", "vietnamese": "vi", "indonesian": "id", "ukrainian": "uk",
}


def language_code(value: str) -> str:
    value = value.strip().lower()
    return LANGUAGE_NAMES.get(value, value)


class CTranslate2Seq2Seq(Runtime):
    tasks = frozenset({"translation", "summarization"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        ctranslate2 = require("ctranslate2", "ctranslate2")
        self.mode = entry.config.get("mode", "bart")
        self.translator = ctranslate2.Translator(str(root), device="cpu", compute_type="int8",
                                                 intra_threads=self.threads)
        if self.mode == "m2m100":
            spm = require("sentencepiece", "sentencepiece")
            model = next(root.glob("*.model"), None)
            if model is None:
                raise InvalidRequest(f"{entry.name}: no sentencepiece model in {root}")
            self.sp = spm.SentencePieceProcessor(model_file=str(model))
        else:
            tokenizers = require("tokenizers", "tokenizers")
            self.tokenizer = tokenizers.Tokenizer.from_file(str(self.file("tokenizer", "tokenizer.json")))

    def _translate(self, text: str, source: str, target: str) -> str:
        source_tokens = [f"__{source}__", *self.sp.encode(text, out_type=str), "</s>"]
        result = self.translator.translate_batch([source_tokens], target_prefix=[[f"__{target}__"]], beam_size=2)
        tokens = result[0].hypotheses[0][1:]
        return self.sp.decode(tokens)

    def _summarize(self, text: str, max_length: int) -> str:
        ids = self.tokenizer.encode(text).ids[:1024]
        tokens = [self.tokenizer.id_to_token(i) for i in ids]
        result = self.translator.translate_batch([tokens], max_decoding_length=max_length, beam_size=2)
        out_ids = [self.tokenizer.token_to_id(t) for t in result[0].hypotheses[0]]
        return self.tokenizer.decode([i for i in out_ids if i is not None], skip_special_tokens=True).strip()

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        if self.entry.task.slug == "translation":
            source = language_code(inputs.get("source_lang", "en"))
            target = language_code(inputs["target_lang"])
            text = await blocking(self._translate, inputs["text"], source, target)
            return RunOutput({"translated_text": text})
        summary = await blocking(self._summarize, inputs["input_text"], inputs.get("max_length", 1024))
        return RunOutput({"summary": summary})
