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
  const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  messages.forEach(addMessage);
  if (follow) scrollToBottom();
}

function scrollToBottom() { list.scrollTop = list.scrollHeight; }
function lastId() { return Number(list.lastElementChild?.dataset.id ?? 0); }
function oldestId() { return Number(list.firstElementChild?.dataset.id ?? 0); }
function showError(error) { $("send-error").textContent = error?.message ?? error; }

function setStatus(state) {
  $("status").textContent = state;
  $("status").dataset.state = state;
  $("send-button").disabled = state !== "online"; // emits made offline would be lost or late
}

// --- REST: GET /messages (step 5), with the token when login is on (step 6) ------------------

async function getMessages(query) {
  const token = localStorage.getItem(TOKEN);
  const response = await fetch(`/messages?${query}`,
    { headers: token ? { Authorization: `Bearer ${token}` } : {} });
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
  const name = $("name").value.trim();
  send(authRequired ? { token: localStorage.getItem(TOKEN) } : name ? { name } : {});
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
  socket.on("disconnect", () => setStatus(socket.active ? "reconnecting" : "offline"));
  // on_event_message saved a message and broadcast it to everyone, us included.
  socket.on("new_message", (message) => addNewMessages([message]));
  // on_event_message refused our message (empty, too long, rate limited...): say why.
  socket.on("message_error", ({ error }) => showError(error));
  // on_connect and on_disconnect broadcast who is online.
  socket.on("presence", ({ online, users }) => {
    $("presence").textContent = `${online} online` + (users.length ? `: ${users.join(", ")}` : "");
  });
}

// Enter or the Send button: emit event_message, handled by on_event_message.
$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!socket?.connected) return;
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
$("name").addEventListener("change", () => localStorage.setItem(NAME, $("name").value.trim()));

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
