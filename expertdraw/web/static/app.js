/* expertdraw pages: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  /* Specialty picker: a filter box above each specialty list. */
  function bindFilter(input) {
    var select = document.getElementById(input.getAttribute("data-filter-for"));
    if (!select) { return; }
    input.hidden = false;
    input.addEventListener("input", function () {
      var term = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) { return; }
        var match = !term || option.text.toLowerCase().indexOf(term) !== -1;
        option.hidden = !match;
        option.disabled = !match && !option.selected;
      });
    });
  }

  /* Strata: "add a stratum" clones the last row with the next row number. */
  function bindStrata(fieldset) {
    var button = fieldset.querySelector("[data-add-row]");
    if (!button) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var rows = fieldset.querySelectorAll(".stratum-row");
      var last = rows[rows.length - 1];
      var from = last.getAttribute("data-row");
      var to = String(Math.max.apply(null, Array.prototype.map.call(rows, function (r) {
        return Number(r.getAttribute("data-row"));
      })) + 1);
      if (Number(to) >= 10) { button.disabled = true; return; }
      var copy = last.cloneNode(true);
      copy.setAttribute("data-row", to);
      copy.querySelectorAll("[id], [name], [for], [data-filter-for], [aria-describedby]").forEach(function (el) {
        ["id", "name", "for", "data-filter-for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) {
            el.setAttribute(attr, value.split("strata." + from + ".").join("strata." + to + ".")
              .split("strata-" + from + "-").join("strata-" + to + "-"));
          }
        });
        if (el.tagName === "INPUT" && el.type !== "hidden") { el.value = ""; }
        if (el.tagName === "SELECT" && el.name.indexOf(".specialty") !== -1) { el.selectedIndex = 0; }
        el.removeAttribute("aria-invalid");
      });
      copy.querySelectorAll(".error-message").forEach(function (el) { el.remove(); });
      copy.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
      var title = copy.querySelector(".row-title");
      if (title) { title.textContent = title.textContent.replace(/\d+/, String(rows.length + 1)); }
      last.parentNode.insertBefore(copy, button);
      copy.querySelectorAll(".specialty-filter").forEach(bindFilter);
      var first = copy.querySelector("input, select");
      if (first) { first.focus(); }
    });
  }

  /* Decline form: the conflict field matters only for the reason "conflict". */
  function bindDecline(form) {
    var reason = form.querySelector("[data-reason]");
    var field = form.querySelector("[data-conflict-field]");
    if (!reason || !field) { return; }
    function update() {
      var input = field.querySelector("input");
      var show = reason.value === "conflict" || (input && input.value);
      field.hidden = !show;
    }
    reason.addEventListener("change", update);
    update();
  }

  /* Parties by unified social credit code: show beside each field the registered organisation
     of every code typed, or why a code cannot be used. The form still checks on submit. */
  function bindLookup(root) {
    var url = root.getAttribute("data-uscc-lookup");
    var fields = /^(INPUT|TEXTAREA)$/.test(root.tagName) ? [root] : root.querySelectorAll("input, textarea");
    Array.prototype.forEach.call(fields, function (field) {
      var out = document.createElement("ul");
      out.className = "uscc-names";
      out.setAttribute("aria-live", "polite");
      out.setAttribute("data-uscc-names-for", field.id);
      field.insertAdjacentElement("afterend", out);
      var last = null;
      function update() {
        var codes = field.value.toUpperCase().split(/[\s,;，；、]+/).filter(function (c) { return c; });
        var key = codes.join(" ");
        if (key === last) { return; }
        last = key;
        if (!codes.length) { out.textContent = ""; return; }
        var query = codes.slice(0, 50).map(function (c) { return "uscc=" + encodeURIComponent(c); }).join("&");
        fetch(url + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (!data || key !== last) { return; }
            out.textContent = "";
            data.organisations.forEach(function (org) {
              var item = document.createElement("li");
              item.setAttribute("data-uscc", org.uscc);
              if (org.name) {
                item.textContent = org.uscc + " · " + org.name + " (" + org.kind + ")";
              } else {
                item.className = "error-message";
                item.textContent = org.uscc + " · " + org.message;
              }
              out.appendChild(item);
            });
          })
          .catch(function () { /* the form checks the codes when sent */ });
      }
      field.addEventListener("change", update);
      field.addEventListener("blur", update);
      if (field.value) { update(); }
    });
  }

  /* Draw status: refresh the counts every 20 seconds from the JSON API (counts only). */
  function bindProgress(box) {
    var url = box.getAttribute("data-progress-url");
    window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          box.querySelectorAll("[data-count]").forEach(function (cell) {
            var key = cell.getAttribute("data-count");
            if (key in data) { cell.textContent = String(data[key]); }
          });
        })
        .catch(function () { /* keep the last counts */ });
    }, 20000);
  }

  /* Irreversible actions ask first: a form with data-confirm submits only when confirmed.
     A form still missing a value its page checks ([data-reason] left empty) is not asked
     about: it goes to the server, which says what to fill in, and nothing is done. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (!question) { return; }
    var reason = form.querySelector && form.querySelector("[data-reason]");
    if (reason && !reason.value) { return; }
    if (!window.confirm(question)) { event.preventDefault(); }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".specialty-filter").forEach(bindFilter);
    document.querySelectorAll("[data-strata]").forEach(bindStrata);
    document.querySelectorAll(".decline-form").forEach(bindDecline);
    document.querySelectorAll("[data-progress-url]").forEach(bindProgress);
    document.querySelectorAll("[data-uscc-lookup]").forEach(bindLookup);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
}());
