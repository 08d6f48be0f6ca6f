// The photo viewer: opened over the gallery or the trash (htmx loads /images/<id> into
// #lightbox and the URL follows, so Back and reload work), or a full page on a visit.
// Arrows, buttons and swipes move between photos; Escape closes and gives focus back.
(function () {
  "use strict";
  if (window.papeleraViewer) return;
  window.papeleraViewer = true;

  var openedHere = false;  // this page pushed the viewer's history entry
  var lastId = null;

  function host() { return document.getElementById("lightbox"); }
  function root() { return document.querySelector("[data-viewer-root]"); }

  function load(url, how) {
    return htmx.ajax("GET", url, { target: "#lightbox", swap: "innerHTML" }).then(function () {
      if (how === "push") history.pushState({ papeleraViewer: url }, "", url);
      else if (how === "replace") history.replaceState({ papeleraViewer: url }, "", url);
    });
  }

  function open(url) {
    if (!host()) { location.assign(url); return; }
    // The page's own entry, marked as ours so that coming Back to it closes the viewer
    // here instead of htmx reloading the page.
    history.replaceState({ papeleraPage: true }, "", location.href);
    openedHere = true;
    load(url, "push");
  }

  // Moves run one after the other, so two quick presses go two photos further.
  var moving = Promise.resolve();
  function go(which) {
    moving = moving.then(function () {
      var r = root();
      var url = r && r.getAttribute("data-" + which);
      return url ? load(url, "replace") : null;
    }).catch(function () { /* an error toast says it */ });
  }

  function clear() {
    var shown = root();
    var id = shown ? shown.getAttribute("data-id") : lastId;
    var h = host();
    if (h) h.innerHTML = "";
    document.body.classList.remove("viewer-open");
    var back = id && document.querySelector('[data-viewer][data-id="' + id + '"]');
    if (back && back.offsetParent !== null) back.focus();
    else {
      var any = document.querySelector(".tile:not([hidden]) [data-viewer], #trash [data-viewer]");
      if (any) any.focus();
    }
  }

  function close() {
    var r = root();
    if (!r) return;
    if (openedHere && host() && !host().hasAttribute("data-standalone")) {
      history.back();  // popstate below clears the viewer
    } else {
      location.assign(r.getAttribute("data-back"));
    }
  }

  window.addEventListener("popstate", function (event) {
    var state = event.state || {};
    if (state.papeleraViewer && host()) {
      load(state.papeleraViewer, null);
    } else if (root() && host() && !host().hasAttribute("data-standalone")) {
      openedHere = false;
      clear();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey ||
        event.shiftKey || event.altKey) return;
    var link = event.target.closest && event.target.closest("[data-viewer]");
    if (link) {
      event.preventDefault();
      lastId = link.getAttribute("data-id");
      open(link.getAttribute("href"));
      return;
    }
    var nav = event.target.closest && event.target.closest("[data-viewer-go]");
    if (nav) { event.preventDefault(); go(nav.getAttribute("data-viewer-go")); return; }
    var shut = event.target.closest && event.target.closest("[data-viewer-close]");
    if (shut) { event.preventDefault(); close(); return; }
    var sheetClose = event.target.closest && event.target.closest("[data-viewer-sheet-close]");
    if (sheetClose) { event.preventDefault(); closeSheet(); return; }
    var info = event.target.closest && event.target.closest("[data-viewer-info]");
    if (info) {
      var panel = document.getElementById("viewer-info");
      setInfo(panel.hidden);
      if (!panel.hidden && phone()) {
        clearShare();  // one sheet at a time
        if (event.detail === 0) focusSheet(panel);
      }
    }
  });

  // On a phone, Info and Share are sheets from the bottom (gallery.css). One is open at a
  // time; while it has focus, Tab stays in it (and the toasts). Opened by Enter or Space,
  // it takes focus; opened by a tap, focus stays on the button. Either way Escape closes
  // the sheet alone (the top layer first), focus back to its button; the next Escape
  // closes the viewer.
  var shareByKey = false;
  document.addEventListener("click", function (event) {  // before htmx handles it
    var share = event.target.closest && event.target.closest("[data-viewer-share]");
    if (share) shareByKey = event.detail === 0;  // Enter or Space: focus goes into the sheet
  }, true);
  function phone() { return window.matchMedia("(max-width: 720px)").matches; }
  function setInfo(open) {
    var panel = document.getElementById("viewer-info");
    var toggle = document.querySelector("[data-viewer-info]");
    if (!panel) return;
    panel.hidden = !open;
    if (toggle) toggle.setAttribute("aria-expanded", String(open));
    try { sessionStorage.setItem("papelera.viewerInfo", open ? "1" : "0"); } catch (e) { /* private mode */ }
  }
  function clearShare() {
    var share = document.getElementById("viewer-share");
    if (share) share.innerHTML = "";
  }
  function openSheet() {
    if (!phone()) return null;
    var info = document.getElementById("viewer-info");
    if (info && !info.hidden) return info;
    var share = document.getElementById("viewer-share");
    return share && share.children.length ? share : null;
  }
  function focusSheet(sheet) {
    var shut = sheet.querySelector("[data-viewer-sheet-close]");
    if (shut) shut.focus();
  }
  function closeSheet() {
    var sheet = openSheet() || document.querySelector("#viewer-share:not(:empty)");
    if (!sheet) return;
    var back;
    if (sheet.id === "viewer-info") { setInfo(false); back = document.querySelector("[data-viewer-info]"); }
    else { clearShare(); back = document.querySelector("[data-viewer-share]"); }
    if (back) back.focus();
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target || !phone()) return;
    var share = document.getElementById("viewer-share");
    if (!share || !(share.contains(target) || target.id === "share-panel")) return;
    if (target === share) {
      var info = document.getElementById("viewer-info");
      if (info && !info.hidden) setInfo(false);
      // app.js gives the new link's field focus; else the sheet's Close takes it.
      if (shareByKey && !share.contains(document.activeElement)) focusSheet(share);
      shareByKey = false;
    }
    // A new link replaced the panel: focus stays in the sheet, on its Copy button.
    if (!share.contains(document.activeElement) && document.activeElement === document.body) {
      var copy = share.querySelector("[data-copy-from]") || share.querySelector("[data-viewer-sheet-close]");
      if (copy) copy.focus();
    }
  });

  function focusables(r) {
    var inside = Array.prototype.filter.call(
      r.querySelectorAll("a[href], button:not([disabled]), input, select, [tabindex]:not([tabindex='-1'])"),
      function (el) { return el.offsetParent !== null; });
    // The toasts over the viewer are in its Tab cycle too, their Undo last: after a
    // delete here focus is on Close (the first), so Undo is one Shift+Tab away.
    var toasts = document.getElementById("toasts");
    if (!toasts) return inside;
    var closers = Array.prototype.slice.call(toasts.querySelectorAll(".toast [data-dismiss]"));
    var undos = Array.prototype.slice.call(toasts.querySelectorAll(".toast [hx-post]"));
    return inside.concat(closers, undos);
  }

  document.addEventListener("keydown", function (event) {
    var r = root();
    if (!r || event.altKey || event.ctrlKey || event.metaKey) return;
    // A dialog over the viewer (dialog.js) has the keys: its Tab cycle, and its Escape,
    // which closes the dialog alone (dialog.js ran first and marked the event as handled).
    if (event.defaultPrevented || document.querySelector("[data-dialog]")) return;
    var typing = event.target.closest && event.target.closest("input, select, textarea");
    var sheet = openSheet();
    if (event.key === "Escape") { event.preventDefault(); if (sheet) closeSheet(); else close(); return; }
    if (event.key === "Tab") { cycle(event, sheet || r); return; }  // from a field too
    if (typing) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); go("prev"); }
    else if (event.key === "ArrowRight") { event.preventDefault(); go("next"); }
  });

  // Focus stays in the viewer and the toasts over it, in focusables()' order (the toasts
  // sit elsewhere in the page, so the step to and from them is made here).
  function cycle(event, r) {
    var items = focusables(r);
    if (!items.length) return;
    var at = items.indexOf(document.activeElement);
    var to = at < 0 ? 0 : (at + (event.shiftKey ? -1 : 1) + items.length) % items.length;
    var wrapping = at < 0 || (event.shiftKey ? at === 0 : at === items.length - 1);
    if (wrapping || !r.contains(items[at]) || !r.contains(items[to])) {
      event.preventDefault();
      items[to].focus();
    }
  }

  // Swipe on the photo: left for the next one, right for the previous one.
  var start = null;
  document.addEventListener("pointerdown", function (event) {
    if (event.target.closest && event.target.closest("[data-viewer-stage]") && event.isPrimary) {
      start = { x: event.clientX, y: event.clientY };
    }
  });
  document.addEventListener("pointerup", function (event) {
    if (!start) return;
    var dx = event.clientX - start.x, dy = event.clientY - start.y;
    start = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy) * 1.5) go(dx < 0 ? "next" : "prev");
  });
  document.addEventListener("pointercancel", function () { start = null; });

  // The quality slider stops only at the qualities /media renders (data-steps): an arrow
  // key goes to the next one, a drag to the nearest; it shows its value as it moves (the
  // preview follows after 300 ms).
  document.addEventListener("input", function (event) {
    var slider = event.target;
    if (slider.name !== "q" || !slider.closest(".optimizer-form")) return;
    var steps = (slider.getAttribute("data-steps") || "").split(" ").map(Number).filter(Boolean);
    if (steps.length) {
      var value = Number(slider.value);
      var before = Number(slider.dataset.snapped || slider.defaultValue);
      var snapped = steps.reduce(function (a, b) { return Math.abs(b - value) < Math.abs(a - value) ? b : a; });
      if (Math.abs(value - before) === 1) {  // one arrow key press
        var ahead = value > before ? steps.filter(function (s) { return s > before; })[0]
          : steps.filter(function (s) { return s < before; }).pop();
        snapped = ahead === undefined ? before : ahead;
      }
      slider.value = String(snapped);
      slider.dataset.snapped = String(snapped);
    }
    var out = slider.closest("label").querySelector("output");
    if (out) out.textContent = slider.value;
  });

  // After delete, restore or delete forever in the viewer: on to the next photo (or the
  // previous one, or back to the list), and the trash list follows.
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt.hasAttribute || !elt.hasAttribute("data-viewer-action") || !event.detail.successful) return;
    var r = root();
    var trash = document.getElementById("trash");
    if (trash) htmx.ajax("GET", r.getAttribute("data-back"),
                         { target: "#trash", swap: "outerHTML", select: "#trash" });
    var next = r.getAttribute("data-next") || r.getAttribute("data-prev");
    if (next) load(next, "replace");
    else close();
  });

  // Each time a viewer arrives: it takes focus, and the page behind stops scrolling.
  function arrived() {
    var r = root();
    if (!r) return;
    document.body.classList.add("viewer-open");
    lastId = r.getAttribute("data-id");
    var info = document.getElementById("viewer-info");
    var toggle = r.querySelector("[data-viewer-info]");
    var wanted = null;
    try { wanted = sessionStorage.getItem("papelera.viewerInfo"); } catch (e) { /* private mode */ }
    if (info && toggle && wanted === "1") { info.hidden = false; toggle.setAttribute("aria-expanded", "true"); }
    if (!r.contains(document.activeElement) && !document.querySelector("[data-dialog]")) {
      var shut = r.querySelector("[data-viewer-close]");
      if (shut) shut.focus();
    }
    // The thumbnail keeps the photo's place until the large variant has loaded.
    var img = r.querySelector(".viewer-img");
    var placeholder = r.querySelector("[data-viewer-placeholder]");
    if (img && placeholder) {
      if (img.complete && img.naturalWidth) placeholder.remove();
      else img.addEventListener("load", function () { placeholder.remove(); }, { once: true });
    }
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "lightbox") arrived();
  });
  document.addEventListener("DOMContentLoaded", arrived);
})();
