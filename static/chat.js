// Chat Live's page: history over REST (step 5), live chat over Socket.IO (step 4), login (step 6),
// rooms (step 12), editing and deleting messages (step 13), who is typing (step 14).
// Each socket listener names the handler in app.py that it talks to.
"use strict";

const $ = (id) => document.getElementById(id);
const authRequired = document.body.dataset.authRequired === "true";
const moderators = (document.body.dataset.moderators ?? "").split(",").filter(Boolean); // step 13
const TOKEN = "chat.token", USER = "chat.user", NAME = "chat.name"; // localStorage keys
const PAGE = 50;       // messages per history page
const CATCH_UP = 200;  // the largest page GET /messages serves
const ROOM_NAME = /^[a-z0-9_-]{1,32}$/; // as app.py's clean_room() has it
const ROOMS_SHOWN = 10; // the rooms written in last, beside ours: thousands would bury the messages
const ACK_WAIT = 5000; // ms to wait for an acknowledgement
const list = $("messages");
const shown = new Set(); // ids of the messages on screen, so none is ever shown twice
let socket = null;
let handshakeName = ""; // the name our latest handshake gave: the one presence lists
// The room we are in: the address says which (/#grupo-1); general if it names none, or no valid one.
let room = ROOM_NAME.test(roomInAddress()) ? roomInAddress() : "general";
let roomsListed = false;    // does the server have rooms? (GET /rooms answers from step 12 on)
let historyKept = true;     // does the server keep a history? (GET /messages answers from step 5 on)

// --- Messages on screen ---------------------------------------------------------------------

/** Show one message, in id order, as plain text: messages are data, never HTML. A message shown
 * already is shown again in its place: it was edited (step 13). */
function addMessage(message) {
  if ((message.room ?? room) !== room) return; // another room's: not here
  const item = document.createElement("li");
  item.dataset.id = message.id;
  const author = document.createElement("strong");
  author.textContent = message.author;
  author.style.setProperty("--hue", hueOf(message.author)); // the author's own colour (step 14)
  const time = document.createElement("time");
  const date = new Date(message.created_at); // ISO UTC ("...Z"), shown in the local time zone
  time.dateTime = message.created_at;
  time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  time.title = date.toLocaleString();
  const text = document.createElement("p");
  text.textContent = message.text;
  item.append(author, " ", time);
  if (message.edited_at) item.append(" ", editedMark(message.edited_at));
  item.append(...messageButtons(message), text);
  if (shown.has(message.id)) return messageItem(message.id)?.replaceWith(item);
  shown.add(message.id);
  // Live messages, catch-up pages and older pages can interleave: insert by id.
  let previous = list.lastElementChild;
  while (previous && Number(previous.dataset.id) > message.id) previous = previous.previousElementSibling;
  if (previous) previous.after(item); else list.prepend(item);
}

function messageItem(id) { return list.querySelector(`li[data-id="${id}"]`); }

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

