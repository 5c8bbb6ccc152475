// POST /<call> with a JSON body of arguments; answers {ok: value} or {error: {name, message}} so the tests see
// exactly what the binding returned or threw inside the Worker.
const calls = {
  run: (env, a) => env.AI.run(a.model, a.inputs, a.options),
  gatewayRun: async (env, a) => {
    const result = await env.AI.run(a.model, a.inputs, a.options);
    return { result, logId: env.AI.aiGatewayLogId };
  },
  models: (env, a) => env.AI.models(a),
  getUrl: (env, a) => env.AI.gateway(a.id).getUrl(a.provider),
  getLog: (env, a) => env.AI.gateway(a.id).getLog(a.logId),
  patchLog: (env, a) => env.AI.gateway(a.id).patchLog(a.logId, a.data),
  universal: async (env, a) => {
    const response = await env.AI.gateway(a.id).run(a.request);
    return { status: response.status, body: await response.json() };
  },
  describe: (env) => env.VECTORIZE.describe(),
  insert: (env, a) => env.VECTORIZE.insert(a.vectors),
  upsert: (env, a) => env.VECTORIZE.upsert(a.vectors),
  query: (env, a) => env.VECTORIZE.query(a.vector, a.options),
  queryById: (env, a) => env.VECTORIZE.queryById(a.id, a.options),
  getByIds: (env, a) => env.VECTORIZE.getByIds(a.ids),
  deleteByIds: (env, a) => env.VECTORIZE.deleteByIds(a.ids),
  missingDescribe: (env) => env.MISSING.describe(),
  aiSearch: (env) => env.AI.aiSearch().list(),
};

export default {
  async fetch(request, env) {
    const name = new URL(request.url).pathname.slice(1);
    const args = request.method === "POST" ? await request.json() : {};
    if (name === "stream") {
      // the binding hands back the event stream itself: the Worker passes it on
      const stream = await env.AI.run(args.model, { ...args.inputs, stream: true }, args.options);
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    if (name === "rest") {
      // kumo's REST API called directly from the Worker: the baseline of bench/workers_bridge.py
      const response = await fetch(args.url, { method: "POST", body: JSON.stringify(args.body),
        headers: { "content-type": "application/json", authorization: "Bearer kumo-dev" } });
      return Response.json({ ok: await response.json() });
    }
    const call = calls[name];
    if (!call) return Response.json({ error: { name: "NoSuchCall", message: name } }, { status: 404 });
    try {
      return Response.json({ ok: (await call(env, args)) ?? null });
    } catch (error) {
      return Response.json({ error: { name: error.name, message: error.message } });
    }
  },
};
