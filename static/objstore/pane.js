// The pane's small script: where focus goes after htmx swaps, busy states, the dialogs and the
// toasts, and the copy button (uploads are uploads.js). Everything it does has a no-JavaScript
// fallback in the templates: plain forms, confirmation pages, redirects.
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

  function focusSoon(element) {
    // After htmx's swap (synchronous) and after a dialog's own focus restoring.
    setTimeout(() => {
      if (element && element.isConnected) element.focus({ preventScroll: false });
    }, 0);
  }

  function rowControl(row) {
    if (!row) return null;
    return row.querySelector("button.danger") || row.querySelector("a[href], button");
  }

  function firstControl(row) {
    return row ? row.querySelector("a[href], button") : null;
  }

  function listingHeading() {
    return document.getElementById("listing-heading");
  }

  // What heads a panel: the element its aria-labelledby names, else the panel itself.
  function panelHeading(panel) {
    const id = panel ? panel.getAttribute("aria-labelledby") : "";
    return (id && document.getElementById(id)) || panel;
  }

  // The button in ``row`` that does what ``form`` did (a form with the same action), so that
  // the same key goes on with the same task; else the row's first control.
  function sameControl(row, form) {
    if (!row) return null;
    const action = form ? form.getAttribute("action") : null;
    const same = [...row.querySelectorAll("form[action]")].find(
      (other) => other.getAttribute("action") === action,
    );
    return (same && same.querySelector("button")) || firstControl(row);
  }

  // A listing row's thumbnail that does not load (not an image after all, too big to decode):
  // the row gets the file icon back. Error events do not bubble, hence the capture.
  function setUpThumbnails() {
    document.addEventListener(
      "error",
      (event) => {
        const image = event.target;
        if (!(image instanceof HTMLImageElement) || !image.classList.contains("thumb")) return;
        const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
        icon.setAttribute("aria-hidden", "true");
        icon.setAttribute("width", "18");
        icon.setAttribute("height", "18");
        const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
        use.setAttribute("href", "#icon-file");
        icon.append(use);
        image.replaceWith(icon);
      },
      true,
    );
  }

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

  // ---- busy state: aria-busy on what a request works on, for as long as it runs ---------------

  function setUpBusyState() {
    document.body.addEventListener("htmx:beforeRequest", (event) => {
      const busy = [event.detail.elt, event.detail.target].filter(Boolean);
      busy.forEach((element) => element.setAttribute("aria-busy", "true"));
      event.detail.xhr.addEventListener("loadend", () => {
        busy.forEach((element) => element.removeAttribute("aria-busy"));
      });
    });
  }

  // ---- dialogs --------------------------------------------------------------------------------

  const supportsCommands = "commandForElement" in HTMLButtonElement.prototype;

  function resetFolderForm(dialog) {
    const form = dialog.querySelector("#folder-form");
    if (!form) return;
    const input = form.querySelector("input[name=name]");
    const error = form.querySelector("#folder-error");
    input.value = "";
    input.removeAttribute("aria-invalid");
    error.textContent = "";
    error.hidden = true;
  }

  function setUpDialogs() {
    // Browsers without invoker commands (command/commandfor): open and close here instead.
    if (!supportsCommands) {
      document.addEventListener("click", (event) => {
        const button = event.target.closest("button[commandfor]");
        if (!button) return;
        const dialog = document.getElementById(button.getAttribute("commandfor"));
        if (!dialog) return;
        const command = button.getAttribute("command");
        if (command === "show-modal" && !dialog.open) {
          if (dialog.id === "new-folder") resetFolderForm(dialog);
          dialog.showModal();
        } else if (command === "close") {
          dialog.close();
        }
      });
    }
    const folderDialog = document.getElementById("new-folder");
    if (folderDialog) {
      // Each opening starts afresh: no old error, no old name.
      folderDialog.addEventListener("command", (event) => {
        if (event.command === "show-modal") resetFolderForm(folderDialog);
      });
    }

    // A modal dialog keeps Tab inside: from its last control back to its first, and back.
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const dialog = document.querySelector("dialog[open]");
      if (!dialog) return;
      const controls = [...dialog.querySelectorAll("a[href], button, input, select, textarea")].filter(
        (element) => !element.disabled && element.type !== "hidden" && element.getClientRects().length,
      );
      if (!controls.length) return;
      const first = controls[0];
      const last = controls[controls.length - 1];
      const inside = dialog.contains(document.activeElement);
      if (event.shiftKey && (document.activeElement === first || !inside)) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
        event.preventDefault();
        first.focus();
      }
    });

    const confirmDialog = document.getElementById("confirm-dialog");
    let opener = null;
    let closingForSwap = false;
    confirmDialog.addEventListener("close", () => {
      if (closingForSwap) {
        closingForSwap = false;
        return;
      }
      focusSoon(opener);
    });

    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target !== confirmDialog) return;
      // A delete asked first: the server sent the question; open it over the page.
      const form = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
      opener = form ? form.querySelector("button[type=submit]") || form : document.activeElement;
      if (!confirmDialog.open) confirmDialog.showModal();
    });

    document.body.addEventListener("htmx:beforeSwap", (event) => {
      const elt = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
      if (elt && confirmDialog.contains(elt) && confirmDialog.open) {
        closingForSwap = true;
        confirmDialog.close();
        // Whatever the answer replaces, focus goes where the swap handlers below say, or back
        // to the opener if it is still there.
        focusSoon(opener);
      }
    });

    // The create-folder form: closes on success; on an error it comes back in place.
    document.body.addEventListener("htmx:afterRequest", (event) => {
      const form = event.detail.elt;
      if (!form || form.id !== "folder-form" || !event.detail.successful) return;
      const dialog = form.closest("dialog");
      if (dialog && dialog.open && !form.querySelector("[aria-invalid=true]")) {
        dialog.close();
        resetFolderForm(dialog);
      }
    });
    document.body.addEventListener("htmx:load", (event) => {
      if (event.target.id !== "folder-form") return;
      const input = event.target.querySelector("input[name=name]");
      if (input && input.getAttribute("aria-invalid") === "true") input.focus();
    });
  }

  // ---- the toolbar on phones: its More menu and its breadcrumbs ------------------------------

  function setUpToolbar() {
    // The breadcrumbs are one line that may scroll sideways: show its end, the current folder,
    // and fade out its start while some of it is scrolled away.
    for (const trail of document.querySelectorAll(".crumbs ol")) {
      const fade = () => trail.classList.toggle("cut-start", trail.scrollLeft > 1);
      trail.scrollLeft = trail.scrollWidth;
      fade();
      trail.addEventListener("scroll", fade, { passive: true });
    }

    // More is a native popover (opens, closes on Escape and gives focus back without us); say on
    // its button whether it is open, for browsers that do not.
    const menu = document.getElementById("more-actions");
    const button = menu && document.querySelector(".more-button[popovertarget=more-actions]");
    if (!button) return;
    button.setAttribute("aria-expanded", "false");
    menu.addEventListener("toggle", (event) => {
      button.setAttribute("aria-expanded", String(event.newState === "open"));
    });
    // A dialog opened from the menu closes the menu; when the dialog closes, the browser cannot
    // give focus back to the hidden menu item (it would fall to <body>), so it goes to the menu's
    // button. Where the item shows (wide screens), the browser's own return stands.
    for (const opener of menu.querySelectorAll("[commandfor]")) {
      const dialog = document.getElementById(opener.getAttribute("commandfor"));
      if (!dialog) continue;
      dialog.addEventListener("close", () => {
        if (!opener.getClientRects().length && button.getClientRects().length) button.focus();
      });
    }
  }

  // ---- where focus goes after a listing changes -----------------------------------------------

  function countShown() {
    const shown = document.getElementById("listing-shown");
    const listing = document.getElementById("listing");
    if (!shown || !listing) return;
    shown.textContent = listing.querySelectorAll("tr.file-row, tr.folder-row").length;
  }

  function setUpListingFocus() {
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      const target = event.detail.target;
      const xhr = event.detail.xhr;
      if (!target || !event.detail.shouldSwap) return;
      if (xhr.getResponseHeader("HX-Reswap") === "none") return;
      const elt = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
      const fromDialog = elt && document.getElementById("confirm-dialog").contains(elt);
      // The versions of a file and the deleted files: panels whose rows change one at a time.
      const panel = target.id === "versions" || target.id === "deleted";
      const retargeted = xhr.getResponseHeader("HX-Retarget");
      if (retargeted && !(target.id === "listing" && fromDialog) && !panel) return;
      if (target.matches("#listing tr.more-row, #deleted tr.more-row")) {
        // "Load more": focus the first new row.
        const before = target.previousElementSibling;
        const body = target.parentElement;
        setTimeout(() => {
          const first = before ? before.nextElementSibling : body.firstElementChild;
          focusSoon(firstControl(first) || listingHeading());
        }, 0);
      } else if (target.matches("#listing tr.file-row, #listing tr.folder-row")) {
        // A deleted row: focus the next row, or the previous one, or the listing's heading.
        const next = target.nextElementSibling || target.previousElementSibling;
        focusSoon(rowControl(next) || listingHeading());
      } else if (target.id === "listing") {
        const rowId = elt && elt.dataset ? elt.dataset.focusRow : "";
        const focusId = elt && elt.dataset ? elt.dataset.focusId : "";
        if (focusId) {
          // A column's heading sorted the listing: focus stays on that heading.
          setTimeout(() => focusSoon(document.getElementById(focusId) || listingHeading()), 0);
        } else if (rowId) {
          // Undo: focus the row that came back.
          setTimeout(() => focusSoon(firstControl(document.getElementById(rowId)) || listingHeading()), 0);
        } else if (fromDialog) {
          // The last row was deleted: the listing now says the folder is empty.
          setTimeout(() => focusSoon(listingHeading()), 0);
        }
      } else if (target.matches("#versions tbody tr, #deleted tbody tr:not(.more-row)")) {
        // One row of the versions or the deleted files: it comes back changed (focus stays in
        // it) or it goes (focus the next row, or the previous one, or the panel's heading).
        const panelId = target.closest("section").id;
        const next = target.nextElementSibling;
        const previous = target.previousElementSibling;
        setTimeout(() => {
          const changed = target.id ? document.getElementById(target.id) : null;
          const row = changed || [next, previous].find((other) => other && other.isConnected);
          focusSoon(sameControl(row, elt) || panelHeading(document.getElementById(panelId)));
        }, 0);
      } else if (panel) {
        // The whole panel ("Restore all", a restore, the last row gone): focus its heading.
        if (elt && (target.contains(elt) || fromDialog)) {
          setTimeout(() => focusSoon(panelHeading(document.getElementById(target.id))), 0);
        }
      }
    });
    document.body.addEventListener("htmx:afterSettle", countShown);
    document.body.addEventListener("htmx:oobAfterSwap", countShown);
  }

  // ---- drag a file onto a folder to move it ---------------------------------------------------
  // File rows are draggable; folder rows and the breadcrumbs (data-move-to) take them. The move
  // is the same POST as anywhere else (objects/detail_views.object_move); its answer is the
  // listing again with the news as a toast. Keyboard users move a file from its Details page.
  // Uploads (uploads.js) only react to drags that carry files, so the two never meet.

  const MOVE_TYPE = "application/x-objstore-name";
  const FOLDER_TYPE = "application/x-objstore-folder";

  function setUpDragMove() {
    function clearMarks() {
      document.querySelectorAll(".dragging, .drop-target").forEach((element) => {
        element.classList.remove("dragging", "drop-target");
      });
    }
    function dropTarget(event) {
      const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
      if (!(types.includes(MOVE_TYPE) || types.includes(FOLDER_TYPE)) || !event.target.closest) return null;
      const target = event.target.closest("[data-move-to]");
      // A folder is never dropped on itself (dragging reads no data until the drop: the row
      // being dragged is marked instead).
      return target && !target.classList.contains("dragging") ? target : null;
    }
    document.addEventListener("dragstart", (event) => {
      const row = event.target.closest && event.target.closest("tr.file-row[data-name], tr.folder-row[data-move-to]");
      if (!row) return;
      const folder = row.classList.contains("folder-row");
      const value = folder ? row.dataset.moveTo : row.dataset.name;
      event.dataTransfer.setData(folder ? FOLDER_TYPE : MOVE_TYPE, value);
      event.dataTransfer.setData("text/plain", value);
      event.dataTransfer.effectAllowed = "move";
      row.classList.add("dragging");
    });
    document.addEventListener("dragend", clearMarks);
    document.addEventListener("dragover", (event) => {
      const target = dropTarget(event);
      if (!target) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      document.querySelectorAll(".drop-target").forEach((element) => {
        if (element !== target) element.classList.remove("drop-target");
      });
      target.classList.add("drop-target");
    });
    document.addEventListener("dragleave", (event) => {
      const target = dropTarget(event);
      if (target && !target.contains(event.relatedTarget)) target.classList.remove("drop-target");
    });
    document.addEventListener("drop", (event) => {
      const target = dropTarget(event);
      if (!target) return;
      event.preventDefault();
      const name = event.dataTransfer.getData(MOVE_TYPE);
      const dragged = event.dataTransfer.getData(FOLDER_TYPE);
      const listing = document.getElementById("listing");
      clearMarks();
      if (!(name || dragged) || !listing || !window.htmx) return;
      const folder = target.dataset.moveTo;
      if (dragged) {
        // A folder: into another folder, never into itself or where it is already.
        const parent = dragged.slice(0, dragged.slice(0, -1).lastIndexOf("/") + 1);
        if (folder.startsWith(dragged) || parent === folder) return;
        window.htmx.ajax("POST", listing.dataset.folderMoveUrl, {
          source: listing,
          target: "#listing",
          swap: "outerHTML",
          values: { folder: dragged, into: folder, prefix: listing.dataset.prefix },
        });
        return;
      }
      if (name.slice(0, name.lastIndexOf("/") + 1) === folder) return; // already there
      window.htmx.ajax("POST", listing.dataset.moveUrl, {
        source: listing,
        target: "#listing",
        swap: "outerHTML",
        values: { name: name, folder: folder, prefix: listing.dataset.prefix },
      });
    });
  }

  // ---- select many: the rows' checkboxes and the selection's bar -----------------------------
  // The checkboxes belong to #bulk-form (their form attribute), whose buttons post the selection
  // (objects/bulk_views.py); that works without this. Here: the bar says how many are selected
  // and its buttons wait for a selection; the heading's checkbox selects every row shown; once
  // they all are, and the folder holds more than is shown, "Select all N in this folder" makes
  // the selection the whole folder (everything=yes); Shift+click selects a range of rows.

  function setUpSelection() {
    let lastClicked = null;

    function boxes() {
      return [...document.querySelectorAll("#listing .select-row")];
    }

    function update() {
      const form = document.getElementById("bulk-form");
      if (!form) return;
      const all = boxes();
      const checked = all.filter((box) => box.checked);
      const everything = form.querySelector("#bulk-everything");
      const allButton = form.querySelector("#bulk-all");
      if (everything.value === "yes" && checked.length !== all.length) everything.value = "";
      const whole = everything.value === "yes";
      const status = form.querySelector("#bulk-status");
      if (whole && allButton) {
        status.textContent = allButton.dataset.selected;
      } else if (checked.length > Number(form.dataset.max)) {
        status.textContent = `${checked.length} selected: at most ${form.dataset.max} at a time`;
      } else if (checked.length) {
        status.textContent = `${checked.length} selected`;
      } else {
        status.textContent = "";
      }
      for (const button of form.querySelectorAll(".bulk-button")) {
        // All a folder holds is moved by moving the folder itself (its row's Rename or move).
        const moveOfFolders = button.value === "move" && whole;
        const tooMany = !whole && checked.length > Number(form.dataset.max);
        button.disabled = !checked.length || moveOfFolders || tooMany;
        button.title = moveOfFolders ? "Rename or move the folder itself to move all it holds" : "";
      }
      if (allButton) allButton.hidden = whole || !all.length || checked.length !== all.length;
      const head = document.getElementById("select-all");
      if (head) {
        head.checked = all.length > 0 && checked.length === all.length;
        head.indeterminate = checked.length > 0 && checked.length < all.length;
      }
    }

    document.addEventListener("click", (event) => {
      const box = event.target.closest && event.target.closest("#listing .select-row");
      if (box) {
        if (event.shiftKey && lastClicked && lastClicked.isConnected && lastClicked !== box) {
          const all = boxes();
          const [from, to] = [all.indexOf(lastClicked), all.indexOf(box)].sort((a, b) => a - b);
          all.slice(from, to + 1).forEach((other) => (other.checked = box.checked));
        }
        lastClicked = box;
        return;
      }
      if (event.target.id === "bulk-all") {
        const form = document.getElementById("bulk-form");
        form.querySelector("#bulk-everything").value = "yes";
        update();
        focusSoon(form.querySelector(".bulk-button:not([disabled])"));
      }
    });
    document.addEventListener("change", (event) => {
      if (event.target.id === "select-all") {
        boxes().forEach((box) => (box.checked = event.target.checked));
      }
      if (event.target.id === "select-all" || event.target.classList.contains("select-row")) update();
    });
    // New rows ("Load more") come unticked, unless the whole folder is selected.
    document.body.addEventListener("htmx:afterSettle", () => {
      const everything = document.getElementById("bulk-everything");
      if (everything && everything.value === "yes") boxes().forEach((box) => (box.checked = true));
      update();
    });
    update();
  }

  // ---- toasts ---------------------------------------------------------------------------------

  function setUpToasts() {
    document.addEventListener("click", (event) => {
      const button = event.target.closest("[data-dismiss-toast]");
      if (!button) return;
      const toast = button.closest(".toast");
      if (toast) toast.remove();
    });
  }

  // ---- local times ---------------------------------------------------------------------------

  // The server writes times in UTC ("2026-11-30 18:28 UTC"); say them in the browser's own time
  // zone, with the zone named ("2026-11-30 19:28 GMT+1"), and keep the UTC time as the title.
  function localTimes(root) {
    if (typeof Intl === "undefined" || !Intl.DateTimeFormat) return;
    let format;
    try {
      format = new Intl.DateTimeFormat(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        hourCycle: "h23", timeZoneName: "short",
      });
    } catch (error) {
      return;
    }
    for (const element of root.querySelectorAll("time[datetime]:not([data-local])")) {
      const date = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      const parts = {};
      for (const part of format.formatToParts(date)) parts[part.type] = part.value;
      if (!parts.timeZoneName) continue;
      element.title = element.textContent.trim();
      element.textContent =
        `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
      element.dataset.local = "";
    }
  }

  document.addEventListener("htmx:afterSettle", () => localTimes(document));

  // "Skip to the end of the list" leads to Load more; once the last page is in, it has nowhere
  // to go, so it goes too.
  document.addEventListener("htmx:afterSettle", () => {
    if (document.getElementById("load-more")) return;
    for (const link of document.querySelectorAll('a.skip-link[href="#load-more"]')) link.remove();
  });

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    setUpCopyButtons();
    setUpBusyState();
    setUpDialogs();
    setUpToolbar();
    setUpListingFocus();
    setUpToasts();
    setUpDragMove();
    setUpSelection();
    setUpThumbnails();
  });
})();
