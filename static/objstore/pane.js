// The pane's small script: the copy button and closing popovers after htmx swaps (uploads are
// uploads.js). Everything it does has a no-JavaScript fallback in the templates.
(function () {
  "use strict";

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function humanSize(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
  }

  // Shared with uploads.js (loaded after this file).
  window.objstore = { csrfToken, humanSize };

  // ---- small helpers -------------------------------------------------------------------------

  function setUpCopyButtons() {
    document.addEventListener("click", async (event) => {
      const button = event.target.closest("[data-copy]");
      if (!button) return;
      const source = document.querySelector(button.dataset.copy);
      const text = source ? source.textContent.trim() : "";
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (error) {
        // Without clipboard permission, select the text so Ctrl+C works.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(() => (button.textContent = label), 2000);
    });
  }

  function setUpPopovers() {
    document.body.addEventListener("htmx:afterRequest", (event) => {
      const form = event.target.closest ? event.target.closest("[data-close-popover]") : null;
      if (!form) return;
      const popover = form.closest("[popover]");
      if (popover && popover.hidePopover) popover.hidePopover();
      form.reset();
    });
    const popover = document.getElementById("new-folder");
    if (popover) {
      popover.addEventListener("toggle", (event) => {
        if (event.newState === "open") popover.querySelector("input[name=name]").focus();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpCopyButtons();
    setUpPopovers();
  });
})();
