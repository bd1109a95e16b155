// The pane's uploads: file pickers, drag-and-drop anywhere on a bucket page, and a tray fixed in
// the corner that follows every file (percent, speed, time left), cancels for real, retries and
// asks before replacing a file. Files above the tray's chunk threshold go in chunks through a
// resumable session that survives a dropped connection and, after a reload, resumes from the
// server's offset when the same file is picked again. The tray's rows (never the files) are kept in
// sessionStorage per bucket, so a reload or a visit elsewhere in the same tab brings them back;
// uploads the page was running come back "Interrupted", with a Resume that asks for the file
// again (a browser cannot reopen a file by itself). The no-JavaScript fallback is the form.
(function () {
  "use strict";

  const CONCURRENCY = 3;
  const CHUNK_ATTEMPTS = 7; // backoff 0.5, 1, 2, 4, 8, 16, 16 s: about 48 s of retrying
  const RESUME_PREFIX = "objstore-upload:";
  const TRAY_PREFIX = "objstore-tray:";
  // What a row can be after a reload; a row the page was still sending is "interrupted".
  const KEPT = new Set(["done", "failed", "cancelled", "skipped", "interrupted"]);
  const { csrfToken, humanSize } = window.objstore;

  const ACTIVE = new Set(["checking", "waiting", "running"]);
  const tasks = [];
  let tray = null;
  let form = null;
  let active = 0;
  let nextId = 1;
  let dialogQueue = Promise.resolve();
  let batchStats = null; // bytes and time since the current batch started, for the summary
  let ticker = null;
  let saveTimer = null;
  let leaving = false; // the page is going: what its aborted requests do is not kept
  let resumeInput = null; // the file picker behind every row's Resume
  let resumeFor = null;

  class UploadError extends Error {
    constructor(message, extra = {}) {
      super(message);
      Object.assign(this, extra);
    }
  }

  // ---- formatting ------------------------------------------------------------------------------

  function duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "";
    if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    const hours = Math.floor(seconds / 3600);
    return `${hours} h ${Math.round((seconds - hours * 3600) / 60)} min`;
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  // ---- requests ----------------------------------------------------------------------------------

  function loginUrl() {
    const link = tray && tray.querySelector(".tray-signin a");
    const base = link ? link.getAttribute("href").split("?")[0] : "/accounts/login/";
    return `${base}?next=${encodeURIComponent(location.pathname + location.search)}`;
  }

  function isLoginPage(url) {
    if (!url) return false;
    const base = loginUrl().split("?")[0];
    try {
      return new URL(url, location.href).pathname === base;
    } catch (error) {
      return false;
    }
  }

  // One XMLHttpRequest (fetch cannot report upload progress); answers {status, body} or throws
  // UploadError: {network} when the connection failed, {aborted} on cancel, {signIn} when the
  // session has ended (a 401, or a redirect that landed on the login page).
  function send(task, method, url, { body = null, headers = {}, onProgress = null } = {}) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open(method, url);
      request.setRequestHeader("Accept", "application/json");
      if (method !== "GET") request.setRequestHeader("X-CSRFToken", csrfToken());
      for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
      if (onProgress) {
        request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      }
      request.addEventListener("load", () => {
        let parsed = null;
        try {
          parsed = JSON.parse(request.responseText);
        } catch (error) {
          parsed = null;
        }
        if (isLoginPage(request.responseURL) || request.status === 401 || (parsed && parsed.login_url)) {
          reject(new UploadError("Your session has ended. Sign in again to upload.", { signIn: true }));
          return;
        }
        resolve({ status: request.status, body: parsed || {} });
      });
      request.addEventListener("error", () =>
        reject(new UploadError("The connection was lost.", { network: true })),
      );
      request.addEventListener("abort", () => reject(new UploadError("Cancelled.", { aborted: true })));
      if (task) task.xhr = request;
      request.send(body);
    });
  }

  function failure(response) {
    const { status, body } = response;
    let message = body.error;
    if (!message && status === 413) message = "This file is larger than the server accepts.";
    if (!message) message = `Upload failed (HTTP ${status}).`;
    return new UploadError(message, {
      status,
      conflict: status === 412 && Boolean(body.conflict),
      retryable: status === 0 || status >= 500 || status === 408 || status === 429,
    });
  }

  function sleep(task, ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      task.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  function stopIfCancelled(task) {
    if (task.state === "cancelled") throw new UploadError("Cancelled.", { aborted: true });
  }

  // ---- one file ----------------------------------------------------------------------------------

  async function sendSmall(task) {
    const data = new FormData();
    data.append("prefix", task.prefix);
    data.append("path", task.path);
    if (task.condition !== null) data.append("if_generation_match", task.condition);
    data.append("file", task.file, task.file.name);
    const response = await send(task, "POST", tray.dataset.fileUrl, {
      body: data,
      onProgress: (loaded) => (task.loaded = Math.min(loaded, task.size)),
    });
    if (response.status !== 200) throw failure(response);
  }

  function resumeKey(task) {
    return `${RESUME_PREFIX}${tray.dataset.bucket}:${task.name}:${task.size}:${task.lastModified}`;
  }

  function sessionUrl(uploadId, action = "") {
    return `${tray.dataset.sessionsUrl}/${encodeURIComponent(uploadId)}${action}`;
  }

  function forgetSession(task) {
    try {
      localStorage.removeItem(resumeKey(task));
    } catch (error) {
      // Storage disabled: nothing was kept either.
    }
  }

  function cancelSession(task) {
    if (!task.uploadId) return;
    forgetSession(task);
    // keepalive: the cancel still reaches the server if the page is closing.
    fetch(sessionUrl(task.uploadId, "/cancel"), {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
      keepalive: true,
    }).catch(() => {});
    task.uploadId = null;
  }

  // A session of this file that a previous page started (same name, size and lastModified):
  // the row's own (kept with the tray), else one remembered for the file.
  async function savedSession(task) {
    let uploadId = task.uploadId || null;
    try {
      uploadId = uploadId || localStorage.getItem(resumeKey(task));
    } catch (error) {
      return null;
    }
    if (!uploadId) return null;
    const response = await send(task, "GET", sessionUrl(uploadId));
    const state = response.body;
    if (response.status === 200 && !state.done && state.size === task.size && state.name === task.name) {
      return state;
    }
    forgetSession(task); // expired, unknown, finished or changed: start over
    return null;
  }

  async function startSession(task) {
    const response = await send(task, "POST", tray.dataset.sessionsUrl, {
      body: JSON.stringify({
        prefix: task.prefix,
        path: task.path,
        size: task.size,
        content_type: task.file.type,
        if_generation_match: task.condition,
      }),
      headers: { "Content-Type": "application/json" },
    });
    if (response.status !== 201) throw failure(response);
    try {
      localStorage.setItem(resumeKey(task), response.body.upload_id);
    } catch (error) {
      // Without storage the upload works; only a resume after a reload does not.
    }
    return response.body;
  }

  async function sendChunked(task) {
    const chunkSize = Math.max(1, Number(tray.dataset.chunkSize) || 8388608);
    let state = await savedSession(task);
    stopIfCancelled(task);
    if (state) task.resumedAt = state.received;
    else state = await startSession(task);
    task.uploadId = state.upload_id;
    save(); // a reload from now on resumes this session
    stopIfCancelled(task);
    let offset = state.received;
    let failures = 0;
    task.loaded = offset;
    for (;;) {
      const end = Math.min(offset + chunkSize, task.size);
      let response = null;
      let problem = null;
      try {
        response = await send(task, "POST", `${sessionUrl(task.uploadId, "/chunk")}?offset=${offset}`, {
          body: task.file.slice(offset, end),
          headers: { "Content-Type": "application/octet-stream" },
          onProgress: (loaded) => (task.loaded = offset + Math.min(loaded, end - offset)),
        });
      } catch (error) {
        if (!error.network) throw error;
        problem = error;
      }
      if (response && response.status === 200) {
        failures = 0;
        task.note = "";
        if (response.body.done) break;
        offset = response.body.received;
        task.loaded = offset;
        continue;
      }
      if (response) {
        const { status, body } = response;
        if (body.restart) {
          forgetSession(task);
          task.uploadId = null;
          throw new UploadError(body.error || "The upload session ended; Retry starts it over.", {
            conflict: status === 412 && Boolean(body.conflict),
          });
        }
        if (status === 409 && Number.isInteger(body.received) && failures < CHUNK_ATTEMPTS) {
          failures += 1;
          offset = body.received; // the server has a different offset: continue from its own
          continue;
        }
        problem = failure(response);
        if (!problem.retryable && !(status === 400 && Number.isInteger(body.received))) throw problem;
      }
      // The connection dropped or the server faltered: wait, ask where it stands, go on.
      failures += 1;
      if (failures > CHUNK_ATTEMPTS) {
        throw new UploadError(`${problem.message} Retry continues where it stopped.`);
      }
      const wait = Math.min(500 * 2 ** (failures - 1), 16000);
      task.note = `Connection lost; trying again in ${duration(wait / 1000)}`;
      await sleep(task, wait);
      stopIfCancelled(task);
      try {
        const status = await send(task, "GET", sessionUrl(task.uploadId));
        if (status.status === 200) {
          if (status.body.done) break;
          offset = status.body.received;
          task.loaded = offset;
        } else if (status.body.restart) {
          forgetSession(task);
          task.uploadId = null;
          throw new UploadError(status.body.error || "The upload session ended.");
        }
      } catch (error) {
        if (!error.network) throw error; // still offline: the next round waits longer
      }
    }
    forgetSession(task);
    task.uploadId = null;
  }

  async function run(task) {
    task.loaded = 0;
    task.speed = 0;
    task.note = "";
    task.started = performance.now();
    try {
      // A row with a session (one brought back by a reload) continues it, whatever the size.
      const chunked = task.uploadId || task.size > Number(tray.dataset.chunkThreshold || 8388608);
      if (chunked) await sendChunked(task);
      else await sendSmall(task);
      stopIfCancelled(task);
      setState(task, "done");
      task.loaded = task.size;
    } catch (error) {
      if (task.state === "cancelled") return;
      if (error.signIn) {
        showSignIn();
        setState(task, "failed", error.message);
      } else if (error.conflict) {
        // Someone stored this name after the batch was checked: ask, never replace unasked.
        task.condition = "0";
        setState(task, "checking");
        resolveConflicts([task], task.batch).then(pump);
      } else {
        setState(task, "failed", error.message);
      }
    } finally {
      task.xhr = null;
      task.wake = null;
    }
  }

  // ---- the queue ---------------------------------------------------------------------------------

  function busy() {
    return tasks.some((task) => ACTIVE.has(task.state));
  }

  function pump() {
    while (active < CONCURRENCY) {
      const task = tasks.find((candidate) => candidate.state === "waiting");
      if (!task) break;
      active += 1;
      setState(task, "running");
      run(task).finally(() => {
        active -= 1;
        pump();
        settle();
      });
    }
    settle();
  }

  // Called after every change of state: the summary, beforeunload, the final refresh.
  function settle() {
    render();
    save();
    if (busy()) {
      window.addEventListener("beforeunload", warnBeforeUnload);
      if (!ticker) ticker = setInterval(tick, 500);
      return;
    }
    window.removeEventListener("beforeunload", warnBeforeUnload);
    if (ticker) {
      clearInterval(ticker);
      ticker = null;
    }
    if (batchStats && batchStats.changed) {
      batchStats.changed = false;
      refreshListing();
    }
  }

  function warnBeforeUnload(event) {
    if (!busy()) return;
    event.preventDefault();
    event.returnValue = ""; // what older Chromium needs to ask
  }

  function cancel(task) {
    if (!ACTIVE.has(task.state) && task.state !== "interrupted") return;
    setState(task, "cancelled");
    if (task.xhr) task.xhr.abort();
    if (task.wake) task.wake();
    cancelSession(task);
    settle();
  }

  function retry(task) {
    if (task.state !== "failed" && task.state !== "cancelled") return;
    if (!task.file) return; // brought back by a reload: its Retry asks for the file first
    startBatchIfIdle();
    task.batch = batchStats;
    task.error = "";
    setState(task, "waiting");
    pump();
  }

  // ---- the tray ----------------------------------------------------------------------------------

  function button(label, title, action) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "icon-button";
    element.textContent = label;
    element.title = title;
    element.setAttribute("aria-label", title);
    element.addEventListener("click", action);
    return element;
  }

  function makeRow(task) {
    const item = document.createElement("li");
    item.className = "upload";
    const name = document.createElement("span");
    name.className = "upload-name";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const status = document.createElement("span");
    status.className = "upload-status";
    const actions = document.createElement("span");
    actions.className = "upload-row-actions";
    item.append(name, bar, status, actions);
    task.row = { item, name, bar, status, actions };
    relabel(task);
    document.getElementById("uploads").append(item);
  }

  function relabel(task) {
    task.row.name.textContent = task.path; // textContent: a file name is never parsed as HTML
    task.row.name.title = task.path;
    task.row.bar.setAttribute("aria-label", `Uploading ${task.path}`);
  }

  function setState(task, state, error = "") {
    task.state = state;
    task.error = error;
    task.mismatch = "";
    if (state === "done" && task.batch) task.batch.changed = true;
    const { item, actions, status } = task.row;
    item.classList.remove("running", "done", "failed", "skipped", "cancelled", "interrupted");
    if (state !== "waiting" && state !== "checking") item.classList.add(state);
    // Announced when it happens, not again for each row a reload brings back.
    if (state === "failed" && task.file) status.setAttribute("role", "alert");
    else status.removeAttribute("role");
    actions.replaceChildren();
    if (ACTIVE.has(state)) {
      actions.append(button("Cancel", `Cancel ${task.path}`, () => cancel(task)));
    } else if (state === "interrupted") {
      actions.append(button("Resume", `Resume ${task.path}`, () => pickAgain(task)));
      actions.append(button("Cancel", `Cancel ${task.path}`, () => cancel(task)));
    } else {
      if (state === "failed" || state === "cancelled") {
        const again = () => (task.file ? retry(task) : pickAgain(task));
        actions.append(button("Retry", `Retry ${task.path}`, again));
      }
      actions.append(button("×", `Dismiss ${task.path}`, () => dismiss(task)));
    }
    renderRow(task);
    save();
  }

  // Out of the tray (and its stored rows). A chunked upload's session stays until it expires, so
  // that picking the same file again still resumes it; Cancel is what ends it.
  function dismiss(task) {
    const index = tasks.indexOf(task);
    if (index >= 0) tasks.splice(index, 1);
    task.row.item.remove();
    settle();
  }

  function renderRow(task) {
    const { bar, status } = task.row;
    const percent = task.size ? Math.floor((task.loaded / task.size) * 100) : 0;
    switch (task.state) {
      case "checking":
        status.textContent = "Checking the name…";
        break;
      case "waiting":
        status.textContent = "Waiting";
        break;
      case "running": {
        bar.value = percent;
        const parts = [`${percent}%`];
        if (task.resumedAt) parts.push(`resumed at ${humanSize(task.resumedAt)}`);
        if (task.speed > 0) {
          parts.push(`${humanSize(Math.round(task.speed))}/s`);
          parts.push(`${duration((task.size - task.loaded) / task.speed)} left`);
        }
        if (task.note) parts.push(task.note);
        status.textContent = parts.join(" · ");
        break;
      }
      case "done":
        bar.value = 100;
        status.textContent = "Uploaded";
        break;
      case "skipped":
        status.textContent = "Skipped (the file exists)";
        break;
      case "cancelled":
        bar.value = 0;
        status.textContent = task.mismatch || "Cancelled";
        break;
      case "failed":
        bar.value = 0;
        status.textContent = task.mismatch || task.error;
        break;
      case "interrupted": {
        bar.value = percent;
        const where = task.loaded ? ` at ${percent}% (${humanSize(task.loaded)} on the server)` : "";
        status.textContent =
          task.mismatch || `Interrupted${where}: pick the file again to resume`;
        break;
      }
    }
  }

  // Every half second while busy: speeds (smoothed) and the rows and summary that show them.
  function tick() {
    const now = performance.now();
    for (const task of tasks) {
      if (task.state !== "running") continue;
      const last = task.sample || { at: task.started, loaded: task.resumedAt || 0 };
      const seconds = (now - last.at) / 1000;
      if (seconds > 0) {
        const current = Math.max(0, task.loaded - last.loaded) / seconds;
        task.speed = task.speed ? task.speed * 0.7 + current * 0.3 : current;
      }
      task.sample = { at: now, loaded: task.loaded };
      renderRow(task);
    }
    render();
  }

  function counts() {
    const count = {
      ...{ done: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 },
      ...{ active: 0, total: 0, retryable: 0 },
    };
    let left = 0;
    let speed = 0;
    for (const task of tasks) {
      if (ACTIVE.has(task.state)) count.active += 1;
      else count[task.state] += 1;
      if ((task.state === "failed" || task.state === "cancelled") && task.file) count.retryable += 1;
      if (task.state !== "skipped" && task.state !== "cancelled") count.total += 1;
      if (ACTIVE.has(task.state)) left += task.size - (task.loaded || 0);
      if (task.state === "running") speed += task.speed || 0;
    }
    return { count, left, speed };
  }

  function render() {
    if (!tray) return;
    const { count, left, speed } = counts();
    const summary = tray.querySelector("#upload-summary");
    if (tasks.length === 0) {
      tray.hidden = true;
      return;
    }
    tray.hidden = false;
    if (count.active) {
      const parts = [`${count.done} of ${count.total}`];
      if (count.failed) parts.push(`${count.failed} failed`);
      if (count.interrupted) parts.push(`${count.interrupted} interrupted`);
      parts.push(`${humanSize(left)} left`);
      if (speed > 0) parts.push(duration(left / speed));
      summary.textContent = parts.join(" · ");
    } else {
      const parts = [`${count.done} uploaded`];
      if (count.skipped) parts.push(`${count.skipped} skipped`);
      if (count.cancelled) parts.push(`${count.cancelled} cancelled`);
      if (count.failed) parts.push(`${count.failed} failed`);
      if (count.interrupted) parts.push(`${count.interrupted} interrupted`);
      summary.textContent = parts.join(", ");
    }
    let total = 0;
    let sent = 0;
    for (const task of tasks) {
      if (task.state === "skipped" || task.state === "cancelled") continue;
      total += task.size;
      sent += task.state === "done" ? task.size : task.loaded || 0;
    }
    tray.querySelector(".tray-progress").value = total ? Math.floor((sent / total) * 100) : 100;
    tray.querySelector("[data-tray=retry-all]").hidden = !count.retryable;
    tray.querySelector("[data-tray=clear]").hidden = !(count.done + count.skipped);
    tray.querySelector("[data-tray=cancel-all]").hidden = !count.active;
    tray.querySelector(".tray-close").hidden = Boolean(count.active);
  }

  function showSignIn() {
    const box = tray.querySelector(".tray-signin");
    box.querySelector("a").href = loginUrl();
    box.hidden = false;
  }

  function clearFinished() {
    for (const task of tasks.filter((candidate) => ["done", "skipped"].includes(candidate.state))) {
      dismiss(task);
    }
  }

  // ---- the tray kept across reloads (sessionStorage: this tab only, rows only, never files) ----

  function trayKey() {
    return `${TRAY_PREFIX}${tray.dataset.bucket}`;
  }

  function storedRow(task) {
    const { name, prefix, path, requested, fileName, size, lastModified, condition } = task;
    return {
      ...{ name, prefix, path, requested, fileName, size, lastModified, condition },
      state: KEPT.has(task.state) ? task.state : "interrupted", // the page stops sending it
      error: task.error || "",
      uploadId: task.uploadId || null,
    };
  }

  // Soon, once for a burst of changes (a 250-file batch changes state a thousand times).
  function save() {
    if (leaving || !tray || saveTimer) return;
    saveTimer = setTimeout(saveNow, 200);
  }

  function saveNow() {
    clearTimeout(saveTimer);
    saveTimer = null;
    if (leaving || !tray) return;
    try {
      if (tasks.length) sessionStorage.setItem(trayKey(), JSON.stringify(tasks.map(storedRow)));
      else sessionStorage.removeItem(trayKey());
    } catch (error) {
      // Storage full or disabled: the tray works, only a reload forgets it.
    }
  }

  function restoreTray() {
    let rows = null;
    try {
      rows = JSON.parse(sessionStorage.getItem(trayKey()) || "[]");
    } catch (error) {
      return;
    }
    if (!Array.isArray(rows)) return;
    for (const row of rows) {
      if (!row || typeof row.name !== "string" || !Number.isSafeInteger(row.size)) continue;
      const text = (value, fallback) => (typeof value === "string" ? value : fallback);
      const task = {
        id: nextId++,
        file: null, // until the user picks it again
        size: row.size,
        lastModified: Number.isSafeInteger(row.lastModified) ? row.lastModified : 0,
        prefix: text(row.prefix, ""),
        path: text(row.path, row.name),
        name: row.name,
        requested: text(row.requested, row.name),
        fileName: text(row.fileName, row.name.split("/").pop()),
        condition: row.condition === null ? null : text(row.condition, "0"),
        uploadId: text(row.uploadId, null),
        loaded: 0,
        batch: null,
        state: "interrupted",
      };
      tasks.push(task);
      makeRow(task);
      setState(task, KEPT.has(row.state) ? row.state : "interrupted", text(row.error, ""));
      if (task.state === "interrupted" && task.uploadId) checkSession(task);
    }
    settle();
  }

  // How far an interrupted chunked upload got: shown in its row, and whether the server
  // finished it after all (its last chunk arrived as the page went).
  async function checkSession(task) {
    let response = null;
    try {
      response = await send(null, "GET", sessionUrl(task.uploadId));
    } catch (error) {
      return; // offline or signed out: Resume asks again
    }
    if (task.state !== "interrupted") return;
    const state = response.body;
    if (response.status === 200 && state.name === task.name && state.size === task.size) {
      if (state.done) {
        forgetSession(task);
        task.uploadId = null;
        setState(task, "done");
        refreshListing();
      } else {
        task.loaded = state.received;
        renderRow(task);
      }
    } else if (response.status !== 200 && !state.restart) {
      return; // the server faltered: Resume asks again
    } else {
      forgetSession(task); // expired, unknown or changed: Resume starts over
      task.uploadId = null;
      task.loaded = 0;
      renderRow(task);
    }
    settle();
  }

  function sameFile(task, file) {
    return (
      file.name === task.fileName && file.size === task.size && file.lastModified === task.lastModified
    );
  }

  function pickAgain(task) {
    resumeFor = task;
    resumeInput.click();
  }

  // A row brought back by a reload goes again with the file the user picked for it.
  function adopt(task, file, batch) {
    task.file = file;
    task.batch = batch;
    setState(task, "waiting");
  }

  function setUpResume() {
    resumeInput = document.createElement("input");
    resumeInput.type = "file";
    resumeInput.hidden = true;
    resumeInput.tabIndex = -1;
    tray.append(resumeInput);
    resumeInput.addEventListener("change", () => {
      const file = resumeInput.files[0];
      const task = resumeFor;
      resumeInput.value = "";
      resumeFor = null;
      if (!file || !task || task.file || !tasks.includes(task)) return;
      if (!sameFile(task, file)) {
        // Never send another file in its place: its name, size or date differ.
        task.mismatch =
          `“${file.name}” is not the file this row was uploading: pick ${task.fileName} ` +
          `(${humanSize(task.size)}) again.`;
        renderRow(task);
        return;
      }
      startBatchIfIdle();
      adopt(task, file, batchStats);
      pump();
    });
    window.addEventListener("pagehide", () => {
      saveNow();
      leaving = true;
    });
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      leaving = false; // back from the back-forward cache, as it was
      save();
    });
  }

  function setUpTray() {
    setUpResume();
    tray.querySelector("[data-tray=clear]").addEventListener("click", clearFinished);
    tray.querySelector("[data-tray=cancel-all]").addEventListener("click", () => {
      for (const task of tasks.slice()) cancel(task);
    });
    tray.querySelector("[data-tray=retry-all]").addEventListener("click", () => {
      for (const task of tasks.slice()) retry(task);
    });
    tray.querySelector(".tray-close").addEventListener("click", () => {
      for (const task of tasks.slice()) if (!ACTIVE.has(task.state)) dismiss(task);
    });
    const toggle = tray.querySelector(".tray-toggle");
    toggle.addEventListener("click", () => {
      const list = document.getElementById("uploads");
      list.hidden = !list.hidden;
      toggle.setAttribute("aria-expanded", String(!list.hidden));
      const label = list.hidden ? "Show details" : "Hide details";
      toggle.setAttribute("aria-label", label);
      toggle.title = label;
    });
  }

  // ---- a batch: names checked, conflicts asked, then queued ----------------------------------

  function startBatchIfIdle() {
    if (busy() && batchStats) return;
    // A new batch clears the rows that went well; failed and cancelled ones stay until retried
    // or dismissed.
    for (const task of tasks.filter((candidate) => ["done", "skipped"].includes(candidate.state))) {
      const index = tasks.indexOf(task);
      tasks.splice(index, 1);
      task.row.item.remove();
    }
    batchStats = { changed: false, decision: null };
  }

  async function existingNames(names) {
    const answer = {};
    for (let start = 0; start < names.length; start += 1000) {
      const response = await send(null, "POST", tray.dataset.checkUrl, {
        body: JSON.stringify({ names: names.slice(start, start + 1000) }),
        headers: { "Content-Type": "application/json" },
      });
      if (response.status !== 200) throw failure(response);
      Object.assign(answer, response.body.existing || {});
    }
    return answer;
  }

  // The in-page question: resolves "replace", "keep" or "skip", and whether it applies to all.
  function ask(task, freeName, others) {
    const run = () =>
      new Promise((resolve) => {
        const dialog = document.getElementById("upload-conflict");
        dialog.querySelector(".conflict-name").textContent = task.path;
        dialog.querySelector(".conflict-free").textContent = freeName.slice(task.prefix.length);
        dialog.querySelector(".conflict-count").textContent = String(others);
        const all = dialog.querySelector("input[name=all]");
        all.checked = false;
        dialog.querySelector(".conflict-all").hidden = others === 0;
        dialog.returnValue = "";
        dialog.addEventListener(
          "close",
          () => resolve({ choice: dialog.returnValue || "skip", all: all.checked }),
          { once: true },
        );
        dialog.showModal();
        dialog.querySelector("button[value=replace]").focus();
      });
    const answer = dialogQueue.then(run);
    dialogQueue = answer.catch(() => {});
    return answer;
  }

  function decide(task, choice, freeName) {
    if (choice === "replace") {
      task.condition = null; // the user said so: no precondition
      setState(task, "waiting");
    } else if (choice === "keep") {
      task.name = freeName;
      task.path = freeName.slice(task.prefix.length);
      task.condition = "0";
      relabel(task);
      setState(task, "waiting");
    } else {
      setState(task, "skipped");
    }
  }

  async function resolveConflicts(checking, batch) {
    let existing;
    try {
      existing = await existingNames(checking.map((task) => task.name));
    } catch (error) {
      for (const task of checking) {
        if (error.signIn) setState(task, "failed", error.message);
        else setState(task, "waiting"); // the upload's own precondition still guards the name
      }
      if (error.signIn) showSignIn();
      return;
    }
    const conflicted = checking.filter((task) => task.name in existing && task.state === "checking");
    for (const task of checking) {
      if (task.state === "checking" && !(task.name in existing)) setState(task, "waiting");
    }
    pump(); // the others go while the user answers
    for (const [index, task] of conflicted.entries()) {
      if (task.state !== "checking") continue; // cancelled meanwhile
      let choice = batch && batch.decision;
      if (!choice) {
        const answer = await ask(task, existing[task.name], conflicted.length - index - 1);
        choice = answer.choice;
        if (answer.all && batch) batch.decision = choice;
      }
      if (task.state === "checking") decide(task, choice, existing[task.name]);
      pump();
    }
  }

  async function uploadAll(entries) {
    if (!tray || !form || entries.length === 0) return;
    startBatchIfIdle();
    const batch = batchStats;
    const prefix = form.querySelector("input[name=prefix]").value;
    const maxSize = Number(form.dataset.maxSize || 0);
    const checking = [];
    for (const entry of entries) {
      const path = entry.path;
      const name = prefix + path.replace(/^\/+/, "");
      // The same file picked again for a row a reload brought back: that row goes on (its name
      // was decided already, and a chunked upload continues from the server's offset).
      const orphan = tasks.find(
        (task) =>
          !task.file &&
          ["interrupted", "failed", "cancelled"].includes(task.state) &&
          task.requested === name &&
          sameFile(task, entry.file),
      );
      if (orphan) {
        adopt(orphan, entry.file, batch);
        continue;
      }
      const task = {
        id: nextId++,
        file: entry.file,
        size: entry.file.size,
        lastModified: entry.file.lastModified,
        fileName: entry.file.name,
        prefix,
        path,
        name,
        requested: name,
        condition: "0", // only if absent, unless the user chooses to replace
        loaded: 0,
        batch,
        state: "checking",
      };
      tasks.push(task);
      makeRow(task);
      if (maxSize && task.size > maxSize) {
        setState(task, "failed", `Larger than the upload limit of ${humanSize(maxSize)}.`);
      } else {
        setState(task, "checking");
        checking.push(task);
      }
    }
    settle();
    await resolveConflicts(checking, batch);
    pump();
  }

  function refreshListing() {
    const listing = document.getElementById("listing");
    if (listing && window.htmx) {
      window.htmx.ajax("GET", listing.dataset.listingUrl, { target: "#listing", swap: "outerHTML" });
    }
  }

  // ---- picking and dropping ----------------------------------------------------------------------

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

  function carriesFiles(event) {
    return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes("Files");
  }

  // On every page: a file dropped anywhere never makes the browser open it in place of the app.
  function guardDrops() {
    document.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = tray ? "copy" : "none";
    });
    document.addEventListener("drop", (event) => {
      if (carriesFiles(event) || (event.dataTransfer && event.dataTransfer.files.length)) {
        event.preventDefault();
      }
    });
  }

  // On a bucket page: the whole page takes drops, with a hint fixed in the viewport.
  function setUpDrops() {
    const overlay = document.getElementById("drop-overlay");
    const zone = document.getElementById("dropzone");
    let depth = 0;
    const show = (on) => {
      overlay.hidden = !on;
      if (zone) zone.classList.toggle("dragging", on);
    };
    document.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event)) return;
      depth += 1;
      show(true);
    });
    document.addEventListener("dragleave", (event) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) show(false);
    });
    document.addEventListener("drop", async (event) => {
      depth = 0;
      show(false);
      if (!event.dataTransfer || !(carriesFiles(event) || event.dataTransfer.files.length)) return;
      event.preventDefault();
      uploadAll(await entriesFromDrop(event.dataTransfer));
    });
  }

  function setUp() {
    guardDrops();
    tray = document.getElementById("upload-tray");
    form = document.getElementById("upload-form");
    if (!tray || !form) return;
    setUpTray();
    restoreTray();
    form.addEventListener("click", (event) => {
      const picker = event.target.closest("[data-pick]");
      if (!picker) return;
      // From the phone's More menu: close it first. Closing it in the same click, after the
      // picker was asked for (popovertargetaction), sometimes kept Chromium's picker from opening.
      const menu = picker.closest("[popover]");
      if (menu && menu.matches(":popover-open")) {
        menu.hidePopover();
        document.querySelector(`[popovertarget="${menu.id}"]`)?.focus();
      }
      form.querySelector(picker.dataset.pick).click();
    });
    for (const input of form.querySelectorAll("input[type=file]")) {
      input.addEventListener("change", () => {
        const entries = entriesFromInput(input);
        input.value = "";
        uploadAll(entries);
      });
    }
    setUpDrops();
  }

  // For the browser tests and the curious: whether uploads are running.
  window.objstore.uploads = { busy };

  document.addEventListener("DOMContentLoaded", setUp);
})();
