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

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".specialty-filter").forEach(bindFilter);
    document.querySelectorAll("[data-strata]").forEach(bindStrata);
    document.querySelectorAll(".decline-form").forEach(bindDecline);
    document.querySelectorAll("[data-progress-url]").forEach(bindProgress);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
}());
