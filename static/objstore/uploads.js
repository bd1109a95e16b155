// The pane's uploads: file pickers, drag-and-drop (files and whole folders), one upload request
// per file with a progress bar. The no-JavaScript fallback is the upload form itself.
(function () {
  "use strict";

  const CONCURRENCY = 3;
  const { csrfToken, humanSize } = window.objstore;

  // ---- uploads -------------------------------------------------------------------------------

  function uploadRow(list, path) {
    const item = document.createElement("li");
    item.className = "upload";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = path; // textContent: a file name is never parsed as HTML
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Uploading ${path}`);
    const status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "Waiting";
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "icon-button";
    dismiss.textContent = "×";
    dismiss.setAttribute("aria-label", `Dismiss ${path}`);
    dismiss.addEventListener("click", () => item.remove());
    item.append(name, bar, status, dismiss);
    list.prepend(item);
    return { item, bar, status };
  }

  function sendOne(form, entry, row) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("prefix", form.querySelector("input[name=prefix]").value);
      data.append("paths", entry.path);
      data.append("files", entry.file, entry.file.name);
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          row.bar.value = Math.round((event.loaded / event.total) * 100);
          row.status.textContent = `${humanSize(event.loaded)} of ${humanSize(event.total)}`;
        }
      });
      const fail = (message) => {
        row.item.classList.add("failed");
        row.bar.value = 0;
        row.status.textContent = message;
        row.status.setAttribute("role", "alert");
        resolve(false);
      };
      request.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(request.responseText);
        } catch (error) {
          body = null;
        }
        const result = body && body.results ? body.results[0] : null;
        if (request.status === 200 && result && !result.error) {
          row.bar.value = 100;
          row.item.classList.add("done");
          row.status.textContent = "Uploaded";
          resolve(true);
        } else if (result && result.error) {
          fail(result.error);
        } else if (body && body.error) {
          fail(body.error);
        } else if (request.status === 413) {
          fail("This file is larger than the server accepts.");
        } else {
          fail(`Upload failed (HTTP ${request.status}).`);
        }
      });
      request.addEventListener("error", () => fail("Upload failed: the connection was lost."));
      row.status.textContent = "Uploading";
      request.send(data);
    });
  }

  async function uploadAll(entries) {
    const form = document.getElementById("upload-form");
    const list = document.getElementById("uploads");
    if (!form || !list || entries.length === 0) return;
    const maxSize = Number(form.dataset.maxSize || 0);
    // A new batch clears the rows that finished well; failures stay until dismissed.
    for (const done of list.querySelectorAll(".upload.done")) done.remove();
    const queue = entries.map((entry) => ({ entry, row: uploadRow(list, entry.path) }));
    let next = 0;
    async function worker() {
      while (next < queue.length) {
        const { entry, row } = queue[next++];
        if (maxSize && entry.file.size > maxSize) {
          row.item.classList.add("failed");
          row.status.textContent = `Larger than the upload limit of ${humanSize(maxSize)}.`;
          row.status.setAttribute("role", "alert");
          continue;
        }
        await sendOne(form, entry, row);
      }
    }
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
    refreshListing();
  }

  function refreshListing() {
    const listing = document.getElementById("listing");
    if (listing && window.htmx) {
      window.htmx.ajax("GET", listing.dataset.listingUrl, { target: "#listing", swap: "outerHTML" });
    }
  }

  function entriesFromInput(input) {
    return Array.from(input.files).map((file) => ({
      file,
      path: file.webkitRelativePath || file.name,
    }));
  }

  // Walk a dropped directory; readEntries answers in batches until it returns none.
  function readAll(reader) {
    return new Promise((resolve, reject) => {
      const all = [];
      const step = () =>
        reader.readEntries((batch) => {
          if (batch.length === 0) resolve(all);
          else {
            all.push(...batch);
            step();
          }
        }, reject);
      step();
    });
  }

  async function walk(entry, out) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: entry.fullPath.replace(/^\//, "") });
    } else if (entry.isDirectory) {
      for (const child of await readAll(entry.createReader())) await walk(child, out);
    }
  }

  async function entriesFromDrop(transfer) {
    const roots = [];
    for (const item of Array.from(transfer.items || [])) {
      if (item.kind !== "file") continue;
      const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
      if (entry) roots.push(entry);
      else if (item.getAsFile()) roots.push({ plainFile: item.getAsFile() });
    }
    const out = [];
    for (const root of roots) {
      if (root.plainFile) out.push({ file: root.plainFile, path: root.plainFile.name });
      else await walk(root, out);
    }
    if (out.length === 0 && transfer.files) {
      for (const file of Array.from(transfer.files)) out.push({ file, path: file.name });
    }
    return out;
  }

  function setUpUploads() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    form.addEventListener("click", (event) => {
      const picker = event.target.closest("[data-pick]");
      if (picker) form.querySelector(picker.dataset.pick).click();
    });
    for (const input of form.querySelectorAll("input[type=file]")) {
      input.addEventListener("change", () => {
        const entries = entriesFromInput(input);
        input.value = "";
        uploadAll(entries);
      });
    }
    const zone = document.getElementById("dropzone");
    if (!zone) return;
    let depth = 0;
    zone.addEventListener("dragenter", (event) => {
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragging");
      uploadAll(await entriesFromDrop(event.dataTransfer));
    });
  }

  document.addEventListener("DOMContentLoaded", setUpUploads);
})();
