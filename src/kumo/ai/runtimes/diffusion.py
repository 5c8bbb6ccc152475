"""Text-to-image with Hugging Face diffusers (torch). Stable Diffusion family answers raw PNG bytes; FLUX
answers `{image: <base64 PNG>}`, as Cloudflare does. Heavy: install with `pip install 'kumo[diffusion]'`."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.api.threads import blocking


class Diffusers(Runtime):
    tasks = frozenset({"text-to-image"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        self._torch = require("torch", "kumo[diffusion]")
        diffusers = require("diffusers", "kumo[diffusion]")
        self._torch.set_num_threads(self.threads)
        self.pipeline = diffusers.AutoPipelineForText2Image.from_pretrained(str(root))

    def _generate(self, inputs: dict[str, Any]) -> bytes:
        steps_field = self.entry.config.get("steps_field", "num_steps")
        kwargs: dict[str, Any] = {"prompt": inputs["prompt"],
                                  "num_inference_steps": inputs.get(steps_field, 4 if steps_field == "steps" else 20)}
        for ours, theirs in (("negative_prompt", "negative_prompt"), ("height", "height"), ("width", "width"),
                             ("guidance", "guidance_scale")):
            if inputs.get(ours) is not None:
                kwargs[theirs] = inputs[ours]
        if inputs.get("seed") is not None:
            kwargs["generator"] = self._torch.Generator().manual_seed(int(inputs["seed"]))
        image = self.pipeline(**kwargs).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        png = await blocking(self._generate, inputs)
        if (options.get("output") or self.entry.config.get("output")) == "base64":
            return RunOutput({"image": base64.b64encode(png).decode()})
        return RunOutput(png, content_type="image/png")
