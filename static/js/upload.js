// Uploads as a queue that never stalls and never drops a file (templates/images/
// _upload_panel.html is its one compact panel):
// - files chosen or dropped while a batch runs join it;
// - each file is hashed and checked against the library (GET /images/duplicates, a chunk of
//   files at a time); a duplicate is held aside and the rest go on; the question is asked
//   once, at the end, for all of them ("3 photos are already in your library: Upload
//   anyway / Skip");
// - at most UPLOADS_AT_ONCE requests are in flight; a busy server (503) is asked again;
// - the panel says "Uploading 12 of 68…", then "68 photos uploaded, 1 duplicate skipped";
//   each failed file is listed once, by name, in the panel (never as a toast); its live
//   status line hears only the start and the end;
// - every new photo lands in the gallery as it arrives, newest first, as after a reload.
// Where Web Crypto is missing (a page served over plain http on a home network is not a
// secure context), this same file runs as a Worker that hashes with plain JavaScript, off
// the page's thread, so duplicates are still found.
(function () {
  "use strict";

  // SHA-256 (FIPS 180-4) in plain JavaScript, for the Worker.
  var SHA_K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  function sha256Plain(buffer) {
    var bytes = new Uint8Array(buffer);
    var length = bytes.length;
    var padded = new Uint8Array(((length + 72) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, (length << 3) >>> 0);
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var W = new Int32Array(64);
    for (var off = 0; off < padded.length; off += 64) {
      var t;
      for (t = 0; t < 16; t++) W[t] = view.getInt32(off + t * 4);
      for (t = 16; t < 64; t++) {
        var x = W[t - 15], y = W[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + SHA_K[t] + W[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
    return H.map(function (v) { return ("0000000" + (v >>> 0).toString(16)).slice(-8); }).join("");
  }

  if (typeof window === "undefined") {  // the Worker
    self.onmessage = function (event) {
      var hash = null;
      try { hash = sha256Plain(event.data.buffer); } catch (e) { hash = null; }
      self.postMessage({ id: event.data.id, hash: hash });
    };
    return;
  }

  if (window.papeleraUpload) return;
  window.papeleraUpload = true;
  var scriptUrl = document.currentScript && document.currentScript.src;
  var subtle = !!(window.crypto && crypto.subtle);

  var UPLOADS_AT_ONCE = 3;
  // Files hashed, then checked for duplicates, in one request (fewer with the slower
  // plain hash, so that the first uploads start soon).
  var CHECK_CHUNK = subtle ? 25 : 4;
  var BUSY_RETRIES = 4;       // a 503 (decode slots full, database busy) is tried again
  var NETWORK_RETRIES = 1;

  var entries = [];           // this batch's files, in the order they were chosen
  var active = 0;             // requests in flight
  var sendingBody = null;     // the request whose file is still on its way up
  var preparing = false;      // hashing and checking for duplicates
  var asking = false;         // the duplicate question is on screen
  var finished = true;        // the batch has ended (the next file starts a new one)
  var createdAt = {};         // id → upload time of the photos this page uploaded
  var batchCount = 0;         // the most photos an upload answer of this batch counted

  function $(id) { return document.getElementById(id); }
  function form() { return $("upload"); }

  // Sentences come translated from the page (templates/images/_js_text.html).
  function say(key, fallback, values) {
    var box = $("gallery-text");
    var text = (box && box.getAttribute("data-" + key)) || fallback;
    Object.keys(values || {}).forEach(function (k) {
      text = text.split("%(" + k + ")s").join(String(values[k]));
    });
    return text;
  }
  function plural(key, n, fallbackOne, fallbackOther) {
    return n === 1 ? say(key + "-one", fallbackOne, { num: n }) : say(key + "-other", fallbackOther, { num: n });
  }

  function csrfHeaders() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { return {}; }
  }

  function count(status) {
    return entries.filter(function (e) { return e.status === status; }).length;
  }
  function pending() {
    return entries.some(function (e) {
      return e.status === "new" || e.status === "hashing" || e.status === "ready" || e.status === "sending";
    });
  }

  // --- Adding files (chosen, taken or dropped), also while a batch runs ---------------
  function addFiles(files) {
    var list = Array.prototype.slice.call(files || []);
    if (!list.length || !form()) return;
    if (finished) {
      entries = [];
      finished = false;
      batchCount = 0;
      $("upload-errors").innerHTML = "";
      $("upload-dupes").innerHTML = "";
      $("upload-panel").hidden = false;
      announce(plural("up-start", list.length, "Uploading %(num)s photo…", "Uploading %(num)s photos…"));
    }
    var limit = Number(form().getAttribute("data-max-bytes")) || 0;
    list.forEach(function (file) {
      var entry = { file: file, name: file.name, status: "new", hash: null, sent: 0, tries: 0 };
      entries.push(entry);
      if (limit && file.size > limit) {
        fail(entry, say("up-too-big", "The upload is larger than the limit."), false);
      }
    });
    render();
    prepare();
  }

  // The live region is told a moment later (after the panel shows, so that it is heard),
  // and only the latest sentence: a batch over at once is announced by its end alone.
  // The same sentence twice (two batches of one photo) is cleared first, to be heard again.
  var announceTimer = null, announceText = "";
  function announce(text) {
    announceText = text;
    if (announceTimer) return;
    var region = $("upload-announce");
    if (region && text && region.textContent === text) region.textContent = "";
    announceTimer = setTimeout(function () {
      announceTimer = null;
      if (region) region.textContent = announceText;
    }, 80);
  }

  // --- Hash, then ask the library which it already has -----------------------------
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function sha256(file) {
    if (!file.arrayBuffer) return Promise.resolve(null);
    if (subtle) {
      return file.arrayBuffer().then(function (data) { return crypto.subtle.digest("SHA-256", data); })
        .then(hex).catch(function () { return null; });
    }
    return file.arrayBuffer().then(plainHash).catch(function () { return null; });
  }

  // The Worker's hash (null when no Worker can start: the file then goes up unchecked).
  var hasher = null, hashes = {}, hashIds = 0;
  function plainHash(buffer) {
    if (!hasher) {
      if (!window.Worker || !scriptUrl) return Promise.resolve(null);
      try { hasher = new Worker(scriptUrl); } catch (e) { return Promise.resolve(null); }
      hasher.onmessage = function (event) {
        var done = hashes[event.data.id];
        delete hashes[event.data.id];
        if (done) done(event.data.hash);
      };
      hasher.onerror = function () {
        Object.keys(hashes).forEach(function (id) { hashes[id](null); });
        hashes = {};
      };
    }
    return new Promise(function (resolve) {
      hashIds += 1;
      hashes[hashIds] = resolve;
      hasher.postMessage({ id: hashIds, buffer: buffer }, [buffer]);
    });
  }

  function knownHashes(hashes) {
    var query = hashes.filter(Boolean).map(function (h) { return "sha256=" + h; }).join("&");
    if (!query) return Promise.resolve({});
    return fetch(form().getAttribute("data-duplicates-url") + "?" + query,
                 { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .catch(function () { return {}; });  // unknown: the files go up (nothing is lost)
  }

  function prepare() {
    if (preparing) return;
    var chunk = entries.filter(function (e) { return e.status === "new"; }).slice(0, CHECK_CHUNK);
    if (!chunk.length) { settle(); return; }
    preparing = true;
    chunk.forEach(function (e) { e.status = "hashing"; });
    // One file in memory at a time, in order.
    var chain = Promise.resolve();
    chunk.forEach(function (entry) {
      chain = chain.then(function () { return sha256(entry.file); })
        .then(function (hash) { entry.hash = hash; });
    });
    chain.then(function () {
      return knownHashes(chunk.map(function (e) { return e.hash; }));
    }).then(function (known) {
      chunk.forEach(function (entry) {
        if (entry.status !== "hashing") return;
        entry.status = (entry.hash && (known[entry.hash] || sameInBatch(entry))) ? "held" : "ready";
      });
      preparing = false;
      render();
      pump();
      prepare();
    });
  }

  // The same file twice in one batch: the second copy is a duplicate too.
  function sameInBatch(entry) {
    for (var i = 0; i < entries.length; i++) {
      var other = entries[i];
      if (other === entry) return false;
      if (other.hash === entry.hash && other.status !== "failed" && other.status !== "skipped") return true;
    }
    return false;
  }

  // --- Sending, a few at a time ----------------------------------------------------
  // A request starts once the one before it has handed over its whole file: the server
  // then dates the photos in the order they were chosen (the gallery lists them by upload
  // time), while it still works on up to UPLOADS_AT_ONCE of them at once.
  function pump() {
    while (active < UPLOADS_AT_ONCE && !sendingBody) {
      var next = null;
      for (var i = 0; i < entries.length; i++) {
        if (entries[i].status === "ready") { next = entries[i]; break; }
      }
      if (!next) break;
      send(next);
    }
    settle();
  }

  function send(entry) {
    entry.status = "sending";
    entry.sent = 0;
    active += 1;
    var xhr = new XMLHttpRequest();
    var data = new FormData();
    data.append("file", entry.file, entry.name);
    xhr.open("POST", form().getAttribute("action"));
    var headers = csrfHeaders();
    Object.keys(headers).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
    xhr.setRequestHeader("HX-Request", "true");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable && e.total) { entry.sent = e.loaded / e.total; progressSoon(); }
    };
    sendingBody = xhr;
    function bodySent() {
      if (sendingBody !== xhr) return;
      sendingBody = null;
      setTimeout(pump, 0);
    }
    xhr.upload.addEventListener("loadend", bodySent);
    xhr.addEventListener("loadend", bodySent);
    xhr.onload = function () {
      active -= 1;
      var html = xhr.responseText || "";
      var redirect = xhr.getResponseHeader("HX-Redirect");
      if (xhr.status === 401 && redirect) {
        // The session has ended (the sign-in page says so), as for any other request.
        finished = true;
        entries = [];
        window.location.assign(redirect);
        return;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        entry.status = "done";
        arrived(html);
      } else if ((xhr.status === 503 || xhr.status === 429) && entry.tries < BUSY_RETRIES) {
        entry.tries += 1;
        var wait = Math.min(Number(xhr.getResponseHeader("Retry-After")) || 2, 10);
        later(entry, wait * 1000);
      } else {
        fail(entry, messageOf(html) || say("up-failed", "Upload failed (%(num)s)", { num: xhr.status }),
             xhr.status >= 500);
      }
      render();
      pump();
    };
    xhr.onerror = function () {
      active -= 1;
      if (entry.tries < NETWORK_RETRIES) {
        entry.tries += 1;
        later(entry, 1500);
      } else {
        fail(entry, say("up-network", "Network error: not uploaded"), true);
      }
      render();
      pump();
    };
    xhr.send(data);
  }

  function later(entry, ms) {
    entry.status = "waiting";
    setTimeout(function () {
      if (entry.status !== "waiting") return;
      entry.status = "ready";
      pump();
    }, ms);
  }

  // An error answer is a toast's markup: its sentence, without the toast.
  function messageOf(html) {
    if (!html) return "";
    var box = document.createElement("template");
    box.innerHTML = html;
    var message = box.content.querySelector(".toast-message");
    return message ? message.textContent.trim() : "";
  }

  function fail(entry, problem, retryable) {
    entry.status = "failed";
    entry.retryable = retryable;
    var prefix = entry.name + ":";
    entry.error = problem.indexOf(prefix) === 0 ? problem
      : say("up-named", "%(name)s: %(problem)s", { name: entry.name, problem: problem });
    // Listed in the order the files were chosen, whenever each failed.
    var li = document.createElement("li");
    li.textContent = entry.error;
    var at = entries.indexOf(entry);
    li.setAttribute("data-at", at);
    entry.row = li;
    var list = $("upload-errors");
    var after = Array.prototype.filter.call(list.children, function (other) {
      return Number(other.getAttribute("data-at")) > at;
    })[0];
    list.insertBefore(li, after || null);
  }

  // --- What arrived goes into the gallery, newest first ------------------------------
  function arrived(html) {
    var box = document.createElement("template");
    box.innerHTML = html;
    box.content.querySelectorAll("[data-uploaded]").forEach(function (marker) {
      createdAt[marker.getAttribute("data-uploaded")] = marker.getAttribute("data-created") || "";
      marker.remove();
    });
    // Answers can arrive out of order, and the library only grows while a batch runs:
    // an answer counting fewer photos than one already shown is an older count.
    var counted = box.content.querySelector("#gallery-count");
    var n = counted ? parseInt(counted.textContent, 10) : NaN;
    if (!isNaN(n)) {
      if (n < batchCount) counted.remove();
      else batchCount = n;
    }
    if (!$("gallery")) return;
    htmx.swap("#gallery", box.innerHTML, { swapStyle: "afterbegin" });
    order();
  }

  // Tiles this page uploaded go first in their day, newest first (ties: the larger id),
  // as the server lists them after a reload.
  function order() {
    var g = $("gallery");
    if (!g) return;
    g.querySelectorAll(".day").forEach(function (day, i) {
      if (i > 1) return;  // new photos are in today's section (or yesterday's at midnight)
      var tiles = day.querySelector(".tiles");
      var mine = Array.prototype.filter.call(tiles.children, function (t) {
        return createdAt.hasOwnProperty(t.getAttribute("data-id"));
      });
      if (!mine.length) return;
      mine.sort(function (a, b) {
        var x = createdAt[a.getAttribute("data-id")], y = createdAt[b.getAttribute("data-id")];
        if (x !== y) return x < y ? 1 : -1;
        return a.getAttribute("data-id") < b.getAttribute("data-id") ? 1 : -1;
      });
      var inOrder = mine.every(function (t, k) { return tiles.children[k] === t; });
      if (!inOrder) mine.slice().reverse().forEach(function (t) { tiles.insertBefore(t, tiles.firstChild); });
    });
  }

  // --- The end: ask once about the duplicates, then say what happened ----------------
  function settle() {
    if (finished || preparing || pending() || count("waiting")) return;
    var held = count("held");
    if (held) { ask(held); return; }
    finished = true;
    render();
    var summary = $("upload-title").textContent;
    announce(summary);
  }

  function ask(held) {
    var box = $("upload-ask");
    var list = $("upload-dupes");
    list.innerHTML = "";
    entries.forEach(function (e) {
      if (e.status !== "held") return;
      var li = document.createElement("li");
      li.textContent = e.name;
      list.appendChild(li);
    });
    var question = plural("up-dupes", held, "%(num)s photo is already in your library.",
                          "%(num)s photos are already in your library.");
    $("upload-ask-text").textContent = question;
    var first = !asking;
    asking = true;
    box.hidden = false;
    render();
    if (first) announce($("upload-title").textContent + ". " + question);
  }

  function answer(upload) {
    if (!asking) return;
    asking = false;
    $("upload-ask").hidden = true;
    var again = 0;
    entries.forEach(function (e) {
      if (e.status !== "held") return;
      e.status = upload ? "ready" : "skipped";
      again += 1;
    });
    // The focused button is gone: focus stays in the panel, on its status line.
    $("upload-title").focus({ preventScroll: true });
    if (upload && again) {
      announce(plural("up-start", again, "Uploading %(num)s photo…", "Uploading %(num)s photos…"));
    }
    render();
    pump();
  }

  function retryFailed() {
    var again = entries.filter(function (e) { return e.status === "failed" && e.retryable; });
    if (!again.length) return;
    finished = false;
    again.forEach(function (e) {
      e.status = "ready";
      e.tries = 0;
      if (e.row) e.row.remove();
    });
    $("upload-title").focus({ preventScroll: true });
    announce(plural("up-start", again.length, "Uploading %(num)s photo…", "Uploading %(num)s photos…"));
    render();
    pump();
  }

  // --- The panel ---------------------------------------------------------------------
  function summaryText() {
    var parts = [plural("up-done", count("done"), "%(num)s photo uploaded", "%(num)s photos uploaded")];
    var skipped = count("skipped"), failed = count("failed");
    if (skipped) parts.push(plural("up-skipped", skipped, "%(num)s duplicate skipped", "%(num)s duplicates skipped"));
    if (failed) parts.push(plural("up-failed", failed, "%(num)s not uploaded", "%(num)s not uploaded"));
    return parts.join(", ");
  }

  function render() {
    var panel = $("upload-panel");
    if (!panel) return;
    var total = entries.length;
    var running = !finished && (preparing || pending() || count("waiting") > 0);
    var settled = entries.filter(function (e) {
      return e.status === "done" || e.status === "failed" || e.status === "held" || e.status === "skipped";
    }).length;
    var title = running
      ? say("up-progress", "Uploading %(num)s of %(total)s…", { num: Math.min(settled + 1, total), total: total })
      : summaryText();
    if ($("upload-title").textContent !== title) $("upload-title").textContent = title;
    panel.classList.toggle("is-running", running);
    panel.classList.toggle("has-errors", count("failed") > 0);
    $("upload-progress").hidden = !running;
    $("upload-close").hidden = running || asking;
    $("upload-errors").hidden = !count("failed");
    var retry = !running && !asking && entries.some(function (e) { return e.status === "failed" && e.retryable; });
    panel.querySelector(".upload-retry-row").hidden = !retry;
    progress();
  }

  var progressPending = false;
  function progressSoon() {
    if (progressPending) return;
    progressPending = true;
    requestAnimationFrame(function () { progressPending = false; progress(); });
  }
  function progress() {
    var bar = $("upload-progress");
    if (!bar) return;
    var total = entries.length || 1;
    var done = 0;
    entries.forEach(function (e) {
      if (e.status === "sending") done += e.sent;
      else if (e.status !== "new" && e.status !== "hashing" && e.status !== "ready" && e.status !== "waiting") done += 1;
    });
    bar.max = total;
    bar.value = done;
  }

  function close() {
    if (!finished) return;
    var panel = $("upload-panel");
    panel.hidden = true;
    entries = [];
    announce("");
    var input = $("file-input");
    if (input) input.focus({ preventScroll: true });
  }

  // Leaving the page while files wait would lose them: the browser asks first.
  window.addEventListener("beforeunload", function (event) {
    if (finished || !entries.length) return;
    if (!pending() && !count("waiting")) return;
    event.preventDefault();
    event.returnValue = "";
  });

  document.addEventListener("click", function (event) {
    var id = event.target && event.target.id;
    if (id === "upload-anyway") answer(true);
    else if (id === "upload-skip") answer(false);
    else if (id === "upload-retry") retryFailed();
    else if (id === "upload-close") close();
  });

  document.addEventListener("change", function (event) {
    if (event.target.id !== "file-input") return;
    var f = event.target.closest("form");
    if (!f || f.id !== "upload") return;
    var files = Array.prototype.slice.call(event.target.files || []);
    f.reset();  // the same file can be chosen again; the queue holds its own list
    addFiles(files);
  });
  // Files dropped anywhere on the gallery, not only on the zone (out of sight once the page
  // has scrolled): the browser opened the file in place of the page. While files are
  // dragged over the page it says where they go (body.is-dropping, gallery.css).
  function carriesFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }
  var dragDepth = 0;
  function dragEnded() {
    dragDepth = 0;
    document.body.classList.remove("is-dropping");
  }
  document.addEventListener("dragenter", function (event) {
    if (!form() || !carriesFiles(event)) return;
    dragDepth += 1;
    document.body.setAttribute("data-drop-text", say("up-drop", "Drop the photos to add them"));
    document.body.classList.add("is-dropping");
  });
  document.addEventListener("dragleave", function () {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dragEnded();
  });
  document.addEventListener("dragover", function (event) {
    if (form() && carriesFiles(event)) event.preventDefault();  // a drop here is ours
  });
  document.addEventListener("drop", function (event) {
    dragEnded();
    if (!form() || !carriesFiles(event)) return;
    if (event.target.closest && event.target.closest(".dropzone")) return;  // app.js has it
    event.preventDefault();
    addFiles(event.dataTransfer.files);
  });

  // Drag and drop: app.js fills the input and fires "drop-files" on the zone.
  document.addEventListener("drop-files", function (event) {
    var f = event.target;
    if (f.id !== "upload") return;
    var files = Array.prototype.slice.call(f.querySelector("#file-input").files || []);
    f.reset();
    addFiles(files);
  });
})();
