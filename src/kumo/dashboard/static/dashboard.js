// kumo dashboard: the little that needs JavaScript (streamed chat, the log tail, confirmations). No dependencies.
"use strict";
const csrf = () => document.querySelector("main").dataset.csrf || "";

// Forms that destroy something ask first.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Chat playground: POST the form, read the server-sent events as they arrive.
async function streamChat(form) {
  const out = document.getElementById(form.dataset.output);
  const status = document.getElementById(form.dataset.status);
  out.textContent = "";
  status.textContent = "Streaming…";
  const response = await fetch(form.action, {
    method: "POST", body: new URLSearchParams(new FormData(form)),
    headers: {"x-csrf-token": csrf()}, credentials: "same-origin",
  });
  if (!response.ok) {
    status.textContent = "Failed: " + (await response.text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).replace(/^data: /, "");
      buffer = buffer.slice(cut + 2);
      if (line === "[DONE]") { status.textContent = "Done (" + out.textContent.length + " characters)."; return; }
      const data = JSON.parse(line);
      if (data.error) { status.textContent = "Failed: " + data.error; return; }
      if (data.response) out.textContent += data.response;
    }
  }
  status.textContent = "Done.";
}

document.addEventListener("submit", (event) => {
  if (event.target.matches("form[data-stream]")) {
    event.preventDefault();
    streamChat(event.target).catch((err) => {
      document.getElementById(event.target.dataset.status).textContent = "Failed: " + err;
    });
  }
});

// Live tail of gateway logs: poll for rows newer than the newest shown and put them on top.
function startTail(button) {
  const table = document.getElementById(button.getAttribute("aria-controls"));
  const body = table.tBodies[0];
  const status = document.getElementById("tail-status");
  let timer = null;
  const poll = async () => {
    const newest = body.rows.length ? body.rows[0].dataset.created : "";
    const url = new URL(button.dataset.url, window.location.href);
    if (newest) url.searchParams.set("after", newest);
    const response = await fetch(url, {credentials: "same-origin"});
    if (!response.ok) { status.textContent = "Tail stopped: " + response.status; stop(); return; }
    const html = await response.text();
    if (html.trim()) {
      const template = document.createElement("template");
      template.innerHTML = html;
      const rows = Array.from(template.content.querySelectorAll("tr"));
      rows.reverse().forEach((row) => body.insertBefore(row, body.firstChild));
      status.textContent = rows.length + " new at " + new Date().toLocaleTimeString();
    }
  };
  const stop = () => { clearInterval(timer); timer = null; button.setAttribute("aria-pressed", "false");
                       button.textContent = "Start live tail"; };
  button.addEventListener("click", () => {
    if (timer) { stop(); status.textContent = "Tail stopped."; return; }
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Stop live tail";
    status.textContent = "Tailing…";
    poll();
    timer = setInterval(poll, 2000);
  });
}
document.querySelectorAll("button[data-tail]").forEach(startTail);
