// Parley admin dashboard: live counters over the server's admin namespace. Read-only.
import { connect } from "./parley.js";

const meta = document.querySelector('meta[name="parley-admin"]');
const params = new URLSearchParams(location.search);
const token = params.get("token") ?? meta.dataset.token;
// The token has done its job in the address bar: keep it out of history and bookmarks.
if (params.has("token")) {
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.size ? "?" + params : ""));
}
const webSocketPath = location.pathname.replace(/\/admin$/, "") || "/";
const socket = connect(webSocketPath, { query: { token }, namespace: meta.dataset.namespace });

const $ = (id) => document.getElementById(id);
let history_ = [];
let latest = null;
let selectedNamespace = "/";
let selectedRoom = null;

// Numbers as people read them.
const count = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n));
const rate = (n) => n >= 100 ? count(n) : n.toFixed(n < 10 && n % 1 ? 1 : 0);
const bytes = (n) => n >= 1048576 ? (n / 1048576).toFixed(1) + " MB/s" : n >= 1024 ? (n / 1024).toFixed(1) + " KB/s" : Math.round(n) + " B/s";
const duration = (s) => s < 60 ? Math.floor(s) + " s" : s < 3600 ? Math.floor(s / 60) + " min" : (s / 3600).toFixed(1) + " h";

function setStatus(kind, text) {
  $("status").className = "status " + kind;
  $("status-text").textContent = text;
}

socket.on("connect", () => setStatus("live", "live"));
socket.on("disconnect", (reason) => setStatus("down", "disconnected (" + reason + ")"));
socket.on("connect_error", (error) => setStatus("down", "refused: " + (error.message ?? error)));
socket.on("history", (points) => { history_ = points; draw(); });
socket.on("snapshot", (snapshot) => {
  latest = snapshot;
  history_.push(snapshot.point);
  if (history_.length > 600) history_.splice(0, history_.length - 600);
  render(snapshot);
  draw();
});

function render(s) {
  $("connections").textContent = count(s.point.connections);
  $("accepted").textContent = count(s.connectionsAccepted);
  $("messages-in").textContent = rate(s.point.messagesInPerSecond);
  $("messages-out").textContent = rate(s.point.messagesOutPerSecond);
  $("bytes-in").textContent = bytes(s.bytesInPerSecond);
  $("bytes-out").textContent = bytes(s.bytesOutPerSecond);
  const dropped = s.volatileDropped + s.sendQueueFullCloses;
  $("dropped").textContent = count(dropped);
  $("dropped").className = "big" + (dropped > 0 ? " bad" : "");
  $("volatile").textContent = count(s.volatileDropped);
  $("queue-full").textContent = count(s.sendQueueFullCloses);
  $("acks").textContent = count(s.pendingAcks);
  if (s.cluster) {
    $("cluster").textContent = s.cluster.connected ? "up" : "down";
    $("cluster").className = "big " + (s.cluster.connected ? "ok" : "bad");
    // Kept events that never reached this node (recovery across nodes): shown once there are any.
    const missed = s.cluster.entriesMissed > 0 ? " · " + count(s.cluster.entriesMissed) + " kept events missed" : "";
    $("cluster-detail").textContent = s.cluster.kind + " · " + count(s.cluster.publishesDropped) + " publications dropped" + missed;
  } else {
    $("cluster").textContent = "—";
    $("cluster-detail").textContent = "single node (in-memory adapter)";
  }
  renderNamespaces(s.namespaces);
  renderRefusals(s.refusals);
}

function row(cells, { pick, selected } = {}) {
  const tr = document.createElement("tr");
  for (const [text, className] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    td.title = text;
    tr.append(td);
  }
  if (pick) { tr.className = "pick" + (selected ? " selected" : ""); tr.addEventListener("click", pick); }
  return tr;
}

function renderNamespaces(namespaces) {
  $("namespaces").replaceChildren(...namespaces.map((ns) => row(
    [[ns.name], [count(ns.sockets), "n"], [count(ns.roomCount), "n"]],
    { pick: () => { selectedNamespace = ns.name; selectedRoom = null; render(latest); showMembers(); }, selected: ns.name === selectedNamespace })));
  const current = namespaces.find((ns) => ns.name === selectedNamespace);
  $("rooms-of").textContent = current ? "in " + current.name + (current.roomCount > current.rooms.length ? " (largest " + current.rooms.length + " of " + current.roomCount + ")" : "") : "";
  const rooms = current ? current.rooms : [];
  $("rooms").replaceChildren(...rooms.map((room) => row(
    [[room.name], [count(room.members), "n"]],
    { pick: () => { selectedRoom = room.name; render(latest); showMembers(); }, selected: room.name === selectedRoom })));
  $("rooms-empty").hidden = rooms.length > 0;
  $("rooms-empty").textContent = current ? "No rooms in " + current.name + "." : "Pick a namespace.";
}

