"""The search page served at ``/``: drop a photo (or pick one), see the top-k grid. Plain HTML and fetch()."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fashionret search</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
 #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5em; text-align: center; }
 #drop.over { background: #eef; }
 #status { margin: .8em 0; min-height: 1.2em; }
 #status.error { color: #b00; }
 #query img { max-height: 160px; border: 1px solid #ccc; }
 #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
 .hit { border: 1px solid #ccc; border-radius: 6px; padding: 6px; font-size: 12px; }
 .hit img { width: 100%; height: 150px; object-fit: contain; background: #f4f4f4; }
 .rank { font-weight: bold; }
 .path { color: #666; word-break: break-all; }
</style>
</head>
<body>
<h1>fashionret search</h1>
<p id="about">loading...</p>
<div id="drop">Drop a photo here, or <input type="file" id="file" accept="image/*">
 &nbsp; top <input type="number" id="k" value="10" min="1" max="100" style="width:4em">
 <span id="attr-box" hidden>&nbsp; attribute <select id="attribute"></select></span>
</div>
<div id="status"></div>
<div id="query"></div>
<div id="grid"></div>
<script>
const $ = (id) => document.getElementById(id);
fetch("/api/health").then(r => r.json()).then(h => {
  $("about").textContent = `${h.items} items, model ${h.model}, ${h.similarity} similarity, ` +
    `queries embedded with ${h.embedder}, search: ${h.backends.join(" / ")}`;
  if (h.attribute_conditioned) {
    $("attr-box").hidden = false;
    const names = h.attribute_names.length ? h.attribute_names : [...Array(8).keys()].map(String);
    names.forEach((n, i) => { const o = document.createElement("option"); o.value = i; o.textContent = n;
      $("attribute").appendChild(o); });
  }
});
function show(data) {
  const grid = $("grid");
  grid.innerHTML = "";
  const label = data.similarity === "cosine" ? "cosine" : "distance";
  for (const r of data.results) {
    const d = document.createElement("div");
    d.className = "hit";
    d.dataset.rank = r.rank; d.dataset.path = r.path; d.dataset.item = r.item;
    const img = document.createElement("img");
    img.src = r.image_url; img.alt = r.path;
    const cap = document.createElement("div");
    const name = r.path.split("/").slice(-2).join("/");
    cap.innerHTML = `<span class="rank">#${r.rank}</span> ${label} ${r.score.toFixed(4)}` +
      (r.label !== null ? `<br>item ${r.label}` : "") + `<br><span class="path"></span>`;
    cap.querySelector(".path").textContent = name;
    d.append(img, cap);
    grid.appendChild(d);
  }
  $("status").className = "";
  $("status").textContent = `top ${data.results.length} (${data.backend} search, ${data.search_ms} ms)`;
}
function search(file) {
  $("status").className = ""; $("status").textContent = "searching...";
  $("query").innerHTML = "";
  const img = document.createElement("img");
  img.src = URL.createObjectURL(file); img.alt = "query";
  $("query").appendChild(img);
  const form = new FormData();
  form.append("image", file);
  form.append("k", $("k").value);
  if (!$("attr-box").hidden) form.append("attribute", $("attribute").value);
  fetch("/api/search", { method: "POST", body: form }).then(async r => {
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || r.statusText);
    show(data);
  }).catch(e => { $("grid").innerHTML = ""; $("status").className = "error"; $("status").textContent = e.message; });
}
$("file").addEventListener("change", e => { if (e.target.files.length) search(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) search(e.dataTransfer.files[0]);
});
</script>
</body>
</html>
"""
