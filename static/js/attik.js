/* Attik office pages: small enhancements; every page works without them.
   Event delegation throughout, so content swapped in by htmx needs no re-init. */
(function () {
  "use strict";

  // -- Toasts: dismiss on click, fade out after a while (errors stay until dismissed).
  function dismiss(toast) {
    toast.classList.add("is-leaving");
    window.setTimeout(function () { toast.remove(); }, 300);
  }

  function armToasts(root) {
    root.querySelectorAll("[data-toast]").forEach(function (toast) {
      if (toast.dataset.armed) return;
      toast.dataset.armed = "1";
      if (!toast.classList.contains("toast--error")) {
        window.setTimeout(function () { dismiss(toast); }, 7000);
      }
    });
  }

  // -- Actions menu (<details data-menu>): Escape closes it, a click outside closes it.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menu = event.target.closest && event.target.closest("details[data-menu][open]");
    menu = menu || document.querySelector("details[data-menu][open]");
    if (!menu) return;
    menu.removeAttribute("open");
    var summary = menu.querySelector("summary");
    if (summary) summary.focus();
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-toast-close]");
    if (close) {
      dismiss(close.closest("[data-toast]"));
      return;
    }
    closeMenus(event.target.closest("details[data-menu]"));
    if (event.target.closest("[aria-disabled='true']")) event.preventDefault();
  });

  // -- Row sets (inspectors, services): add a row from the <template>, remove a row.
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-formset-add]");
    if (add) {
      var prefix = add.dataset.formsetAdd;
      var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
      var template = document.querySelector("template[data-formset-template='" + prefix + "']");
      var rows = document.querySelector("[data-formset='" + prefix + "']");
      if (!total || !template || !rows) return;
      var index = parseInt(total.value, 10) || 0;
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var added = rows.lastElementChild && rows.lastElementChild.querySelector("select, input");
      if (added) added.focus();
      return;
    }
    var remove = event.target.closest("[data-formset-remove]");
    if (remove) {
      var row = remove.closest("[data-formset-row]");
      row.querySelectorAll("select").forEach(function (select) { select.value = ""; });
      row.querySelectorAll("input").forEach(function (input) {
        if (input.type === "radio" || input.type === "checkbox") input.checked = false;
        else input.value = input.name.slice(-9) === "-quantity" ? "1" : "";
      });
      row.hidden = true;
    }
  });

  // -- Price prefill: choosing a service fills a blank (or still prefilled) price.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[name$='-service']")) return;
    var row = select.closest("[data-formset-row]");
    var price = row && row.querySelector("input[name$='-price']");
    if (!price) return;
    var option = select.selectedOptions[0];
    var suggested = option ? option.dataset.price : undefined;
    if (price.value === "" || price.dataset.prefilled === "1") {
      price.value = suggested || "";
      price.dataset.prefilled = suggested ? "1" : "";
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[name$='-price']")) {
      event.target.dataset.prefilled = "";
    }
  });

  // -- Submit once: a second click while the first submit is on its way does nothing.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("[data-submit-once]");
    if (!button) return;
    if (button.dataset.submitting) {
      event.preventDefault();
      return;
    }
    button.dataset.submitting = "1";
    button.setAttribute("aria-disabled", "true");
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("[data-submit-once]").forEach(function (button) {
      delete button.dataset.submitting;
      button.removeAttribute("aria-disabled");
    });
  });

  function ready() {
    armToasts(document);
    document.querySelectorAll("[data-formset-add]").forEach(function (button) {
      button.hidden = false;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  document.addEventListener("htmx:afterSettle", function (event) { armToasts(event.target); });
})();