function renderRefusals(refusals) {
  const causes = Object.entries(refusals).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  $("refusals").replaceChildren(...(causes.length ? causes.map(([cause, n]) => row([[cause.replaceAll("_", " ")], [count(n), "n"]]))
    : [row([["none"], ["0", "n"]])]));
}

async function showMembers() {
  $("members-of").textContent = selectedRoom ? "of " + selectedRoom : "";
  if (!selectedRoom) { $("members").replaceChildren(); $("members-empty").hidden = false; return; }
  try {
    const members = await socket.emitWithAck("room", { namespace: selectedNamespace, room: selectedRoom }, { timeout: 5000 });
    const now = Date.now();
    $("members").replaceChildren(...members.map((m) => row(
      [[m.id, "mono"], [m.address, "mono"], [new Date(now - m.connectedFor * 1000).toLocaleTimeString() + " (" + duration(m.connectedFor) + ")"]])));
    $("members-empty").hidden = members.length > 0;
    $("members-empty").textContent = "Nobody in " + selectedRoom + " now.";
  } catch (error) {
    $("members-empty").hidden = false;
    $("members-empty").textContent = String(error.message ?? error);
  }
}
// Members change too: refresh the list every few seconds while a room is shown.
setInterval(() => { if (selectedRoom && socket.connected) showMembers(); }, 3000);

// Charts: canvas, no library. One line (or two) over the history, with a light fill and a few grid lines.
function chart(canvas, series, { integer }) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const left = 44, right = 8, top = 8, bottom = 20;
  const points = history_;
  const max = Math.max(integer ? 4 : 1, ...series.flatMap((s) => points.map(s.value)));
  const niceMax = niceCeiling(max);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7080"; g.strokeStyle = "#e4e6ec"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + (height - top - bottom) * (1 - i / 4);
    g.beginPath(); g.moveTo(left, y + .5); g.lineTo(width - right, y + .5); g.stroke();
    const label = niceMax * i / 4;
    g.textAlign = "right"; g.fillText(integer ? count(label) : rate(label), left - 6, y + 4);
  }
  if (points.length < 2) return;
  const t0 = points[0].time, t1 = points[points.length - 1].time;
  const span = Math.max(t1 - t0, 1000);
  const x = (t) => left + (width - left - right) * (t - t0) / span;
  const y = (v) => top + (height - top - bottom) * (1 - v / niceMax);
  g.textAlign = "left"; g.fillText(new Date(t0).toLocaleTimeString(), left, height - 5);
  g.textAlign = "right"; g.fillText(new Date(t1).toLocaleTimeString(), width - right, height - 5);
  for (const s of series) {
    g.beginPath();
    points.forEach((p, i) => { const px = x(p.time), py = y(s.value(p)); if (i) g.lineTo(px, py); else g.moveTo(px, py); });
    g.strokeStyle = s.color; g.lineWidth = 2; g.stroke();
    g.lineTo(x(t1), y(0)); g.lineTo(x(t0), y(0)); g.closePath();
    g.fillStyle = s.color + "1f"; g.fill();
  }
}

function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  // Steps whose quarters are round too: 4, 8, 20, 40 give grid lines at 1, 2, 5, 10.
  for (const step of [1, 2, 4, 8, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function draw() {
  const styles = getComputedStyle(document.documentElement);
  const accent = styles.getPropertyValue("--accent").trim(), out = styles.getPropertyValue("--out").trim();
  if (history_.length > 1) {
    const minutes = Math.max(1, Math.round((history_[history_.length - 1].time - history_[0].time) / 60000));
    for (const span of document.querySelectorAll(".window")) span.textContent = minutes === 1 ? "minute" : minutes + " minutes";
  }
  chart($("chart-connections"), [{ value: (p) => p.connections, color: accent }], { integer: true });
  chart($("chart-messages"), [{ value: (p) => p.messagesInPerSecond, color: accent }, { value: (p) => p.messagesOutPerSecond, color: out }], { integer: false });
}
window.addEventListener("resize", draw);
window.admin = { socket, get latest() { return latest; }, get history() { return history_; } };
