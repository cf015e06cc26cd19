// Hand-written SVG charts: time-bucket bars (optionally stacked), a line, horizontal bars.
// Colours come from CSS classes so light and dark themes both read well.
"use strict";

const Charts = (() => {
  const { svg, el, clear } = UI;
  const W = 600, H = 160, PAD = { l: 48, r: 8, t: 10, b: 22 };

  function frame(container, title, items, max, format) {
    clear(container);
    container.append(el("h3", {}, title));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
    container.append(root);
    for (const f of [0, 0.5, 1]) {
      const y = PAD.t + (1 - f) * (H - PAD.t - PAD.b);
      root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid" }));
      root.append(svg("text", { x: PAD.l - 4, y: y + 4, class: "axis", "text-anchor": "end" }, format(max * f)));
    }
    labelsX(root, items);
    if (!items.length) root.append(svg("text", { x: W / 2, y: H / 2, class: "axis", "text-anchor": "middle" }, I18N.t("noData")));
    return root;
  }

  function labelsX(root, items) {
    const n = items.length;
    if (!n) return;
    const step = Math.max(1, Math.ceil(n / 6));
    for (let i = 0; i < n; i += step) {
      const x = PAD.l + (i + 0.5) * ((W - PAD.l - PAD.r) / n);
      root.append(svg("text", { x, y: H - 6, class: "axis", "text-anchor": "middle" }, shortTime(items[i].t, items)));
    }
  }

  // Labels as fine as the buckets: dates over days, seconds under a minute.
  function shortTime(t, items) {
    const span = items.length > 1 ? items[items.length - 1].t - items[0].t : 0;
    const width = items.length > 1 ? items[1].t - items[0].t : 60;
    const date = new Date(t * 1000);
    if (span > 2 * 86400) return date.toLocaleDateString(UI.locale(), { month: "short", day: "numeric" });
    const second = width < 60 ? { second: "2-digit" } : {};
    return date.toLocaleTimeString(UI.locale(), { hour: "2-digit", minute: "2-digit", ...second });
  }

  // series: [{key, cls, label}] stacked bottom-up; value(item, key) gives each part.
  function bars(container, title, items, series, format) {
    const totals = items.map((it) => series.reduce((sum, s) => sum + (it[s.key] || 0), 0));
    const max = niceMax(Math.max(0, ...totals));
    const root = frame(container, title, items, max, format);
    const slot = (W - PAD.l - PAD.r) / Math.max(1, items.length);
    const scale = (v) => (v / max) * (H - PAD.t - PAD.b);
    items.forEach((item, i) => {
      let base = H - PAD.b;
      for (const s of series) {
        const h = scale(item[s.key] || 0);
        if (h <= 0) continue;
        base -= h;
        root.append(svg("rect", { x: PAD.l + i * slot + slot * 0.1, y: base, width: Math.max(1, slot * 0.8), height: h, class: s.cls },
          svg("title", {}, `${shortTime(item.t, items)} ${s.label}: ${format(item[s.key])}`)));
      }
    });
    legend(container, series);
  }

  function line(container, title, items, key, format) {
    const values = items.map((it) => it[key]);
    const max = niceMax(Math.max(0, ...values.filter((v) => v !== null && v !== undefined)));
    const root = frame(container, title, items, max, format);
    const slot = (W - PAD.l - PAD.r) / Math.max(1, items.length);
    const points = [];
    items.forEach((item, i) => {
      const v = item[key];
      if (v === null || v === undefined || (key === "avgDuration" && !item.count)) return;
      const x = PAD.l + (i + 0.5) * slot, y = H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
      root.append(svg("circle", { cx: x, cy: y, r: 2.5, class: "dot" }, svg("title", {}, `${shortTime(item.t, items)}: ${format(v)}`)));
    });
    if (points.length > 1) root.insertBefore(svg("polyline", { points: points.join(" "), class: "line" }), root.firstChild.nextSibling);
  }

  // rows: [{label, value}] as horizontal bars with the value printed.
  function hbars(container, title, rows, format) {
    clear(container);
    container.append(el("h3", {}, title));
    const max = Math.max(0, ...rows.map((r) => r.value)) || 1;
    const list = el("div", { class: "hbars" });
    for (const row of rows) {
      const bar = el("span", { class: "hbar-fill" });
      bar.style.width = ((100 * row.value) / max).toFixed(1) + "%";
      list.append(el("div", { class: "hbar" }, el("span", { class: "hbar-label", title: row.label }, row.label || "–"),
        el("span", { class: "hbar-track" }, bar), el("span", { class: "hbar-value" }, format(row.value))));
    }
    if (!rows.length) list.append(el("p", { class: "muted" }, I18N.t("noData")));
    container.append(list);
  }

  function legend(container, series) {
    if (series.length < 2) return;
    container.append(el("div", { class: "legend" }, series.map((s) => el("span", {}, el("i", { class: "swatch " + s.cls }), s.label))));
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  return { bars, line, hbars };
})();
