/* expertdraw: progress of long operations (imports, the ledger bundle). A form or link with
   data-progress="PANEL-ID" is sent with fetch and the header X-Progress: 1; the answer is the
   stream of web/progress.py: JSON lines {"progress"}, then {"page"}, or {"file"} followed by the
   file's bytes, or {"error"}. Without this script the form or link works as usual. */
(function () {
  "use strict";
  var TYPE = "application/vnd.expertdraw.progress";
  var NEWLINE = 10;

  function supported() {
    return !!(window.fetch && window.ReadableStream && window.TextDecoder && window.DOMParser &&
      window.URL && URL.createObjectURL);
  }

  function show(panel, percent, text, failed) {
    var bar = panel.querySelector("progress");
    panel.hidden = false;
    panel.classList.toggle("progress-failed", !!failed);
    if (percent === null) { bar.removeAttribute("value"); } else { bar.value = percent; }
    panel.querySelector("[data-progress-text]").textContent = text;
  }

  function joined(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  /* Put the main part of a page the server rendered in place of this page's. */
  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var main = document.querySelector("main");
    var next = fresh.querySelector("main");
    if (!main || !next) { return; }
    document.title = fresh.title;
    main.innerHTML = next.innerHTML;
    bindAll(main);
    var target = main.querySelector("#error-summary, [data-progress-result], [role=alert]") || main;
    if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
    target.focus();
  }

  function save(meta, parts) {
    var url = URL.createObjectURL(new Blob(parts, { type: meta.type }));
    var link = document.createElement("a");
    link.href = url;
    link.download = meta.name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  /* Read the stream: show each step, then finish with the page, the file or the error. */
  function consume(response, panel) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var pending = new Uint8Array(0);
    var file = null;
    var parts = [];
    var received = 0;
    var outcome = null;

    function handle(message) {
      if (message.progress) {
        show(panel, message.progress.percent, message.progress.text, false);
      } else if (message.page) {
        outcome = function () { show(panel, 100, "", false); swap(message.page.html); };
      } else if (message.error) {
        outcome = function () { show(panel, null, message.error, true); };
      } else if (message.file) {
        file = message.file;
      }
    }

    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          if (file) {
            if (received !== file.size) { throw new Error("truncated"); }
            save(file, parts);
            show(panel, 100, panel.getAttribute("data-text-saved"), false);
            return;
          }
          if (!outcome) { throw new Error("incomplete"); }
          outcome();
          return;
        }
        if (file) {
          parts.push(chunk.value);
          received += chunk.value.length;
          return pump();
        }
        pending = joined(pending, chunk.value);
        var end = pending.indexOf(NEWLINE);
        while (!file && end !== -1) {
          handle(JSON.parse(decoder.decode(pending.subarray(0, end))));
          pending = pending.subarray(end + 1);
          end = pending.indexOf(NEWLINE);
        }
        if (file && pending.length) {
          parts.push(pending.slice());
          received += pending.length;
          pending = new Uint8Array(0);
        }
        return pump();
      });
    }
    return pump();
  }

  function start(trigger, panel, url, init) {
    var button = trigger.tagName === "FORM" ? trigger.querySelector("[type=submit]") : null;
    trigger.setAttribute("aria-busy", "true");
    if (button) { button.disabled = true; }
    show(panel, null, panel.getAttribute("data-text-start"), false);
    init.credentials = "same-origin";
    init.headers = { "X-Progress": "1" };
    fetch(url, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf(TYPE) === 0 && response.body) { return consume(response, panel); }
      if (type.indexOf("text/html") === 0) {
        return response.text().then(function (html) { panel.hidden = true; swap(html); });
      }
      throw new Error("unexpected answer");
    }).catch(function () {
      show(panel, null, panel.getAttribute("data-text-lost"), true);
    }).then(function () {
      trigger.removeAttribute("aria-busy");
      if (button) { button.disabled = false; }
    });
  }

  function bind(trigger) {
    var panel = document.getElementById(trigger.getAttribute("data-progress"));
    if (!panel || trigger.hasAttribute("data-progress-bound")) { return; }
    trigger.setAttribute("data-progress-bound", "");
    if (trigger.tagName === "FORM") {
      trigger.addEventListener("submit", function (event) {
        event.preventDefault();
        if (trigger.getAttribute("aria-busy") === "true") { return; }
        start(trigger, panel, trigger.action, { method: "POST", body: new FormData(trigger) });
      });
    } else {
      trigger.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) { return; }
        event.preventDefault();
        if (trigger.getAttribute("aria-busy") === "true") { return; }
        start(trigger, panel, trigger.href, { method: "GET" });
      });
    }
  }

  function bindAll(root) {
    if (!supported()) { return; }
    root.querySelectorAll("[data-progress]").forEach(bind);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { bindAll(document); });
  } else {
    bindAll(document);
  }
}());