/** GET a path of the API, with the token when we hold one. */
function getFrom(path) {
  const token = localStorage.getItem(TOKEN);
  return fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

async function getMessages(query) {
  const response = await getFrom(`/messages?room=${room}&${query}`); // room: ignored before step 12
  historyKept = response.status !== 404; // no history before step 5 of the tutorial
  if (!historyKept) return [];
  const body = await response.json();
  // No token, an expired one, or (before step 9 of the tutorial) a 422 for one it cannot read.
  if (response.status === 401 || response.status === 422) showLogin(body.error);
  if (!response.ok) throw new Error(body.error);
  return body;
}

/** On load (and after logging in): the newest page of history, then the live connection. */
async function start() {
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me").hidden = !authRequired;
  $("me-name").textContent = localStorage.getItem(USER);
  setStatus("connecting");
  await showHistory();
  connect();
  listRooms().catch(showError);
}

/** Empty the list, then show the newest page of the room's history. */
async function showHistory() {
  list.replaceChildren();
  shown.clear();
  showError("");
  const page = await getMessages(`limit=${PAGE}`);
  page.forEach(addMessage);
  $("older").hidden = page.length < PAGE;
  scrollToBottom();
}

/** After every (re)connect: fetch what was sent while we were away (the first time too, since
 * messages may have arrived between the history request and the connection), from `after` on.
 * Messages shown after `after` are read again: edits show, and those gone were deleted (step 13). */
async function catchUp(after) {
  const from = after, newestShown = lastId(), found = new Set();
  for (;;) {
    const page = await getMessages(`limit=${CATCH_UP}&after=${after}`);
    addNewMessages(page);
    page.forEach((message) => found.add(message.id));
    if (page.length < CATCH_UP) break;
    after = page[page.length - 1].id;
  }
  if (!historyKept) return; // before step 5 nothing is kept: nothing to read again
  for (const item of [...list.children]) {
    const id = Number(item.dataset.id);
    if (id > from && id <= newestShown && !found.has(id)) item.remove();
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
  const who = authRequired ? { token: localStorage.getItem(TOKEN) }
                           : handshakeName ? { name: handshakeName } : {};
  send({ ...who, room }); // the room to start in (step 12; an earlier server ignores it)
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
    // From the oldest message shown: those are read again, for edits and deletions missed (step 13).
    catchUp(list.firstElementChild ? oldestId() - 1 : 0).catch(showError);
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
  // edit_message and delete_message (REST, step 13) changed a message of our room.
  socket.on("message_updated", (message) => { if (shown.has(message.id)) addMessage(message); });
  socket.on("message_deleted", ({ id }) => messageItem(id)?.remove());
  // on_typing (step 14): someone else in our room started or stopped typing; a message of theirs
  // means they are done.
  socket.on("typing", ({ room: where, user, typing }) => {
    if (where === room) typing ? isTyping(user) : notTyping(user);
  });
  socket.on("new_message", (message) => notTyping(message.author));
  // on_connect and on_disconnect broadcast who is online.
  socket.on("presence", ({ room: where = room, online, users }) => {
    if (where !== room) return; // the room we just left
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
  stopTyping(false); // the message itself tells the others we are done (step 14)
  socket.emit("event_message", payload, (ack) => {
    if (!ack.ok) return showError(ack.error);
    // Empty the box only if it still holds this message: the next one may be in it already.
    if ($("text").value === payload.text) $("text").value = "";
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

// --- Rooms (step 12) -------------------------------------------------------------------------

/** The room the address names (/#grupo-1), or general. */
function roomInAddress() {
  return decodeURIComponent(location.hash.slice(1)).trim().toLowerCase() || "general";
}

/** Ours, general (where everyone starts), then the ROOMS_SHOWN rooms written in last (GET /rooms), as
 * links on one line; any other room is one name away, in the box beside them. A server before step
 * 12 answers 404: then the page has no rooms to show. */
async function listRooms() {
  const response = await getFrom(`/rooms?limit=${ROOMS_SHOWN}`);
  roomsListed = response.ok;
  $("rooms").hidden = !roomsListed;
  if (!roomsListed) return;
  const listed = (await response.json()).slice(0, ROOMS_SHOWN).map((each) => each.name);
  const names = [...new Set([room, "general", ...listed])]; // ours even while empty
  $("room-list").replaceChildren(...names.map((name) => {
    const link = document.createElement("a");
    link.href = `#${name}`;
    link.textContent = name;
    if (name === room) link.setAttribute("aria-current", "page");
    const item = document.createElement("li");
    item.append(link);
    return item;
  }));
}

/** The address names another room: join it (on_join in app.py), then show its history. */
async function enterRoom() {
  const next = roomInAddress(), left = room;
  if (next === room || !roomsListed) return;
  if (!ROOM_NAME.test(next)) {
    history.replaceState(null, "", `#${room}`);
    return showError(`"${next}" is not a room: use 1-32 of a-z, 0-9, - and _`);
  }
  room = next; // from now on, messages and presence of the room we leave are not shown
  try {
    // Joined first, history second: what is saved after the join arrives live, the rest in history.
    // Offline, the next handshake names the room instead.
    const ack = socket?.connected ? await socket.timeout(ACK_WAIT).emitWithAck("join", { room }) : { ok: true };
    if (!ack.ok) throw new Error(ack.error);
    if (room !== next) return; // another click came first
    await showHistory();
  } catch (error) {
    room = left;
    history.replaceState(null, "", `#${left}`);
    showError(error);
  }
  await listRooms();
}

window.addEventListener("hashchange", () => enterRoom().catch(showError));
// Another room, new or not listed: its name goes into the address, and enterRoom() does the rest.
$("new-room").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!$("room-name").reportValidity()) return;
  location.hash = $("room-name").value.trim().toLowerCase();
  $("room-name").value = "";
});

// --- Editing and deleting messages (step 13) -------------------------------------------------

function editedMark(editedAt) {
  const mark = document.createElement("small");
  mark.className = "edited";
  mark.textContent = "(edited)";
  mark.title = `edited ${new Date(editedAt).toLocaleString()}`;
  return mark;
}

/** Edit and Delete on our own messages, Delete on all for a moderator: only when logged in, and
 * only on a server that edits (its messages have `edited_at`, from step 13 on). */
function messageButtons(message) {
  const me = authRequired ? localStorage.getItem(USER) : null;
  if (!me || !("edited_at" in message)) return [];
  const mine = message.author === me, moderator = moderators.includes(me.toLowerCase());
  const buttons = [];
  if (mine) buttons.push(button("Edit", () => startEditing(message)));
  if (mine || moderator) buttons.push(button("Delete", (event) => deleteMessage(message, event.target)));
  return buttons;
}

function button(label, onClick) {
  const made = document.createElement("button");
  made.type = "button";
  made.className = "message-action";
  made.textContent = label;
  made.addEventListener("click", onClick);
  return made;
}

/** PATCH or DELETE /messages/<id> with our token; the answer, or the server's reason thrown. */
async function changeMessage(method, id, body) {
  const headers = { Authorization: `Bearer ${localStorage.getItem(TOKEN)}` };
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(`/messages/${id}`, { method, headers, body: body && JSON.stringify(body) });
  if (response.status === 204) return null;
  const answer = await response.json();
  if (response.status === 401) showLogin(answer.error);
  if (!response.ok) throw new Error(answer.error);
  return answer;
}

/** The text becomes a box: Enter saves it (edit_message in app.py), Escape gives up. */
function startEditing(message) {
  const text = messageItem(message.id)?.querySelector("p");
  if (!text) return;
  const box = document.createElement("input");
  box.className = "edit-text";
  box.value = message.text;
  box.setAttribute("aria-label", "Edit the message");
  box.addEventListener("keydown", async (event) => {
    if (event.key === "Escape") return box.replaceWith(text);
    if (event.key !== "Enter") return;
    try {
      addMessage(await changeMessage("PATCH", message.id, { text: box.value }));
      showError("");
    } catch (error) { showError(error); }
  });
  text.replaceWith(box);
  box.focus();
}

/** The first click asks "Delete?", a second within 3 s deletes (delete_message in app.py). */
async function deleteMessage(message, clicked) {
  if (clicked.textContent !== "Delete?") {
    clicked.textContent = "Delete?";
    return setTimeout(() => { clicked.textContent = "Delete"; }, 3000);
  }
  try {
    await changeMessage("DELETE", message.id);
    messageItem(message.id)?.remove();
    showError("");
  } catch (error) { showError(error); }
}

// --- Who is typing (step 14) -----------------------------------------------------------------

const TYPING_AGAIN = 2000; // ms: while we type, tell the others again this often
const TYPING_GONE = 3000;  // ms without news after which someone is no longer typing
const typists = new Map(); // who is typing in our room -> the timer that forgets them
let typingSentAt = 0, typingTimer = null, typingKnown = true;

/** A hue (0-359) from a name: the same name, the same colour, on every page. */
function hueOf(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) % 360;
  return hash;
}

function isTyping(user) {
  clearTimeout(typists.get(user));
  typists.set(user, setTimeout(() => notTyping(user), TYPING_GONE));
  showTypists();
}

function notTyping(user) {
  clearTimeout(typists.get(user));
  if (typists.delete(user)) showTypists();
}

/** One line, however many type: "ana is typing…", "ana and bea are…", "ana, bea and 48 others are…". */
function showTypists() {
  const names = [...typists.keys()];
  const shown = names.length > 3 ? [...names.slice(0, 2), `${names.length - 2} others`] : names;
  const list = shown.length > 1 ? `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}` : shown.join("");
  $("typing").textContent = names.length === 0 ? "" : `${list} ${names.length === 1 ? "is" : "are"} typing…`;
}

/** Tell on_typing we type, at most every TYPING_AGAIN ms; after TYPING_GONE ms of quiet, that we stopped.
 * A server before step 14 does not know the event: its answer says so, and we stop asking. */
function typed() {
  if (!socket?.connected || !typingKnown) return;
  if (Date.now() - typingSentAt > TYPING_AGAIN) {
    typingSentAt = Date.now();
    socket.emit("typing", { typing: true }, (ack) => { if (/unknown event/.test(ack?.error)) typingKnown = false; });
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_GONE);
}

/** We stopped typing: say so (unless our message, just sent, says it already); the next key starts afresh. */
function stopTyping(tellThem = true) {
  clearTimeout(typingTimer);
  if (tellThem && typingSentAt && socket?.connected) socket.emit("typing", { typing: false });
  typingSentAt = 0;
}

$("text").addEventListener("input", typed);

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
