// A chat page in 30 lines: connect, send with an acknowledgement, show messages and who is online.
const $ = (id) => document.getElementById(id);

// The handshake's auth object carries our name: presence lists it, and it signs our messages.
const socket = io({ auth: { name: prompt("Your name?") || undefined } });

// on_connect refused us (a name too long, say): say why.
socket.on("connect_error", (error) => { $("error").textContent = error.message; });

// on_event_message saved a message and sent it to everyone, us included.
socket.on("new_message", (message) => {
  const line = document.createElement("li");
  line.textContent = `${message.author}: ${message.text}`; // as text, never as HTML
  $("messages").append(line);
});

// on_connect and on_disconnect say who is online.
socket.on("presence", ({ online, users }) => {
  $("presence").textContent = `${online} online: ${users.join(", ")}`;
});

$("send").addEventListener("submit", (event) => {
  event.preventDefault(); // stay on this page
  // The callback gets what on_event_message returned: {ok: true, message} or {ok: false, error}.
  socket.emit("event_message", { text: $("text").value }, (ack) => {
    $("error").textContent = ack.ok ? "" : ack.error;
    if (ack.ok) $("text").value = "";
  });
});
