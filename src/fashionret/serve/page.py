"""The search page served at ``/``: drop a photo (or pick one), see the top-k grid, each result named by its item;
a click on a result searches with that item, "more" pages on, an attribute selector appears for an
attribute-conditioned index, and an image that cannot be shown becomes a grey box saying so. Plain HTML and
fetch()."""

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
 .hit { cursor: pointer; }
 .hit:hover { border-color: #36c; }
 .name { font-weight: bold; font-size: 13px; }
 .noimg { width: 100%; height: 150px; display: flex; align-items: center; justify-content: center;
          background: #f4f4f4; color: #888; }
 #more { margin: 1em 0; }
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
<button id="more" hidden>more</button>
<script>
const $ = (id) => document.getElementById(id);
let last = null;  // the current search: {body (FormData or JSON), shown}
fetch("/api/health").then(r => r.json()).then(h => {
  $("about").textContent = `${h.items} items, model ${h.model}, ${h.similarity} similarity, ` +
    (h.embedder ? `queries embedded with ${h.embedder}` : "embedding queries only") +
    `, search: ${h.backends.join(" / ")} -- click a result to search with it`;
  if (h.attribute_conditioned) {
    $("attr-box").hidden = false;
    const names = h.attribute_names.length ? h.attribute_names : [...Array(8).keys()].map(String);
    names.forEach((n, i) => { const o = document.createElement("option"); o.value = i; o.textContent = n;
      $("attribute").appendChild(o); });
  }
});
function picture(url, alt) {  // an image, or a grey box saying why there is none: never a broken image
  const box = document.createElement("div");
  box.className = "noimg"; box.textContent = "no image";
  if (!url) return box;
  const img = document.createElement("img");
  img.src = url; img.alt = alt;
  img.onerror = () => { box.textContent = "image unavailable"; img.replaceWith(box); };
  return img;
}
function card(r, label) {
  const d = document.createElement("div");
  d.className = "hit";
  d.dataset.rank = r.rank; d.dataset.item = r.item; d.dataset.itemId = r.item_id; d.dataset.path = r.path || "";
  d.title = "search with this item";
  const cap = document.createElement("div");
  cap.innerHTML = `<span class="name"></span><br><span class="rank">#${r.rank}</span> ${label} ` +
    `${r.score.toFixed(4)}<br><span class="path"></span>`;
  cap.querySelector(".name").textContent = r.item_id;
  cap.querySelector(".path").textContent = r.path ? r.path.split("/").slice(-2).join("/") : "";
  d.append(picture(r.image_url, r.item_id), cap);
  d.addEventListener("click", () => searchItem(r));
  return d;
}
function show(data, append) {
  const grid = $("grid");
  if (!append) grid.innerHTML = "";
  const label = data.similarity === "cosine" ? "cosine" : "distance";
  for (const r of data.results) grid.appendChild(card(r, label));
  $("more").hidden = !data.more;
  const n = grid.children.length;
  $("status").className = "";
  $("status").textContent = `top ${n} (${data.backend} search, ${data.search_ms} ms)`;
}
function fail(e) {
  $("grid").innerHTML = ""; $("more").hidden = true;
  $("status").className = "error"; $("status").textContent = e.message;
}
function post(offset) {
  const k = $("k").value;
  const attr = $("attr-box").hidden ? null : $("attribute").value;
  let init;
  if (last.file) {
    const form = new FormData();
    form.append("image", last.file); form.append("k", k); form.append("offset", offset);
    if (attr !== null) form.append("attribute", attr);
    init = { method: "POST", body: form };
  } else {
    const body = { item: last.item, k: Number(k), offset: offset };
    if (attr !== null) body.attribute = attr;
    init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  }
  return fetch("/api/search", init).then(async r => {
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || r.statusText);
    return data;
  });
}
function start(query, caption) {
  last = query;
  $("status").className = ""; $("status").textContent = "searching...";
  $("query").innerHTML = "";
  const cap = document.createElement("div");
  cap.textContent = caption;
  $("query").append(query.picture, cap);
  post(0).then(d => show(d, false)).catch(fail);
}
function search(file) {
  start({ file: file, picture: picture(URL.createObjectURL(file), "query") }, `query: ${file.name}`);
}
function searchItem(r) {
  start({ item: r.item, picture: picture(r.image_url, r.item_id) }, `query: item ${r.item_id}`);
}
$("more").addEventListener("click", () => {
  post($("grid").children.length).then(d => show(d, true)).catch(fail);
});
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
