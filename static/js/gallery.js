// The gallery and the trash: selection (click, shift-click, keyboard), the bulk bars,
// and what the server's answers mark as gone or back (data-trashed / data-restored).
// Uploads live in upload.js.
(function () {
  "use strict";
  if (window.papeleraGallery) return;
  window.papeleraGallery = true;

  var lastChecked = null;

  function gallery() { return document.getElementById("gallery"); }
  function visibleTiles() {
    var g = gallery();
    return g ? Array.prototype.filter.call(g.querySelectorAll(".tile"), function (t) { return !t.hidden; }) : [];
  }
  // Sentences come translated from the page (templates/images/_js_text.html).
  function say(key, fallback, values) {
    var box = document.getElementById("gallery-text");
    var text = (box && box.getAttribute("data-" + key)) || fallback;
    Object.keys(values || {}).forEach(function (k) {
      text = text.split("%(" + k + ")s").join(String(values[k]));
    });
    return text;
  }

  // --- Gallery selection ------------------------------------------------------------
  function syncGallery() {
    var g = gallery();
    var bar = document.getElementById("gallery-bulk");
    if (!g || !bar) return;
    var boxes = g.querySelectorAll(".tile-check");
    var n = 0;
    boxes.forEach(function (box) {
      var tile = box.closest(".tile");
      if (tile.hidden && box.checked) box.checked = false;
      tile.classList.toggle("is-selected", box.checked);
      if (box.checked) n += 1;
    });
    var count = document.getElementById("bulk-count");
    var text = n ? selectedText(n) : "";
    var appearing = bar.hidden && n > 0;
    bar.hidden = n === 0;
    g.classList.toggle("is-selecting", n > 0);
    barHeight(bar);
    if (!count || count.textContent === text) return;
    // The count is the live region: shown first, then filled, so that it is heard.
    if (appearing) requestAnimationFrame(function () { count.textContent = selectedText(selectedIds().length || n); });
    else count.textContent = text;
  }

  // Day headers stick below the selection bar while it shows (--bulk-height).
  var barObserved = false;
  function barHeight(bar) {
    var height = bar.hidden ? 0 : Math.ceil(bar.getBoundingClientRect().height);
    document.documentElement.style.setProperty("--bulk-height", height + "px");
    if (!barObserved && window.ResizeObserver) {
      barObserved = true;
      new ResizeObserver(function () { barHeight(bar); }).observe(bar);
    }
  }

  // "1 selected" / "2 selected" in the page's language (English and Spanish have two forms).
  function selectedText(n) {
    return say(n === 1 ? "selected-one" : "selected-other", "%(num)s selected", { num: n });
  }

  function selectedIds() {
    var g = gallery();
    if (!g) return [];
    return Array.prototype.map.call(g.querySelectorAll(".tile-check:checked"), function (b) { return b.value; });
  }

  function rangeCheck(boxes, from, to, value) {
    var a = boxes.indexOf(from), b = boxes.indexOf(to);
    if (a < 0 || b < 0) return;
    for (var i = Math.min(a, b); i <= Math.max(a, b); i++) boxes[i].checked = value;
  }

  function clickCheck(box, shift, scope) {
    var boxes = Array.prototype.slice.call(scope.querySelectorAll(box.classList.contains("tile-check") ? ".tile-check" : 'input[name="ids"]'));
    boxes = boxes.filter(function (b) { return !b.closest("[hidden]"); });
    if (shift && lastChecked && lastChecked !== box && boxes.indexOf(lastChecked) >= 0) {
      rangeCheck(boxes, lastChecked, box, box.checked);
    }
    lastChecked = box;
  }

  document.addEventListener("click", function (event) {
    var box = event.target.closest && event.target.closest(".tile-check");
    if (box) {
      clickCheck(box, event.shiftKey, gallery());
      syncGallery();
      return;
    }
    var row = event.target.closest && event.target.closest('#trash input[name="ids"]');
    if (row) {
      clickCheck(row, event.shiftKey, document.getElementById("trash"));
      syncTrash();
      return;
    }
    if (event.target.closest && event.target.closest("[data-select-all]")) {
      setTimeout(syncTrash, 0);
    }
    // While something is ticked, a click on a tile ticks it too (as photo apps do). Not
    // Enter (a click with detail 0): Space ticks, Enter opens, selection or not.
    var link = event.target.closest && event.target.closest(".tile-link");
    if (link && selectedIds().length && !event.ctrlKey && !event.metaKey && event.detail !== 0) {
      event.preventDefault();
      event.stopImmediatePropagation();
      var check = link.parentNode.querySelector(".tile-check");
      check.checked = !check.checked;
      clickCheck(check, event.shiftKey, gallery());
      syncGallery();
      return;
    }
    if (event.target.id === "bulk-clear") {
      gallery().querySelectorAll(".tile-check:checked").forEach(function (b) { b.checked = false; });
      syncGallery();
      // Focus goes back to the photo last ticked (the page does not move).
      var back = lastChecked && lastChecked.closest(".tile");
      if (!back || back.hidden || !back.isConnected) {
        back = visibleTiles().filter(function (t) { return t.getBoundingClientRect().bottom > 0; })[0];
      }
      if (back) back.querySelector(".tile-link").focus({ preventScroll: true });
    }
    if (event.target.id === "bulk-zip") {
      var ids = selectedIds();
      if (!ids.length) return;
      var url = event.target.getAttribute("data-zip-url") + "?" +
        ids.map(function (id) { return "ids=" + encodeURIComponent(id); }).join("&");
      var a = document.createElement("a");
      a.href = url;
      a.download = "";
      document.body.appendChild(a);
      a.click();
      a.remove();
    }
    var copy = event.target.closest && event.target.closest("[data-copy-from]");
    if (copy) {
      var field = copy.parentNode.querySelector(".share-url");
      field.select();
      if (navigator.clipboard) navigator.clipboard.writeText(field.value).catch(function () {});
      copy.textContent = say("copied", "Copied");
    }
  }, true);

  // Keyboard: arrows move across tiles, Space ticks, Enter opens (the link's own click).
  document.addEventListener("keydown", function (event) {
    var link = event.target.closest && event.target.closest(".tile-link");
    if (!link || event.altKey || event.ctrlKey || event.metaKey) return;
    var tiles = visibleTiles();
    var tile = link.closest(".tile");
    var i = tiles.indexOf(tile);
    var target = null;
    if (event.key === " ") {
      event.preventDefault();
      var check = tile.querySelector(".tile-check");
      check.checked = !check.checked;
      clickCheck(check, event.shiftKey, gallery());
      syncGallery();
      return;
    }
    if (event.key === "Delete" && selectedIds().length) {  // the bar's Delete, from the grid
      event.preventDefault();
      var del = document.getElementById("bulk-delete");
      if (del) del.click();
      return;
    }
    if (event.key === "ArrowRight") target = tiles[i + 1];
    else if (event.key === "ArrowLeft") target = tiles[i - 1];
    else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var box = tile.getBoundingClientRect();
      var down = event.key === "ArrowDown";
      var best = null, bestScore = Infinity;
      tiles.forEach(function (t) {
        var r = t.getBoundingClientRect();
        var dy = down ? r.top - box.bottom : box.top - r.bottom;
        if (dy < -1) return;
        var score = dy * 10 + Math.abs(r.left - box.left);
        if (score < bestScore) { bestScore = score; best = t; }
      });
      target = best;
    } else if (event.key === "Home") target = tiles[0];
    else if (event.key === "End") target = tiles[tiles.length - 1];
    else return;
    event.preventDefault();
    if (target) {
      var next = target.querySelector(".tile-link");
      next.focus();
      next.scrollIntoView({ block: "nearest" });
    }
  });

  // --- Trash selection --------------------------------------------------------------
  function syncTrash() {
    var bar = document.querySelector("[data-trash-bulk]");
    if (!bar) return;
    var n = document.querySelectorAll('#trash input[name="ids"]:checked').length;
    bar.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = n === 0; });
    var count = bar.querySelector("[data-bulk-count]");
    if (count) count.textContent = n ? selectedText(n) : "";
  }
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#trash")) syncTrash();
    if (event.target.classList && event.target.classList.contains("tile-check")) syncGallery();
  });

  // --- What answers mark as gone or back --------------------------------------------
  function mergeDays(root) {
    var days = root.querySelectorAll(".day");
    for (var i = days.length - 1; i > 0; i--) {
      var prev = days[i - 1], day = days[i];
      if (prev.dataset.day === day.dataset.day && prev.nextElementSibling === day) {
        var into = prev.querySelector(".tiles");
        day.querySelectorAll(".tile").forEach(function (t) { into.appendChild(t); });
        day.remove();
      }
    }
    // Infinite scroll answers after the loader; a day may continue across pages.
    var all = root.querySelectorAll(".day");
    for (var j = 1; j < all.length; j++) {
      if (all[j].dataset.day === all[j - 1].dataset.day && all[j].isConnected) {
        var target = all[j - 1].querySelector(".tiles");
        all[j].querySelectorAll(".tile").forEach(function (t) { target.appendChild(t); });
        all[j].remove();
      }
    }
  }

  // Once htmx has settled the toast (its Undo works from then on).
  function focusUndo(tries) {
    setTimeout(function () {
      var undo = document.querySelector("#toasts .toast:last-child [hx-post]");
      if (!undo) return;
      if (undo.closest(".htmx-added, .htmx-settling") && (tries || 0) < 20) { focusUndo((tries || 0) + 1); return; }
      undo.focus({ preventScroll: true });
    }, 20);
  }

  // Escape clears the selection (as photo apps do), unless a viewer, a dialog or the
  // phone menu is open: they take Escape themselves.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented || !selectedIds().length) return;
    if (document.querySelector("[data-viewer-root], [data-dialog], #topbar.open")) return;
    if (event.target.closest && event.target.closest("input[type=text], input[type=search], textarea, select")) return;
    var clear = document.getElementById("bulk-clear");
    if (!clear) return;
    event.preventDefault();
    clear.click();
  });

  // Ctrl+Z (or Cmd+Z) presses the newest Undo on the page, wherever focus is.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "z" || !(event.ctrlKey || event.metaKey) || event.shiftKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input[type=text], input[type=search], textarea, select")) return;
    var undos = document.querySelectorAll("#toasts .toast [hx-post]");
    if (!undos.length) return;
    event.preventDefault();
    undos[undos.length - 1].click();
  });

  function capToasts() {
    var box = document.getElementById("toasts");
    if (!box) return;
    // Ctrl+Z presses the newest Undo (above): its button says so to assistive technology.
    box.querySelectorAll(".toast [hx-post]").forEach(function (undo) {
      undo.setAttribute("aria-keyshortcuts", "Control+Z Meta+Z");
    });
    // Over the viewer, two at most: the panels under the photo give way to them.
    var toasts = box.querySelectorAll(".toast");
    var extra = toasts.length - (document.querySelector("[data-viewer-root]") ? 2 : 4);
    for (var i = 0; i < toasts.length && extra > 0; i++) {
      if (!toasts[i].querySelector("[hx-post]")) { toasts[i].remove(); extra -= 1; }
    }
  }

  function processMarkers() {
    document.querySelectorAll("[data-trashed]").forEach(function (marker) {
      marker.getAttribute("data-trashed").split(/\s+/).forEach(function (id) {
        var tile = document.getElementById("image-" + id);
        if (tile) {
          var check = tile.querySelector(".tile-check");
          if (check) check.checked = false;
          tile.hidden = true;
        }
      });
      marker.remove();
      syncGallery();
      // The page stays where it was; focus goes to the toast's Undo (one key away).
      if (!document.querySelector("[data-viewer-root]")) focusUndo();
    });
    document.querySelectorAll("[data-restored]").forEach(function (marker) {
      var missing = false;
      marker.getAttribute("data-restored").split(/\s+/).forEach(function (id) {
        if (!id) return;
        var tile = document.getElementById("image-" + id);
        if (tile) tile.hidden = false; else missing = true;
      });
      marker.remove();
      var g = gallery();
      if (missing && g) htmx.trigger(g, "gallery-reload");
      // Undo pressed (its toast is gone): focus the first photo back, where it was.
      var ids = marker.getAttribute("data-restored").split(/\s+/);
      var back = visibleTiles().filter(function (t) { return ids.indexOf(t.dataset.id) >= 0; })[0];
      var active = document.activeElement;
      if (back && !back.hidden && !document.querySelector("[data-viewer-root]") &&
          (!active || active === document.body || active.closest("#toasts"))) {
        back.querySelector(".tile-link").focus({ preventScroll: true });
      }
    });
    var g = gallery();
    if (g) mergeDays(g);
    if (focusFromTile !== null && g && !g.querySelector("[data-load-more].is-busy")) {
      var arrived = visibleTiles()[focusFromTile];
      focusFromTile = null;
      if (arrived) arrived.querySelector(".tile-link").focus({ preventScroll: true });
    }
    capToasts();
    syncGallery();
    syncTrash();
  }

  // As soon as a swap lands (the viewer may replace its own content a moment later,
  // taking a marker with it before htmx:load fires for it).
  document.addEventListener("htmx:afterSwap", processMarkers);
  document.addEventListener("htmx:load", processMarkers);
  document.addEventListener("htmx:afterSettle", processMarkers);
  document.addEventListener("DOMContentLoaded", function () { processMarkers(); });

  // --- Infinite scroll: the next page's row says it is loading, or that it failed ------
  // (the row stays, with Retry; an error answer never replaces it, nor adds a toast).
  var focusFromTile = null;  // after a retried page: focus its first photo
  function loaderOf(elt) { return elt && elt.closest ? elt.closest("[data-load-more]") : null; }
  function loadFailed(loader) {
    if (!loader) return;
    loader.classList.remove("is-busy");
    loader.classList.add("is-failed");
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var loader = loaderOf(event.detail.elt);
    if (!loader) return;
    loader.classList.remove("is-failed");
    loader.classList.add("is-busy");
    loader.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var loader = loaderOf(event.detail.elt);
    if (!loader || !event.detail.isError) return;
    event.detail.shouldSwap = false;
    loadFailed(loader);
  });
  ["htmx:sendError", "htmx:timeout", "htmx:swapError"].forEach(function (name) {
    document.addEventListener(name, function (event) { loadFailed(loaderOf(event.detail.elt)); });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var loader = loaderOf(event.detail.elt);
    if (loader && loader.isConnected) {
      loader.removeAttribute("aria-busy");
      if (!event.detail.successful) loadFailed(loader);
    }
  });
  document.addEventListener("click", function (event) {
    var retry = event.target.closest && event.target.closest("[data-load-retry]");
    if (!retry) return;
    var loader = loaderOf(retry);
    // The row (and the focused Retry) goes away with the answer: focus moves on to the
    // first photo it brings, where the reader was heading.
    focusFromTile = visibleTiles().length;
    loader.classList.remove("is-failed");
    loader.classList.add("is-busy");
    htmx.trigger(loader, "retry");
  });
})();
