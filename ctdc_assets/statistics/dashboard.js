/* The statistics dashboard's script. Reads only the protected tables inlined as JSON.
   Every figure shown is a published count or a sum of published counts. */
(function () {
  "use strict";
  const ALL = "All";
  const PHASES = (window.dashboardPhases = [["script start", performance.now()]]);
  const D = JSON.parse(document.getElementById("data").textContent);
  const K = D.threshold;
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"];
  const UNKNOWN = new Set(["Unknown", "Not recorded", "00"]);
  const fmt = new Intl.NumberFormat("en");
  const pct = (x) => (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%";
  document.querySelectorAll(".threshold").forEach((el) => (el.textContent = String(K - 1)));
  document.querySelectorAll(".threshold1").forEach((el) => (el.textContent = String(K)));
  document.querySelectorAll(".method").forEach((el) => (el.hidden = el.dataset.method !== D.method));

  // ---------------------------------------------------------------- data access
  const T = {};
  for (const [name, t] of Object.entries(D.tables)) {
    const col = {};
    for (const dim of t.dims) col[dim] = t.idx[dim].map((i) => t.dict[dim][i]);
    T[name] = { dims: t.dims, col, n: t.n, title: t.title, multi: t.multi, rows: t.n.length };
  }
  PHASES.push(["data decoded", performance.now()]);
  const YEARS = [...new Set(T.victims_by_year_datasource.col.year)]
    .filter((y) => /^\d{4}$/.test(y)).sort();
  const REGIONS = [...new Set(T.victims_by_year_datasource.col.region)]
    .filter((r) => r !== ALL).sort((a, b) => (a === "Unknown") - (b === "Unknown") || a.localeCompare(b));
  const name = (code) => (code === "00" ? "Unknown" : D.names[code] || code);

  const state = { from: YEARS[0], to: YEARS[YEARS.length - 1], region: ALL, mapBy: "exploitation_country", flowsUnknown: false, f: {} };
  /* Cell key: the drill-down filters read dashboard_cells, where every combination of
     up to two filters besides the years is a perturbed cell of its own. */
  const DRILL = !!T.dashboard_cells;
  const DEV = D.maxDeviation || 0;
  const MAX_FILTERS = 2;
  const DRILL_FILTERS = DRILL ? [
    ["f-country", "exploitation_country", "Country of exploitation"], ["f-cit-region", "citizenship_region", "UN region of citizenship"],
    ["f-citizenship", "citizenship", "Citizenship"], ["f-gender", "gender", "Gender"], ["f-age", "age_band", "Age band"],
    ["f-type", "type_of_exploitation", "Type of exploitation"]] : [];
  const active = () => Object.entries(state.f).filter(([, v]) => v !== ALL);
  const filterCount = () => active().length + (state.region !== ALL ? 1 : 0);
  const summed = () => !fullRange() && state.from !== state.to; // yearly cells added up
  const fullRange = () => state.from === YEARS[0] && state.to === YEARS[YEARS.length - 1];

  /* Sum published counts of `table` grouped by `by`, for the current filter.
     Dimensions not in `by` must be All (or equal to `where`). Returns Map key -> cell,
     cell = {n: sum of published, hidden: suppressed counts left out, parts}. */
  function query(table, by, opts) {
    opts = opts || {};
    const t = T[table];
    const where = opts.where || {};
    const yearFixed = !t.dims.includes("year") || t.col.year.every((y) => y === ALL);
    const useAllYears = yearFixed || opts.allYears || (fullRange() && !by.includes("year"));
    const years = new Set(YEARS.filter((y) => y >= state.from && y <= state.to));
    const region = opts.anyRegion ? ALL : opts.region !== undefined ? opts.region : state.region; // a chart by region: totals of all
    const out = new Map();
    const checks = t.dims.filter((d) => d !== "year" && d !== "region" && !by.includes(d));
    for (let i = 0; i < t.rows; i++) {
      const y = t.col.year[i];
      if (by.includes("year")) { if (!years.has(y)) continue; }
      else if (useAllYears) { if (y !== ALL) continue; }
      else if (!years.has(y)) continue;
      const r = t.col.region[i];
      if (by.includes("region")) { if (r === ALL) continue; }
      else if (r !== region) continue;
      let ok = true;
      for (const d of checks) {
        const v = t.col[d][i];
        if (v !== (where[d] !== undefined ? where[d] : ALL)) { ok = false; break; }
      }
      if (!ok) continue;
      for (const d of by) if (t.col[d][i] === ALL) { ok = false; break; }
      if (!ok) continue;
      const key = by.map((d) => t.col[d][i]).join("\u001f");
      const cell = out.get(key) || { n: 0, hidden: 0, parts: 0, key: by.map((d) => t.col[d][i]) };
      const n = t.n[i];
      if (n < 0) cell.hidden += 1; else cell.n += n;
      cell.parts += 1;
      out.set(key, cell);
    }
    return out;
  }
  /* The drill-down cells of `by` under the filters: a country chart under a region filter
     shows that region's countries (the cells by country: a country names its region). */
  function dquery(by, opts) {
    const where = {};
    for (const [d, v] of active()) if (!by.includes(d)) where[d] = v;
    let region = state.region;
    if (by.includes("exploitation_country") || where.exploitation_country) region = ALL;
    const citRegion = where.citizenship_region;
    if (by.includes("citizenship")) delete where.citizenship_region;
    // a region chart under a country filter: that country's cell, under its region
    for (const [parent, child] of [["region", "exploitation_country"], ["citizenship_region", "citizenship"]]) {
      if (by.length === 1 && by[0] === parent && where[child]) {
        const one = query("dashboard_cells", [], Object.assign({}, opts, { where, region: ALL, anyRegion: false })).get("");
        const key = D.regionOf[where[child]] || "Unknown";
        return new Map(one ? [[key, Object.assign({}, one, { key: [key] })]] : []);
      }
    }
    const out = query("dashboard_cells", by, Object.assign({}, opts, { where, region, anyRegion: false }));
    const within = (dim, value) => {
      const i = by.indexOf(dim);
      for (const [k, c] of out) if ((D.regionOf[c.key[i]] || "Unknown") !== value) out.delete(k);
    };
    if (state.region !== ALL && by.includes("exploitation_country")) within("exploitation_country", state.region);
    if (citRegion && by.includes("citizenship")) within("citizenship", citRegion);
    return out;
  }
  const q = (table, by, opts) => (DRILL && opts && opts.drill ? dquery(by, opts) : query(table, by, opts));
  const total = (table, opts) => q(table, [], opts).get("") || { n: 0, hidden: 0, parts: 0 };
  const shown = (c) => c.parts > c.hidden; // at least one published count in it
  function valueText(c) {
    if (!shown(c)) return "suppressed";
    return (c.hidden ? "at least " : "") + fmt.format(c.n);
  }
  const hoverText = (label, c, tot) => {
    let s = "<b>" + esc(label) + "</b><br>";
    if (!shown(c)) return s + "suppressed (hidden to protect the people counted)";
    s += (c.hidden ? "at least " : "") + fmt.format(c.n) + " victims";
    if (tot && tot.n > 0 && !tot.hidden && shown(tot)) s += " (" + pct(c.n / tot.n) + " of " + fmt.format(tot.n) + ")";
    if (c.hidden) s += "<br>" + c.hidden + " suppressed yearly " + (c.hidden > 1 ? "counts" : "count") + " left out";
    if (DEV && c.parts > 1) s += "<br>sum of " + c.parts + " perturbed yearly counts: within ±" + fmt.format(c.parts * DEV) + " of the true count";
    return s;
  };
  function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }
  const filterLabel = (allYears) => {
    const years = allYears || fullRange() ? "all years" : state.from === state.to ? state.from : state.from + "–" + state.to;
    return years + (state.region === ALL ? ", all regions" : ", " + state.region) +
      active().map(([d, v]) => ", " + (d.endsWith("country") || d === "citizenship" ? name(v) : v)).join("");
  };

  // ---------------------------------------------------------------- svg kit
  const NS = "http://www.w3.org/2000/svg";
  const tip = document.getElementById("tip");
  function svgEl(tag, attrs, parent) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (parent) parent.appendChild(el);
    return el;
  }
  /* Text cut to a width in pixels (about 6.6 px a character at 12 px); the full text
     stays in the tooltip and the aria-label. */
  function fit(str, px) {
    const n = Math.max(4, Math.floor(px / 6.6));
    return str.length > n ? str.slice(0, n - 1) + "…" : str;
  }
  function text(parent, x, y, str, attrs) {
    const t = svgEl("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = str;
    return t;
  }
  function canvas(id, height, label) {
    const host = document.getElementById(id);
    host.textContent = "";
    host.style.height = height + "px";
    const width = Math.max(host.clientWidth, 280);
    const svg = svgEl("svg", { width, height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": label }, host);
    return { svg, width, height };
  }
  /* A mark with a tooltip: hover (mouse) or focus (keyboard) shows it. */
  function mark(el, html, label) {
    el.dataset.tip = html;
    el.setAttribute("tabindex", "0");
    el.setAttribute("aria-label", label);
    el.classList.add("mark");
    return el;
  }
  function showTip(el, x, y) {
    tip.innerHTML = el.dataset.tip;
    tip.style.display = "block";
    tip.style.left = Math.min(x + 14, window.innerWidth - 280) + "px";
    tip.style.top = Math.min(y + 14, window.innerHeight - 80) + "px";
  }
  document.addEventListener("mousemove", (e) => {
    const el = e.target.closest && e.target.closest("[data-tip]");
    if (el) showTip(el, e.clientX, e.clientY); else tip.style.display = "none";
  });
  document.addEventListener("focusin", (e) => {
    if (e.target.dataset && e.target.dataset.tip) { const r = e.target.getBoundingClientRect(); showTip(e.target, r.right, r.top); }
  });
  document.addEventListener("focusout", () => (tip.style.display = "none"));
  function niceMax(v) {
    if (v <= 0) return { max: 1, step: 1 };
    const raw = v / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    return { max: Math.ceil(v / step) * step, step };
  }
  const short = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1).replace(".0", "") + "M" : n >= 1e4 ? Math.round(n / 1e3) + "k" : fmt.format(n));
  function legendRow(svg, series, x0, y) {
    let x = x0;
    for (const s of series) {
      svgEl("rect", { x, y: y - 9, width: 11, height: 11, fill: s.color, rx: 2 }, svg);
      const t = text(svg, x + 15, y, s.name, { class: "legend-text" });
      x += 15 + Math.max(40, s.name.length * 7.4) + 16;
      void t;
    }
  }

  /* Horizontal bars: items [{label, cell, color}] with tot for shares. */
  function hbars(id, items, tot, title) {
    const rowH = 22, top = 6, bottom = 24;
    const height = top + bottom + Math.max(items.length, 1) * rowH;
    const { svg, width } = canvas(id, height, title);
    const labelW = Math.min(width * 0.45, Math.max(90, ...items.map((it) => it.label.length * 6.8 + 14)));
    const plotW = width - labelW - 70;
    const { max, step } = niceMax(Math.max(0, ...items.map((it) => (shown(it.cell) ? it.cell.n : 0))));
    const xs = (v) => labelW + (v / max) * plotW;
    for (let v = 0; v <= max + 1e-9; v += step) {
      svgEl("line", { x1: xs(v), x2: xs(v), y1: top, y2: height - bottom, class: "grid" }, svg);
      text(svg, xs(v), height - 8, short(v), { class: "tick", "text-anchor": "middle" });
    }
    items.forEach((it, i) => {
      const y = top + i * rowH;
      text(svg, labelW - 8, y + rowH / 2 + 4, fit(it.label, labelW - 12), { class: "label", "text-anchor": "end" });
      const c = it.cell;
      const label = it.label + ": " + valueText(c);
      if (!shown(c)) {
        const g = mark(svgEl("g", {}, svg), hoverText(it.label, c, tot), label);
        svgEl("rect", { x: labelW, y: y + 3, width: 70, height: rowH - 6, fill: "url(#hatch)" }, g);
        text(g, labelW + 76, y + rowH / 2 + 4, "suppressed", { class: "muted" });
        return;
      }
      const w = Math.max(1, xs(c.n) - labelW);
      mark(svgEl("rect", { x: labelW, y: y + 3, width: w, height: rowH - 6, fill: it.color, rx: 2 }, svg), hoverText(it.label, c, tot), label);
      text(svg, labelW + w + 4, y + rowH / 2 + 4, (c.hidden ? "≥" : "") + short(c.n), { class: "value" });
    });
    if (!items.length) text(svg, 8, top + rowH / 2 + 4, "Every count of this breakdown is below " + K + " and shows as 0.", { class: "muted" });
  }

  /* Vertical bars, stacked or grouped: xs (categories), series [{name, color, cells[]}]. */
  function vbars(id, xs, series, opts) {
    const height = opts.height || 320, top = 30, bottom = opts.bottom || 40, left = opts.left || 56, right = 10;
    const { svg, width } = canvas(id, height, opts.title);
    const stacked = opts.stacked;
    const val = (c) => (c && shown(c) ? c.n : 0);
    const peak = stacked ? Math.max(0, ...xs.map((_, i) => series.reduce((a, s) => a + val(s.cells[i]), 0))) : Math.max(0, ...series.flatMap((s) => s.cells.map(val)));
    const { max, step } = niceMax(peak);
    const plotH = height - top - bottom, band = (width - left - right) / Math.max(xs.length, 1);
    const ys = (v) => top + plotH - (v / max) * plotH;
    for (let v = 0; v <= max + 1e-9; v += step) {
      svgEl("line", { x1: left, x2: width - right, y1: ys(v), y2: ys(v), class: "grid" }, svg);
      text(svg, left - 6, ys(v) + 4, short(v), { class: "tick", "text-anchor": "end" });
    }
    legendRow(svg, series, left, 14);
    xs.forEach((x, i) => {
      const cx = left + i * band;
      const xl = opts.xlabel ? opts.xlabel(x) : x;
      const t = text(svg, cx + band / 2, top + plotH + 16, opts.rotate ? fit(xl, bottom * 1.6) : xl, { class: "tick", "text-anchor": opts.rotate ? "end" : "middle" });
      if (opts.rotate) t.setAttribute("transform", "rotate(-30 " + (cx + band / 2) + " " + (top + plotH + 16) + ")");
      let base = 0;
      const inner = stacked ? band * 0.7 : (band * 0.8) / series.length;
      series.forEach((s, j) => {
        const c = s.cells[i];
        if (!c) return;
        const bx = stacked ? cx + band * 0.15 : cx + band * 0.1 + j * inner;
        const label = x + ", " + s.name + ": " + valueText(c);
        const html = hoverText((opts.xlabel ? opts.xlabel(x) : x) + " – " + s.name, c, s.totals ? s.totals[i] : opts.totals ? opts.totals[i] : null);
        if (!shown(c)) {
          mark(svgEl("rect", { x: bx, y: ys(base) - 6, width: Math.max(inner - 1, 2), height: 6, fill: "url(#hatch)" }, svg), html, label);
          return;
        }
        const h = ys(base) - ys(base + c.n);
        mark(svgEl("rect", { x: bx, y: ys(base + c.n), width: Math.max(inner - 1, 1), height: Math.max(h, 0.5), fill: s.color }, svg), html, label);
        if (stacked) base += c.n;
      });
    });
  }
  /* Heatmap: rows x cols of cells. */
  function heat(id, rows, cols, get, tot, title) {
    const cellH = 34, top = 8, left = 180, bottom = 46;
    const height = top + bottom + rows.length * cellH;
    const { svg, width } = canvas(id, height, title);
    const cellW = (width - left - 10) / Math.max(cols.length, 1);
    const values = rows.flatMap((r) => cols.map((c) => get(r, c))).filter((c) => c && shown(c)).map((c) => c.n);
    const max = Math.max(1, ...values);
    rows.forEach((r, i) => {
      text(svg, left - 8, top + i * cellH + cellH / 2 + 4, fit(r, left - 12), { class: "label", "text-anchor": "end" });
      cols.forEach((col, j) => {
        const c = get(r, col);
        const x = left + j * cellW, y = top + i * cellH;
        const label = r + ", " + col + ": " + (c ? valueText(c) : "0");
        const fill = !c ? "#f4f4f4" : !shown(c) ? "url(#hatch)" : BLUES[Math.min(BLUES.length - 1, Math.floor(Math.sqrt(c.n / max) * BLUES.length))];
        mark(svgEl("rect", { x: x + 1, y: y + 1, width: cellW - 2, height: cellH - 2, fill, rx: 2 }, svg), c ? hoverText(r + ", " + col, c, tot) : "<b>" + esc(r + ", " + col) + "</b><br>0", label);
        if (c && shown(c) && cellW > 30) text(svg, x + cellW / 2, y + cellH / 2 + 4, short(c.n), { class: "cell-text", "text-anchor": "middle", style: "fill:" + (Math.sqrt(c.n / max) > 0.55 ? "#fff" : "#1b1f24") });
      });
    });
    cols.forEach((col, j) => text(svg, left + j * cellW + cellW / 2, height - bottom + 18, col, { class: "tick", "text-anchor": "middle" }));
  }
  /* Flows: links [{from, to, cell}] drawn from a left column to a right column. */
  function flows(id, links, tot, title) {
    const sum = (arr) => arr.reduce((a, l) => a + l.cell.n, 0);
    const totalN = Math.max(1, sum(links));
    const scale = 380 / totalN, pad = 4, minSlot = 15, nodeW = 12;
    const byValue = (key) => (a, b) => sum(links.filter((l) => l[key] === b)) - sum(links.filter((l) => l[key] === a));
    const left = [...new Set(links.map((l) => l.from))].sort(byValue("from"));
    const right = [...new Set(links.map((l) => l.to))].sort(byValue("to"));
    function layout(nodes, key) {
      const pos = {};
      let y = 6;
      for (const n of nodes) {
        const h = Math.max(2, sum(links.filter((l) => l[key] === n)) * scale);
        pos[n] = { y, h, off: 0 };
        y += Math.max(h, minSlot) + pad;
      }
      return [pos, y];
    }
    const [L, hl] = layout(left, "from"), [R, hr] = layout(right, "to");
    const { svg, width } = canvas(id, Math.max(hl, hr) + 6, title);
    const labelW = Math.min(190, width * 0.22);
    const x0 = labelW, x1 = width - labelW - nodeW;
    const g = svgEl("g", {}, svg);
    const ordered = [...links].sort((a, b) => left.indexOf(a.from) - left.indexOf(b.from) || right.indexOf(a.to) - right.indexOf(b.to));
    const rightOff = {};
    for (const l of [...links].sort((a, b) => right.indexOf(a.to) - right.indexOf(b.to) || left.indexOf(a.from) - left.indexOf(b.from))) {
      const b = R[l.to];
      rightOff[l.from + ">" + l.to] = b.y + b.off;
      b.off += l.cell.n * scale;
    }
    for (const l of ordered) {
      const h = Math.max(1, l.cell.n * scale);
      const a = L[l.from];
      const ya = a.y + a.off + h / 2, yb = rightOff[l.from + ">" + l.to] + h / 2;
      a.off += l.cell.n * scale;
      const xm = (x0 + nodeW + x1) / 2;
      const path = svgEl("path", { d: "M" + (x0 + nodeW) + "," + ya + " C" + xm + "," + ya + " " + xm + "," + yb + " " + x1 + "," + yb, class: "link", "stroke-width": h }, g);
      mark(path, hoverText(name(l.from) + " → " + name(l.to), l.cell, tot), name(l.from) + " to " + name(l.to) + ": " + valueText(l.cell));
    }
    for (const [nodes, pos, x, anchor, color, dx, what, key] of [[left, L, x0, "end", PALETTE[0], -6, "citizenship", "from"], [right, R, x1, "start", PALETTE[5], nodeW + 6, "country of exploitation", "to"]]) {
      for (const n of nodes) {
        const p = pos[n];
        const n_ = sum(links.filter((l) => l[key] === n));
        mark(svgEl("rect", { x, y: p.y, width: nodeW, height: p.h, fill: color }, svg), "<b>" + esc(name(n)) + "</b> (" + what + ")<br>" + fmt.format(n_) + " victims in the flows shown", name(n) + ", " + what);
        text(svg, x + dx, p.y + Math.max(p.h, minSlot) / 2 + 4, fit(name(n), labelW - 10), { class: "label", "text-anchor": anchor });
      }
    }
  }

  // ---------------------------------------------------------------- layout
  const cards = document.getElementById("cards");
  function card(id, title, opts) {
    opts = opts || {};
    const s = document.createElement("section");
    s.className = "card" + (opts.wide ? " wide" : "");
    s.setAttribute("aria-labelledby", id + "-title");
    s.innerHTML = '<h2 id="' + id + '-title">' + title + (opts.badge ? '<span class="badge">' + opts.badge + "</span>" : "") + "</h2>" +
      '<p class="note" id="' + id + '-note"></p>' + (opts.extra || "") +
      '<div class="chart" id="' + id + '"></div>' +
      '<details data-for="' + id + '"><summary>Show the numbers</summary><div></div></details>' +
      '<button type="button" class="csv" data-for="' + id + '">Download the numbers (CSV)</button>';
    cards.appendChild(s);
    return s;
  }
  const tableData = {};
  function dataTable(id, header, rows) {
    tableData[id] = { header, rows };
    const det = document.querySelector('details[data-for="' + id + '"]');
    if (det && det.open) fillTable(det);
  }
  function fillTable(det) {
    const d = tableData[det.dataset.for];
    if (!d) return;
    det.querySelector("div").innerHTML = '<table class="data"><thead><tr>' + d.header.map((h) => '<th scope="col">' + esc(h) + "</th>").join("") +
      "</tr></thead><tbody>" + d.rows.map((r) => "<tr>" + r.map((v, i) => "<td" + (i === r.length - 1 ? ' class="num"' : "") + ">" + esc(v) + "</td>").join("") + "</tr>").join("") + "</tbody></table>";
  }
  const csvCell = (v) => (/[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v);
  function csv(id) {
    const d = tableData[id];
    const plain = (v, i, r) => (i === r.length - 1 ? String(v).replace(/,/g, "") : String(v));
    return [d.header, ...d.rows].map((r) => r.map((v, i) => csvCell(plain(v, i, r))).join(",")).join("\n") + "\n";
  }
  window.dashboardCsv = csv;
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest("button.csv");
    if (!b || !tableData[b.dataset.for]) return;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([csv(b.dataset.for)], { type: "text/csv" }));
    a.download = b.dataset.for + ".csv";
    document.body.appendChild(a); a.click(); a.remove();
  });
  document.addEventListener("toggle", (e) => { if (e.target.tagName === "DETAILS" && e.target.open) fillTable(e.target); }, true);

  function note(id, table, dim, opts, extra) {
    const tot = total(table, opts);
    let s = filterLabel(opts && opts.allYears) + ": " + valueText(tot) + " victims";
    if (DRILL && !(opts && opts.drill) && active().length) s = "Year and region filters only; " + s;
    if (DEV && summed() && !(opts && opts.allYears)) s += " (sums of perturbed yearly counts, each within ±" + DEV + ")";
    if (dim) {
      const unk = [...q(table, [dim], opts).values()].filter((c) => UNKNOWN.has(c.key[0]));
      if (unk.length && tot.n > 0 && !tot.hidden) {
        const u = unk.reduce((a, c) => ({ n: a.n + c.n, hidden: a.hidden + c.hidden, parts: a.parts + c.parts }), { n: 0, hidden: 0, parts: 0 });
        s += shown(u) ? "; " + (u.hidden ? "at least " : "") + pct(u.n / tot.n) + " " + unk[0].key[0].toLowerCase().replace("00", "unknown") : "; unknowns suppressed";
      }
    }
    document.getElementById(id + "-note").textContent = s + (extra || "");
  }

  // ---------------------------------------------------------------- charts
  function bars(id, table, dim, opts) {
    opts = opts || {};
    let cells = [...q(table, [dim], opts).values()];
    const tot = total(table, opts);
    const order = opts.order;
    cells.sort((a, b) => order ? order.indexOf(a.key[0]) - order.indexOf(b.key[0]) : (UNKNOWN.has(a.key[0]) - UNKNOWN.has(b.key[0])) || (b.n - a.n) || a.key[0].localeCompare(b.key[0]));
    if (opts.top) {
      const known = cells.filter((c) => !UNKNOWN.has(c.key[0])).sort((a, b) => shown(b) - shown(a));
      cells = [...known.slice(0, opts.top), ...cells.filter((c) => UNKNOWN.has(c.key[0]))];
    }
    const label = (c) => (opts.label ? opts.label(c.key[0]) : c.key[0]);
    const items = cells.map((c) => ({ label: label(c), cell: c, color: UNKNOWN.has(c.key[0]) ? "#b8bec6" : opts.color || PALETTE[0] }));
    hbars(id, items, tot, document.getElementById(id + "-title").textContent);
    dataTable(id, [opts.header || dim, "victims"], cells.map((c) => [label(c), valueText(c)]));
    note(id, table, opts.unknownDim === undefined ? dim : opts.unknownDim, opts, opts.noteExtra);
  }

  function grouped(id, table, dimX, dimColor, opts) {
    opts = Object.assign({ allYears: true }, opts || {});
    const cells = query(table, [dimX, dimColor], opts);
    const xTotals = query(table, [dimX], opts);
    const xs = [...new Set([...cells.values()].map((c) => c.key[0]))];
    xs.sort((a, b) => (UNKNOWN.has(a) - UNKNOWN.has(b)) || ((xTotals.get(b) || { n: 0 }).n - (xTotals.get(a) || { n: 0 }).n));
    const colors = [...new Set([...cells.values()].map((c) => c.key[1]))].sort((a, b) => (UNKNOWN.has(a) - UNKNOWN.has(b)) || a.localeCompare(b));
    const colorTotals = query(table, [dimColor], opts);
    const series = colors.map((col, i) => ({
      name: col, color: UNKNOWN.has(col) ? "#b8bec6" : PALETTE[i % PALETTE.length],
      cells: xs.map((x) => cells.get(x + "\u001f" + col)), totals: xs.map(() => colorTotals.get(col)),
    }));
    vbars(id, xs, series, { title: document.getElementById(id + "-title").textContent, rotate: true, bottom: 96, left: 86, height: 360 });
    const rows = [];
    for (const x of xs) for (const col of colors) { const c = cells.get(x + "\u001f" + col); if (c) rows.push([x, col, valueText(c)]); }
    dataTable(id, [dimX.replace(/_/g, " "), dimColor.replace(/_/g, " "), "victims"], rows);
    note(id, table, null, opts, opts.noteExtra);
  }

  function yearDatasource() {
    const id = "year-datasource", table = "victims_by_year_datasource";
    const cells = query(table, ["year", "datasource"]);
    const years = YEARS.filter((y) => y >= state.from && y <= state.to);
    const sources = [...new Set([...cells.values()].map((c) => c.key[1]))].sort();
    const yearTotals = query(table, ["year"]);
    const series = sources.map((src, i) => ({ name: src, color: PALETTE[i], cells: years.map((y) => cells.get(y + "\u001f" + src)) }));
    vbars(id, years, series, { stacked: true, title: "Victims by year and data source", totals: years.map((y) => yearTotals.get(y)), rotate: years.length > 14, bottom: 46 });
    const rows = [];
    for (const y of years) for (const s of sources) { const c = cells.get(y + "\u001f" + s); if (c) rows.push([y, s, valueText(c)]); }
    dataTable(id, ["year", "data source", "victims"], rows);
    note(id, table, "datasource");
  }

  function genderAge() {
    const id = "gender-age", table = "victims_by_gender_age", opts = { allYears: true };
    const cells = query(table, ["gender", "age_band"], opts);
    const ages = AGE_ORDER.filter((a) => [...cells.values()].some((c) => c.key[1] === a));
    const genders = [...new Set([...cells.values()].map((c) => c.key[0]))].sort((a, b) => (a === "Unknown") - (b === "Unknown") || a.localeCompare(b));
    heat(id, genders, ages, (g, a) => cells.get(g + "\u001f" + a), total(table, opts), "Gender by age band");
    const rows = [];
    for (const g of genders) for (const a of ages) { const c = cells.get(g + "\u001f" + a); if (c) rows.push([g, a, valueText(c)]); }
    dataTable(id, ["gender", "age band", "victims"], rows);
    note(id, table, null, opts);
  }

  function trendType() {
    const id = "trend-type", table = "exploitation_type_by_gender", opts = { drill: true };
    const cells = q(table, ["year", "type_of_exploitation"], opts);
    const years = YEARS.filter((y) => y >= state.from && y <= state.to);
    const sizes = {};
    for (const c of cells.values()) sizes[c.key[1]] = (sizes[c.key[1]] || 0) + c.n;
    const types = Object.keys(sizes).sort((a, b) => (UNKNOWN.has(a) - UNKNOWN.has(b)) || sizes[b] - sizes[a]);
    const series = types.map((t, i) => ({ name: t, color: UNKNOWN.has(t) ? "#b8bec6" : PALETTE[i % PALETTE.length], cells: years.map((y) => cells.get(y + "\u001f" + t)) }));
    vbars(id, years, series, { title: "Trend by type of exploitation", rotate: years.length > 14, bottom: 46 });
    const rows = [];
    for (const y of years) for (const t of types) { const c = cells.get(y + "\u001f" + t); if (c) rows.push([y, t, valueText(c)]); }
    dataTable(id, ["year", "type of exploitation", "victims"], rows);
    note(id, table, null, opts, "; a person may count under several types");
  }

  function flowView() {
    const id = "flows", table = "flows_citizenship_to_exploitation";
    let cells = [...query(table, ["citizenship", "exploitation_country"]).values()].filter((c) => shown(c) && c.n > 0);
    if (!state.flowsUnknown) cells = cells.filter((c) => c.key[0] !== "00" && c.key[1] !== "00");
    cells.sort((a, b) => b.n - a.n);
    cells = cells.slice(0, 30);
    flows(id, cells.map((c) => ({ from: c.key[0], to: c.key[1], cell: c })), total(table), "Flows from citizenship to country of exploitation");
    dataTable(id, ["citizenship", "country of exploitation", "victims"], cells.map((c) => [name(c.key[0]), name(c.key[1]), valueText(c)]));
    note(id, table, null, { allYears: true }, "; the " + cells.length + " largest published flows" + (state.flowsUnknown ? "" : ", unknown countries left out"));
  }

  // ---------------------------------------------------------------- world map
  const BLUES = ["#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"];
  let mapNodes = null;
  function buildMap(container) {
    if (!Object.keys(D.map.shapes).length) {
      container.innerHTML = '<p class="note">Country outlines are not available in this build; the numbers are in the table below.</p>';
      mapNodes = {};
      return;
    }
    const svg = svgEl("svg", { id: "map", viewBox: "0 0 " + D.map.width + " " + D.map.height, role: "img", "aria-label": "World map of victims by country; the numbers are in the table below the map" }, container);
    mapNodes = {};
    for (const [code, shape] of Object.entries(D.map.shapes)) {
      const el = shape.d ? svgEl("path", { d: shape.d }, svg) : svgEl("circle", { cx: shape.dot[0], cy: shape.dot[1], r: 2.6 }, svg);
      el.dataset.code = code;
      mapNodes[code] = el;
    }
  }
  function worldMap() {
    const id = "world";
    const by = state.mapBy;
    const table = by === "citizenship" ? "victims_by_citizenship" : "victims_by_exploitation_country";
    const where = by === "citizenship" ? { citizenship_region: ALL } : {};
    const cells = q(table, [by], { where, drill: true });
    const tot = total(table, { where, drill: true });
    const values = [...cells.values()].filter((c) => shown(c) && c.n > 0 && c.key[0] !== "00").map((c) => c.n);
    const max = Math.max(1, ...values), min = Math.max(1, Math.min(...values, max));
    const span = Math.log(max) - Math.log(min) + 1e-9;
    const step = (n) => Math.min(BLUES.length - 1, Math.floor(((Math.log(n) - Math.log(min)) / span) * BLUES.length));
    for (const [code, el] of Object.entries(mapNodes)) {
      const c = cells.get(code);
      if (!c) { el.setAttribute("fill", "#e9ecef"); el.dataset.tip = "<b>" + esc(name(code)) + "</b><br>none in the selection"; continue; }
      el.setAttribute("fill", shown(c) ? BLUES[step(Math.max(c.n, 1))] : "url(#hatch)");
      el.dataset.tip = hoverText(name(code), c, tot);
    }
    const edges = BLUES.map((_, i) => Math.round(Math.exp(Math.log(min) + (i / BLUES.length) * span)));
    document.getElementById("world-legend").innerHTML = BLUES.map((c, i) => '<span><i style="background:' + c + '"></i> ' + fmt.format(edges[i]) + "+</span>").join("") +
      '<span><i style="background:repeating-linear-gradient(45deg,#e4e4e4 0 3px,#888 3px 5px)"></i> suppressed</span><span><i style="background:#e9ecef"></i> none</span>';
    const sorted = [...cells.values()].sort((a, b) => b.n - a.n);
    dataTable(id, [by === "citizenship" ? "citizenship" : "country of exploitation", "victims"], sorted.map((c) => [name(c.key[0]), valueText(c)]));
    note(id, table, by, { where, drill: true });
  }

  // ---------------------------------------------------------------- page
  const AGE_ORDER = ["0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47", "48+", "Unknown"];
  const defs = svgEl("svg", { width: 0, height: 0, "aria-hidden": "true", style: "position:absolute" }, document.body);
  defs.innerHTML = '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e4e4e4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8c959f" stroke-width="2.5"/></pattern></defs>';
  card("year-datasource", "Victims by year of registration and data source", { wide: true });
  const mapCard = card("world", "World view", {
    wide: true,
    extra: '<div class="switch" role="radiogroup" aria-label="Map shows">Map shows: <label><input type="radio" name="mapby" value="exploitation_country" checked> country of exploitation</label> <label><input type="radio" name="mapby" value="citizenship"> citizenship</label></div>',
  });
  const legend = document.createElement("div"); legend.className = "legend"; legend.id = "world-legend";
  mapCard.insertBefore(legend, mapCard.querySelector("details"));
  buildMap(mapCard.querySelector(".chart"));
  card("flows", "From citizenship to country of exploitation", { wide: true, badge: "all years",
    extra: '<label class="switch"><input type="checkbox" id="flows-unknown"> include unknown countries</label>' });
  card("regions", "Victims by UN region of exploitation");
  card("exploitation-country", "Top countries of exploitation");
  card("citizenship", "Top citizenships");
  card("citizenship-region", "Victims by UN region of citizenship");
  card("gender", "Victims by gender");
  card("age", "Victims by age band at registration");
  card("gender-age", "Gender by age band", { badge: "all years" });
  card("type", "Type of exploitation");
  card("trend-type", "Trend by type of exploitation", { wide: true });
  card("type-gender", "Type of exploitation by gender", { badge: "all years" });
  card("type-majority", "Type of exploitation by majority status", { badge: "all years" });
  card("means", "Means of control");
  card("industry", "Industries of forced labour");
  card("sexual", "Forms of sexual exploitation");
  card("recruiter", "Relationship to the recruiter");

  function kpis() {
    const o = { drill: true };
    const tot = total("victims_by_year_datasource", o);
    document.getElementById("kpi-victims").textContent = valueText(tot);
    const countries = [...q("victims_by_exploitation_country", ["exploitation_country"], o).values()].filter((c) => shown(c) && c.key[0] !== "00");
    document.getElementById("kpi-countries").textContent = countries.length;
    const cits = [...q("victims_by_citizenship", ["citizenship"], { where: { citizenship_region: ALL }, drill: true }).values()].filter((c) => shown(c) && c.key[0] !== "00");
    document.getElementById("kpi-citizenships").textContent = cits.length;
    const female = q("victims_by_gender_age", ["gender"], o).get("Female");
    const gt = total("victims_by_gender_age", o);
    document.getElementById("kpi-female").textContent = female && shown(female) && gt.n ? (female.hidden ? "≥ " : "") + pct(female.n / gt.n) : "suppressed";
    document.getElementById("status").textContent = "Showing " + filterLabel() + "." + (state.message ? " " + state.message : "");
  }
  const multi = "; a person may count under several types";
  const DRAW = {
    "year-datasource": yearDatasource,
    world: worldMap,
    flows: flowView,
    regions: () => bars("regions", "victims_by_exploitation_country", "region", { anyRegion: true, header: "UN region", color: PALETTE[2], drill: true }),
    "exploitation-country": () => bars("exploitation-country", "victims_by_exploitation_country", "exploitation_country", { top: 15, label: name, header: "country", color: PALETTE[5], drill: true }),
    citizenship: () => bars("citizenship", "victims_by_citizenship", "citizenship", { top: 15, label: name, header: "citizenship", where: { citizenship_region: ALL }, drill: true }),
    "citizenship-region": () => bars("citizenship-region", "victims_by_citizenship", "citizenship_region", { header: "UN region of citizenship", color: PALETTE[2], drill: true }),
    gender: () => bars("gender", "victims_by_gender_age", "gender", { color: PALETTE[3], drill: true }),
    age: () => bars("age", "victims_by_gender_age", "age_band", { order: AGE_ORDER, header: "age band", color: PALETTE[4], drill: true }),
    "gender-age": genderAge,
    "trend-type": trendType,
    type: () => bars("type", "exploitation_type_by_gender", "type_of_exploitation", { header: "type of exploitation", noteExtra: multi, color: PALETTE[5], drill: true }),
    "type-gender": () => grouped("type-gender", "exploitation_type_by_gender", "type_of_exploitation", "gender", { noteExtra: multi }),
    "type-majority": () => grouped("type-majority", "exploitation_type_by_majority", "type_of_exploitation", "majority_status", { noteExtra: multi }),
    means: () => bars("means", "means_of_control", "means_of_control", { header: "means of control", noteExtra: multi.replace("types", "means"), color: PALETTE[0] }),
    industry: () => bars("industry", "forced_labour_industries", "industry", { header: "industry", noteExtra: "; victims of forced labour" + multi.replace("types", "industries"), where: { type_of_exploitation: T.forced_labour_industries.col.type_of_exploitation[0] } }),
    sexual: () => bars("sexual", "sexual_exploitation_types", "sexual_exploitation_type", { header: "form", noteExtra: "; victims of sexual exploitation" + multi.replace("types", "forms"), color: PALETTE[3], where: { type_of_exploitation: T.sexual_exploitation_types.col.type_of_exploitation[0] } }),
    recruiter: () => bars("recruiter", "recruiter_relationship", "recruiter_relationship", { header: "relationship", noteExtra: multi.replace("types", "relationships"), color: PALETTE[2] }),
  };
  function render() {
    kpis();
    for (const draw of Object.values(DRAW)) draw();
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 150); });

  // ---------------------------------------------------------------- filters
  const from = document.getElementById("year-from"), to = document.getElementById("year-to"), reg = document.getElementById("region");
  for (const y of YEARS) { from.add(new Option(y, y)); to.add(new Option(y, y)); }
  reg.add(new Option("All regions", ALL));
  for (const r of REGIONS) reg.add(new Option(r, r));
  const form = document.querySelector(".filters"), resetButton = document.getElementById("reset");
  const drillSelects = [];
  const byName = (a, b) => (UNKNOWN.has(a) - UNKNOWN.has(b)) || name(a).localeCompare(name(b));
  for (const [id, dim, label] of DRILL_FILTERS) {
    const lab = document.createElement("label"); lab.htmlFor = id; lab.textContent = label + " ";
    const sel = document.createElement("select"); sel.id = id; sel.dataset.dim = dim;
    sel.add(new Option("All", ALL));
    const country = dim.endsWith("country") || dim === "citizenship";
    const values = D.tables.dashboard_cells.dict[dim].filter((v) => v !== ALL);
    values.sort(dim === "age_band" ? (a, b) => AGE_ORDER.indexOf(a) - AGE_ORDER.indexOf(b) : byName);
    for (const v of values) sel.add(new Option(country ? name(v) : v, v));
    lab.appendChild(sel); form.insertBefore(lab, resetButton);
    state.f[dim] = ALL;
    drillSelects.push(sel);
  }
  function sync() {
    from.value = state.from; to.value = state.to; reg.value = state.region;
    const full = filterCount() >= MAX_FILTERS;
    for (const sel of drillSelects) { sel.value = state.f[sel.dataset.dim]; sel.disabled = full && sel.value === ALL; }
    if (DRILL) reg.disabled = full && state.region === ALL;
  }
  function onDrill(e) {
    const dim = e.target.dataset.dim, value = e.target.value;
    state.f[dim] = value;
    state.message = "";
    if (value !== ALL && dim === "exploitation_country") state.region = ALL; // a country names its region
    if (value !== ALL && dim === "citizenship") state.f.citizenship_region = ALL;
    if (value !== ALL && dim === "citizenship_region") state.f.citizenship = ALL;
    if (filterCount() > MAX_FILTERS) { state.f[dim] = ALL; state.message = "At most two filters besides the years."; }
    sync();
    window.dashboardRenders = (window.dashboardRenders || 0) + 1;
    render();
  }
  for (const sel of drillSelects) sel.addEventListener("change", onDrill);
  function onChange(e) {
    state.from = from.value; state.to = to.value; state.region = reg.value;
    state.message = "";
    if (DRILL && state.region !== ALL) state.f.exploitation_country = ALL;
    if (filterCount() > MAX_FILTERS) { state.region = ALL; state.message = "At most two filters besides the years."; }
    if (state.from > state.to) { if (e.target === from) state.to = state.from; else state.from = state.to; }
    sync();
    window.dashboardRenders = (window.dashboardRenders || 0) + 1;
    render();
  }
  from.addEventListener("change", onChange); to.addEventListener("change", onChange); reg.addEventListener("change", onChange);
  document.getElementById("reset").addEventListener("click", () => {
    state.from = YEARS[0]; state.to = YEARS[YEARS.length - 1]; state.region = ALL; state.message = "";
    for (const dim of Object.keys(state.f)) state.f[dim] = ALL;
    sync(); render();
  });
  document.querySelectorAll('input[name="mapby"]').forEach((el) => el.addEventListener("change", () => { state.mapBy = el.value; worldMap(); }));
  document.getElementById("flows-unknown").addEventListener("change", (e) => { state.flowsUnknown = e.target.checked; flowView(); });
  sync();
  PHASES.push(["page built", performance.now()]);
  render();
  PHASES.push(["charts drawn", performance.now()]);
  window.dashboardReady = true;
  document.body.dataset.ready = "1";
  window.dashboardLoadMs = performance.now();
})();
