"""Image classification on ONNX Runtime (ResNet-style ImageNet models): resize the shorter side, centre-crop,
normalise with the model's mean/std, softmax, top five labels."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest

TOP = 5


class OnnxImageClassifier(Runtime):
    tasks = frozenset({"image-classification"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        ort = require("onnxruntime", "onnxruntime")
        self._pil = require("PIL.Image", "pillow")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(str(self.file("onnx", "model.onnx")), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        config = json.loads((root / "config.json").read_text()) if (root / "config.json").exists() else {}
        self.labels = {int(k): v for k, v in (config.get("id2label") or {}).items()}
        pre_path = root / "preprocessor_config.json"
        pre = json.loads(pre_path.read_text()) if pre_path.exists() else {}
        self.mean = np.array(pre.get("image_mean", [0.485, 0.456, 0.406]), dtype=np.float32)
        self.std = np.array(pre.get("image_std", [0.229, 0.224, 0.225]), dtype=np.float32)
        self.size = 224
        self.crop_pct = float(pre.get("crop_pct", 0.875))

    def _tensor(self, data: bytes) -> np.ndarray:
        try:
            image = self._pil.open(io.BytesIO(data)).convert("RGB")
        except Exception as exc:
            raise InvalidRequest(f"could not read the image ({exc}); send PNG, JPEG, GIF, BMP or WebP bytes") from None
        short = int(self.size / self.crop_pct)
        w, h = image.size
        scale = short / min(w, h)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), self._pil.BILINEAR)
        w, h = image.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        arr = (np.asarray(image, dtype=np.float32) / 255.0 - self.mean) / self.std
        return arr.transpose(2, 0, 1)[None]

    def _classify(self, data: bytes) -> list[dict[str, Any]]:
        logits = self.session.run(None, {self.input_name: self._tensor(data)})[0][0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs)[:TOP]
        return [{"label": self.labels.get(int(i), str(int(i))), "score": float(probs[i])} for i in top]

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        return RunOutput(await blocking(self._classify, inputs["image"]))
