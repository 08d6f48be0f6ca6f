// Papelera's few behaviours that htmx attributes do not cover: toasts, focus after swaps,
// the phone menu, drag-and-drop onto the upload zone, and select-all.
// Confirmation dialogs live in dialog.js.
(function () {
  "use strict";

  var MAX_TOASTS = 4;

  // Status toasts close by themselves (Undo ones later, and not while hovered or focused);
  // error toasts are alerts and stay until dismissed.
  function closeLater(toast) {
    if (toast.dataset.timer || toast.classList.contains("toast-error")) return;
    var ms = toast.hasAttribute("data-linger") ? 10000 : 5000;
    toast.dataset.timer = "1";
    var left = ms, started = Date.now(), timer = null;
    function run() { started = Date.now(); timer = setTimeout(function () { dismissToast(toast); }, left); }
    function pause() { if (timer) { clearTimeout(timer); timer = null; left -= Date.now() - started; } }
    toast.addEventListener("mouseenter", pause);
    toast.addEventListener("focusin", pause);
    toast.addEventListener("mouseleave", function () { if (!toast.contains(document.activeElement)) run(); });
    toast.addEventListener("focusout", function (e) { if (!toast.contains(e.relatedTarget)) run(); });
    run();
  }

  function dismissToast(toast) {
    if (toast.contains(document.activeElement)) {
      var main = document.getElementById("main");
      if (main) main.focus();
    }
    toast.remove();
  }

  // At most MAX_TOASTS on screen: the oldest go first; the full text stays in a title.
  function tidyToasts() {
    var box = document.getElementById("toasts");
    if (!box) return;
    box.querySelectorAll(".toast-message").forEach(function (m) {
      if (!m.title && m.textContent.length > 90) m.title = m.textContent.trim();
    });
    var toasts = box.querySelectorAll(".toast");
    for (var i = 0; i < toasts.length - MAX_TOASTS; i++) toasts[i].remove();
  }

  // A share link arrives in a read-only field: select it and copy it when allowed.
  function offerCopy(field) {
    field.focus();
    field.select();
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).catch(function () {});
  }

  function init(root) {
    root.querySelectorAll("[data-toast]").forEach(function (toast) {
      closeLater(toast);
      describeUndo(toast);
    });
    root.querySelectorAll("[data-copy]").forEach(offerCopy);
    tidyToasts();
  }

  // Toasts sit over the bottom of the page: while any shows, the page grows by the room
  // they take (--toast-room), so its last rows can be scrolled clear of them.
  function makeRoom(box) {
    var room = box.childElementCount ? window.innerHeight - box.getBoundingClientRect().top : 0;
    document.documentElement.style.setProperty("--toast-room", Math.max(0, Math.ceil(room)) + "px");
  }

  // Sticky bars and day headers sit just below the site header, whatever its height
  // (one row, or a taller one in another language or at another width): --sticky-top.
  function trackHeader() {
    var header = document.getElementById("topbar");
    if (!header) return;
    function set() {
      var height = Math.ceil(header.getBoundingClientRect().height);
      document.documentElement.style.setProperty("--sticky-top", height + "px");
    }
    set();
    if (window.ResizeObserver) new ResizeObserver(set).observe(header);
    else window.addEventListener("resize", set);
  }

  // A toast's Undo is described by the toast's sentence (read out when it takes focus).
  var toastIds = 0;
  function describeUndo(toast) {
    var undo = toast.querySelector("[hx-post]");
    var message = toast.querySelector(".toast-message");
    if (!undo || !message || undo.hasAttribute("aria-describedby")) return;
    if (!message.id) message.id = "toast-message-" + (++toastIds);
    undo.setAttribute("aria-describedby", message.id);
  }

  document.addEventListener("DOMContentLoaded", function () {
    trackHeader();
    init(document);
    var box = document.getElementById("toasts");
    if (!box) return;
    new MutationObserver(function () { init(box); }).observe(box, { childList: true });
    if (window.ResizeObserver) new ResizeObserver(function () { makeRoom(box); }).observe(box);
    window.addEventListener("resize", function () { makeRoom(box); });
  });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt.parentNode || document); });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest(".toast [data-dismiss]");
    if (dismiss) dismissToast(dismiss.closest(".toast"));
    var toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      document.getElementById("topbar").classList.toggle("open", open);
    } else if (!event.target.closest("#site-menu")) {
      closeMenu(false);
    }
    var all = event.target.closest("[data-select-all]");
    if (all) {
      var name = all.getAttribute("data-select-all");
      all.closest("form").querySelectorAll('input[name="' + name + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    }
  });

  function closeMenu(refocus) {
    var toggle = document.querySelector(".menu-toggle[aria-expanded=\"true\"]");
    if (!toggle) return;
    toggle.setAttribute("aria-expanded", "false");
    document.getElementById("topbar").classList.remove("open");
    if (refocus) toggle.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !document.querySelector("[data-dialog]")) closeMenu(true);
  });

  // After a swap, focus never falls to <body>: it goes to what replaced the focused
  // element (same id), else to a fresh Undo, else to the same control of the row now in
  // the acted-on row's place (the next one, or the last: restoring or deleting down a
  // list keeps one's place), else into the container that held it, else main.
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select';
  var before = null;
  document.addEventListener("htmx:beforeRequest", function () {
    var el = document.activeElement;
    if (!el || el === document.body) { before = null; return; }
    var box = el.parentElement && el.parentElement.closest("[id]");
    before = { id: el.id || null, box: box ? box.id : null, at: Date.now(), row: rowKey(el) };
  });
  // Where a control sits in a list of rows (tr ids "kind-<id>"): the row's kind, its
  // place among its kind, the control's place in the row. dialog.js uses these too.
  function rowKey(el) {
    var row = el && el.closest && el.closest("tr[id]");
    if (!row || row.id.indexOf("-") <= 0) return null;
    var kind = row.id.slice(0, row.id.indexOf("-") + 1);
    var rows = Array.prototype.slice.call(document.querySelectorAll('tr[id^="' + kind + '"]'));
    return { kind: kind, index: rows.indexOf(row),
             control: Array.prototype.indexOf.call(row.querySelectorAll(FOCUSABLE), el) };
  }
  window.PapeleraRows = { key: rowKey, find: sameControlInPlace };
  function sameControlInPlace(row) {
    var rows = document.querySelectorAll('tr[id^="' + row.kind + '"]');
    if (!rows.length || row.index < 0) return null;
    var controls = rows[Math.min(row.index, rows.length - 1)].querySelectorAll(FOCUSABLE);
    return controls.length ? controls[Math.max(0, Math.min(row.control, controls.length - 1))] : null;
  }
  // A swap that removed the focused element fires its htmx events on that detached element,
  // where document listeners never hear them: watch the DOM instead, then look once.
  function recoverFocus() {
    var active = document.activeElement;
    var memo = before;
    if (memo && Date.now() - memo.at > 10000) before = memo = null;  // stale: no request of ours
    if (!memo || (active && active !== document.body) || document.querySelector("[data-dialog]")) return;
    before = null;
    var target = memo.id && document.getElementById(memo.id);
    if (!target) target = document.querySelector("#toasts .toast:last-child [hx-post]");
    if (!target && memo.row) target = sameControlInPlace(memo.row);
    if (!target && memo.box) {
      var box = document.getElementById(memo.box);
      target = box && box.querySelector(FOCUSABLE);
    }
    if (!target) target = document.getElementById("main");
    if (target) target.focus();
  }
  var pending = null;
  new MutationObserver(function () {
    if (!before || pending) return;
    pending = setTimeout(function () { pending = null; recoverFocus(); }, 40);
  }).observe(document.documentElement, { childList: true, subtree: true });

  // A confirmation field enables its button only when it holds the expected text.
  document.addEventListener("input", function (event) {
    var field = event.target.closest("[data-confirm-text]");
    if (!field) return;
    var button = document.getElementById(field.getAttribute("data-confirm-button"));
    if (button) button.disabled = field.value !== field.getAttribute("data-confirm-text");
  });

  // A button with data-confirm-header-from="<field id>" sends what was typed there as
  // X-Confirm-Delete, so the server (not only the page) checks the typed confirmation.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    var source = elt && elt.getAttribute && elt.getAttribute("data-confirm-header-from");
    if (!source) return;
    var field = document.getElementById(source);
    if (field) event.detail.headers["X-Confirm-Delete"] = field.value;
  });

  // Drag and drop onto the upload zone: the files go to upload.js, which queues them.
  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest(".dropzone");
    if (zone) { event.preventDefault(); zone.classList.add("dragging"); }
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest(".dropzone");
    if (zone) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest(".dropzone");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dragging");
    var input = zone.querySelector('input[type="file"]');
    input.files = event.dataTransfer.files;
    htmx.trigger(zone, "drop-files");
  });
})();
