// Shared helpers for the dashboard pages: DOM building (text nodes only, never innerHTML
// with data), number formatting, the JSON API wrapper, toasts, clipboard, theme.
"use strict";

const UI = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  // The pages' `t`: I18N.t, looked up when called (i18n.js loads before ui.js).
  const t = (key, vars) => I18N.t(key, vars);

  // el("div", {class: "x", onclick: fn}, "text", child) -> element. Strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  const $ = (selector, root) => (root || document).querySelector(selector);

  // Formatting: numbers arrive as numbers; units are added here only.
  const dash = "–";
  function num(n) {
    return n === null || n === undefined ? dash : Number(n).toLocaleString();
  }
  function ms(n) {
    if (n === null || n === undefined) return dash;
    return n >= 10000 ? (n / 1000).toFixed(1) + " s" : Math.round(n) + " ms";
  }
  function usd(n) {
    if (n === null || n === undefined) return dash;
    return "$" + (n >= 1 ? n.toFixed(2) : n.toFixed(4));
  }
  function pct(n, digits) {
    return n === null || n === undefined ? dash : Number(n).toFixed(digits ?? 1) + "%";
  }
  function ratio(n) {
    return n === null || n === undefined ? dash : (100 * n).toFixed(1) + "%";
  }
  function tokens(n) {
    if (!n) return "0";
    if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return String(n);
  }
  function bytes(n) {
    if (!n) return "0 B";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }
  // Dates and times in the page's language: the browser's own locale when it is that
  // language (en-GB keeps its 24-hour clock), else the language's usual one.
  function locale() {
    const lang = typeof I18N === "undefined" ? "en" : I18N.lang;
    const browser = navigator.language || "";
    if (browser.split("-")[0] === lang) return browser;
    return lang === "zh" ? "zh-CN" : "en-US";
  }
  const sameDay = (a, b) => a.toDateString() === b.toDateString();
  function time(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleTimeString(locale(), { hour: "numeric", minute: "2-digit", second: "2-digit" }) : dash;
  }
  // A list row's time: the time alone today, the date too on any other day.
  function when(seconds, now) {
    if (!seconds) return dash;
    const date = new Date(seconds * 1000);
    if (sameDay(date, now || new Date())) return time(seconds);
    const year = date.getFullYear() === (now || new Date()).getFullYear() ? undefined : "numeric";
    return date.toLocaleString(locale(), { year, month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  }
  function datetime(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString(locale()) : dash;
  }

  // fetch JSON; an Anthropic-shaped error body becomes an Error with its message.
  async function api(path, options) {
    const response = await fetch(path, {
      credentials: "same-origin",
      headers: { Accept: "application/json", ...(options && options.body ? { "Content-Type": "application/json" } : {}) },
      ...options,
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || response.statusText || String(response.status);
      const error = new Error(message);
      error.fields = data && data.fields;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function toast(message, kind) {
    let box = $("#toasts");
    if (!box) {
      box = el("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
      document.body.append(box);
    }
    const item = el("div", { class: "toast " + (kind || "info") }, message);
    item.addEventListener("click", () => item.remove());
    box.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 7000 : 3500);
  }

  // Save `text` as a file (an object URL: no round trip, nothing leaves the page).
  function download(text, name, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el("a", { href: url, download: name, class: "offscreen" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = el("textarea", { class: "offscreen" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(t("copied"), "ok");
  }

  function copyButton(getText) {
    return el("button", { class: "small", type: "button", onclick: () => copy(getText()) }, t("copy"));
  }

  // The page header, built once here for every page from <header class="top"></header>:
  // the title (data-title names an I18N key; else the product name), the page links with the
  // current one marked, the live badge where the page has one (data-live) and the toggles.
  // Texts are English here; I18N.init translates them with the rest of the page.
  function buildHeader() {
    const top = $("header.top");
    if (!top) return;
    const page = document.body.dataset.page;
    const titleKey = top.dataset.title;
    const title = titleKey ? el("span", { "data-i18n": titleKey }, t(titleKey)) : "anthropic-proxy";
    const link = (href, key, text, attrs) =>
      el("a", { href, "data-i18n": key, "aria-current": page === key ? "page" : null, ...attrs }, text);
    const outside = { target: "_blank", rel: "noopener" };
    top.append(
      el("h1", {}, el("span", { class: "logo", "aria-hidden": "true" }, "◆"), " ", title),
      el("nav", { "aria-label": "pages" },
        link("/monitor", "monitor", "Monitor"),
        link("/config", "config", "Config"),
        page === "analyze" ? null : link("/api/monitor/analyze", "report", "Report", { id: "analyze-link", ...outside }),
        page === "analyze" ? null : link("/health", "health", "Health", outside)),
      "live" in top.dataset ? el("span", { id: "live", class: "live off", role: "status", "data-i18n": "connecting" }, "connecting") : null,
      el("button", { id: "lang-toggle", type: "button", class: "small", "aria-label": "language" }, "中文"),
      el("button", { id: "theme-toggle", type: "button", class: "small", "data-i18n": "theme" }, "Theme"));
  }

  function initTheme() {
    const saved = localStorage.getItem("theme");
    if (saved) document.documentElement.dataset.theme = saved;
    const button = $("#theme-toggle");
    if (button) button.addEventListener("click", () => {
      const dark = document.documentElement.dataset.theme === "dark" ||
        (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
      const next = dark ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("theme", next);
    });
  }

  // A modal <dialog> asking to confirm; resolves true or false. Keyboard: Enter / Esc.
  function confirmDialog(message, confirmLabel) {
    return new Promise((resolve) => {
      const dialog = el("dialog", { class: "confirm" },
        el("p", {}, message),
        el("form", { method: "dialog", class: "actions" },
          el("button", { value: "cancel", type: "submit" }, t("cancel")),
          el("button", { value: "ok", type: "submit", class: "danger" }, confirmLabel || t("confirm"))));
      dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  // Routing: the attempts of an exchange (stored only when it failed over or failed).
  function attempts(x) {
    if (!x.attempts) return [];
    try { return typeof x.attempts === "string" ? JSON.parse(x.attempts) : x.attempts; } catch { return []; }
  }

  // "served by B after A (http_529) failed": the provider that answered and the ones before it.
  function servedBy(x) {
    const tried = attempts(x);
    const failed = tried.filter((a) => a.error).filter((a, i) => i < tried.length - 1 || !x.provider);
    const names = failed.map((a) => `${a.provider}${a.model ? "/" + a.model : ""} (${a.error})`);
    if (!x.provider) return names.length ? t("allFailed", { failed: names.join(", ") }) : "";
    return names.length ? t("servedAfter", { provider: x.provider, failed: names.join(", ") }) : t("servedBy", { provider: x.provider });
  }

  buildHeader(); // deferred scripts run in order: the page's own script finds the header built

  return { t, el, svg, clear, $, num, ms, usd, pct, ratio, tokens, bytes, time, when, datetime, locale, api, toast, download, copy, copyButton, initTheme, confirmDialog, attempts, servedBy };
})();
