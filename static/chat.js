// Chat Live's page: history over REST (step 5), live chat over Socket.IO (step 4), login (step 6).
// Each socket listener names the handler in app.py that it talks to.
"use strict";

const $ = (id) => document.getElementById(id);
const authRequired = document.body.dataset.authRequired === "true";
const TOKEN = "chat.token", USER = "chat.user", NAME = "chat.name"; // localStorage keys
const PAGE = 50;       // messages per history page
const CATCH_UP = 200;  // the largest page GET /messages serves
const list = $("messages");
const shown = new Set(); // ids of the messages on screen, so none is ever shown twice
let socket = null;
let handshakeName = ""; // the name our latest handshake gave: the one presence lists

// --- Messages on screen ---------------------------------------------------------------------

/** Show one message, in id order, as plain text: messages are data, never HTML. */
function addMessage(message) {
  if (shown.has(message.id)) return;
  shown.add(message.id);
  const item = document.createElement("li");
  item.dataset.id = message.id;
  const author = document.createElement("strong");
  author.textContent = message.author;
  const time = document.createElement("time");
  const date = new Date(message.created_at); // ISO UTC ("...Z"), shown in the local time zone
  time.dateTime = message.created_at;
  time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  time.title = date.toLocaleString();
  const text = document.createElement("p");
  text.textContent = message.text;
  item.append(author, " ", time, text);
  // Live messages, catch-up pages and older pages can interleave: insert by id.
  let previous = list.lastElementChild;
  while (previous && Number(previous.dataset.id) > message.id) previous = previous.previousElementSibling;
  if (previous) previous.after(item); else list.prepend(item);
}

/** Add messages; keep the newest in view if the reader was already looking at it. */
function addNewMessages(messages) {
  const follow = atBottom();
  messages.forEach(addMessage);
  if (follow) scrollToBottom();
}

function scrollToBottom() { list.scrollTop = list.scrollHeight; }
function atBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 40; }
function lastId() { return Number(list.lastElementChild?.dataset.id ?? 0); }
function oldestId() { return Number(list.firstElementChild?.dataset.id ?? 0); }
function showError(error) { $("send-error").textContent = error?.message ?? error; }

// The list gets shorter when a line appears above or below it (an error, a wrapped header):
// keep the newest message in view then too, if the reader was looking at it.
let following = true;
list.addEventListener("scroll", () => { following = atBottom(); });
new ResizeObserver(() => { if (following) scrollToBottom(); }).observe(list);

function setStatus(state) {
  $("status").textContent = state;
  $("status").dataset.state = state;
  $("send-button").disabled = state !== "online"; // emits made offline would be lost or late
  // Who is online is only known while we are: an old list would look current.
  if (state !== "online") showPresence("");
}

function showPresence(text) {
  $("presence").textContent = text;
  $("presence").title = text; // the whole list, where a narrow screen cuts it short
}

// --- REST: GET /messages (step 5), with the token when login is on (step 6) ------------------

