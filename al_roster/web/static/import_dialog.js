/* al_roster: the class import popup (WAI-ARIA dialog) and menu toggles. No build step. */
(function () {
  "use strict";
  if (window.alrImportDialog) return; // the script may be included twice
  window.alrImportDialog = true;

  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), ' +
    'textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

  function $(root, name) { return root.querySelector("[data-alr-" + name + "]"); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // Menus: a button with data-alr-menu-toggle shows and hides the element it controls.
  function setUpMenus() {
    document.querySelectorAll("[data-alr-menu-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("aria-controls"));
        var open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", String(open));
        if (target) target.hidden = !open;
      });
    });
  }

  function ImportDialog(dialog) {
    this.dialog = dialog;
    this.opener = null;
    this.imported = [];
    this.status = $(dialog, "status");
    this.form = $(dialog, "form");
    this.submit = $(dialog, "submit");
    var self = this;
    $(dialog, "import-sis").addEventListener("click", function () { self.showList(); });
    $(dialog, "close").addEventListener("click", function () { self.close(); });
    this.form.addEventListener("submit", function (event) { event.preventDefault(); self.importChecked(); });
    dialog.addEventListener("keydown", function (event) { self.onKey(event); });
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); self.close(); });
    dialog.addEventListener("close", function () { self.afterClose(); });
  }

  ImportDialog.prototype.open = function (opener) {
    this.opener = opener;
    this.showStep("choose");
    if (typeof this.dialog.showModal === "function") this.dialog.showModal();
    else this.dialog.setAttribute("open", "");
    $(this.dialog, "import-sis").focus();
  };

  ImportDialog.prototype.close = function () {
    if (typeof this.dialog.close === "function" && this.dialog.open) this.dialog.close();
    else { this.dialog.removeAttribute("open"); this.afterClose(); }
  };

  ImportDialog.prototype.afterClose = function () {
    if (this.opener) this.opener.focus();
    if (this.imported.length) {
      // detail.classes: every class imported since the popup opened, as POST /api/import
      // answered it (id, sourcedId, title, status, url, teachers, students).
      var classes = this.imported;
      this.imported = [];
      document.dispatchEvent(new CustomEvent("alr:imported", { detail: { classes: classes } }));
      refreshMyClasses();
    }
  };

  ImportDialog.prototype.onKey = function (event) {
    if (event.key === "Escape") { event.preventDefault(); this.close(); return; }
    if (event.key !== "Tab") return;
    var items = Array.prototype.filter.call(this.dialog.querySelectorAll(FOCUSABLE), function (node) {
      return node.offsetParent !== null || node.getClientRects().length > 0;
    });
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1], at = items.indexOf(document.activeElement);
    if (event.shiftKey && at <= 0) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && (at === -1 || at === items.length - 1)) { event.preventDefault(); first.focus(); }
  };

  ImportDialog.prototype.showStep = function (name) {
    this.dialog.querySelectorAll("[data-alr-step]").forEach(function (step) {
      step.hidden = step.getAttribute("data-alr-step") !== name;
    });
    if (name === "choose") {
      $(this.dialog, "result").hidden = true;
      this.status.textContent = "";
    }
  };

  ImportDialog.prototype.request = function (url, options) {
    return fetch(url, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options))
      .then(function (response) {
        return response.json().catch(function () {
          return { message: "The page expired or the server could not answer. Reload the page and try again." };
        }).then(function (body) {
          if (!response.ok) throw new Error(body.message || "Something went wrong. Try again.");
          return body;
        });
      });
  };

  ImportDialog.prototype.showList = function () {
    var self = this;
    this.showStep("list");
    this.form.hidden = true;
    $(this.dialog, "empty").hidden = true;
    $(this.dialog, "result").hidden = true;
    this.status.textContent = "Loading your classes…";
    this.dialog.querySelector("#alr-import-title").focus(); // the option just clicked is hidden now
    this.load().catch(function (error) { self.status.textContent = error.message; });
  };

  ImportDialog.prototype.load = function () {
    var self = this;
    return this.request(this.dialog.getAttribute("data-classes-url")).then(function (body) {
      self.render(body);
    });
  };

  ImportDialog.prototype.render = function (body) {
    var reminder = $(this.dialog, "reminder");
    reminder.hidden = !body.reminder;
    reminder.textContent = body.reminder ? body.reminder.message : "";
    var empty = $(this.dialog, "empty");
    empty.hidden = !body.empty;
    if (body.empty) {
      $(this.dialog, "empty-title").textContent = body.empty.title;
      $(this.dialog, "empty-advice").textContent = body.empty.advice;
      this.form.hidden = true;
      this.status.textContent = "";
      return;
    }
    var terms = $(this.dialog, "terms");
    terms.textContent = "";
    body.terms.forEach(function (term) { terms.appendChild(renderTerm(term)); });
    this.form.hidden = false;
    if (!this.busy) this.status.textContent = "";
  };

  function renderTerm(term) {
    var fieldset = el("fieldset", { "class": "alr-term" });
    fieldset.appendChild(el("legend", {}, term.title));
    term.classes.forEach(function (klass) { fieldset.appendChild(renderClass(klass)); });
    return fieldset;
  }

  // Element ids are numbered, not derived from sourcedIds: ids such as {CLS:1} and {CLS;1}
  // would otherwise collide once unsafe characters are replaced.
  var classCount = 0;

  function renderClass(klass) {
    var id = "alr-class-" + (++classCount);
    var row = el("div", { "class": "alr-class" });
    var box = el("input", { type: "checkbox", id: id, name: "classes", value: klass.sourcedId,
      "aria-describedby": id + "-about" });
    if (klass.imported) { box.checked = true; box.disabled = true; }
    var label = el("label", { "for": id });
    label.appendChild(el("span", { "class": "alr-class-title" }, klass.title));
    if (klass.imported) { label.appendChild(document.createTextNode(" ")); label.appendChild(el("span", { "class": "alr-tag" }, "Imported")); }
    var about = [klass.course, klass.school, klass.period ? "Period " + klass.period : "",
      plural(klass.students, "student", "students")].filter(Boolean).join(" · ");
    if (klass.importedByColleague) about += ". Already imported by a colleague: importing adds you as its teacher.";
    var text = el("div", {});
    text.appendChild(label);
    text.appendChild(el("span", { "class": "alr-class-about", id: id + "-about" }, about));
    row.appendChild(box);
    row.appendChild(text);
    return row;
  }

  ImportDialog.prototype.importChecked = function () {
    var self = this;
    if (this.busy) return;
    var chosen = Array.prototype.map.call(
      this.form.querySelectorAll('input[name="classes"]:checked:not(:disabled)'),
      function (box) { return box.value; });
    if (!chosen.length) { this.status.textContent = "Check at least one class to import."; return; }
    this.busy = true;
    this.submit.disabled = true;
    this.form.setAttribute("aria-busy", "true");
    this.status.textContent = "Importing " + plural(chosen.length, "class", "classes") + "…";
    this.request(this.dialog.getAttribute("data-import-url"), {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json",
        "X-CSRF-Token": this.dialog.getAttribute("data-csrf-token") },
      body: JSON.stringify({ classes: chosen })
    }).then(function (body) {
      self.imported = self.imported.concat(body.classes);
      self.showResult(body.classes);
      return self.load();
    }).catch(function (error) {
      self.status.textContent = error.message;
    }).then(function () {
      self.busy = false;
      self.submit.disabled = false;
      self.form.removeAttribute("aria-busy");
    });
  };

  ImportDialog.prototype.showResult = function (classes) {
    var result = $(this.dialog, "result");
    var list = $(this.dialog, "result-list");
    list.textContent = "";
    classes.forEach(function (klass) {
      var item = el("li", {});
      item.appendChild(el("a", { href: klass.url }, klass.title));
      var waiting = klass.students.filter(function (s) { return !s.signedIn; }).length;
      var text = ": " + plural(klass.students.length, "student", "students");
      if (waiting) text += ", " + waiting + " not signed in yet";
      item.appendChild(document.createTextNode(text));
      list.appendChild(item);
    });
    var message = "Imported " + plural(classes.length, "class", "classes") + ".";
    var title = $(this.dialog, "result-title");
    title.textContent = message;
    this.status.textContent = "";
    result.hidden = false;
    title.focus(); // read out first, above the list it changed
  };

  // The "Your classes" list on the plugin's page, brought up to date after an import.
  function refreshMyClasses() {
    var mine = document.querySelector("[data-alr-my-classes]");
    if (!mine) return;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-alr-my-classes]");
        if (fresh) mine.innerHTML = fresh.innerHTML;
      });
  }

  function setUp() {
    setUpMenus();
    var node = document.getElementById("alr-import-dialog");
    if (!node) return;
    var dialog = new ImportDialog(node);
    document.querySelectorAll("[data-alr-import-open]").forEach(function (button) {
      button.addEventListener("click", function () { dialog.open(button); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
