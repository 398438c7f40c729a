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

  // -- Actions menu (<details data-menu>): a disclosure that works from the keyboard.
  //    Enter, Space or Down on the button opens it on the first entry; Up/Down/Home/End move
  //    between entries; Escape closes it back onto the button; Tab out or a click outside
  //    closes it.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open], details[data-navmenu][open]")
      .forEach(function (menu) {
        if (menu !== except) menu.removeAttribute("open");
      });
  }

  function menuEntries(menu) {
    return Array.prototype.slice.call(menu.querySelectorAll("a.menu__entry, button.menu__entry"));
  }

  // -- The navigation (<details data-navmenu>) on a narrow screen works the same way: Escape
  //    closes it back onto its Menu button; a click or Tab outside closes it.
  var DISCLOSURES = "details[data-menu][open], details[data-navmenu][open]";

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var open = event.target.closest && event.target.closest(DISCLOSURES);
      open = open || document.querySelector(DISCLOSURES);
      if (!open) return;
      open.removeAttribute("open");
      var button = open.querySelector("summary");
      if (button) button.focus();
      return;
    }
    var menu = event.target.closest && event.target.closest("details[data-menu]");
    if (!menu) return;
    var entries = menuEntries(menu);
    if (event.target.matches("summary")) {
      var opens = event.key === "ArrowDown" || (!menu.open && (event.key === "Enter" || event.key === " "));
      if (!opens) return;
      event.preventDefault();
      menu.open = true;
      if (entries.length) entries[0].focus();
      return;
    }
    var index = entries.indexOf(event.target);
    if (index === -1) return;
    var next = null;
    if (event.key === "ArrowDown") next = entries[(index + 1) % entries.length];
    else if (event.key === "ArrowUp") next = entries[(index - 1 + entries.length) % entries.length];
    else if (event.key === "Home") next = entries[0];
    else if (event.key === "End") next = entries[entries.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  document.addEventListener("focusout", function (event) {
    var menu = event.target.closest && event.target.closest(DISCLOSURES);
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) {
      menu.removeAttribute("open");
    }
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-toast-close]");
    if (close) {
      dismiss(close.closest("[data-toast]"));
      return;
    }
    closeMenus(event.target.closest("details[data-menu], details[data-navmenu]"));
    if (event.target.closest("[aria-disabled='true']")) event.preventDefault();
  });

  // -- Confirmations: a submit button (or form) with data-confirm asks first. Capture phase,
  //    so a refused submit never reaches the submit-once guard below.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // -- A toast about a sync's state ("Sync queued", "Refreshing from Spectora…") is only
  //    true while the workorder's chip says so: once the chip shows anything else (retrying,
  //    failed, synced...) the chip and the banner carry the state, and the toast goes.
  var TOAST_STATES = ["queued", "syncing"];

  function retireStateToasts(chip) {
    if (!chip || !chip.closest("[data-live-region]")) return;
    if (TOAST_STATES.indexOf(chip.dataset.syncStatus) !== -1) return;
    document.querySelectorAll("[data-state-toast]").forEach(function (toast) { toast.remove(); });
  }

  document.addEventListener("htmx:load", function (event) {
    var chip = event.target;
    if (chip.matches && chip.matches(".sync-chip")) retireStateToasts(chip);
  });

  // -- Live workorder: when a sync chip that was polling settles, refresh the workorder
  //    around it ([data-live-region]) in place, so the outcome, what to do about a failure,
  //    the Actions menu and the open tab all show it without a reload.
  document.addEventListener("htmx:load", function (event) {
    var chip = event.target;
    if (!chip.matches || !chip.matches(".sync-chip[data-sync-settled]")) return;
    if (!document.contains(chip) || !window.htmx) return;
    var region = chip.closest("[data-live-region]");
    if (!region || region.dataset.refreshing) return;
    region.dataset.refreshing = "1";
    var menu = region.querySelector("details[data-menu]");
    var menuWasOpen = Boolean(menu && menu.open);
    window.htmx.ajax("GET", window.location.href, {
      target: "#" + region.id, select: "#" + region.id, swap: "outerHTML"
    }).then(function () {
      var fresh = document.getElementById(region.id);
      var freshMenu = fresh && fresh.querySelector("details[data-menu]");
      if (menuWasOpen && freshMenu) freshMenu.open = true;
    });
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

  // -- Price prefill: picking a service fills its price unless the person typed one. Each row's
  //    hidden price_from names the service whose catalogue price the box holds, blank once a
  //    person types there; the server reads it the same way (forms.LineItemForm).
  function priceSource(row) {
    return row && row.querySelector("input[name$='-price_from']");
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[name$='-service']")) return;
    var row = select.closest("[data-formset-row]");
    var price = row && row.querySelector("input[name$='-price']");
    var source = priceSource(row);
    if (!price || !source) return;
    if (price.value !== "" && source.value === "") return;  // typed by the person: theirs
    var option = select.selectedOptions[0];
    var suggested = option ? option.dataset.price : undefined;
    price.value = suggested || "";
    source.value = suggested ? select.value : "";
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[name$='-price']")) {
      var source = priceSource(event.target.closest("[data-formset-row]"));
      if (source) source.value = "";
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
    document.querySelectorAll("[data-live-region] .sync-chip").forEach(retireStateToasts);
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
