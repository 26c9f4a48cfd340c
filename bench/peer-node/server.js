// Reference peer: the same chat contract on Node's socket.io 4 (the engine under the seed's NestJS
// gateway). Persists each message (append to a JSON-lines file) before broadcasting it.
// Copied from shared/bench/peer-node/server.js; one change: `presence` is coalesced (at most one
// broadcast per 200 ms, always the current state) as app.py does and the contract allows, so that
// connecting N clients costs O(N) packets here too, not O(N^2).
const http = require("http");
const fs = require("fs");
const { Server } = require("socket.io");
const PORT = Number(process.env.PORT || 5100);
const FILE = process.env.DB || "peer-node.jsonl";
const msgs = [];
let nextId = 1;
const fd = fs.openSync(FILE, "a");
const server = http.createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  if (u.pathname === "/health") { res.writeHead(200, { "Content-Type": "application/json" }); return res.end('{"status":"ok"}'); }
  if (u.pathname === "/messages") {
    const limit = Math.min(200, Number(u.searchParams.get("limit") || 50));
    res.writeHead(200, { "Content-Type": "application/json" });
    return res.end(JSON.stringify(msgs.slice(-limit)));
  }
  res.writeHead(404); res.end();
});
const io = new Server(server, { maxHttpBufferSize: 1e6 });
let presencePending = false;
const presenceChanged = () => {
  if (presencePending) return;
  presencePending = true;
  setTimeout(() => { presencePending = false; io.emit("presence", { online: io.engine.clientsCount }); }, 200);
};
io.on("connection", (s) => {
  presenceChanged();
  s.on("disconnect", presenceChanged);
  s.on("event_message", (p, ack) => {
    const ok = p && typeof p.text === "string" && p.text.trim() && typeof p.author === "string" && p.author.trim();
    if (!ok) { s.emit("message_error", { error: "invalid" }); if (ack) ack({ ok: false, error: "invalid" }); return; }
    const m = { id: nextId++, author: p.author.trim(), text: p.text.trim(), created_at: new Date().toISOString() };
    fs.writeSync(fd, JSON.stringify(m) + "\n");
    msgs.push(m);
    io.emit("new_message", m);
    if (ack) ack({ ok: true, message: m });
  });
});
server.listen(PORT, "127.0.0.1", () => console.log(`peer-node on ${PORT}`));
