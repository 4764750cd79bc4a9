// Live updates: the server pushes the whole list whenever it changes (server-sent events); we redraw the rows.
(function () {
  const body = document.querySelector("#live-calls tbody");
  const status = document.getElementById("live-status");
  const fmt = (v) => (v === null || v === undefined) ? "" : Number(v).toFixed(2);
  const labels = Array.from(document.querySelectorAll("#live-calls thead th"), (th) => th.textContent);
  function cell(row, text, cls) {
    const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls;
    td.dataset.label = labels[td.cellIndex] || ""; return td;
  }
  function draw(calls) {
    body.replaceChildren();
    document.getElementById("live-count").textContent = calls.length;
    if (!calls.length) { const r = body.insertRow(); r.className = "empty"; const td = cell(r, "No calls right now.", "muted"); td.colSpan = 8; return; }
    for (const c of calls) {
      const r = body.insertRow(); r.dataset.call = c.call_sid;
      const a = document.createElement("a"); a.href = "/admin/calls/" + encodeURIComponent(c.call_sid); a.textContent = c.call_sid.slice(0, 12) + "…";
      const first = r.insertCell(); first.dataset.label = labels[0]; first.appendChild(a);
      cell(r, c.caller); cell(r, c.language); cell(r, c.started);
      cell(r, c.step); cell(r, c.intent); cell(r, fmt(c.recognition), "num"); cell(r, fmt(c.distress), "num");
    }
  }
  const source = new EventSource("/admin/api/live/stream");
  source.addEventListener("calls", (e) => { draw(JSON.parse(e.data)); status.textContent = "live"; });
  source.onerror = () => { status.textContent = "reconnecting…"; };
})();
