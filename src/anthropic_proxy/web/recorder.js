// The recorder's health on /monitor: a banner when exchanges could not be recorded (backlog
// limit, disk full, store failures), and a note while recording runs behind a burst (the
// exchanges are safe in the journal and appear as the recorder catches up).
"use strict";

(() => {
  const { t, $, num, api } = UI;
  const REFRESH_MS = 5000;
  const BEHIND_AFTER_S = 3;

  function render(r) {
    const banner = $("#recorder-banner");
    if (!banner || !r) return;
    const lost = (r.dropped || 0) + (r.failedWrites || 0);
    if (lost) {
      banner.className = "banner danger";
      banner.textContent = t("recorderLost", { n: num(lost), reason: r.dropReason || t("recorderStoreFailed") });
    } else if ((r.backlogAgeS || 0) > BEHIND_AFTER_S) {
      banner.className = "banner";
      banner.textContent = t("recorderBehind", { n: num(r.queued), s: Math.round(r.backlogAgeS) });
    }
    banner.hidden = !lost && !((r.backlogAgeS || 0) > BEHIND_AFTER_S);
  }

  async function poll() {
    try {
      render((await api("/api/monitor/config")).recorder);
    } catch (e) {
      // the dashboard keeps working while the proxy restarts
    }
    setTimeout(poll, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", poll);
})();
