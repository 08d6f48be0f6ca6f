// Papelera's few behaviours that htmx attributes do not cover: toasts that close
// themselves, drag-and-drop with an upload progress bar, select-all, and modals.
(function () {
  "use strict";

  function closeLater(toast) {
    if (toast.dataset.timer) return;
    var ms = toast.hasAttribute("data-linger") ? 10000 : 5000;
    toast.dataset.timer = "1";
    setTimeout(function () { toast.remove(); }, ms);
  }

  // A share link arrives in a read-only field: select it and copy it when allowed.
  function offerCopy(field) {
    field.focus();
    field.select();
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).catch(function () {});
  }

  function init(root) {
    root.querySelectorAll("[data-toast]").forEach(closeLater);
    root.querySelectorAll("[data-copy]").forEach(offerCopy);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt.parentNode || document); });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var box = dismiss.closest(".toast, .modal-backdrop");
      if (box) box.remove();
    }
    var all = event.target.closest("[data-select-all]");
    if (all) {
      var name = all.getAttribute("data-select-all");
      all.closest("form").querySelectorAll('input[name="' + name + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll(".modal-backdrop").forEach(function (m) { m.remove(); });
    }
  });

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

  // Drag and drop onto the upload zone, and a progress bar while it uploads.
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
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = event.target.querySelector && event.target.querySelector("progress");
    if (!bar || !event.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (form.id === "upload") {
      form.reset();
      var bar = form.querySelector("progress");
      if (bar) { bar.hidden = true; bar.value = 0; }
    }
  });
})();
