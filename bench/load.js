// Load generator with the official socket.io-client (copied from shared/bench/load.js, adapted).
//   node load.js URL CLIENTS SENDERS MSGS [RATE_PER_SENDER]
// Every client listens; SENDERS of them each send MSGS messages (paced at RATE/s, or as fast as acks
// allow when RATE is 0). Prints one JSON line: deliveries/s, latency percentiles, losses, duplicates.
// Paced senders start evenly staggered (sender j waits j/(SENDERS*RATE) s), so SENDERS x RATE messages
// a second arrive spread over the second, as people typing do, not in one burst.
//   node load.js URL CLIENTS idle
// Connects CLIENTS clients (all at once, or IDLE_BATCH at a time), prints one JSON line (connected,
// failed, connect_ms), holds them open until standard input closes (or the hard timeout), closes them.
// LOAD_TIMEOUT_S (default 110) bounds every run: past it the run prints {"error": "timeout"}, exits 2.
// SEND_BUDGET_S (default none): senders stop starting new messages after that many seconds, so a
// slow server gets a shorter run instead of a longer one ("sent" says how many went out).
const { io } = require("socket.io-client");
const [URL, C = "10", S = "1", M = "100", RATE = "0"] = process.argv.slice(2);
const nC = +C, rate = +RATE;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const limitS = +(process.env.LOAD_TIMEOUT_S || 110);
const connectOpts = { transports: ["websocket"], reconnection: false, forceNew: true, timeout: Math.min(60, limitS / 2) * 1000 };

async function idle() {
  const t0c = Date.now();
  const cl = [];
  const batch = +(process.env.IDLE_BATCH || nC);  // connect this many at a time (default: all at once)
  const results = [];
  for (let done = 0; done < nC; done += batch) {
    results.push(...await Promise.allSettled(Array.from({ length: Math.min(batch, nC - done) }, () => new Promise((res, rej) => {
      const s = io(URL, connectOpts); cl.push(s);
      s.on("connect", () => res(s)); s.on("connect_error", (e) => rej(e));
    }))));
  }
  const connected = results.filter((r) => r.status === "fulfilled").length;
  const errors = [...new Set(results.filter((r) => r.status === "rejected").map((r) => String(r.reason)))];
  console.log(JSON.stringify({ clients: nC, connected, failed: nC - connected, connect_ms: Date.now() - t0c, errors: errors.slice(0, 3) }));
  await new Promise((r) => { process.stdin.on("end", r); process.stdin.on("close", r); process.stdin.resume(); });
  cl.forEach((s) => s.close());
  await sleep(200);
  process.exit(connected === nC ? 0 : 1);
}

async function traffic() {
  const nS = +S, nM = +M;
  const tag = Math.random().toString(36).slice(2, 8);
  const lat = []; const seen = new Map(); let dup = 0, acks = 0, refused = 0;
  const t0c = Date.now();
  const cl = await Promise.all(Array.from({ length: nC }, (_, i) => new Promise((res, rej) => {
    const s = io(URL, connectOpts);
    s.on("connect", () => res(s)); s.on("connect_error", rej);
    s.on("new_message", (m) => {
      if (!m.text.startsWith(tag)) return;
      const key = i + ":" + m.text; if (seen.has(key)) { dup++; return; } seen.set(key, 1);
      lat.push(Date.now() - Number(m.text.split("|")[1]));
    });
  })));
  const connectMs = Date.now() - t0c;
  console.log(JSON.stringify({ connected: nC, connect_ms: connectMs }));  // run.py samples the server's CPU here
  const t0 = Date.now();
  const budgetMs = 1000 * +(process.env.SEND_BUDGET_S || Infinity);
  let sent = 0;
  await Promise.all(cl.slice(0, nS).map(async (s, j) => {
    if (rate > 0) await sleep((1000 * j) / (nS * rate));
    for (let k = 0; k < nM && Date.now() - t0 < budgetMs; k++) {
      sent++;
      const t = Date.now();
      const p = s.timeout(10000).emitWithAck("event_message", { author: `s${j}`, text: `${tag}-${j}-${k}|${t}` }).then((a) => { a && a.ok ? acks++ : refused++; }).catch(() => refused++);
      if (rate > 0) { await sleep(Math.max(0, 1000 / rate - (Date.now() - t))); } else { await p; }
    }
  }));
  const expected = nC * sent;
  const deadline = Date.now() + 30000;
  while (seen.size < expected && Date.now() < deadline) await sleep(20);
  const secs = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (x) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] : null;
  console.log(JSON.stringify({ clients: nC, senders: nS, msgs: nM, sent, rate, connect_ms: connectMs, expected, received: seen.size, lost: expected - seen.size, dup, acks, refused,
    secs: +secs.toFixed(3), deliveries_per_s: Math.round(seen.size / secs), p50_ms: q(0.5), p95_ms: q(0.95), p99_ms: q(0.99), max_ms: lat[lat.length - 1] }));
  cl.forEach((s) => s.close());
  return seen.size === expected ? 0 : 1;
}

setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(2); }, limitS * 1000).unref();
(S === "idle" ? idle() : traffic().then((code) => process.exit(code)))
  .catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(2); });
