"""The gateway benchmark's markdown report: latency tables per target, the closed-loop sweep, and the verdicts
against the targets."""

from __future__ import annotations

from gateway.workload import CLIENT_CPU, PROXY_CPU


def num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def throughput_at_p99(sweep: dict, budget: float) -> float | None:
    """The req/s a target sustains with p99 <= budget, interpolated linearly between measured points."""
    points = sorted(((r["latency"]["p99"], r["rps"]) for r in sweep.values() if r["done"]), key=lambda p: p[1])
    best = None
    for i, (p99, rps) in enumerate(points):
        if p99 <= budget:
            best = rps if best is None else max(best, rps)
            if i + 1 < len(points) and points[i + 1][0] > budget:
                p2, r2 = points[i + 1]
                best = max(best, rps + (r2 - rps) * (budget - p99) / (p2 - p99))
    return best


def report(results: dict, args, meta: dict) -> str:
    d, k, l = results.get("direct"), results.get("kumo"), results.get("litellm")
    lines = ["## AI Gateway", ""]
    lines.append(f"`bench/gateway_proxy.py` ({meta['date']}, kumo at {meta.get('commit')}, {meta['machine']}). Fake OpenAI provider answering after "
                 f"{args.latency_ms:g} ms (uvicorn, uvloop/httptools, 1 worker); each proxy one worker process pinned "
                 f"to CPU {PROXY_CPU}, fake provider + load generator (raw asyncio HTTP/1.1 client, separate process) "
                 f"+ wrk pinned to CPU {CLIENT_CPU}. kumo: `kumo serve`, gateway with `collect_logs: true` (every "
                 f"request logged to SQLite), cache off unless stated. LiteLLM: {meta.get('litellm', 'not run')}. "
                 "Latencies in ms; *added* = target percentile minus direct percentile at the same load; open-loop "
                 "latency counted from the scheduled send time.")
    lines.append("")
    names = [n for n in ("direct", "kumo", "litellm") if n in results]

    def lat(r, key="latency", p="p50"):
        return r[key].get(p) if r and r[key].get("n") else None

    def add(r, base, key="latency", p="p50"):
        a, b = lat(r, key, p), lat(base, key, p)
        return None if a is None or b is None else a - b

    head = "| measurement | " + " | ".join(names) + " | kumo added | LiteLLM added |"
    lines += [head, "|" + "---|" * (len(names) + 3)]

    def row(label, getter, key="latency"):
        cells = []
        for p in ("p50", "p99"):
            vals = [num(lat(getter(results[n]), key, p)) for n in names]
            ka = num(add(getter(k), getter(d), key, p)) if k and d else "n/a"
            la = num(add(getter(l), getter(d), key, p)) if l and d else "n/a"
            cells.append(f"| {label} {p} | " + " | ".join(vals) + f" | {ka} | {la} |")
        return cells

    lines += row("sequential (c=1)", lambda r: r["seq"])
    for rate in args.rates:
        lines += row(f"open loop {rate}/s", lambda r, rate=rate: r["open"][str(rate)])
    lines += row("stream TTFT (c=1)", lambda r: r["stream"], key="ttfb")
    lines.append("")
    # achieved rates for open loop
    lines.append("Open loop, achieved req/s and errors: " + "; ".join(
        f"{n} " + ", ".join(f"{rate}/s -> {results[n]['open'][str(rate)]['rps']:.0f}"
                            + (f" ({results[n]['open'][str(rate)]['errors']})" if results[n]['open'][str(rate)]['errors'] else "")
                            for rate in args.rates) for n in names) + ".")
    lines.append("")
    lines += ["| closed loop | " + " | ".join(f"{n} req/s | {n} p99 | {n} CPU ms/req" for n in names) + " |",
              "|---|" + "---|---|---|" * len(names)]
    for conns in args.sweep:
        cells = []
        for n in names:
            r = results[n]["sweep"][str(conns)]
            cells.append(f"{r['rps']:.0f} | {num(r['latency'].get('p99'), 1)}"
                         + (f" (err {sum(r['errors'].values())})" if r["errors"] else "")
                         + f" | {num(r.get('cpu_ms_per_req'))}")
        lines.append(f"| c={conns} | " + " | ".join(cells) + " |")
    if any(results[n].get("wrk64") for n in names):
        lines.append("| wrk c=64 | " + " | ".join(
            (f"{results[n]['wrk64']['rps']:.0f} | {results[n]['wrk64']['p99']:.1f} | " if results[n].get("wrk64") else "n/a | n/a | ")
            for n in names) + " |")
    lines.append("")
    verdicts = []
    if k and d:
        top = str(max(args.rates))
        a50, a99 = add(k["open"][top], d["open"][top], p="p50"), add(k["open"][top], d["open"][top], p="p99")
        ok = a50 is not None and a99 is not None and a50 <= 1.0 and a99 <= 5.0
        verdicts.append(f"- kumo added latency at {top} req/s: p50 {num(a50)} ms (target <= 1), p99 {num(a99)} ms "
                        f"(target <= 5): **{'met' if ok else 'NOT met'}**.")
        extra = k.get("extras", {})
        if extra:
            cs, c64 = extra["cache_seq"], extra["cache_c64"]
            verdicts.append(f"- kumo cache hits (`cf-aig-cache-ttl: 300`, header on repeat: `{extra.get('cache_header')}`): "
                            f"c=1 p50 {num(lat(cs))} / p99 {num(lat(cs, p='p99'))} ms; c=64 {c64['rps']:.0f} req/s, "
                            f"p50 {num(lat(c64))} / p99 {num(lat(c64, p='p99'))} ms.")
            samples = extra["rss_samples_kib"]
            first, second, last = samples[0][1], samples[1][1] if len(samples) > 1 else samples[0][1], samples[-1][1]
            growth = (last - second) / 1024
            flat = growth <= max(5.0, 0.05 * second / 1024)
            verdicts.append(f"- kumo RSS (VmRSS): {first / 1024:.1f} MiB before, {second / 1024:.1f} MiB after the first "
                            f"10k, {last / 1024:.1f} MiB after {samples[-1][0]:,} requests (series MiB: "
                            + ", ".join(f"{s[1] / 1024:.0f}" for s in samples)
                            + f"); growth after warm-up {growth:+.1f} MiB: **{'flat' if flat else 'NOT flat'}**.")
    if k and l:
        lit_sat = max(l["sweep"].values(), key=lambda r: r["rps"])
        kum_sat = max(k["sweep"].values(), key=lambda r: r["rps"])
        budgets = sorted({round(lit_sat["latency"]["p99"], 1)} | set(args.p99_budgets))
        parts, best_ratio_ok = [], None
        for b in budgets:
            kt, lt = throughput_at_p99(k["sweep"], b), throughput_at_p99(l["sweep"], b)
            ratio = kt / lt if kt and lt else None
            parts.append(f"p99 <= {b:g} ms: kumo {num(kt, 0)} vs LiteLLM {num(lt, 0)} req/s (x{num(ratio, 1)})")
            if b == round(lit_sat["latency"]["p99"], 1):
                best_ratio_ok = ratio
        sat_ratio = kum_sat["rps"] / lit_sat["rps"] if lit_sat["rps"] else None
        ok = best_ratio_ok is not None and best_ratio_ok >= 3
        verdicts.append(f"- Saturation: kumo {kum_sat['rps']:.0f} req/s (p99 {kum_sat['latency']['p99']:.1f} ms), LiteLLM "
                        f"{lit_sat['rps']:.0f} req/s (p99 {lit_sat['latency']['p99']:.1f} ms), x{num(sat_ratio, 1)}. At equal "
                        f"p99: " + "; ".join(parts) + f". Target >= 3x at LiteLLM's saturation p99: "
                        f"**{'met' if ok else 'NOT met'}**.")
    ctl = results.get("controls")
    if ctl:
        ok = ctl["added_p50_ms"] <= 1.5 and ctl["cpu_ratio"] <= 1.5
        verdicts.append(f"- Gateway controls (same kumo, gateway with spend limits (2 rules) + DLP (every predefined "
                        f"profile, prompts and answers) + OTel export vs a bare gateway, c=1): p50 "
                        f"{num(ctl['controls']['p50'])} vs {num(ctl['bare']['p50'])} ms, added {num(ctl['added_p50_ms'])} "
                        f"ms (target <= 1.5); CPU {num(ctl['controls']['cpu_ms_per_req'])} vs "
                        f"{num(ctl['bare']['cpu_ms_per_req'])} ms/request, x{num(ctl['cpu_ratio'])} (target <= 1.5); "
                        f"{ctl['otlp_posts']} OTLP exports received: **{'met' if ok else 'NOT met'}**.")
        if "logpush" in ctl:
            verdicts.append(f"- Logpush (the same kumo, a gateway pushing its logs to kumo's R2 every second, bodies "
                            f"and metadata sealed to a 4096-bit RSA key, vs the bare gateway, c=1): p50 "
                            f"{num(ctl['logpush']['p50'])} ms, added {num(ctl['logpush_added_p50_ms'])} ms; CPU "
                            f"{num(ctl['logpush']['cpu_ms_per_req'])} ms/request, x{num(ctl['logpush_cpu_ratio'])} "
                            "the bare gateway's.")
    lines += verdicts
    lines.append("")
    return "\n".join(lines)
