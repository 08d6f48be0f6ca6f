// Confirmation dialogs, as the WAI-ARIA dialog pattern says: focus moves in (to the harmless
// button), Tab stays inside, Escape closes, and focus goes back to what opened it.
//
// Two sources, one look:
//  - the server renders templates/_dialog.html into #modal (users page);
//  - any element with hx-confirm (trash, purge) gets the same dialog built here instead
//    of the browser's confirm(); data-confirm-title, data-confirm-label,
//    data-confirm-tone ("warn" or "danger", the default) and data-confirm-header (sent as
//    X-Confirm-Delete only once the dialog's button is pressed) tune it.
(function () {
  "use strict";

  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), ' +
    'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  var opener = null;        // what had focus when the dialog opened
  var openerKey = null;     // how to find its replacement if a swap removed it
  var confirmedElt = null;  // the element whose request the dialog just allowed

  function text(key, fallback) {
    var box = document.getElementById("dialog-strings");
    return (box && box.getAttribute("data-" + key)) || fallback;
  }

  function current() { return document.querySelector("[data-dialog]"); }

  function focusables(dialog) {
    return Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
  }

  function keyOf(el) {
    if (!el || el === document.body) return null;
    var box = el.closest("[id]");
    return { id: el.id || null, box: box ? box.id : null,
             action: el.getAttribute("data-action"),
             row: window.PapeleraRows ? window.PapeleraRows.key(el) : null };
  }

  function setInert(on) {
    ["topbar", "main"].forEach(function (id) {
      var region = document.getElementById(id);
      if (!region) return;
      if (on) region.setAttribute("inert", ""); else region.removeAttribute("inert");
    });
  }

  function opened(dialog) {
    if (dialog.dataset.ready) return;
    dialog.dataset.ready = "1";
    if (!opener || !document.contains(opener) || opener === document.body) {
      opener = document.activeElement;
      openerKey = keyOf(opener);
    }
    setInert(true);
    var first = dialog.querySelector("[data-dialog-initial]") || focusables(dialog)[0];
    if (first) first.focus();
  }

  // Focus back to the opener, or to what replaced it (the row a swap re-rendered), or to the
  // row now in its row's place, or main.
  function restoreFocus() {
    var target = opener && document.contains(opener) ? opener : null;
    if (!target && openerKey) {
      if (openerKey.id) target = document.getElementById(openerKey.id);
      var box = !target && openerKey.box && document.getElementById(openerKey.box);
      if (box) {
        target = (openerKey.action && box.querySelector('[data-action="' + openerKey.action + '"]')) ||
          box.querySelector(FOCUSABLE);
      }
      // The opener's row is gone (a user deleted): the same button of the row now in its place.
      if (!target && openerKey.row && window.PapeleraRows) {
        target = window.PapeleraRows.find(openerKey.row);
      }
    }
    if (!target) target = document.getElementById("main");
    opener = null;
    openerKey = null;
    if (target) target.focus();
  }

  function close(dialog, keepFocus) {
    dialog = dialog || current();
    if (!dialog) return;
    dialog.remove();
    if (!current()) {
      setInert(false);
      if (!keepFocus) restoreFocus();
    }
  }

  // The dialog that htmx would have asked with confirm().
  function build(elt, question) {
    var tone = elt.getAttribute("data-confirm-tone") || "danger";
    var title = elt.getAttribute("data-confirm-title") ||
      (tone === "danger" ? text("title-danger", "Delete for good?") : text("title-warn", "Are you sure?"));
    var label = elt.getAttribute("data-confirm-label") || elt.textContent.trim();
    var backdrop = document.createElement("div");
    backdrop.className = "modal-backdrop";
    backdrop.setAttribute("data-dialog", "");
    var box = document.createElement("div");
    box.className = "modal modal-" + tone;
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-labelledby", "confirm-title");
    box.setAttribute("aria-describedby", "confirm-body");
    var h2 = document.createElement("h2");
    h2.id = "confirm-title";
    var icon = document.createElement("span");
    icon.className = "modal-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = tone === "danger" ? "⚠" : "⊘";
    h2.appendChild(icon);
    h2.appendChild(document.createTextNode(" " + title));
    box.appendChild(h2);
    if (tone === "danger") {
      var sub = document.createElement("p");
      sub.className = "modal-subtitle modal-subtitle-danger";
      sub.textContent = "⚠ " + text("cannot-undo", "This cannot be undone");
      box.appendChild(sub);
    }
    var body = document.createElement("div");
    body.id = "confirm-body";
    body.className = "modal-body";
    var thumbs = thumbnailsFor(elt);
    if (thumbs.src.length) {
      var list = document.createElement("ul");
      list.className = "modal-thumbs";
      list.setAttribute("aria-hidden", "true");
      thumbs.src.forEach(function (src) {
        var li = document.createElement("li");
        var img = document.createElement("img");
        img.src = src; img.alt = ""; img.width = 56; img.height = 56;
        li.appendChild(img);
        list.appendChild(li);
      });
      if (thumbs.more > 0) {
        var more = document.createElement("li");
        more.className = "more";
        more.textContent = "+" + thumbs.more;
        list.appendChild(more);
      }
      body.appendChild(list);
    }
    var p = document.createElement("p");
    p.textContent = question;
    body.appendChild(p);
    box.appendChild(body);
    var actions = document.createElement("div");
    actions.className = "actions";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn";
    cancel.setAttribute("data-dismiss", "");
    cancel.setAttribute("data-dialog-initial", "");
    cancel.textContent = text("cancel", "Cancel");
    var ok = document.createElement("button");
    ok.type = "button";
    ok.className = "btn btn-" + tone;
    ok.setAttribute("data-dialog-confirm", "");
    ok.textContent = label;
    actions.appendChild(cancel);
    actions.appendChild(ok);
    box.appendChild(actions);
    backdrop.appendChild(box);
    return backdrop;
  }

  // Thumbnails of what a button acts on: the ticked rows of its form, or its own row.
  function thumbnailsFor(elt) {
    var scope = null;
    var include = elt.getAttribute("hx-include");
    if (include) scope = document.querySelector(include);
    var rows = [];
    if (scope) {
      scope.querySelectorAll('input[type="checkbox"]:checked').forEach(function (box) {
        if (box.value && box.value !== "on") rows.push(box.closest("tr, li, article, [data-item]"));
      });
    } else if (elt.hasAttribute("data-confirm-all")) {
      document.querySelectorAll(elt.getAttribute("data-confirm-all")).forEach(function (row) { rows.push(row); });
    } else {
      rows.push(elt.closest("tr, article, [data-item]"));
    }
    var src = [];
    rows.forEach(function (row) {
      var img = row && row.querySelector("img");
      if (img && img.getAttribute("src")) src.push(img.getAttribute("src"));
    });
    return { src: src.slice(0, 6), more: Math.max(0, src.length - 6) };
  }

  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var question = event.detail.question;
    if (!question) return;  // no hx-confirm: htmx goes on as usual
    event.preventDefault();
    opener = document.activeElement && document.activeElement !== document.body
      ? document.activeElement : elt;
    openerKey = keyOf(opener);
    var dialog = build(elt, question);
    (document.getElementById("modal") || document.body).appendChild(dialog);
    dialog.querySelector("[data-dialog-confirm]").addEventListener("click", function () {
      confirmedElt = elt;
      close(dialog, true);
      restoreFocus();
      event.detail.issueRequest(true);
    });
    opened(dialog);
  });

  // X-Confirm-Delete leaves only with a request the dialog allowed.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt === confirmedElt) {
      confirmedElt = null;
      var value = elt.getAttribute("data-confirm-header");
      if (value) event.detail.headers["X-Confirm-Delete"] = value;
    }
  });

  // A server-rendered dialog arrived (or left, swapped away by the action's answer).
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!current()) {
      opener = document.activeElement;
      openerKey = keyOf(event.detail.elt) || keyOf(opener);
      if (opener === document.body) opener = event.detail.elt;
    }
  });
  // Dialogs come and go inside #modal (a server answer swaps them in, or out of band
  // away); the swap's own events may fire on detached elements, so watch the DOM.
  function watchModal() {
    var root = document.getElementById("modal");
    if (!root) return;
    new MutationObserver(function () {
      if (!current() && document.querySelector("#main[inert]")) { setInert(false); restoreFocus(); }
    }).observe(root, { childList: true, subtree: true });
  }
  // A server dialog takes focus once htmx has brought its buttons to life (at settle).
  document.addEventListener("htmx:load", function (event) {
    var dialog = current();
    if (dialog && (dialog === event.detail.elt || dialog.contains(event.detail.elt))) opened(dialog);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watchModal);
  else watchModal();

  document.addEventListener("click", function (event) {
    var dialog = current();
    if (!dialog) return;
    if (event.target === dialog || event.target.closest("[data-dialog] [data-dismiss]")) {
      event.preventDefault();
      close(dialog);
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    var dialog = current();
    if (!dialog) return;
    if (event.key === "Escape") {
      event.preventDefault();
      close(dialog);
      return;
    }
    if (event.key !== "Tab") return;
    var items = focusables(dialog);
    if (!items.length) { event.preventDefault(); return; }
    var first = items[0], last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  // Bulk buttons ask for a selection: disabled while nothing is ticked.
  function syncSelection(root) {
    (root || document).querySelectorAll("[data-needs-selection], .bulkbar button").forEach(function (button) {
      var form = button.closest("form") ||
        (button.getAttribute("hx-include") && document.querySelector(button.getAttribute("hx-include")));
      if (!form) return;
      var name = button.getAttribute("data-needs-selection") || "ids";
      button.disabled = !form.querySelector('input[name="' + name + '"]:checked');
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches('input[type="checkbox"]')) {
      setTimeout(function () { syncSelection(); }, 0);  // after select-all ticked the rest
    }
  });
  document.addEventListener("DOMContentLoaded", function () { syncSelection(); });
  document.addEventListener("htmx:load", function () { syncSelection(); });

  window.papeleraDialog = { close: close };
})();
