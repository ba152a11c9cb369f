/* Live preview of a message template: what it is for, its placeholders, and the message as a member
   sees it. The server renders it with the bot's own code (bot.template_keys.render_sample). */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var preview = document.getElementById("template-preview");
    var form = document.getElementById("messagetemplate_form");
    if (!preview || !form) return;
    var errors = document.getElementById("template-preview-errors");
    var keys = JSON.parse(document.getElementById("template-keys").textContent);
    var field = function (name) { return form.querySelector("[name=" + name + "]"); };
    var timer = null, sequence = 0;

    function showKey() {
      var info = keys[field("key").value] || {title: "", description: "", placeholders: []};
      var box = document.getElementById("template-key-info");
      box.querySelector("[data-key-title]").textContent = info.title;
      box.querySelector("[data-key-description]").textContent = info.description;
      var list = box.querySelector("[data-key-placeholders]");
      list.textContent = "";
      info.placeholders.forEach(function (p) {
        var li = document.createElement("li"), code = document.createElement("code");
        code.textContent = "{" + p.name + "}";
        li.appendChild(code);
        li.appendChild(document.createTextNode(" — " + p.title + " (пример: " + p.sample + ")"));
        list.appendChild(li);
      });
    }

    function refresh() {
      var body = new FormData();
      ["key", "text", "quick_replies"].forEach(function (name) { body.append(name, field(name) ? field(name).value : ""); });
      body.append("csrfmiddlewaretoken", field("csrfmiddlewaretoken").value);
      var mine = ++sequence;
      fetch(preview.dataset.url, {method: "POST", body: body, credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          if (mine !== sequence) return;  // an older answer arriving late
          preview.innerHTML = data.html;  // escaped text and Telegram's tags only, built by the server
          errors.textContent = "";
          data.errors.forEach(function (message) {
            var li = document.createElement("li");
            li.textContent = message;
            errors.appendChild(li);
          });
          preview.dataset.state = data.errors.length ? "invalid" : "valid";
        })
        .catch(function () {
          if (mine !== sequence) return;
          errors.textContent = "";
          var li = document.createElement("li");
          li.textContent = "Предпросмотр не обновился: нет связи с сервером. Попробуйте ещё раз.";
          errors.appendChild(li);
        });
    }

    function later() { clearTimeout(timer); timer = setTimeout(refresh, 250); }

    ["text", "quick_replies"].forEach(function (name) { if (field(name)) field(name).addEventListener("input", later); });
    field("key").addEventListener("change", function () { showKey(); refresh(); });
    showKey();
    refresh();
  });
})();
