"""Runtimes run a model's real weights. One module each; the catalog names the runtime of every model.

Registered by import path so that heavy libraries (llama.cpp, ONNX Runtime, CTranslate2, diffusers) load
only when a model that needs them is first used. Adding a runtime = one module + one line here.
"""

from __future__ import annotations

import importlib

RUNTIMES: dict[str, str] = {
    "onnx-encoder": "kumo.ai.runtimes.onnx_encoder:OnnxEncoder",
    "llama-cpp": "kumo.ai.runtimes.llama_cpp:LlamaCpp",
    "faster-whisper": "kumo.ai.runtimes.whisper:FasterWhisper",
    "onnx-image": "kumo.ai.runtimes.onnx_image:OnnxImageClassifier",
    "ctranslate2-seq2seq": "kumo.ai.runtimes.seq2seq:CTranslate2Seq2Seq",
    "diffusers": "kumo.ai.runtimes.diffusion:Diffusers",
    "remote": "kumo.ai.runtimes.remote:RemoteOpenAI",
}


def runtime_class(name: str):
    module, _, attr = RUNTIMES[name].partition(":")
    return getattr(importlib.import_module(module), attr)
