// The chat page: parley.js from the same server (no CDN), every user text through textContent.
import { connect } from "/parley/parley.js";

const $ = (id) => document.getElementById(id);
const state = { socket: null, nick: "", room: "", rooms: [], welcomed: false, typing: new Map(), typingSent: false, typingTimer: 0 };

// A random key for this page load: after a dropped connection the page may take its own
// nickname back from its stale connection (the server checks the key).
const key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

// MARK: login

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.socket?.disconnect();
  state.welcomed = false;
  $("login-error").textContent = "";
  $("join").disabled = true;
  state.socket = start($("nickname").value);
});

function start(nickname) {
  const socket = connect("/parley", { query: { token: nickname, key }, autoConnect: false });
  socket.on("connect", () => setStatus("connected", "connected"));
  socket.on("connect_error", (error) => {
    if (!state.welcomed) {
      $("login-error").textContent = socket.active ? `Cannot reach the server (${error.message}); retrying…` : error.message;
      $("join").disabled = socket.active;
    } else if (!socket.active) {
      setStatus("offline", "disconnected", `Refused: ${error.message} Reload the page to join again.`);
    }
  });
  socket.on("disconnect", (reason) => {
    state.typing.clear();
    renderTyping();
    $("users").classList.add("stale");     // until the server says again who is online
    if (socket.active) setStatus("reconnecting", "reconnecting…", "Connection lost: reconnecting…");
    else setStatus("offline", "disconnected", `Disconnected (${reason}). Reload the page to join again.`);
  });
  socket.on("reconnect_attempt", (attempt) =>
    setStatus("reconnecting", "reconnecting…", `Connection lost: reconnecting (attempt ${attempt})…`));
  socket.on("reconnect_failed", () => setStatus("offline", "disconnected", "Could not reconnect. Reload the page to try again."));
  socket.on("welcome", welcome);
  socket.on("presence", presence);
  socket.on("message", (message) => { if (message.room === state.room) addMessage(message); });
  socket.on("typing", typing);
  socket.connect();
  return socket;
}

/** Every (re)connection starts with `welcome`: rooms belong to a connection, so join again. */
function welcome({ nick, rooms, limits }) {
  state.welcomed = true;
  state.nick = nick;
  state.rooms = rooms;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = nick;
  $("join").disabled = false;
  $("text").maxLength = limits.message;
  renderRooms();
  join(state.room || rooms[0]);
  $("text").focus();
}

// MARK: rooms and messages

async function join(room) {
  try {
    const joined = await state.socket.emitWithAck("join", room);
    // Back in the same room after a reconnection: keep what is shown, add what is new.
    const shown = joined.room === state.room ? [...$("messages").children].map((item) => Number(item.dataset.time ?? 0)) : [];
    const since = Math.max(0, ...shown);
    if (joined.room !== state.room) $("messages").replaceChildren();
    state.room = joined.room;
    state.typing.clear();
    renderTyping();
    renderRooms();
    $("room-title").textContent = "# " + joined.room;
    $("text").placeholder = `Message #${joined.room}`;
    for (const message of joined.history) if (message.time > since) addMessage(message);
  } catch (error) {
    $("send-error").textContent = error.message;
  }
}

function renderRooms() {
  $("rooms").replaceChildren(...state.rooms.map((room) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "# " + room;
    button.className = room === state.room ? "room active" : "room";
    button.addEventListener("click", () => { if (room !== state.room) join(room); });
    item.append(button);
    return item;
  }));
}

function addMessage({ author, text, time }) {
  const list = $("messages");
  const item = document.createElement("li");
  item.className = author === state.nick ? "message mine" : "message";
  const previous = list.lastElementChild;
  if (previous?.dataset.author === author && time - Number(previous.dataset.time) < 120000) item.classList.add("continued");
  item.dataset.author = author;
  item.dataset.time = String(time);
  const avatar = document.createElement("span");
  avatar.className = "avatar";
  avatar.textContent = Array.from(author)[0]?.toUpperCase() ?? "?";
  avatar.style.setProperty("--hue", String(hue(author)));
  const meta = document.createElement("div");
  meta.className = "meta";
  const name = document.createElement("span");
  name.className = "author";
  name.textContent = author;
  const stamp = document.createElement("time");
  stamp.dateTime = new Date(time).toISOString();
  stamp.textContent = new Date(time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  meta.append(name, stamp);
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  item.append(avatar, meta, body);
  appendToMessages(item);
}

function addNotice(text) {
  const item = document.createElement("li");
  item.className = "notice";
  item.textContent = text;
  appendToMessages(item);
}

function appendToMessages(item) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  if (atBottom || item.classList.contains("mine")) list.scrollTop = list.scrollHeight;
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text.trim() || !state.socket) return;
  stopTyping();
  try {
    await state.socket.emitWithAck("message", { room: state.room, text });
    input.value = "";
    $("send-error").textContent = "";
  } catch (error) {
    $("send-error").textContent = error.message;
  }
});

// MARK: presence and typing

function presence({ users, joined, left }) {
  $("users").classList.remove("stale");
  $("online-count").textContent = String(users.length);
  $("users").replaceChildren(...users.map((user) => {
    const item = document.createElement("li");
    const dot = document.createElement("span");
    dot.className = "dot";
    const name = document.createElement("span");
    name.textContent = user;
    item.append(dot, name);
    if (user === state.nick) item.classList.add("self");
    return item;
  }));
  if (joined && joined !== state.nick) addNotice(`${joined} joined`);
  if (left && left !== state.nick) {
    addNotice(`${left} left`);
    state.typing.delete(left);
    renderTyping();
  }
}

$("text").addEventListener("input", () => {
  if (!state.socket?.connected) return;
  if (!state.typingSent) state.socket.volatile.emit("typing", true);
  state.typingSent = true;
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, 2000);
});

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent) state.socket?.volatile.emit("typing", false);
  state.typingSent = false;
}

function typing({ nick, typing: isTyping }) {
  clearTimeout(state.typing.get(nick));
  if (isTyping) state.typing.set(nick, setTimeout(() => { state.typing.delete(nick); renderTyping(); }, 5000));
  else state.typing.delete(nick);
  renderTyping();
}

function renderTyping() {
  const names = [...state.typing.keys()];
  $("typing").textContent = names.length === 0 ? ""
    : names.length === 1 ? `${names[0]} is typing…`
    : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
    : "Several people are typing…";
}

// MARK: helpers

function setStatus(name, label, banner = "") {
  $("status").dataset.state = name;
  $("status").textContent = label;
  $("banner").textContent = banner;
  $("banner").hidden = banner === "";
}

function hue(text) {
  let hash = 0;
  for (const character of text) hash = (hash * 31 + character.codePointAt(0)) % 360;
  return hash;
}
