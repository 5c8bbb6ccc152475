// Retrieval-augmented generation with Workers AI and Vectorize:
//   POST /notes {"text": "..."}  embeds the note and stores it in Vectorize
//   GET  /?q=question            finds the closest notes and answers from them
const EMBEDDINGS = "@cf/baai/bge-small-en-v1.5";
const LLM = "@cf/meta/llama-3.1-8b-instruct";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/notes") {
      const { text } = await request.json();
      const { data } = await env.AI.run(EMBEDDINGS, { text: [text] });
      const id = crypto.randomUUID();
      await env.VECTORIZE.upsert([{ id, values: data[0], metadata: { text } }]);
      return Response.json({ id, text });
    }
    const question = url.searchParams.get("q") || "What is kumo?";
    const embedded = await env.AI.run(EMBEDDINGS, { text: [question] });
    const { matches } = await env.VECTORIZE.query(embedded.data[0], { topK: 2, returnMetadata: "all" });
    const notes = matches.map((m) => m.metadata.text);
    const context = notes.length ? `Context:\n${notes.map((n) => `- ${n}`).join("\n")}` : "";
    const { response } = await env.AI.run(LLM, {
      messages: [
        ...(context ? [{ role: "system", content: context }] : []),
        { role: "system", content: "Answer briefly, using the context if it helps." },
        { role: "user", content: question },
      ],
      max_tokens: 64,
    });
    return Response.json({ question, notes, answer: response });
  },
};