async function getMessages(query) {
  const token = localStorage.getItem(TOKEN);
  const response = await fetch(`/messages?${query}`,
    { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status === 404) return []; // no history before step 5 of the tutorial
  const body = await response.json();
  if (response.status === 401) showLogin(body.error); // no token, or an expired one
  if (!response.ok) throw new Error(body.error);
  return body;
}

/** On load (and after logging in): the newest page of history, then the live connection. */
async function start() {
  list.replaceChildren();
  shown.clear();
  showError("");
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me").hidden = !authRequired;
  $("me-name").textContent = localStorage.getItem(USER);
  setStatus("connecting");
  const page = await getMessages(`limit=${PAGE}`);
  page.forEach(addMessage);
  $("older").hidden = page.length < PAGE;
  scrollToBottom();
  connect();
}

/** After every (re)connect: fetch what was sent while we were away (the first time too, since
 * messages may have arrived between the history request and the connection). */
async function catchUp(after) {
  for (;;) {
    const page = await getMessages(`limit=${CATCH_UP}&after=${after}`);
    addNewMessages(page);
    if (page.length < CATCH_UP) return;
    after = page[page.length - 1].id;
  }
}

// "Load older messages": the page before the oldest one shown, keeping the view where it was.
$("older").addEventListener("click", async () => {
  try {
    const page = await getMessages(`limit=${PAGE}&before=${oldestId()}`);
    const fromBottom = list.scrollHeight - list.scrollTop;
    page.forEach(addMessage);
    list.scrollTop = list.scrollHeight - fromBottom;
    $("older").hidden = page.length < PAGE;
  } catch (error) { showError(error); }
});

// --- Socket.IO (step 4) ---------------------------------------------------------------------

/** The handshake `auth` object, asked for again at every reconnect: the token, or the name. */
function handshake(send) {
  handshakeName = $("name").value.trim(); // the name presence lists us by, until the next one
  send(authRequired ? { token: localStorage.getItem(TOKEN) }
                    : handshakeName ? { name: handshakeName } : {});
}

/** on_connect reads the name only from the handshake, and no event renames a connection:
 * a new name needs a new connection, which the others' presence then lists. */
function useName() {
  const name = $("name").value.trim();
  localStorage.setItem(NAME, name); // remembered for the next visit too
  if (!socket || name === handshakeName) return;
  // While it is reconnecting anyway, the next handshake takes the new name; otherwise (online,
  // or refused for the old name) connect again now.
  if (socket.connected || !socket.active) socket.disconnect().connect();
}

function connect() {
  socket = io({ auth: handshake }); // same server, same origin: no URL needed

  // on_connect accepted us: we are online; fetch anything we missed.
  socket.on("connect", () => {
    setStatus("online");
    catchUp(lastId()).catch(showError);
  });
  // on_connect refused us (a missing, invalid or expired token), or the server is unreachable.
  socket.on("connect_error", (error) => {
    if (/token/.test(error.message)) return showLogin(error.message);
    setStatus(socket.active ? "reconnecting" : `offline: ${error.message}`);
  });
  // The connection dropped (on_disconnect runs on the server); the client retries with backoff.
  // When we closed it ourselves (a new name, logging out), what we do next sets the status.
  socket.on("disconnect", (reason) => {
    if (reason !== "io client disconnect") setStatus(socket.active ? "reconnecting" : "offline");
  });
  // on_event_message saved a message and broadcast it to everyone, us included.
  socket.on("new_message", (message) => addNewMessages([message]));
  // on_event_message refused our message (empty, too long, rate limited...): say why.
  socket.on("message_error", ({ error }) => showError(error));
  // on_connect and on_disconnect broadcast who is online.
  socket.on("presence", ({ online, users }) => {
    showPresence(`${online} online` + (users.length ? `: ${users.join(", ")}` : ""));
  });
}

// Enter or the Send button: emit event_message, handled by on_event_message.
// The form is `novalidate` so that a missing name gets a clear word here, not a bare tooltip.
$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!authRequired && !$("name").value.trim()) {
    showError("Type your name first");
    return $("name").focus();
  }
  if (!$("text").reportValidity()) return; // an empty message: the browser's own hint will do
  useName(); // a new name reconnects first; the client holds the emit below until it is back
  if (!socket?.active) return;
  const payload = { text: $("text").value, author: $("name").value };
  socket.emit("event_message", payload, (ack) => {
    if (!ack.ok) return showError(ack.error);
    $("text").value = "";
    showError("");
    scrollToBottom();
  });
});

// The name is remembered for the next visit, whose handshake gives it to presence.
$("name").value = localStorage.getItem(NAME) ?? "";
// A name typed or changed later: reconnect with it, so presence lists it now.
$("name").addEventListener("change", () => {
  showError("");
  useName();
});

// --- Login (step 6) -------------------------------------------------------------------------

function showLogin(reason = "") {
  socket?.disconnect();
  localStorage.removeItem(TOKEN);
  $("chat").hidden = $("me").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = reason;
  setStatus("logged out");
}

/** POST a JSON body; return the JSON answer, or throw the server's reason. */
async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error);
  return answer;
}

// "Register and log in" registers first; both buttons then log in and keep the token.
$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const credentials = { username: $("username").value, password: $("password").value };
  try {
    if (event.submitter?.value === "register") await postJson("/auth/register", credentials);
    const { access_token: token, username } = await postJson("/auth/login", credentials);
    localStorage.setItem(TOKEN, token);
    localStorage.setItem(USER, username);
    $("password").value = "";
    await start();
  } catch (error) { $("login-error").textContent = error.message; }
});
$("logout").addEventListener("click", () => showLogin());

// Boot: a name field when login is off; the login form when it is on and we hold no token.
$("name-field").hidden = $("name").disabled = authRequired;
if (authRequired && !localStorage.getItem(TOKEN)) showLogin();
else start().catch(showError);
